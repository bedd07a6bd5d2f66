"""Enrols the demo's night over the hub's own REST API, as an administrator would.

A nurse account, a care home and a prison (each with its credential, handed straight to its
synthetic caller), and a Gold Line invitation for a patient at home. Every secret here is
generated per run and lives only in memory.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
import pyotp

from hub.contract import signaling as p
from hub.contract.identity import Principal
from ui.demo.errors import DemoError
from ui.demo.scenarios import CARE_HOME, HOME, MARGARET, PRISON, DemoSite

ADMIN = "demo-admin"
NURSE = "demo-nurse"
NURSE_NAME = "Demo Nurse"


def new_password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class SignedInSite:
    """A site's token for its synthetic caller, and who its calls are about (home only)."""

    site: DemoSite
    name: str  # as the hub knows it
    token: str
    patient: p.Patient | None = None


@dataclass(frozen=True)
class Enrolment:
    nurse: str
    nurse_password: str
    sites: dict[str, SignedInSite]


class DemoHubApi:
    """The few REST calls the demo needs, with one plain line when the hub refuses."""

    def __init__(self, hub_url: str) -> None:
        self.http = httpx.Client(base_url=hub_url, timeout=15)
        self.hub_url = hub_url

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, object], token: str | None = None
              ) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            r = self.http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DemoError(f"the hub at {self.hub_url} cannot be reached "
                            f"({type(exc).__name__}); is it running?") from None
        if r.status_code not in (200, 201):
            detail = r.json().get("detail") if r.headers.get("content-type", "").startswith(
                "application/json") else r.text[:200]
            raise DemoError(f"the hub refused {path} ({r.status_code}: {detail})")
        body_out: dict[str, object] = r.json()
        return body_out

    def login(self, username: str, password: str) -> str:
        """Signs in; an account that needs a second factor (the administrator) sets up an
        authenticator app as a person would, the demo playing the app, in memory only."""
        body: dict[str, object] = {"username": username, "password": password}
        try:
            r = self.http.post("/api/v1/auth/login", json=body)
        except httpx.HTTPError as exc:
            raise DemoError(f"the hub at {self.hub_url} cannot be reached "
                            f"({type(exc).__name__}); is it running?") from None
        if r.status_code == 401 and r.json().get("second_factor") == "enrol":
            secret = str(self._post("/api/v1/auth/second-factor/enrolment", body)["secret"])
            code = pyotp.TOTP(secret).now()
            return str(self._post("/api/v1/auth/second-factor/confirmation",
                                  {**body, "code": code})["token"])
        if r.status_code == 200:
            return str(r.json()["token"])
        return str(self._post("/api/v1/auth/login", body)["token"])  # says why it failed

    def enrol(self, admin_password: str) -> Enrolment:
        admin = self.login(ADMIN, admin_password)
        nurse_password = new_password()
        self._post("/api/v1/staff", {"username": NURSE, "role": "nurse",
                                     "password": nurse_password, "display_name": NURSE_NAME},
                   admin)
        sites: dict[str, SignedInSite] = {}
        for site in (CARE_HOME, PRISON):
            made = self._post("/api/v1/sites", {"name": site.name, "kind": site.kind.value},
                              admin)
            signed = self._post("/api/v1/auth/site-login", {"credential": made["credential"]})
            sites[site.key] = SignedInSite(site, site.name, str(signed["token"]))
        # A nurse invites the patient: an invitation names them, and admin sees no patients.
        invitation = self._post("/api/v1/invitations", {"patient": {
            "name": MARGARET.name, "nhs_number": MARGARET.nhs_number,
            "date_of_birth": MARGARET.date_of_birth}, "valid_days": 1},
            self.login(NURSE, nurse_password))
        home = self._post("/api/v1/auth/invitation-login", {"code": invitation["code"]})
        principal = Principal.model_validate(home["principal"])
        sites[HOME.key] = SignedInSite(HOME, principal.name, str(home["token"]),
                                       p.Patient.model_validate(home["patient"]))
        return Enrolment(NURSE, nurse_password, sites)
