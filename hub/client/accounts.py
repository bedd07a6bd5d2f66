"""The accounts' lifecycle: the administrator's screen of staff and site accounts."""

from __future__ import annotations

from pydantic import TypeAdapter

from hub.client.core import HubCore, _body
from hub.contract.rest import AccountEventOut, NewSiteOut, ResetPasswordBody, SiteOut, StaffOut

_STAFF = TypeAdapter(StaffOut)
_STAFF_LIST = TypeAdapter(list[StaffOut])
_SITE = TypeAdapter(SiteOut)
_SITE_LIST = TypeAdapter(list[SiteOut])
_NEW_SITE = TypeAdapter(NewSiteOut)
_EVENTS = TypeAdapter(list[AccountEventOut])


class Accounts(HubCore):
    """The accounts' lifecycle (the administrator's screen)."""

    def staff_accounts(self) -> list[StaffOut]:
        return self._parse(_STAFF_LIST, self._send("GET", "/api/v1/staff", "list the staff"),
                           "the staff list")  # fmt: skip

    def site_accounts(self) -> list[SiteOut]:
        return self._parse(_SITE_LIST, self._send("GET", "/api/v1/site-accounts",
                                                  "list the sites"), "the site list")

    def account_events(self, limit: int = 200) -> list[AccountEventOut]:
        r = self._send("GET", "/api/v1/account-events", "give the audit trail",
                       params={"limit": limit})
        return self._parse(_EVENTS, r, "the audit trail")

    def disable_staff(self, staff_id: int) -> StaffOut:
        """Lock a member of staff out (yourself or the last admin: :class:`HubConflict`)."""
        return self._parse(_STAFF, self._send("POST", f"/api/v1/staff/{staff_id}/disable",
                                              "disable the account"), "the account")

    def enable_staff(self, staff_id: int) -> StaffOut:
        return self._parse(_STAFF, self._send("POST", f"/api/v1/staff/{staff_id}/enable",
                                              "enable the account"), "the account")

    def reset_password(self, staff_id: int, password: str) -> StaffOut:
        body = _body(ResetPasswordBody, "reset the password", password=password)
        return self._parse(_STAFF, self._send("POST", f"/api/v1/staff/{staff_id}/password",
                                              "reset the password", json=body), "the account")

    def rotate_site_credential(self, site_id: int) -> NewSiteOut:
        """A new credential for the site (shown once); the old one stops working."""
        r = self._send("POST", f"/api/v1/sites/{site_id}/credential", "rotate the credential")
        return self._parse(_NEW_SITE, r, "the new credential")

    def retire_site(self, site_id: int) -> SiteOut:
        return self._parse(_SITE, self._send("POST", f"/api/v1/sites/{site_id}/retire",
                                             "retire the site"), "the site")
