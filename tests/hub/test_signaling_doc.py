"""docs/signaling.md matches hub/contract/signaling.py: an example of every message, each parses."""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.turn import turn_credentials

DOC = Path(__file__).resolve().parents[2] / "docs" / "signaling.md"
# The line right above each ```json block says which way the message goes.
MARKERS = {"*client → hub*": "client", "*hub → client*": "server"}


@dataclass(frozen=True)
class Example:
    line: int  # where the block starts in the doc (1-based), for the failure message
    direction: str  # "client" or "server"
    text: str


def examples(doc: str) -> list[Example]:
    """Every ```json block with its direction; a block without a marker is an error."""
    out: list[Example] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```json":
            above = next((x.strip() for x in reversed(lines[:i]) if x.strip()), "")
            if above not in MARKERS:
                raise AssertionError(
                    f"line {i + 1}: a json block needs {' or '.join(MARKERS)} on the line "
                    f"above it, found {above!r}"
                )
            end = lines.index("```", i + 1)
            out.append(Example(i + 1, MARKERS[above], "\n".join(lines[i + 1 : end])))
            i = end
        i += 1
    return out


def union_types(union: object) -> set[str]:
    """The ``type`` values of the messages in an annotated discriminated union."""
    members = typing.get_args(typing.get_args(union)[0])
    return {m.model_fields["type"].default for m in members}


def missing(found: list[Example]) -> set[str]:
    """Message types of either direction that have no example in that direction."""
    have = {(e.direction, json.loads(e.text)["type"]) for e in found}
    return {f"client {t}" for t in union_types(p.ClientMessage) if ("client", t) not in have} | {
        f"server {t}" for t in union_types(p.ServerMessage) if ("server", t) not in have
    }


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_message_type_has_an_example(doc: str) -> None:
    assert missing(examples(doc)) == set()


def test_the_check_notices_a_missing_example(doc: str) -> None:
    found = [e for e in examples(doc) if '"type": "call_claim"' not in e.text]
    assert missing(found) == {"client call_claim"}


def test_the_union_lists_match_what_the_hub_accepts() -> None:
    # parse_client_message refuses types outside CLIENT_TYPES before the union sees them,
    # so the two lists must agree or a documented message would be refused.
    assert union_types(p.ClientMessage) == set(p.CLIENT_TYPES)


def test_every_example_parses_in_its_direction(doc: str) -> None:
    failures = []
    for example in examples(doc):
        parse = p.parse_client_message if example.direction == "client" else (
            p.parse_server_message)
        try:
            msg = parse(example.text)
        except p.ProtocolError as exc:
            failures.append(f"line {example.line} ({example.direction}): {exc.message}")
            continue
        # Nothing in the example was dropped or defaulted away by parsing.
        sent = json.loads(example.text)
        again = json.loads(msg.to_json())
        lost = {k for k in sent if k not in again and sent[k] is not None}
        if lost:
            failures.append(f"line {example.line}: fields {sorted(lost)} were not kept")
    assert failures == []


def test_the_doc_states_the_protocol_version_of_the_code(doc: str) -> None:
    stated = re.search(r"\*\*Protocol version: (\d+)\*\*", doc)
    assert stated is not None, "the doc must say '**Protocol version: N**'"
    assert int(stated.group(1)) == p.PROTOCOL_VERSION
    versions = [json.loads(e.text).get("protocol") for e in examples(doc)]
    assert {v for v in versions if v is not None} == {p.PROTOCOL_VERSION}


def test_every_error_code_is_explained(doc: str) -> None:
    table = {m.group(1) for m in re.finditer(r"^\| `([a-z_0-9]+)` \|", doc, re.MULTILINE)}
    assert table == {c.value for c in p.ErrorCode}


def test_the_limits_and_timings_are_the_codes(doc: str) -> None:
    config = HubConfig(db_url="sqlite://")
    assert p.MAX_FRAME_BYTES == 64 * 1024
    assert "**64 KiB**" in doc and f"= {p.MAX_FRAME_BYTES}" in doc
    assert f"**{config.heartbeat_timeout:.0f} s** by default" in doc
    assert f"({config.heartbeat_interval:.0f} s by default)" in doc
    assert f"**{config.reconnect_grace:.0f} s** by default" in doc
    assert f"{config.turn_ttl_s // 3600} hours" in doc
    welcome = next(json.loads(e.text) for e in examples(doc) if '"welcome"' in e.text)
    assert (welcome["heartbeat_interval"], welcome["heartbeat_timeout"]) == (
        config.heartbeat_interval, config.heartbeat_timeout)


def test_the_turn_worked_example_is_what_the_hub_computes(doc: str) -> None:
    found = re.search(
        r"secret `(?P<secret>[^`]+)`, a credential issued at Unix time (?P<now>\d+)\s+to "
        r"`(?P<user>[^`]+)` is username `(?P<username>[^`]+)` and credential\s+"
        r"`(?P<credential>[^`]+)`",
        doc,
    )
    assert found is not None
    username, credential = turn_credentials(
        found["secret"], found["user"], HubConfig(db_url="sqlite://").turn_ttl_s,
        now=float(found["now"]),
    )
    assert (username, credential) == (found["username"], found["credential"])
    # The call_connected example carries the same credential.
    assert f'"username": "{username}", "credential": "{credential}"' in doc


# --- the field limits table --------------------------------------------------------------

SKIP_DEFS = {"TriageRecord"}  # its own limits: records/schema.py


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return defs[name], name
    return node, None


def _describe(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if kind == "string":
        lo, hi = node.get("minLength"), node.get("maxLength")
        if hi is None and lo is None:
            return None
        return (f"text, {lo}–{hi} characters" if lo else f"text, up to {hi} characters")
    if kind in ("integer", "number"):
        lo = node.get("minimum", node.get("exclusiveMinimum"))
        hi = node.get("maximum", node.get("exclusiveMaximum"))
        if lo is None and hi is None:
            return None
        if hi is None:
            return f"{kind}, at least {lo}"
        return f"{kind}, {lo}–{hi}" if lo is not None else f"{kind}, at most {hi}"
    return None


def field_limits() -> dict[str, str]:
    out: dict[str, str] = {}
    members = typing.get_args(typing.get_args(p.ClientMessage)[0])
    for model in members:
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        kind = model.model_fields["type"].default
        _walk(schema, defs, kind, out)
    return out


def _walk(schema: dict[str, Any], defs: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if name == "type":
            continue
        path = f"{prefix}.{name}"
        options = prop.get("anyOf", [prop])
        for option in options:
            node, ref = _resolve(option, defs)
            if ref in SKIP_DEFS:
                out[path] = f"a {ref} body (its limits: records/schema.py)"
                continue
            if node.get("type") == "null":
                continue
            if ref is not None or (node.get("type") == "object" and "properties" in node):
                _walk(node, defs, path, out)
                continue
            if node.get("type") == "array":
                item, _ = _resolve(node.get("items", {}), defs)
                each = _describe(item)
                hi = node.get("maxItems")
                if hi is not None or each:
                    text = f"list of up to {hi}" if hi is not None else "list"
                    out[path] = text + (f", each {each}" if each else "")
                continue
            desc = _describe(node)
            if desc:
                out[path] = desc



def test_the_field_limits_table_is_the_contracts(doc: str) -> None:
    """docs/signaling.md's table of field limits says what the contract checks, row for row
    (a failure prints the table as it must read)."""
    block = doc.split("<!-- field limits: tests/hub/test_signaling_doc.py -->", 1)[1]
    rows = dict(re.findall(r"^\| `([a-z_.0-9]+)` \| (.+?) \|$", block.split("\n\n", 2)[1],
                           re.MULTILINE))
    expected = field_limits()
    table = "\n".join(f"| `{k}` | {v} |" for k, v in expected.items())
    assert rows == expected, f"the table must read:\n{table}"


def test_the_close_codes_are_the_codes(doc: str) -> None:
    from hub.live.gateway import RECONNECT
    from hub.live.presence import SESSION_ENDED

    for code in (RECONNECT, SESSION_ENDED, 4408, 4008, 4400, 4401):
        assert f"| {code} |" in doc
    assert RECONNECT == 1012 and "1001" not in doc  # a restart is 1012, never "going away"

