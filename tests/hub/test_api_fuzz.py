"""The REST API against its own OpenAPI document: a bounded schemathesis run over every
operation, as every role and as nobody, with valid and invalid values, finds no server error
and no answer outside the document (status, content type, body)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.helpers.hubserver import HubDatabase, ThreadedHub

if TYPE_CHECKING:
    from schemathesis import GenerationMode

EXAMPLES = 4  # per operation and generation mode: some 500 requests, ~25 s on 2 busy cores


@pytest.fixture
def hub_db_url(fresh_pg_database: Callable[[], str]) -> str:
    """PostgreSQL, the stricter of the two (integer ends at 2**31, no NUL in text);
    tests/hub/test_bad_input.py holds both to the same values one by one."""
    return fresh_pg_database()


@pytest.mark.slow
@pytest.mark.postgres
def test_no_server_error_and_no_answer_outside_the_schema(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    # Imported here: they take a second or two to load, in every process that collects this.
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]  # fmt: skip
    roles = {role: hubdb.staff(f"u{role}", role).token
             for role in ("nurse", "specialist", "manager", "admin")}  # fmt: skip
    roles["care_home"] = hubdb.site("Pine House").token
    roles["prison"] = hubdb.site("Hill Prison", "prison").token
    tokens: dict[str, str | None] = {**roles, "nobody": None}
    document = httpx.get(f"{hub.http}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    failures: collections.Counter[str] = collections.Counter()
    seen: dict[str, str] = {}
    calls = 0

    def auth(role: str, label: str) -> dict[str, str]:
        token = tokens[role]
        if token is not None and label.endswith("/auth/logout"):
            # Logging out revokes the token: each example signs out a token of its own.
            token = hubdb.staff(f"out{calls}", "nurse").token
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def fuzz(operation: Any, mode: GenerationMode) -> None:
        label = operation.label

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode),
               role=st.sampled_from(sorted(tokens)))
        def run(case: Any, role: str) -> None:
            nonlocal calls
            calls += 1
            headers = auth(role, label)
            case.headers = {k: v for k, v in (case.headers or {}).items()
                            if k.lower() != "authorization"} | headers  # fmt: skip
            response = case.call(base_url=hub.http, timeout=30)
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except BaseException as exc:  # collected, reported below
                key = f"{label} as {role}: {response.status_code}"
                failures[key] += 1
                seen.setdefault(key, f"{exc}"[:1500])

        # An operation without parameters has no invalid form to generate.
        with contextlib.suppress(Unsatisfiable):
            run()

    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(result.ok(), mode)
    assert calls > 100
    assert not failures, "\n\n".join(f"{n} × {key}\n{seen[key]}" for key, n in failures.items())
