"""The package's own small replacements for urllib.parse, json and typing.NamedTuple.

They exist so that a cold ``python -m hostreach flags`` loads neither re nor enum (see
hostreach/_url.py); each must read its input exactly as the stdlib does.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostreach import _jsontext, _url
from hostreach._record import NamedTuple
from hostreach.engine import parse_version

BUDGET = settings(max_examples=500, deadline=None)

URL_CASES = [
    "unix:///var/run/docker.sock",
    "unix:///run/user/1000/podman/podman.sock",
    "npipe:////./pipe/docker_engine",
    "tcp://10.0.0.5:2376",
    "tcp://Example.COM:2375/",
    "tcp://[::1]:2375",
    "tcp://[fe80::1%25eth0]:2375",
    "ssh://me@host",
    "ssh://me@host:2222/path?x=1#frag",
    "http://localhost",
    "tcp://:2375",
    "tcp://host:",
    "unix://relative/path",
    "unix:",
    "fd://",
    "",
    "no-scheme",
    "/var/run/docker.sock",
    "1tcp://x",
]


def _stdlib(url: str) -> tuple[str, str | None, int | None, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port, parts.path


@pytest.mark.parametrize("url", URL_CASES)
def test_url_split_reads_as_urlsplit(url: str) -> None:
    assert tuple(_url.split(url)) == _stdlib(url)


@pytest.mark.parametrize(
    "url", ["tcp://host:notaport", "tcp://host:99999", "tcp://[::1", "tcp://a]b"]
)
def test_url_split_refuses_what_urlsplit_refuses(url: str) -> None:
    with pytest.raises(ValueError, match=r"Port|IPv6"):
        _stdlib(url)
    with pytest.raises(ValueError, match=r"Port|IPv6"):
        _url.split(url)


URL_ALPHABET = st.sampled_from([*"abcXZ019:/@[]._-+%?# \t", "unix://", "tcp://", "ssh://", "v1"])


@BUDGET
@given(st.lists(URL_ALPHABET, max_size=12).map("".join))
def test_url_split_agrees_with_urlsplit_on_arbitrary_text(url: str) -> None:
    try:
        expected = _stdlib(url)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc)[:10])):
            _url.split(url)
        return
    assert tuple(_url.split(url)) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@BUDGET
@given(JSON)
def test_json_text_writes_what_json_reads_and_reads_what_json_writes(value: object) -> None:
    assert _same(json.loads(_jsontext.dumps(value)), value)
    assert _jsontext.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert _same(_jsontext.loads(json.dumps(value, indent=2)), value)


@pytest.mark.parametrize(
    "text", ["", " ", "[1,]", '{"a": 1} x', "[", '"\x01"', "01", "{'a': 1}", "nul", "\ufeff{}"]
)
def test_json_text_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        json.loads(text)
    with pytest.raises(ValueError, match=r"."):
        _jsontext.loads(text)


def test_json_text_reads_bytes_and_surrounding_whitespace() -> None:
    assert _jsontext.loads(b' \r\n{"a": [1, 2.5, null, true]}\t\n') == {"a": [1, 2.5, None, True]}


def test_json_text_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError):
        _jsontext.dumps({1: "x"})
    with pytest.raises(TypeError):
        _jsontext.dumps({"x": object()})


class Point(NamedTuple):
    """A point."""

    x: int
    y: int = 0
    label: str = ""

    @property
    def norm(self) -> int:
        """The L1 norm."""
        return abs(self.x) + abs(self.y)


def test_records_behave_as_typing_namedtuples() -> None:
    p = Point(3, y=-4)
    assert p == (3, -4, "")
    assert isinstance(p, tuple)
    assert p.norm == 7
    assert p._replace(label="a") == Point(3, -4, "a")
    assert p._asdict() == {"x": 3, "y": -4, "label": ""}
    assert Point._fields == ("x", "y", "label")
    assert Point._field_defaults == {"y": 0, "label": ""}
    assert Point.__doc__ == "A point."
    assert Point.__module__ == __name__
    assert Point.__qualname__ == "Point"
    assert repr(p) == "Point(x=3, y=-4, label='')"
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        p.x = 1  # type: ignore[misc]


def test_records_refuse_what_typing_refuses() -> None:
    with pytest.raises(TypeError):

        class Bad(NamedTuple):
            a: int = 0
            b: int  # type: ignore[misc]

    with pytest.raises(AttributeError):

        class Worse(NamedTuple):
            a: int

            def _asdict(self) -> dict[str, int]:  # type: ignore[misc]
                return {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("v1.41", (1, 41)),
        ("28.0.1", (28, 0, 1)),
        (" 4.3.1 ", (4, 3, 1)),
        ("20.10", (20, 10)),
        ("20.10-beta", (20, 10)),
        ("20.10.x", (20, 10)),
        ("5.4.0-dev", (5, 4, 0)),
        ("master", None),
        ("20", None),
        ("20.", None),
        (".10", None),
        ("v", None),
        ("", None),
        (None, None),
        (20.10, None),
    ],
)
def test_parse_version(text: object, expected: tuple[int, ...] | None) -> None:
    assert parse_version(text) == expected
