"""The hub-wide history and the context of a call, over HTTP (query: hub/encounter_search.py).

Routes (under ``/api/v1``; bodies in hub/contract/history.py)

* ``GET /history?name=&nhs_number=&site=&problem=&outcome=&from=&to=&cursor=&limit=``:
  encounters of the whole hub, newest call first, a keyset page at a time
  (:class:`~hub.contract.history.HistoryPage`; send its ``next_cursor`` back as ``cursor``).
* ``GET /context?call_id=``: the patient's and the site's recent encounters, the NEWS2 trend
  and what the site has recorded about the resident, for one call
  (:class:`~hub.contract.history.PatientContext`).

Who may do what (docs/security.md, least privilege; sites are refused everything with 403):

==========  =======  =======
role        history  context
==========  =======  =======
nurse       yes      yes: a call that is waiting, or that they took part in
specialist  yes: only the calls they took part in   no
manager     no       no
admin       no       no
==========  =======  =======

A nurse answers calls for every site, so searches every record. A specialist reads only the
records of the calls they took part in (as ``GET /records/{uuid}``): their history holds
those and no other. The context is asked for by the desk as a call rings: its patient and
site are those of the call as the hub holds it, never values a desk sends, so a nurse cannot
look up a patient who is not on a call; any other call is a 404, as if it did not exist.
Specialists are left out: the context is the record of other calls, which they may not read.
Managers read records through the report's drill-downs and need no search by patient; the
administrator sees no clinical data.

Every encounter returned is audited as a read (hub/encounter_search.py); a refused request
reads and audits nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from hub.contract.fields import Day, Text
from hub.contract.history import (
    MAX_HISTORY_PAGE,
    HistoryPage,
    HistoryQuery,
    InvalidCursor,
    PatientContext,
)
from hub.contract.identity import Principal, StaffRole
from hub.db import utcnow
from hub.encounter_search import EncounterSearch
from hub.routes.deps import SIGNED_IN, SessionDep, refusals, require
from records import codes, nhs_number

__all__ = ["CONTEXT_READERS", "HISTORY_READERS", "router"]

HISTORY_READERS = (StaffRole.NURSE, StaffRole.SPECIALIST)
CONTEXT_READERS = (StaffRole.NURSE,)

router = APIRouter(prefix="/api/v1", tags=["history"], responses=refusals(*SIGNED_IN, 422))


def _invalid(field: str, rule: str, kind: str) -> HTTPException:
    # FastAPI's own form: the field and the rule, never the value sent.
    return HTTPException(422, [{"type": kind, "loc": ["query", field], "msg": rule}])


@router.get("/history", response_model=HistoryPage)
def history(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*HISTORY_READERS))],
    name: Annotated[Text | None, Query(max_length=120)] = None,
    nhs: Annotated[Text | None, Query(alias="nhs_number", max_length=16)] = None,
    site: Annotated[Text | None, Query(max_length=200)] = None,
    problem: Annotated[Text | None, Query(max_length=200)] = None,
    outcome: Annotated[Text | None, Query(max_length=32)] = None,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    cursor: Annotated[Text | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 50,
) -> HistoryPage:
    """Encounters by patient name, NHS number, site, problem, outcome and day, newest first."""
    if start is not None and end is not None and end < start:
        raise _invalid("to", "'to' is before 'from'", "date_order")
    if nhs is not None and not nhs_number.is_valid(nhs):
        raise _invalid("nhs_number", "not a valid NHS number", "nhs_number")
    if outcome is not None and outcome not in codes.outcomes():
        raise _invalid("outcome", "not an outcome code", "outcome")
    query = HistoryQuery(name=name, nhs_number=nhs, site=site, problem=problem,
                         outcome=outcome, start=start, end=end, cursor=cursor, limit=limit)
    try:
        return EncounterSearch(session, principal).page(query, now=utcnow())
    except InvalidCursor:
        raise _invalid("cursor", "not a cursor this hub gave", "cursor") from None


@router.get("/context", response_model=PatientContext, responses=refusals(404))
def context(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*CONTEXT_READERS))],
    call_id: Annotated[Text, Query(min_length=1, max_length=36)],
) -> PatientContext:
    """The context of a call: waiting, or one this nurse took part in (else 404)."""
    found = EncounterSearch(session, principal).context(call_id, now=utcnow())
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no such call waiting or taken part in")
    return found
