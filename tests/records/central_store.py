"""A small real HTTP central store for the sync tests, following records/sync.py's contract."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from hub.contract.rest import MAX_BATCH, BatchRequest
from records.schema import TriageRecord

TOKEN = "test-token"
_REFUSAL = {"detail": [{"type": "value_error", "loc": ["body"], "input": "9000000009"}]}


class CentralStoreDouble:
    """Holds every (uuid, version) it accepted; can be taken down and brought back on its port."""

    def __init__(self, port: int = 0) -> None:
        self.held: dict[tuple[UUID, int], TriageRecord] = {}
        self.requests: Counter[str] = Counter()
        self.fail_with: int | None = None  # answer every request with this status
        # Records refused as invalid, as a store with stricter validation might; the
        # detail echoes patient data the way pydantic's errors do, to prove it is not logged.
        self.refuse: set[UUID] = set()
        # To prove pipelining: each request waits ``delay`` s before it is decided; records
        # that arrived while another request holding the same record was still being decided
        # are listed in ``overlapping``; ``most_at_once`` is the most requests in progress.
        self.delay = 0.0
        self.overlapping: list[str] = []
        self.most_at_once = 0
        self._deciding: Counter[str] = Counter()
        self._at_once = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

            def do_PUT(self) -> None:
                store._handle(self)

            def do_POST(self) -> None:
                store._handle(self)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Take the store down: the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def newest(self, record_uuid: UUID) -> int | None:
        versions = [v for (u, v) in self.held if u == record_uuid]
        return max(versions) if versions else None

    def _apply(self, record: TriageRecord) -> tuple[int, dict[str, Any]]:
        key = (record.uuid, record.version)
        newest = self.newest(record.uuid)
        if key in self.held:
            if self.held[key] == record:
                return 200, {"status": "unchanged"}
            return 409, {"detail": "different content", "held_version": newest}
        if newest is not None and newest > record.version:
            return 409, {"detail": "newer version held", "held_version": newest}
        self.held[key] = record
        return 201, {"status": "stored"}

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        self.requests[request.command] += 1
        if self.fail_with is not None:
            return _reply(request, self.fail_with, {"detail": "injected"})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _reply(request, 401, {"detail": "no valid token"})
        uuids = _uuids_in(body)
        with self._lock:
            self.overlapping += [u for u in uuids if self._deciding[u]]
            self._deciding.update(uuids)
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            if self.delay:
                time.sleep(self.delay)
            self._decide(request, body)
        finally:
            with self._lock:
                self._deciding.subtract(uuids)
                self._at_once -= 1

    def _decide(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            if request.command == "PUT" and request.path.startswith("/api/v1/records/"):
                try:
                    record = TriageRecord.model_validate_json(body)
                except ValidationError as exc:
                    return _reply(request, 422, {"detail": json.loads(exc.json())})
                if record.uuid in self.refuse:
                    return _reply(request, 422, _REFUSAL)
                if str(record.uuid) != request.path.rsplit("/", 1)[1]:
                    return _reply(request, 422, {"detail": "path and body uuid differ"})
                code, answer = self._apply(record)
                answer.setdefault("uuid", str(record.uuid))
                answer.setdefault("version", record.version)
                return _reply(request, code, answer)
            if request.command == "POST" and request.path == "/api/v1/records:batch":
                try:
                    raw = json.loads(body)
                    if len(raw.get("records", [])) > MAX_BATCH:
                        return _reply(request, 413, {"detail": "too many records"})
                    batch = BatchRequest.model_validate(raw)
                except (ValidationError, ValueError):
                    return _reply(request, 422, {"detail": "invalid batch"})
                if any(record.uuid in self.refuse for record in batch.records):
                    return _reply(request, 422, _REFUSAL)
                results = []
                for record in batch.records:
                    code, answer = self._apply(record)
                    status = {200: "unchanged", 201: "stored", 409: "conflict"}[code]
                    held = answer.get("held_version")
                    results.append(
                        {"uuid": str(record.uuid), "version": record.version,
                         "status": status, "held_version": held}
                    )  # fmt: skip
                return _reply(request, 200, {"results": results})
            return _reply(request, 404, {"detail": "not found"})


def _uuids_in(body: bytes) -> list[str]:
    """The record UUIDs a PUT or batch body carries (none if it is not JSON of that shape)."""
    try:
        raw = json.loads(body)
    except ValueError:
        return []
    items = raw.get("records", []) if isinstance(raw, dict) and "records" in raw else [raw]
    return [str(r["uuid"]) for r in items if isinstance(r, dict) and "uuid" in r]


def _reply(request: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    try:
        request.send_response(code)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
    except OSError:
        pass  # the desk was killed mid-request: exactly what the crash test does
