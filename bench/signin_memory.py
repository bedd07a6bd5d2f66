"""Benchmark: the hub's peak memory when 40 staff sign in at the same moment.

One hub process (``python -m hub serve`` on loopback, an SQLite database in a temporary
folder, its record checkers off), 40 nurses enrolled. After one sign-in
to warm it up, 40 threads post the 40 nurses' passwords at once; the hub's peak resident set
(``VmHWM`` in /proc) is read before and after the burst. argon2id takes 64 MiB a check, so
the peak follows how many checks run at once. The last line printed is one JSON object.

    python bench/signin_memory.py                # the code on PYTHONPATH
    PYTHONPATH=/path/to/older/tree python bench/signin_memory.py   # compare another tree
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PASSWORD = "a long pass phrase for the bench"
PARALLEL = 40


def _kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert found, field
    return int(found.group(1))


def enrol(db: str) -> None:
    """The schema and 40 nurses, in this process (the tree on PYTHONPATH, as the hub's)."""
    from hub import accounts, schema
    from hub.db import make_engine, session_factory, unit_of_work

    engine = make_engine(db)
    schema.upgrade(engine)
    with unit_of_work(session_factory(engine)) as session:
        for i in range(PARALLEL):
            accounts.add_staff(session, f"nurse-{i}", "nurse", PASSWORD)
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/hub.db"
        env = dict(os.environ, XDG_DATA_HOME=tmp, TELEHUB_RECORD_CHECKERS="0",
                   PYTHONUNBUFFERED="1")
        hub = [sys.executable, "-m", "hub"]
        enrol(db)
        proc = subprocess.Popen([*hub, "serve", "--db", db, "--port", "0", "--log-level",
                                 "warning"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            assert proc.stdout is not None
            port = 0
            for line in proc.stdout:
                found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if found:
                    port = int(found.group(1))
                    break
            assert port, "the hub did not start"
            threading.Thread(target=lambda: [None for _ in proc.stdout or ()],
                             daemon=True).start()
            url = f"http://127.0.0.1:{port}/api/v1/auth/login"
            warm = {"username": "nurse-0", "password": PASSWORD}
            assert httpx.post(url, json=warm, timeout=60).status_code == 200
            before = _kib(proc.pid, "VmHWM")
            start = threading.Barrier(PARALLEL)

            def sign_in(i: int) -> int:
                body = {"username": f"nurse-{i}", "password": PASSWORD}
                with httpx.Client(timeout=120) as http:
                    start.wait()
                    return http.post(url, json=body).status_code

            began = time.perf_counter()
            with ThreadPoolExecutor(PARALLEL) as pool:
                answers = Counter(pool.map(sign_in, range(PARALLEL)))
            took = time.perf_counter() - began
            after = _kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(30)
    print(json.dumps({"parallel_sign_ins": PARALLEL, "answers": dict(answers),
                      "peak_rss_mib_before": round(before / 1024, 1),
                      "peak_rss_mib_after": round(after / 1024, 1),
                      "burst_s": round(took, 2)}))


if __name__ == "__main__":
    main()
