"""What routes depend on, typed: the hub's services, the request's unit of work, the principal.

:class:`HubServices` is set on the application once (:func:`install`) and read by one typed
dependency (:func:`hub_services`); every route takes what it needs through the
``Annotated`` aliases below (``ConfigDep``, ``SessionDep``, ``SwitchboardDep``, ...), never
from ``request.app.state``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from hub import accounts
from hub.config import HubConfig
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.rest import ErrorOut
from hub.live.front import LiveFront
from hub.metrics import HubMetrics, MetricsListener
from hub.readiness import Readiness
from hub.record_checks import RecordChecker
from hub.signin import SignInGuard

__all__ = [
    "ANY_SITE",
    "ANY_STAFF",
    "CALLERS",
    "CALL_LOG_READERS",
    "BearerDep",
    "ConfigDep",
    "EngineDep",
    "HubDep",
    "HubServices",
    "PrincipalDep",
    "RecordCheckerDep",
    "SessionDep",
    "SessionsDep",
    "SignInDep",
    "SwitchboardDep",
    "UnitOfWork",
    "UnitOfWorkDep",
    "current_principal",
    "hub_services",
    "install",
    "refusals",
    "require",
]


@dataclass
class HubServices:
    """Everything the routes share, for one hub process."""

    config: HubConfig
    engine: Engine
    sessions: sessionmaker[Session]
    record_checker: RecordChecker
    readiness: Readiness
    metrics: HubMetrics
    metrics_listener: MetricsListener | None = None
    # The sign-in limits, password slots and second-factor key (hub/signin.py).
    signin: SignInGuard | None = None
    # Built when the hub starts serving (it needs the running event loop): see started().
    _switchboard: LiveFront | None = field(default=None, repr=False)

    @property
    def switchboard(self) -> LiveFront:
        if self._switchboard is None:
            raise RuntimeError("the hub's switchboard has not been started")
        return self._switchboard

    def live_front(self) -> LiveFront | None:
        """The live side if it is serving (None before it starts and once it has stopped)."""
        return self._switchboard

    def serve_metrics_on(self, sock: socket.socket) -> None:
        """Serve the metrics on ``sock`` (bound and listening) from the hub's start."""
        self.metrics_listener = MetricsListener(self.metrics, sock, self.config.metrics_token)

    def started(self, switchboard: LiveFront | None) -> None:
        """The live side serving from now on (None once it has stopped): a Switchboard on
        one hub, a ClusterNode on a hub of several (hub/live/front.py)."""
        self._switchboard = switchboard


def install(app: FastAPI, services: HubServices) -> None:
    app.state.services = services


async def hub_services(connection: HTTPConnection) -> HubServices:
    """The services of the application serving this request (or WebSocket)."""
    services = connection.app.state.services
    if not isinstance(services, HubServices):
        raise RuntimeError("the application was not built by hub.app.create_app")
    return services


HubDep = Annotated[HubServices, Depends(hub_services)]

# The dependencies that only hand something over are ``async``: FastAPI would run a plain
# function on a worker thread, a hop per dependency per request for nothing.


async def _config(hub: HubDep) -> HubConfig:
    return hub.config


async def _engine(hub: HubDep) -> Engine:
    return hub.engine


async def _sessions(hub: HubDep) -> sessionmaker[Session]:
    return hub.sessions


async def _switchboard(hub: HubDep) -> LiveFront:
    return hub.switchboard


async def _record_checker(hub: HubDep) -> RecordChecker:
    return hub.record_checker


async def _signin(hub: HubDep) -> SignInGuard:
    if hub.signin is None:
        raise RuntimeError("the application was built without its sign-in guard")
    return hub.signin


ConfigDep = Annotated[HubConfig, Depends(_config)]
EngineDep = Annotated[Engine, Depends(_engine)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
SwitchboardDep = Annotated[LiveFront, Depends(_switchboard)]
RecordCheckerDep = Annotated[RecordChecker, Depends(_record_checker)]
SignInDep = Annotated[SignInGuard, Depends(_signin)]


class UnitOfWork:
    """The request's one transaction, and what is to happen once it has committed.

    Routes and repositories write through :attr:`session` and never commit: the transaction
    commits when the route returns (rolls back if it raises), before the answer leaves.
    What must wait until a change is durable (cutting off a revoked caller, pushing a plan
    to the site) is handed to :meth:`after_commit` and runs on the event loop afterwards.
    """

    def __init__(self, session: Session, committed: list[Callable[[], object]]) -> None:
        self.session = session
        self._committed = committed

    def after_commit(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the event loop once this transaction has committed (not at all
        if it rolls back); it must be quick and must not block."""
        self._committed.append(action)


async def _after_commit() -> AsyncIterator[list[Callable[[], object]]]:
    # Entered before the transaction and left after it: the actions run on the event loop,
    # and only if the commit succeeded (an error is raised here instead).
    actions: list[Callable[[], object]] = []
    yield actions
    for action in actions:
        action()


def _unit_of_work(
    sessions: SessionsDep,
    committed: Annotated[list[Callable[[], object]], Depends(_after_commit, scope="function")],
) -> Iterator[UnitOfWork]:
    with sessions.begin() as session:  # commits on return, rolls back on error, closes
        yield UnitOfWork(session, committed)


# scope="function": the transaction commits before the response leaves, so a client that
# is told "saved" (or handed a token) can rely on it at once.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(_unit_of_work, scope="function")]


async def _session(unit: UnitOfWorkDep) -> Session:
    return unit.session


SessionDep = Annotated[Session, Depends(_session)]

_bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_principal(session: SessionDep, creds: BearerDep) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = accounts.resolve_token(session, creds.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "the token is unknown, expired or revoked",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: StaffRole | SiteKind) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through staff (or sites) whose role is one of ``roles``."""

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check


_MEANINGS = {
    401: "No bearer token, or one that is unknown, expired or revoked",
    403: "The principal's role may not do this",
    404: "No such item (or none this principal may see)",
    409: "The item's state does not allow this",
    413: "The request body is over the hub's size limit",
    415: "The body's media type is not one this route takes",
    422: "A value is invalid: the answer names the field and the rule, never the value",
    429: "Too many attempts: wait the Retry-After seconds",
}
SIGNED_IN = (401, 403)  # every route behind require()


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route can answer, for its OpenAPI document (``responses=``): each with
    the one error body, :class:`hub.contract.rest.ErrorOut`."""
    return {code: {"model": ErrorOut, "description": _MEANINGS[code]} for code in codes}


ANY_STAFF = tuple(StaffRole)
ANY_SITE = tuple(SiteKind)
# The call log and the live queue are clinical (reasons, urgency, NEWS2, patients' names):
# the administrator runs the service and gets none of it (docs/security.md, least privilege).
CALL_LOG_READERS = (StaffRole.NURSE, StaffRole.MANAGER)
# Who takes part in calls, so needs the ICE (TURN) servers.
CALLERS = (*ANY_SITE, StaffRole.NURSE, StaffRole.SPECIALIST)
