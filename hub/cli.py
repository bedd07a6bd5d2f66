"""telehub-hub: migrate the database, enrol staff and sites and look after their accounts,
and serve the hub."""

from __future__ import annotations

import argparse
import errno
import gc
import getpass
import ipaddress
import logging
import os
import socket
import ssl
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import accounts, lifecycle, password_policy, schema
from hub.config import ClientLimits, HubConfig, comma_list
from hub.db import default_db_url, make_engine, session_factory, unit_of_work, utcnow
from hub.listen import listen_socket
from hub.reporting import rollup

DEFAULT_METRICS_PORT = 9470
TLS_PROXY_ENV = "TELEHUB_BEHIND_TLS_PROXY"  # for a service unit: the same as --behind-tls-proxy
_YES = {"1", "true", "yes", "on"}
GC_THRESHOLDS = (2_000, 10, 100)  # the collector's, while serving (see cmd_serve)

def _fail(message: str, code: int = 2) -> int:
    print(f"telehub-hub: {message}", file=sys.stderr)
    return code


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Password again: ") != first:
        raise accounts.AccountError("the two passwords differ")
    return first


def _sessions(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    schema.check_current(engine)
    return session_factory(engine)


def cmd_db(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    if args.action == "upgrade":
        schema.upgrade(engine)
        print(f"database is at revision {schema.current_revision(engine)} (head)")
    elif args.action == "rollup":
        schema.check_current(engine)
        days = rollup.rebuild_all(engine)
        print(f"report roll-ups rebuilt: {days} days")
    else:
        current, head = schema.current_revision(engine), schema.head_revision()
        print(f"current: {current or 'empty'}; head: {head}")
    engine.dispose()
    return 0


def cmd_add_staff(args: argparse.Namespace) -> int:
    password = _read_password(confirm=True)
    with unit_of_work(_sessions(args.db)) as s:
        principal = accounts.add_staff(s, args.username, args.role, password, args.name)
        lifecycle.audit_enrolment(s, lifecycle.Actor.cli(), [principal])
    print(f"added {principal.role} {args.username} (id {principal.id})")
    return 0


def _print_credential(credential: str) -> None:
    print("Its credential, shown this once (enter it in the site station; keep it secret):")
    print(credential)


def cmd_add_site(args: argparse.Namespace) -> int:
    with unit_of_work(_sessions(args.db)) as s:
        principal, credential = accounts.add_site(s, args.name, args.kind)
        lifecycle.audit_enrolment(s, lifecycle.Actor.cli(), [principal])
    print(f"added {principal.role} site {principal.name!r} (id {principal.id})")
    _print_credential(credential)
    return 0


# --- the accounts' lifecycle (hub/lifecycle.py); a running hub closes the sessions these
# end within its session check (5 s), and refuses their tokens at once.


def cmd_staff(args: argparse.Namespace) -> int:
    with unit_of_work(_sessions(args.db)) as s:
        for st in lifecycle.staff_accounts(s):
            state = "active" if st.active else "DISABLED"
            print(f"{st.id:>5}  {st.username:<24} {st.role:<10} {state:<9} {st.name}")
    return 0


def cmd_sites(args: argparse.Namespace) -> int:
    with unit_of_work(_sessions(args.db)) as s:
        for si in lifecycle.site_accounts(s):
            state = ("retired" if si.retired_at is not None
                     else "active" if si.active else "disabled")
            print(f"{si.id:>5}  {si.kind:<10} {state:<9} {si.name}")
    return 0


def cmd_staff_change(args: argparse.Namespace) -> int:
    """disable-staff, enable-staff and reset-password."""
    password = _read_password(confirm=True) if args.command == "reset-password" else ""
    actor = lifecycle.Actor.cli()
    with unit_of_work(_sessions(args.db)) as s:
        staff_id = lifecycle.staff_by_username(s, args.username).id
        if args.command == "disable-staff":
            lifecycle.disable_staff(s, actor, staff_id)
            done = "disabled; every session of theirs has ended"
        elif args.command == "enable-staff":
            lifecycle.enable_staff(s, actor, staff_id)
            done = "enabled; they can sign in again"
        else:
            lifecycle.reset_password(s, actor, staff_id, password)
            done = "has a new password; every session of theirs has ended"
    print(f"{args.username} {done}")
    return 0


def cmd_site_change(args: argparse.Namespace) -> int:
    """rotate-site-credential and retire-site."""
    actor = lifecycle.Actor.cli()
    with unit_of_work(_sessions(args.db)) as s:
        site_id = lifecycle.site_by_name(s, args.name).id
        if args.command == "retire-site":
            lifecycle.retire_site(s, actor, site_id)
            credential = None
        else:
            _, credential = lifecycle.rotate_site_credential(s, actor, site_id)
    if credential is None:
        print(f"site {args.name!r} is retired: it cannot sign in again")
    else:
        print(f"site {args.name!r} has a new credential; the old one no longer works")
        _print_credential(credential)
    return 0


def cmd_reset_second_factor(args: argparse.Namespace) -> int:
    from hub import mfa
    from hub.models import SignInEvent, Staff

    with unit_of_work(_sessions(args.db)) as s:
        staff = s.scalar(select(Staff).where(Staff.username == args.username))
        if staff is None:
            return _fail(f"no member of staff is called {args.username!r}")
        had = mfa.reset(s, staff.id)
        s.add(SignInEvent(at=utcnow(), route="admin", account=staff.username, address="cli",
                          outcome="second_factor_reset", detail=f"by {getpass.getuser()} (CLI)"))
    print(f"{args.username}: second factor and recovery codes removed" if had else
          f"{args.username} had no second factor")
    print("They set up an authenticator app again at their next sign-in.")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    from hub.signin_limits import SignInLimits

    if not args.username and not args.address:
        return _fail("give --username, --address or both")
    limits = SignInLimits(_sessions(args.db), HubConfig(db_url=args.db))
    cleared = limits.unlock(args.username, args.address)
    print(f"sign-in failures forgotten: {cleared} (an account and/or an address)")
    return 0


def cmd_opening(args: argparse.Namespace) -> int:
    from hub.contract.signaling import HubState
    from hub.live.opening import read_opening, set_opening

    with unit_of_work(_sessions(args.db)) as s:
        if args.state is not None:
            set_opening(s, HubState(args.state), f"cli:{getpass.getuser()}"[:40])
        state, at, by = read_opening(s)
    config = HubConfig(db_url=args.db)
    when = f" (set {at:%Y-%m-%d %H:%M} UTC by {by})" if at is not None else ""
    print(f"the hub is set {state}{when}")
    if args.state is not None:
        print(f"running hubs tell their callers within {config.session_check_s:.0f} s")
    return 0


class _PortRefused(Exception):
    pass


def _listen(host: str, port: int, flag: str) -> socket.socket:
    try:
        return listen_socket(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _PortRefused(f"port {port} on {host} is in use; stop the other program or "
                               f"choose another with {flag}") from None
        raise _PortRefused(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _metrics_socket(args: argparse.Namespace) -> socket.socket | None:
    """The metrics port asked for must be had; the default one is taken if free (another
    hub on this machine may hold it), else the hub serves without metrics and says so."""
    if args.metrics_port is not None:
        return _listen(args.metrics_host, args.metrics_port, "--metrics-port")
    try:
        return _listen(args.metrics_host, DEFAULT_METRICS_PORT, "--metrics-port")
    except _PortRefused as exc:
        print(f"telehub-hub: no metrics: {exc}", file=sys.stderr, flush=True)
        return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other computers may resolve to this one


def transport_problem(host: str, tls_cert: str | None, tls_key: str | None,
                      behind_tls_proxy: bool) -> str | None:
    """Why the hub must not serve like this, or None.

    Plain HTTP is for loopback only: elsewhere passwords, tokens and patients' data would
    cross the network in clear, unless the operator says a TLS proxy is in front.
    """
    if bool(tls_cert) != bool(tls_key):
        return "give both --tls-cert and --tls-key, or neither"
    if tls_cert and tls_key:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls_cert, tls_key)
        except (OSError, ssl.SSLError) as exc:
            return (f"cannot use the TLS certificate {tls_cert} with the key {tls_key}: "
                    f"{getattr(exc, 'strerror', None) or exc.args[-1]}")
        return None
    if _loopback(host) or behind_tls_proxy:
        return None
    return (f"refusing to serve plain HTTP on {host}, which other computers can reach: "
            "passwords, tokens and patients' data would cross the network unencrypted. Give "
            "--tls-cert and --tls-key, or, when a TLS proxy in front of the hub is the only "
            f"way in, --behind-tls-proxy (or {TLS_PROXY_ENV}=1)")


def cmd_serve(args: argparse.Namespace) -> int:
    from hub.app import create_app, serve_metrics_on
    from hub.draining import DrainingServer
    from hub.live.solo import HubAlreadyRunning, SoloLock  # hub.live loads the web framework
    from hub.serving import server_config

    behind_proxy = args.behind_tls_proxy or os.environ.get(TLS_PROXY_ENV, "") in _YES
    problem = transport_problem(args.host, args.tls_cert, args.tls_key, behind_proxy)
    if problem is not None:
        return _fail(problem)
    try:
        config = HubConfig.from_env(
            db_url=args.db, heartbeat_interval=args.heartbeat_interval,
            heartbeat_timeout=args.heartbeat_timeout, reconnect_grace=args.reconnect_grace,
            clinic_ring_s=args.clinic_ring_s, hand_over_ring_s=args.hand_over_ring_s,
            stun_urls=args.stun_url or None, turn_urls=args.turn_url or None,
            mfa_for=tuple(args.mfa_for) if args.mfa_for else None,
            closed_advice=args.closed_advice, closed_phone=args.closed_phone,
            peer_urls=tuple(u for given in args.peer_url or () for u in comma_list(given))
            or None,
            # A service's first backlog usually comes just after a start (desks catching
            # up): the record checkers are ready for it rather than started by it.
            record_checkers_at_start=True,
        )
    except ValueError as exc:  # a setting from the environment that is not one
        return _fail(str(exc))
    try:
        # SQLite serves one hub process: say so now rather than fail during start-up.
        solo = SoloLock(config.db_url)
        solo.acquire()
        solo.release()  # the serving app takes it for as long as it runs
        app = create_app(config)
    except (schema.SchemaOutOfDate, HubAlreadyRunning) as exc:
        return _fail(str(exc))
    try:
        sock = _listen(args.host, args.port, "--port")
        metrics_sock = None if args.no_metrics else _metrics_socket(args)
    except _PortRefused as exc:
        return _fail(str(exc))
    if metrics_sock is not None:
        serve_metrics_on(app, metrics_sock)
    scheme = "https" if args.tls_cert else "http"
    port = sock.getsockname()[1]
    metrics = ("no metrics" if metrics_sock is None else
               f"metrics on http://{args.metrics_host}:{metrics_sock.getsockname()[1]}/metrics")
    print(f"telehub hub listening on {scheme}://{args.host}:{port} ({metrics}; "
          f"database: {make_engine(args.db).url.render_as_string(hide_password=True)})",
          flush=True)
    server = DrainingServer(app, server_config(
        app, config, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
        log_level=args.log_level,
        # X-Forwarded-For is believed only from these (the load balancers): anyone else
        # could name any address in it.
        proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips,
    ))
    # The app's import-time and start-up objects live as long as the process: move them out
    # of the collector's sight, so a full collection walks only what requests allocate (a
    # 500-record batch allocates enough to trigger several, each walking the whole heap).
    # Small young generations: every collection stops the event loop, and a call waits for
    # it. With (20_000, 10, 10) the survivor of a failover (its sign-ins and twice the
    # traffic) paused 34-41 ms of CPU in young collections and 150 ms in middle ones (372-415
    # ms of wall time on a busy machine), and the calls after the failover took a p50 of
    # 390-510 ms; with (2_000, 10, 100), 19 ms and 33 ms at most and a p50 of 21-28 ms
    # (bench/hub_cluster.py, 2026-12-02). Full collections stay as rare (after as many
    # allocations). Record batches, which (20_000, 10, 10) was chosen for, did not get
    # slower: 1,578 records/s against 1,332 with the old setting (bench/records_sync.py
    # --quick, one after the other).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    server.run(sockets=[sock])
    return 0


def cmd_haproxy_config(args: argparse.Namespace) -> int:
    from hub.haproxy import BadSetting, Balancer

    try:
        text = Balancer(hubs=args.hub, bind=args.bind,
                        tls_pem=None if args.no_tls else args.tls_pem,
                        stats_socket=args.stats_socket, log=args.log,
                        maxconn=args.maxconn).render()
    except BadSetting as exc:
        return _fail(str(exc))
    sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=default_db_url(),
                        help="database URL (default: $TELEHUB_DB or the embedded SQLite file)")
    parser = argparse.ArgumentParser(prog="telehub-hub", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", parents=[common], help="database schema")
    db.add_argument("action", choices=["upgrade", "current", "rollup"],
                    help="rollup: rebuild the report's roll-ups from every call and record "
                         "(after loading calls or records other than through the hub)")
    db.set_defaults(func=cmd_db)

    st = sub.add_parser("add-staff", parents=[common],
                        help="enrol a member of staff (password from stdin or a prompt)")
    st.add_argument("--username", required=True)
    st.add_argument("--role", required=True, choices=["nurse", "specialist", "manager", "admin"])
    st.add_argument("--name", help="display name (default: the user name)")
    st.set_defaults(func=cmd_add_staff)

    si = sub.add_parser("add-site", parents=[common],
                        help="enrol a site and print its credential once")
    si.add_argument("--name", required=True)
    si.add_argument("--kind", required=True, choices=["care_home", "prison", "home"])
    si.set_defaults(func=cmd_add_site)

    for name, what in (("staff", "list staff and whether each is active"),
                       ("sites", "list sites and whether each is active or retired")):
        sub.add_parser(name, parents=[common], help=what).set_defaults(
            func=cmd_staff if name == "staff" else cmd_sites)
    for name, what in (
        ("disable-staff", "lock a member of staff out at once (sign-in and open sessions)"),
        ("enable-staff", "let a disabled member of staff sign in again"),
        ("reset-password", "set a new password for a member of staff (from stdin or a "
                           "prompt); their sessions end"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=what)
        cmd.add_argument("--username", required=True)
        cmd.set_defaults(func=cmd_staff_change)
    for name, what in (
        ("rotate-site-credential", "give a site a new credential (printed once); the old "
                                   "one stops working"),
        ("retire-site", "close a site for good: it never signs in again"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=what)
        cmd.add_argument("--name", required=True, help="the site's name as enrolled")
        cmd.set_defaults(func=cmd_site_change)

    rs = sub.add_parser("reset-second-factor", parents=[common],
                        help="remove a member of staff's authenticator app and recovery codes "
                             "(a lost phone); they enrol again at their next sign-in")
    rs.add_argument("--username", required=True)
    rs.set_defaults(func=cmd_reset_second_factor)

    un = sub.add_parser("unlock", parents=[common],
                        help="forget the failed sign-ins of an account or a client address")
    un.add_argument("--username")
    un.add_argument("--address", help="an IPv4 address, or any address of an IPv6 /64")
    un.set_defaults(func=cmd_unlock)

    op_ = sub.add_parser("opening", parents=[common],
                         help="show, or set, whether the hub is open, closed or suspended "
                              "(callers are told at once, with the advice of --closed-advice)")
    op_.add_argument("state", nargs="?", choices=["open", "closed", "suspended"])
    op_.set_defaults(func=cmd_opening)

    sv = sub.add_parser("serve", parents=[common], help="run the hub service")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8470)
    sv.add_argument("--tls-cert", help="PEM certificate (chain): the hub serves HTTPS itself")
    sv.add_argument("--tls-key", help="PEM private key of --tls-cert")
    sv.add_argument("--behind-tls-proxy", action="store_true",
                    help="serve plain HTTP on a non-loopback --host because a TLS proxy in "
                         f"front is the only way in (or {TLS_PROXY_ENV}=1)")
    sv.add_argument("--stun-url", action="append", help="STUN URL for ICE (repeatable)")
    sv.add_argument("--turn-url", action="append",
                    help="TURN URL (repeatable); the secret comes from $TELEHUB_TURN_SECRET")
    sv.add_argument("--peer-url", action="append", metavar="URL",
                    help="the public address of every hub of this service, this one too "
                         "(repeatable or comma-separated; default: $TELEHUB_PEER_URLS): the "
                         "caller page moves to the next when its hub is lost")
    sv.add_argument("--mfa-for", action="append", choices=["nurse", "specialist"],
                    help="a staff role that also needs a second factor (repeatable; admin "
                         "and manager always do; default: $TELEHUB_MFA_FOR)")
    sv.add_argument("--heartbeat-interval", type=float, default=4.0)
    sv.add_argument("--heartbeat-timeout", type=float, default=12.0)
    sv.add_argument("--reconnect-grace", type=float, default=30.0)
    sv.add_argument("--clinic-ring-s", type=float, default=HubConfig.clinic_ring_s,
                    help="seconds a booked clinic call rings its specialist before it falls "
                         "back to the nurse queue")
    sv.add_argument("--hand-over-ring-s", type=float, default=HubConfig.hand_over_ring_s,
                    help="seconds a hand-over rings the nurse it is offered to")
    sv.add_argument("--max-open-calls", type=int, default=ClientLimits.max_open_calls,
                    help="calls one site may have open at once (waiting or in progress); "
                         "a further call_request is refused with too_many_calls")
    sv.add_argument("--closed-advice", default=HubConfig.closed_advice,
                    help="what a caller is told when no nurse can answer (none signed in, "
                         "or the hub set closed or suspended)")
    sv.add_argument("--closed-phone", default=HubConfig.closed_phone,
                    help="the number a caller is told to ring then (empty: none)")
    sv.add_argument("--metrics-host", default="127.0.0.1",
                    help="address of the Prometheus metrics listener (default: loopback only; "
                         "never the address sites reach)")
    sv.add_argument("--metrics-port", type=int,
                    help=f"its port (default {DEFAULT_METRICS_PORT} if free; 0: any free "
                         "port, printed at start)")
    sv.add_argument("--no-metrics", action="store_true", help="no metrics listener")
    sv.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                    help="load balancers whose X-Forwarded-For is believed (comma-separated "
                         "addresses or networks; default 127.0.0.1)")
    sv.add_argument("--log-level", default="info",
                    choices=["critical", "error", "warning", "info", "debug"])
    sv.set_defaults(func=cmd_serve)

    lb = sub.add_parser("haproxy-config",
                        help="print the HAProxy configuration for several hubs (docs/admin.md)")
    lb.add_argument("--hub", action="append", required=True, metavar="HOST:PORT",
                    help="a hub's service address (repeat for each hub)")
    lb.add_argument("--bind", default=":443", help="where HAProxy listens (default :443)")
    lb.add_argument("--tls-pem", default="/etc/haproxy/telehub.pem",
                    help="certificate and key, one PEM file (default %(default)s)")
    lb.add_argument("--no-tls", action="store_true",
                    help="plain HTTP (only behind another TLS terminator, or for tests)")
    lb.add_argument("--stats-socket", default="/run/haproxy/telehub.sock")
    lb.add_argument("--log", default="/dev/log", help="a syslog socket, or stdout")
    lb.add_argument("--maxconn", type=int, default=20_000,
                    help="connections HAProxy holds at most (default %(default)s)")
    lb.set_defaults(func=cmd_haproxy_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # `db upgrade` prints its own line
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except schema.SchemaOutOfDate as exc:
        return _fail(str(exc))
    except (accounts.AccountError, password_policy.PasswordRefused) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
