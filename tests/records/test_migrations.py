"""Alembic migrations: empty to head matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from records.models import Base
from records.store import ALEMBIC_VERSION_TABLE, Store, alembic_config, create_engine
from tests.records.builders import make_record


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "version_table": ALEMBIC_VERSION_TABLE},
        )
        return list(compare_metadata(context, Base.metadata))


def test_empty_to_head_matches_the_models(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        assert _differences(store.engine) == []
        tables = set(sa.inspect(store.engine).get_table_names())
        assert ALEMBIC_VERSION_TABLE in tables
        assert "alembic_version" not in tables  # left to the hub's own migrations
    finally:
        store.close()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {ALEMBIC_VERSION_TABLE}
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_record_round_trips_on_each_backend(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        draft = make_record(outcome="ae_referral", referral_target="emergency_department")
        with store.unit_of_work() as uow:
            uow.records.save_draft(draft, "nurse-ann")
            signed = uow.records.sign_off(draft.uuid, "nurse-ann")
        with store.unit_of_work() as uow:
            assert uow.records.get(draft.uuid, "nurse-ann") == signed
            assert uow.records.history(draft.uuid, "nurse-ann") == [signed]
    finally:
        store.close()


def test_a_desk_store_upgraded_to_the_outbox_index_keeps_its_backlog(db_url: str) -> None:
    """0001 -> head (0002 swaps the outbox's index): the entries waiting to sync survive and
    are read in their order, on each backend."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
        store = Store(engine)
        uuids = []
        with store.unit_of_work() as uow:
            for n in range(5):
                draft = make_record(call_id=f"call-{n}", outcome="gp_referral", patient=None)
                uow.records.save_draft(draft, "nurse-ann")
                uow.records.sign_off(draft.uuid, "nurse-ann")
                uuids.append(draft.uuid)
        store.upgrade()
        assert _differences(engine) == []
        with store.unit_of_work() as uow:
            due = uow.outbox.due(10)
        assert [e.record_uuid for e in due] == uuids
        assert [e.id for e in due] == sorted(e.id for e in due)
    finally:
        engine.dispose()


def test_a_stations_residents_kept_before_are_carried_over_to_be_sent(tmp_path: Path) -> None:
    """0003_record_authority -> head: a station's residents in ``patients`` (the station's own list)
    become its copy of the hub's, waiting to be sent at the first sync."""
    from records.schema import Patient
    from records.site_residents import SiteResidents

    engine = create_engine(f"sqlite:///{tmp_path / 'station.db'}")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0003_record_authority")
        store = Store(engine)
        with store.unit_of_work() as uow:
            uow.patients.save(Patient(name="Edith Brown", nhs_number="9434765919",
                                      date_of_birth="1936-04-02", site_id="site:4"))
            uow.patients.save(Patient(name="Desk patient", site_id="Beech House"))
        store.upgrade()
        [edith] = SiteResidents(store, "site:4").all()
        assert (edith.name, edith.nhs_number, edith.pending, edith.hub_version) == (
            "Edith Brown", "9434765919", True, None)
        assert str(edith.date_of_birth) == "1936-04-02"
    finally:
        engine.dispose()
