"""A station's residents against a real hub: saved at the station first and sent when the hub
is back; two stations of one site share them, and a change made over a version the hub has
moved past is kept beside the hub's, never lost and never written over it."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.client import HubClient
from hub.contract.residents import ResidentDetails
from records.site_residents import SiteResidents
from records.store import Store
from tests.helpers.hubserver import HubDatabase, ThreadedHub, free_port


def test_offline_first_then_shared_and_a_stale_change_kept(
        hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path) -> None:
    site = hubdb.site("Beech House")
    name = f"site:{site.principal.id}"
    a_store, b_store = (Store.open(f"sqlite:///{tmp_path / n}.db") for n in ("a", "b"))
    http = httpx.Client(timeout=5)
    online = HubClient(http, hub.http, site.token)
    offline = HubClient(http, f"http://127.0.0.1:{free_port()}", site.token)
    a, b = SiteResidents(a_store, name), SiteResidents(b_store, name)
    try:
        # The hub away: the resident is saved at the station and waits.
        edith = a.save(ResidentDetails(name="Edith Brown", nhs_number="9434765919"))
        assert not a.sync(offline).reachable
        assert [(r.name, r.pending, r.hub_version) for r in a.all()] == [
            ("Edith Brown", True, None)]
        # Back: sent over no version (new), then held at version 1 by both stations.
        assert a.sync(online).sent == 1
        assert b.sync(online).received == 1
        assert [(r.id, r.pending, r.hub_version) for r in b.all()] == [(edith.id, False, 1)]

        # Station B changes her; station A, offline meanwhile, changes her too (over v1).
        b.save(ResidentDetails(name="Edith Brown", nhs_number="9434765919",
                               date_of_birth="1936-04-02"), edith.id)
        assert b.sync(online).sent == 1
        a.save(ResidentDetails(name="Edith M. Brown", nhs_number="9434765919"), edith.id)
        assert a.sync(online).refused == 1
        [held] = a.all()
        assert held.details.date_of_birth is not None and held.hub_version == 2  # the hub's
        assert held.refused is not None and held.refused.name == "Edith M. Brown"  # kept
        assert not held.pending
        assert [r["version"] for r in http.get(
            f"{hub.http}/api/v1/residents",
            headers={"Authorization": f"Bearer {site.token}"}).json()] == [2]
    finally:
        http.close()
        a_store.close()
        b_store.close()
