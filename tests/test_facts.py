"""Facts schema v1: round trip, tolerance of missing and extra keys, and clear type errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LIVE

from hostreach.errors import FactsError
from hostreach.facts import SCHEMA, Facts, from_json, load, loads, to_json

LIVE_FILES = sorted(LIVE.glob("*.json"))


@pytest.mark.parametrize("path", LIVE_FILES, ids=lambda p: p.stem)
def test_round_trip(path: Path) -> None:
    facts = load(path)
    again = from_json(json.loads(json.dumps(to_json(facts))))
    assert again == facts
    assert to_json(again) == to_json(facts)


def test_every_key_may_be_missing() -> None:
    facts = from_json({})
    assert facts == Facts()
    assert facts.daemon is None
    assert facts.schema == SCHEMA


def test_extra_keys_are_ignored() -> None:
    facts = from_json({"schema": 1, "future": [1, 2], "client": {"os": "darwin", "shoe_size": 44}})
    assert facts.client.os == "darwin"


def test_snapshot_is_frozen() -> None:
    facts = load(LIVE_FILES[0])
    assert facts.daemon is not None
    with pytest.raises(TypeError):
        facts.daemon.info["OSType"] = "windows"  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"daemon": {"info": "text"}}, "facts.daemon.info must be an object, not a string"),
        ({"client": {"wsl": "yes"}}, "facts.client.wsl must be true or false"),
        ({"client": []}, "facts.client must be an object, not a list"),
        (
            {"network": {"interfaces": {"eth0": "1.2.3.4"}}},
            "facts.network.interfaces.eth0 must be a list",
        ),
        (
            {"network": {"interfaces": {"eth0": [1]}}},
            "facts.network.interfaces.eth0[0] must be a string",
        ),
        ({"schema": True}, "facts.schema must be an integer"),
        ({"issues": [{"source": 3}]}, "facts.issues[0].source must be a string"),
        ([], "facts must be an object"),
    ],
)
def test_wrong_types_are_named(data: object, message: str) -> None:
    with pytest.raises(FactsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_json(data)


def test_unknown_schema_major_is_an_error() -> None:
    with pytest.raises(FactsError, match="schema 2 is not supported"):
        from_json({"schema": 2})


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="not found"):
        load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FactsError, match="not valid JSON"):
        load(tmp_path / "bad.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(FactsError):
        load(tmp_path / "binary.json")
    with pytest.raises(FactsError, match="nested too deeply"):
        loads("[" * 100000 + "]" * 100000)
