"""Booked specialist clinics at prisons: book, list the day's, join at the time, record the outcome.

The least the hub needs for clinics today: bookings with a time, a specialist and a prison;
the prison's station lists the day's bookings and joins each at its time by asking for a
call (``call_request``, routine) and attaching the call to the booking, so the nurse who
answers sees it is a booked clinic and brings the specialist in. The outcome records whether
a transfer to hospital was avoided. (Routing a booked call straight to its specialist needs
a protocol change; see docs/site_station.md.)

The administrator may book, list and cancel clinics (scheduling), but the answers to an
administrator leave out the patient and the outcome, which are clinical (docs/security.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select

from hub import accounts
from hub.contract import signaling as p
from hub.contract.fields import Day, RowId
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.rest import (
    BookableSpecialist,
    BookingOut,
    ClinicChoicesOut,
    JoinBody,
    NewBookingBody,
    OutcomeBody,
)
from hub.db import utcnow
from hub.models import Call, ClinicBooking, Site, Staff
from hub.routes.deps import ANY_SITE, SIGNED_IN, SessionDep, refusals, require

router = APIRouter(tags=["clinics"], responses=refusals(*SIGNED_IN, 422))
BOOKERS = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.ADMIN)
STAFF_READERS = (*BOOKERS, StaffRole.MANAGER)
OUTCOME_WRITERS = (StaffRole.NURSE, StaffRole.SPECIALIST)


def _out(b: ClinicBooking, site: Site, specialist: Staff, to: Principal) -> BookingOut:
    clinical = to.role is not StaffRole.ADMIN
    return BookingOut(
        id=b.id, site_id=b.site_id, site_name=site.name, specialist_id=b.specialist_id,
        specialist_name=specialist.display_name, starts_at=b.starts_at, minutes=b.minutes,
        title=b.title,
        patient=p.Patient.model_validate(b.patient) if b.patient and clinical else None,
        cancelled=b.cancelled, call_id=b.call_id,
        transfer_avoided=b.transfer_avoided if clinical else None,
    )


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise HTTPException(422, "give times with a zone, e.g. 2026-11-23T10:30:00Z")
    return t.astimezone(UTC)


@router.post("/api/v1/clinics", status_code=201, responses=refusals(413))
def book(
    body: NewBookingBody, session: SessionDep,
    principal: Annotated[Principal, Depends(require(*BOOKERS))],
) -> BookingOut:
    """Book a specialist clinic at a prison."""
    starts_at = _aware(body.starts_at)
    site = session.get(Site, body.site_id)
    if site is None or not site.active or site.kind != SiteKind.PRISON:
        raise HTTPException(422, "site_id must be an enrolled prison")
    specialist = session.get(Staff, body.specialist_id)
    if specialist is None or not specialist.active or specialist.role != StaffRole.SPECIALIST:
        raise HTTPException(422, "specialist_id must be a specialist's account")
    booking = ClinicBooking(
        site_id=site.id, specialist_id=specialist.id, starts_at=starts_at,
        minutes=body.minutes, title=body.title.strip(),
        patient=body.patient.model_dump(exclude_none=True) if body.patient else None,
        booked_by=principal.id, cancelled=False,
    )
    session.add(booking)
    session.flush()
    return _out(booking, site, specialist, principal)


@router.get("/api/v1/clinics/choices")
def choices(
    session: SessionDep, _: Annotated[Principal, Depends(require(*BOOKERS))],
) -> ClinicChoicesOut:
    """The prisons and specialists a clinic can be booked with (names and ids only)."""
    prisons = session.scalars(select(Site).where(Site.active, Site.kind == SiteKind.PRISON)
                              .order_by(Site.name)).all()
    specialists = session.scalars(
        select(Staff).where(Staff.active, Staff.role == StaffRole.SPECIALIST)
        .order_by(Staff.display_name)).all()
    return ClinicChoicesOut(
        prisons=[accounts.site_principal(site) for site in prisons],
        specialists=[BookableSpecialist(id=st.id, name=st.display_name) for st in specialists])


@router.get("/api/v1/clinics")
def day_list(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*ANY_SITE, *STAFF_READERS))],
    day: Annotated[Day | None, Query(description="UTC day; today when left out")] = None,
    site_id: RowId | None = None,
) -> list[BookingOut]:
    """The day's bookings in time order: a site sees its own, staff see every site's."""
    day = day or utcnow().date()
    start = datetime.combine(day, time(), UTC)
    query = (select(ClinicBooking, Site, Staff)
             .join(Site, Site.id == ClinicBooking.site_id)
             .join(Staff, Staff.id == ClinicBooking.specialist_id)
             .where(ClinicBooking.starts_at >= start,
                    ClinicBooking.starts_at < start + timedelta(days=1))
             .order_by(ClinicBooking.starts_at, ClinicBooking.id))
    if principal.kind == "site":
        query = query.where(ClinicBooking.site_id == principal.id)
    elif site_id is not None:
        query = query.where(ClinicBooking.site_id == site_id)
    return [_out(b, s, st, principal) for b, s, st in session.execute(query).all()]


def _booking(session: SessionDep, booking_id: int) -> tuple[ClinicBooking, Site, Staff]:
    row = session.execute(
        select(ClinicBooking, Site, Staff)
        .join(Site, Site.id == ClinicBooking.site_id)
        .join(Staff, Staff.id == ClinicBooking.specialist_id)
        .where(ClinicBooking.id == booking_id)).first()
    if row is None:
        raise HTTPException(404, "no clinic booking with that id")
    return row[0], row[1], row[2]


@router.post("/api/v1/clinics/{booking_id}/join", responses=refusals(404, 409, 413))
def join(
    booking_id: RowId, body: JoinBody, session: SessionDep,
    principal: Annotated[Principal, Depends(require(SiteKind.PRISON))],
) -> BookingOut:
    """The prison's station attaches the call it asked for to its booking."""
    booking, site, specialist = _booking(session, booking_id)
    if booking.site_id != principal.id:
        raise HTTPException(404, "no clinic booking with that id")
    if booking.cancelled:
        raise HTTPException(409, "this clinic was cancelled")
    call = session.get(Call, body.call_id)
    if call is None or call.site_id != principal.id:
        raise HTTPException(422, "call_id must be a call this site asked for")
    booking.call_id = call.id
    return _out(booking, site, specialist, principal)


@router.post("/api/v1/clinics/{booking_id}/outcome",
             responses=refusals(404, 409, 413))
def outcome(
    booking_id: RowId, body: OutcomeBody, session: SessionDep,
    principal: Annotated[Principal, Depends(require(*OUTCOME_WRITERS))],
) -> BookingOut:
    """Record whether the clinic avoided a transfer to hospital."""
    booking, site, specialist = _booking(session, booking_id)
    if booking.cancelled:
        raise HTTPException(409, "this clinic was cancelled")
    booking.transfer_avoided = body.transfer_avoided
    booking.outcome_by, booking.outcome_at = principal.participant_id, utcnow()
    return _out(booking, site, specialist, principal)


@router.delete("/api/v1/clinics/{booking_id}", status_code=204, responses=refusals(404))
def cancel(
    booking_id: RowId, session: SessionDep,
    _: Annotated[Principal, Depends(require(*BOOKERS))],
) -> None:
    booking, _site, _specialist = _booking(session, booking_id)
    booking.cancelled = True
