"""The station's HTTP calls to the hub: sign-in with the site credential, clinics, call plans."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from hub.contract.identity import Principal


class HubUnavailable(Exception):
    """The hub could not be reached or refused the request; the message is plain words."""


@dataclass(frozen=True)
class Clinic:
    id: int
    title: str
    specialist_name: str
    starts_at: datetime
    minutes: int
    patient_name: str | None
    call_id: str | None
    cancelled: bool


@dataclass(frozen=True)
class Plan:
    decision: str
    call_again: str | None
    written_by_name: str
    written_at: datetime


def ws_url(hub_url: str) -> str:
    base = hub_url.rstrip("/")
    return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]) + "/ws"


class StationHub:
    """One hub, over HTTP. Blocking calls: the station makes them off the UI thread."""

    def __init__(self, hub_url: str, timeout: float = 10.0) -> None:
        self.url = hub_url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self.token: str | None = None
        self.principal: Principal | None = None

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            return self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"the hub at {self.url} cannot be reached "
                                 f"({type(exc).__name__}): check the network and the address, "
                                 "and that the hub is running") from None

    def sign_in(self, credential: str) -> Principal:
        r = self._call("POST", "/api/v1/auth/site-login", json={"credential": credential})
        if r.status_code == 401:
            raise HubUnavailable("the hub does not accept this station's credential; ask the "
                                 "hub's administrator to enrol the site again")
        if r.status_code != 200:
            raise HubUnavailable(f"the hub refused to sign in ({r.status_code})")
        body = r.json()
        self.token = body["token"]
        self.principal = Principal.model_validate(body["principal"])
        return self.principal

    def round_trip_ms(self) -> float:
        started = time.perf_counter()
        r = self._call("GET", "/health")
        if r.status_code != 200:
            raise HubUnavailable(f"the hub answered {r.status_code}")
        return (time.perf_counter() - started) * 1000

    def clinics(self) -> list[Clinic]:
        r = self._call("GET", "/api/v1/clinics")
        if r.status_code != 200:
            raise HubUnavailable(f"the hub did not list the clinics ({r.status_code})")
        return [Clinic(id=b["id"], title=b["title"], specialist_name=b["specialist_name"],
                       starts_at=datetime.fromisoformat(b["starts_at"]), minutes=b["minutes"],
                       patient_name=(b.get("patient") or {}).get("name"),
                       call_id=b["call_id"], cancelled=b["cancelled"]) for b in r.json()]

    def join_clinic(self, booking_id: int, call_id: str) -> None:
        r = self._call("POST", f"/api/v1/clinics/{booking_id}/join", json={"call_id": call_id})
        if r.status_code != 200:
            raise HubUnavailable(r.json().get("detail", f"status {r.status_code}"))

    def plan(self, call_id: str) -> Plan | None:
        """The call's agreed plan, or None while the nurse has not written it."""
        r = self._call("GET", f"/api/v1/calls/{call_id}/plan")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise HubUnavailable(f"the hub did not give the plan ({r.status_code})")
        b = r.json()
        return Plan(b["decision"], b.get("call_again"), b["written_by_name"],
                    datetime.fromisoformat(b["written_at"]))
