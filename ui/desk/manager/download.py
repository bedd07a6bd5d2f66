"""An export saved from the hub to a file: progress as it comes, Cancel, never half a file.

Blocking: the manager view runs it on a worker. The file is renamed into place only when
complete (records.export.atomic_output), so a cancelled or failed export leaves nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast, get_args

from hub.client import HubClient
from hub.contract.rest import Filters, ReportFormat
from records.export import atomic_output

__all__ = ["Cancelled", "download"]

# What one record looks like in a streamed export, to count progress against X-Record-Count.
_RECORD_MARKS = {"csv": b"\n", "fhir": b'"resourceType":"Encounter"'}


class Cancelled(Exception):
    """The manager cancelled an export; nothing was written."""


def download(hub: HubClient, f: Filters, fmt: str, out: Path,
             cancel: threading.Event, progress: Callable[[int, int], None]) -> int:
    """Stream one export of the report to ``out``; bytes written. Raises HubError or
    :class:`Cancelled`.

    ``progress(done, total)``: bytes against Content-Length for files built whole on the
    hub; for streamed ones, records seen against ``X-Record-Count``.
    """
    if fmt not in get_args(ReportFormat):
        raise ValueError(f"the report has no {fmt!r} format")
    marker = _RECORD_MARKS.get(fmt)
    with atomic_output(out) as handle, hub.export_report(f, cast(ReportFormat, fmt)) as answer:
        written = seen = 0
        for block in answer.blocks:
            if cancel.is_set():
                raise Cancelled()
            handle.write(block)
            written += len(block)
            if answer.length:
                progress(written, answer.length)
            elif marker is not None and answer.records:
                seen += block.count(marker)
                progress(min(seen, answer.records), answer.records)
        if cancel.is_set():
            raise Cancelled()
        progress(1, 1)
    return written
