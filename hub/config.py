"""Settings of one hub process, from the command line and TELEHUB_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hub.db import default_db_url
from records.data_home import data_home


def comma_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def public_origin(url: str) -> str:
    """``https://hub2.example.nhs.uk:8471`` as a hub's public address: scheme, host and port
    only (a path, a query or a user name in it is refused, as is any other scheme)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (parts.scheme not in ("http", "https") or not parts.hostname or port == -1
            or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username is not None or parts.password is not None):
        raise ValueError("a peer URL must be http(s)://host[:port], with nothing after it")
    host = parts.netloc.lower()
    # As a browser writes an origin: the scheme's own port left out.
    default = ":443" if parts.scheme == "https" else ":80"
    return f"{parts.scheme}://{host.removesuffix(default)}"


def default_secret_key_file() -> Path:
    return data_home() / "hub-secret.key"


@dataclass(frozen=True)
class ClientLimits:
    """What one client may cost the hub before it is refused (hub/serving.py, docs/security.md).

    A legitimate client's request head is a few hundred bytes with a dozen headers and
    arrives in one packet; a record batch (the largest body) arrives in seconds even on a
    slow link. What is far beyond that is an attack or a broken client.
    """

    max_header_bytes: int = 16 * 1024  # request line and headers together (431 beyond)
    max_headers: int = 64  # (431 beyond)
    header_timeout_s: float = 10.0  # from the connection or the head's first byte (408)
    body_timeout_s: float = 60.0  # from the end of the head to the end of the body (408)
    keep_alive_s: int = 5  # an idle connection between two requests is closed after this
    # A WebSocket whose peer has read nothing (its send buffer stayed full) this long is cut.
    ws_stall_s: float = 20.0
    # Calls one caller (a site principal) may have open at once, waiting or in progress.
    max_open_calls: int = 5


@dataclass(frozen=True)
class HubConfig:
    db_url: str = field(default_factory=default_db_url)
    # The hub pings every connection this often; a peer silent for heartbeat_timeout is dead.
    heartbeat_interval: float = 4.0
    heartbeat_timeout: float = 12.0  # + at most 1 s between checks: dead within 15 s
    # How long a dropped caller or desk may take to reconnect and keep its call.
    reconnect_grace: float = 30.0
    # How long a hand-over rings the nurse it is offered to before it goes back to the nurse
    # handing over, and how long a booked clinic call rings its specialist before it falls
    # back to the nurse queue (docs/admin.md).
    hand_over_ring_s: float = 30.0
    clinic_ring_s: float = 60.0
    token_ttl_s: int = 12 * 3600  # one shift
    # How often open WebSockets are checked against the tokens' and accounts' state, so a
    # session ended where this process did not see it (the CLI, the database) closes.
    session_check_s: float = 5.0
    stun_urls: list[str] = field(default_factory=list)
    turn_urls: list[str] = field(default_factory=list)
    # Read from TELEHUB_TURN_SECRET, never from argv (argv is visible to every local user).
    turn_secret: str | None = None
    turn_ttl_s: int = 4 * 3600  # covers a long call; coturn checks it again on refresh
    max_body_bytes: int = 1024 * 1024
    limits: ClientLimits = field(default_factory=ClientLimits)
    # Before the first call of a shift there is no history; these seed the wait estimate.
    default_handle_s: float = 600.0
    default_answer_s: float = 60.0
    # What a caller is told when no nurse can answer (none signed in, or the hub set closed
    # or suspended), with a number to ring: shown at once on the station and the page.
    closed_advice: str = "No nurse can answer just now. Call NHS 111, or 999 in an emergency."
    closed_phone: str | None = "111"
    # Processes that check pushed record batches (hub/record_checks.py); 0 checks them on a
    # thread of the hub's own process. TELEHUB_RECORD_CHECKERS overrides.
    record_check_processes: int = 1
    # Start them with the hub (the service) rather than on the first batch (tests' hubs).
    record_checkers_at_start: bool = False
    # Prometheus metrics on a listener of their own (hub/metrics.py), never the sites' port;
    # None: no listener (``serve`` listens on 127.0.0.1:9470 unless told otherwise).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # From TELEHUB_METRICS_TOKEN, never argv: required as a bearer token when set.
    metrics_token: str | None = None
    # Failed sign-ins (hub/signin_limits.py): after this many failures within signin_window_s
    # an account (or a client address) is locked for signin_lock_s, doubling with each
    # further failure up to signin_lock_max_s. Counted in the database, so every hub on one
    # PostgreSQL shares them. An address has a higher limit: many desks may share one NAT.
    signin_account_failures: int = 5
    signin_address_failures: int = 30
    signin_window_s: float = 900.0
    signin_lock_s: float = 60.0
    signin_lock_max_s: float = 3600.0
    # Password hashes checked at once (argon2id takes 64 MiB each) and sign-ins allowed to
    # wait for one; beyond that a sign-in is answered 503 with Retry-After.
    password_hash_slots: int = 2
    password_hash_queue: int = 32
    # Staff roles that need a second factor (TOTP) besides admin and manager, which always
    # do (hub/mfa.py). TELEHUB_MFA_FOR (comma-separated) or `serve --mfa-for ROLE`.
    mfa_for: tuple[str, ...] = ()
    # The key that encrypts TOTP secrets in the database (32 random bytes, created 0600 on
    # first use). Every hub on one database needs a copy of the same file.
    secret_key_file: Path = field(default_factory=default_secret_key_file)
    mfa_issuer: str = "telehub"
    # The public addresses (http(s)://host[:port]) of every hub of this service, for clients
    # that reach them without a load balancer: the caller page moves to the next of them when
    # its hub is lost (docs/admin.md). Empty: a single hub, or one address in front of all.
    peer_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.mfa_for) - {"nurse", "specialist", "manager", "admin"}
        if unknown:
            raise ValueError(f"mfa_for names no staff role: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "peer_urls", tuple(dict.fromkeys(
            public_origin(url) for url in self.peer_urls)))

    @classmethod
    def from_env(cls, **overrides: object) -> HubConfig:
        env = os.environ
        values: dict[str, object] = {
            "stun_urls": comma_list(env.get("TELEHUB_STUN_URLS")),
            "turn_urls": comma_list(env.get("TELEHUB_TURN_URLS")),
            "turn_secret": env.get("TELEHUB_TURN_SECRET") or None,
            "metrics_token": env.get("TELEHUB_METRICS_TOKEN") or None,
            "peer_urls": tuple(comma_list(env.get("TELEHUB_PEER_URLS"))),
        }
        if env.get("TELEHUB_MFA_FOR"):
            values["mfa_for"] = tuple(comma_list(env["TELEHUB_MFA_FOR"]))
        if env.get("TELEHUB_SECRET_KEY_FILE"):
            values["secret_key_file"] = Path(env["TELEHUB_SECRET_KEY_FILE"])
        if env.get("TELEHUB_RECORD_CHECKERS"):
            values["record_check_processes"] = int(env["TELEHUB_RECORD_CHECKERS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
