"""The word index of the central store: each record's patient-name and problem words, and
the pairs of its name's words (field ``pair``: :func:`hub.contract.history.name_pairs`).

Written by :class:`hub.central_store.CentralStore` in the write's own transaction (so the
index never disagrees with the records it indexes), read by hub/encounter_search.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.contract.history import name_pairs, search_terms
from hub.db import insert_many
from hub.models import CentralRecordTerm

__all__ = ["TERMS", "index", "record_terms", "term_rows"]

TERMS = cast(sa.Table, CentralRecordTerm.__table__)


class _Indexed(Protocol):
    """What :func:`index` needs of a stored version (``hub.record_checks.Checked``)."""

    @property
    def uuid(self) -> UUID: ...
    @property
    def payload(self) -> str: ...
    @property
    def log(self) -> dict[str, Any]: ...


def index(session: Session, heads: Iterable[_Indexed], known: set[UUID]) -> None:
    """Index the words of each record's new latest version (``heads``), replacing the words
    of the versions before it (records in ``known``), in the session's transaction."""
    heads = list(heads)
    replaced = [h.uuid for h in heads if h.uuid in known]
    if replaced:
        session.execute(sa.delete(TERMS).where(TERMS.c.record_uuid.in_(replaced)))
    rows: list[dict[str, Any]] = []
    for head in heads:
        name = (json.loads(head.payload).get("patient") or {}).get("name")
        rows += term_rows(head.uuid, head.log["occurred_at"], name,
                          head.log.get("presenting_problem"))
    insert_many(session.connection(), TERMS, rows)


def term_rows(record_uuid: UUID, occurred_at: Any, name: str | None,
              problem: str | None) -> list[dict[str, Any]]:
    """The index rows of one record (also what a bulk load writes: bench/)."""
    return [{"field": field, "term": term, "record_uuid": record_uuid,
             "occurred_at": occurred_at} for field, term in record_terms(name, problem)]


def record_terms(name: str | None, problem: str | None) -> list[tuple[str, str]]:
    """The (field, term) pairs indexed of one record's name and problem."""
    return ([("name", t) for t in search_terms(name)]
            + [("pair", t) for t in name_pairs(name)]
            + [("problem", t) for t in search_terms(problem)])
