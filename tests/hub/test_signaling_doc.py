"""docs/signaling.md matches hub/contract/signaling.py: an example of every message, each parses."""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path

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
