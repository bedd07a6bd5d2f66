"""Prison clinics and call plans (the station), and Gold Line invitations (nurses)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from hub.client.core import HubCore, _body
from hub.client.errors import HubNotFound
from hub.contract.rest import (
    BookingOut,
    ClinicChoicesOut,
    ClinicDayQuery,
    InvitationOut,
    IssuedInvitationOut,
    JoinBody,
    NewBookingBody,
    NewInvitationBody,
    PlanOut,
)

_BOOKINGS = TypeAdapter(list[BookingOut])
_BOOKING = TypeAdapter(BookingOut)
_CHOICES = TypeAdapter(ClinicChoicesOut)
_INVITATIONS = TypeAdapter(list[InvitationOut])
_ISSUED = TypeAdapter(IssuedInvitationOut)
_PLAN = TypeAdapter(PlanOut)


class Clinics(HubCore):
    """Prison clinics and call plans (the station)."""

    def clinics(self) -> list[BookingOut]:
        """Today's clinic bookings (a site sees its own)."""
        return self._parse(_BOOKINGS, self._send("GET", "/api/v1/clinics", "list the clinics"),
                           "the clinic list")  # fmt: skip

    def join_clinic(self, booking_id: int, call_id: str) -> BookingOut:
        """Attach the call this site asked for to its booking (cancelled: HubConflict)."""
        r = self._send("POST", f"/api/v1/clinics/{booking_id}/join", "join the clinic",
                       json=_body(JoinBody, "join the clinic", call_id=call_id))
        return self._parse(_BOOKING, r, "joining the clinic")

    def clinic_day(self, query: ClinicDayQuery) -> list[BookingOut]:
        """One UTC day's bookings (today when ``query.day`` is None), optionally one site's."""
        r = self._send("GET", "/api/v1/clinics", "list the clinics",
                       params=query.model_dump(mode="json", exclude_none=True))
        return self._parse(_BOOKINGS, r, "the clinic list")

    def clinic_choices(self) -> ClinicChoicesOut:
        """The prisons and specialists a clinic can be booked with."""
        return self._parse(_CHOICES, self._send("GET", "/api/v1/clinics/choices",
                                                "list what a clinic can be booked with"),
                           "the clinic choices")

    def book_clinic(self, **values: Any) -> BookingOut:
        """Book a clinic (``NewBookingBody``'s fields); a value refused names its field."""
        r = self._send("POST", "/api/v1/clinics", "book the clinic", ok=(201,),
                       json=_body(NewBookingBody, "book the clinic", **values))
        return self._parse(_BOOKING, r, "the booking")

    def cancel_clinic(self, booking_id: int) -> None:
        self._send("DELETE", f"/api/v1/clinics/{int(booking_id)}", "cancel the clinic",
                   ok=(204,))

    def call_plan(self, call_id: str) -> PlanOut | None:
        """The call's agreed plan, or None while nobody has written it."""
        try:
            r = self._send("GET", f"/api/v1/calls/{call_id}/plan", "give the plan")
        except HubNotFound:
            return None
        return self._parse(_PLAN, r, "the plan")


class Invitations(HubCore):
    """Gold Line invitations (nurses)."""

    def invitations(self) -> list[InvitationOut]:
        return self._parse(_INVITATIONS, self._send("GET", "/api/v1/invitations",
                                                    "list the invitations"), "the invitations")

    def invite(self, **values: Any) -> IssuedInvitationOut:
        """Invite one patient (``NewInvitationBody``'s fields); the code is in this answer only."""
        r = self._send("POST", "/api/v1/invitations", "issue the invitation", ok=(201,),
                       json=_body(NewInvitationBody, "issue the invitation", **values))
        return self._parse(_ISSUED, r, "the invitation")

    def revoke_invitation(self, invitation_id: int) -> None:
        self._send("DELETE", f"/api/v1/invitations/{int(invitation_id)}",
                   "revoke the invitation", ok=(204,))
