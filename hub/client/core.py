"""HubClient's HTTP core: its hubs and its token, and the one place a request is made.

Every area of the API (signin.py, clinics.py, accounts.py, reports.py, record_store.py,
photos.py, patients.py) is a class over :class:`HubCore`, and :class:`hub.client.HubClient`
is all of them. A request body is checked against the contract here before it is sent
(:func:`_body`), and an answer is parsed against it (:meth:`HubCore._parse`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from hub.client.addresses import HubAddresses, ws_url
from hub.client.errors import HubFailed, HubRefused, HubUnreachable, _error
from hub.contract.identity import Principal

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)

_JSON = {"Content-Type": "application/json"}
# Figures are computed on the hub: allow them a minute; an export streams for minutes.
_REPORT_TIMEOUT = httpx.Timeout(10.0, read=60.0)
_EXPORT_TIMEOUT = httpx.Timeout(10.0, read=300.0)

# Errors that mean the request never reached the hub: connecting failed or timed out.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


def _origin(url: httpx.URL) -> str:
    """``scheme://host:port`` of a URL: never a user name, password or query in a message."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


class HubCore:
    """What every area of the hub's API shares: the hubs to ask and the token to send, the
    request and the parsing of its answer. Its constructor is :class:`hub.client.HubClient`'s.
    """

    def __init__(self, http: httpx.Client, hub_url: str | Sequence[str] | HubAddresses,
                 token: str | None = None) -> None:
        self.http = http
        # One address, or several hubs of one service: a request that cannot connect to the
        # current one goes to the next (a refusal, any 4xx, is the service's answer).
        self.hubs = (HubAddresses([hub_url], as_given=True) if isinstance(hub_url, str)
                     else HubAddresses.of(hub_url))
        self._headers: dict[str, str] = {}
        self.token = token
        self.principal: Principal | None = None

    @property
    def url(self) -> str:
        """The hub this client asks now."""
        return self.hubs.current

    @property
    def name(self) -> str:
        """The service's stable name (its first address), whichever hub answers."""
        return self.hubs.name

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, token: str | None) -> None:
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def ws_url(self) -> str:
        return ws_url(self.url)

    @property
    def ws_urls(self) -> list[str]:
        return self.hubs.ws_urls

    def _send(self, method: str, path: str, what: str, *, ok: Collection[int] = (200,),
              params: Mapping[str, Any] | None = None, json: Any = None,
              content: bytes | None = None, headers: Mapping[str, str] | None = None,
              timeout: httpx.Timeout | None = None) -> httpx.Response:
        """Make one request; an answer whose status is not in ``ok`` raises its HubError."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        sent = {**self._headers, **headers} if headers else self._headers
        for url in self.hubs.in_turn():
            try:
                response = self.http.request(method, url + path, params=params, json=json,
                                             content=content, headers=sent, **extra)
                break
            except _NOT_SENT as exc:  # never reached that hub: the next may answer
                self.hubs.failed(url)
                lost: httpx.HTTPError = exc
            except httpx.HTTPError as exc:  # it may have acted on it: not sent again
                raise self._unreachable(exc, url) from None
        else:
            raise self._unreachable(lost, url) from None
        if response.status_code not in ok:
            raise _error(response, what, self._token)
        return response

    def _parse(self, adapter: TypeAdapter[T], response: httpx.Response, what: str) -> T:
        try:
            return adapter.validate_json(response.content)
        except ValidationError:
            raise self._malformed(what, response.status_code) from None

    def _unreachable(self, exc: httpx.HTTPError, url: str) -> HubUnreachable:
        kind = type(exc).__name__
        where = (f"the hub at {_origin(httpx.URL(url))} cannot" if len(self.hubs.urls) == 1
                 else "none of the hubs at " + ", ".join(
                     _origin(httpx.URL(u)) for u in self.hubs.urls) + " can")
        return HubUnreachable(f"{where} be reached ({kind}): check "
                              "the network and the address, and that the hub is running",
                              summary=kind)  # fmt: skip

    def _malformed(self, what: str, status: int | None = None) -> HubFailed:
        return HubFailed(f"the hub's answer to {what} does not follow the contract",
                         status=status, summary="answer does not follow the contract")


def _body(model: type[B], what: str, **values: Any) -> dict[str, Any]:
    """A request body as JSON, checked against the contract before it is sent; a value that
    does not fit is refused here, naming its field only (the value may be a password)."""
    try:
        return model(**values).model_dump(mode="json")
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()}))
        raise HubRefused(f"cannot {what}: check {fields}", summary=fields) from None
