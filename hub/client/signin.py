"""Signing in and out: staff (with a second factor), site stations, passwords, the health check."""

from __future__ import annotations

import time

import httpx
from pydantic import TypeAdapter, ValidationError

from hub.client.core import HubCore, _body
from hub.client.errors import HubNeedsSecondFactor, _error
from hub.contract.rest import (
    ChangePasswordBody,
    ConfirmEnrolmentBody,
    EnrolledOut,
    EnrolmentBody,
    EnrolmentOut,
    Health,
    LoginBody,
    SignInRefused,
    SiteLoginBody,
    TokenOut,
)

_TOKEN = TypeAdapter(TokenOut)
_ENROLMENT = TypeAdapter(EnrolmentOut)
_ENROLLED = TypeAdapter(EnrolledOut)
_SECOND_FACTOR = TypeAdapter(SignInRefused)
_HEALTH = TypeAdapter(Health)


class SignIn(HubCore):
    """Sign-in (staff, site stations), sign-out, one's own password and the health check."""

    def sign_in(self, username: str, password: str, code: str | None = None) -> TokenOut:
        """Staff sign-in; a wrong user name, password or code is :class:`HubRefused` (401),
        a right password without a needed code :class:`HubNeedsSecondFactor`, a lock
        :class:`HubFailed` (429, with ``retry_after``)."""
        body = _body(LoginBody, "sign in", username=username, password=password, code=code)
        if code is None:
            del body["code"]
        r = self._send("POST", "/api/v1/auth/login", "sign in", ok=(200, 401), json=body)
        if r.status_code == 401:
            raise self._second_factor(r) or _error(r, "sign in", self._token)
        return self._signed_in(r)

    def enrol_second_factor(self, username: str, password: str) -> EnrolmentOut:
        """A new authenticator secret for this account, to confirm with a code from it."""
        body = _body(EnrolmentBody, "set up the second factor", username=username,
                     password=password)
        r = self._send("POST", "/api/v1/auth/second-factor/enrolment",
                       "set up the second factor", ok=(201,), json=body)
        return self._parse(_ENROLMENT, r, "the second factor's set-up")

    def confirm_second_factor(self, username: str, password: str, code: str) -> EnrolledOut:
        """Confirm the new secret with a code from it: signed in, with recovery codes."""
        body = _body(ConfirmEnrolmentBody, "confirm the second factor", username=username,
                     password=password, code=code)
        r = self._send("POST", "/api/v1/auth/second-factor/confirmation",
                       "confirm the second factor", json=body)
        answer = self._parse(_ENROLLED, r, "the second factor's confirmation")
        self.token, self.principal = answer.token, answer.principal
        return answer

    def reset_second_factor(self, staff_id: int) -> None:
        """An administrator removes a member of staff's second factor (a lost phone)."""
        self._send("DELETE", f"/api/v1/staff/{int(staff_id)}/second-factor",
                   "reset the second factor", ok=(204,))

    def _second_factor(self, response: httpx.Response) -> HubNeedsSecondFactor | None:
        try:
            needed = _SECOND_FACTOR.validate_json(response.content)
        except ValidationError:
            return None
        if needed.second_factor is None or needed.role is None:
            return None  # a plain refusal: wrong name, password or code
        return HubNeedsSecondFactor(f"the hub needs a second factor: {needed.detail}",
                                    enrol=needed.second_factor == "enrol", role=needed.role)

    def sign_in_site(self, credential: str) -> TokenOut:
        """A site station's sign-in with its credential (refused: :class:`HubRefused`)."""
        body = _body(SiteLoginBody, "sign the station in", credential=credential)
        return self._signed_in(self._send("POST", "/api/v1/auth/site-login",
                                          "sign the station in", json=body))

    def _signed_in(self, response: httpx.Response) -> TokenOut:
        answer = self._parse(_TOKEN, response, "the sign-in")
        self.token, self.principal = answer.token, answer.principal
        return answer

    def sign_out(self) -> None:
        """Revoke this client's token at the hub (its WebSockets close too)."""
        self._send("POST", "/api/v1/auth/logout", "sign out", ok=(204,))
        self.token = None

    def change_password(self, current: str, new: str) -> None:
        """Change the signed-in member of staff's own password; their other sessions end.
        A wrong current password is :class:`HubRefused` (403), a new one the policy refuses
        :class:`HubRefused` (422) whose message names the rule."""
        body = _body(ChangePasswordBody, "change the password", current_password=current,
                     new_password=new)
        self._send("POST", "/api/v1/me/password", "change the password", ok=(204,), json=body)

    def round_trip_ms(self) -> float:
        """Milliseconds for the hub to answer its health check (no token needed)."""
        started = time.perf_counter()
        self._parse(_HEALTH, self._send("GET", "/health", "answer"), "the health check")
        return (time.perf_counter() - started) * 1000
