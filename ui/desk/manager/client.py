"""The manager view's HTTP client for the hub's report routes (blocking: run it on a worker)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.contract.rest import DrillPage, Filters, Report
from records.export_cli import atomic_output

__all__ = ["Cancelled", "HubRefused", "ReportClient"]


class HubRefused(Exception):
    """The hub answered, but not with the figures (signed out, not a manager, bad filters)."""


class Cancelled(Exception):
    """The manager cancelled an export; nothing was written."""


def _params(f: Filters) -> dict[str, Any]:
    params: dict[str, Any] = {"from": f.start.isoformat(), "to": f.end.isoformat()}
    if f.site_id is not None:
        params["site_id"] = f.site_id
    if f.site_kind is not None:
        params["site_kind"] = f.site_kind
    return params


class ReportClient:
    """Summary, drill-down, sites and downloads for one signed-in manager."""

    def __init__(self, http: httpx.Client, hub_url: str, token: str) -> None:
        self._http, self._base = http, hub_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        r = self._http.get(self._base + path, params=params, headers=self._headers,
                           timeout=httpx.Timeout(10.0, read=60.0))
        if r.status_code != 200:
            detail = r.json().get("detail") if "json" in r.headers.get("content-type", "") else ""
            raise HubRefused(f"the hub answered HTTP {r.status_code}"
                             + (f": {detail}" if isinstance(detail, str) and detail else ""))
        return r

    def summary(self, f: Filters) -> Report:
        return Report.model_validate_json(self._get("/api/v1/reports/summary", _params(f)).content)

    def drill(self, f: Filters, figure: str, month: str | None = None, offset: int = 0,
              limit: int = 200) -> DrillPage:
        params = {**_params(f), "figure": figure, "offset": offset, "limit": limit}
        if month is not None:
            params["month"] = month
        return DrillPage.model_validate_json(self._get("/api/v1/reports/drill", params).content)

    def sites(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/sites", {}).json())

    def download(self, f: Filters, fmt: str, out: Path, cancel: threading.Event,
                 progress: Callable[[int, int], None]) -> int:
        """Stream one export to ``out`` (renamed into place only when complete); bytes written.

        ``progress(done, total)``: bytes against Content-Length for files built whole on the
        hub; for streamed ones, records seen against ``X-Record-Count``.
        """
        params = {**_params(f), "format": fmt}
        marker = {"csv": b"\n", "fhir": b'"resourceType":"Encounter"'}.get(fmt)
        with atomic_output(out) as handle, self._http.stream(
            "GET", self._base + "/api/v1/reports:export", params=params,
            headers=self._headers, timeout=httpx.Timeout(10.0, read=300.0),
        ) as r:
            if r.status_code != 200:
                raise HubRefused(f"the hub answered HTTP {r.status_code}")
            length = int(r.headers.get("Content-Length") or 0)
            records = int(r.headers.get("X-Record-Count") or 0)
            written = seen = 0
            for block in r.iter_bytes():
                if cancel.is_set():
                    raise Cancelled()
                handle.write(block)
                written += len(block)
                if length:
                    progress(written, length)
                elif marker is not None and records:
                    seen += block.count(marker)
                    progress(min(seen, records), records)
            if cancel.is_set():
                raise Cancelled()
            progress(1, 1)
        return written
