"""The manager's report: its figures, the calls behind one, and exports streamed from the hub."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx
from pydantic import TypeAdapter

from hub.client.core import _EXPORT_TIMEOUT, _NOT_SENT, _REPORT_TIMEOUT, HubCore
from hub.client.errors import _error
from hub.contract.identity import Principal
from hub.contract.rest import (
    DrillPage,
    DrillQuery,
    Filters,
    RecordExportQuery,
    Report,
    ReportFormat,
)

_SITES = TypeAdapter(list[Principal])
_REPORT = TypeAdapter(Report)
_DRILL = TypeAdapter(DrillPage)


@dataclass(frozen=True)
class Download:
    """An export on its way from the hub, inside ``with hub.export_...() as download:``.

    ``length`` is the Content-Length (0 for a file the hub streams as it builds it),
    ``records`` the X-Record-Count the hub announced, and ``blocks`` the file's bytes.
    """

    length: int
    records: int
    blocks: Iterator[bytes]


def _count(header: str | None) -> int:
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0


class Reports(HubCore):
    """The manager's report: the sites, the figures, the drill-down and the exports."""

    def sites(self) -> list[Principal]:
        return self._parse(_SITES, self._send("GET", "/api/v1/sites", "list the sites"),
                           "the site list")  # fmt: skip

    def report(self, filters: Filters) -> Report:
        r = self._send("GET", "/api/v1/reports/summary", "give the figures",
                       params=filters.params(), timeout=_REPORT_TIMEOUT)
        return self._parse(_REPORT, r, "the figures")

    def drill(self, filters: Filters, query: DrillQuery) -> DrillPage:
        r = self._send("GET", "/api/v1/reports/drill", "give the calls behind the figure",
                       params={**filters.params(), **query.params()}, timeout=_REPORT_TIMEOUT)
        return self._parse(_DRILL, r, "the drill-down")

    def export_report(self, filters: Filters,
                      fmt: ReportFormat) -> AbstractContextManager[Download]:
        """The report in one of its formats, streamed (``with ... as download:``)."""
        return self._download("/api/v1/reports:export", {**filters.params(), "format": fmt})

    def export_records(self, query: RecordExportQuery) -> AbstractContextManager[Download]:
        """The avoided-admission log or a FHIR Bundle, streamed (``with ... as download:``)."""
        return self._download("/api/v1/records:export", query.params())

    @contextmanager
    def _download(self, path: str, params: Mapping[str, str]) -> Iterator[Download]:
        url = self.url
        try:
            with self.http.stream("GET", url + path, params=params, headers=self._headers,
                                  timeout=_EXPORT_TIMEOUT) as r:  # fmt: skip
                if r.status_code != 200:
                    r.read()
                    raise _error(r, "export", self._token)
                yield Download(_count(r.headers.get("Content-Length")),
                               _count(r.headers.get("X-Record-Count")), r.iter_bytes())
        except httpx.HTTPError as exc:  # also mid-stream, while the caller reads the blocks
            if isinstance(exc, _NOT_SENT):
                self.hubs.failed(url)  # the next export asks the next hub
            raise self._unreachable(exc, url) from None
