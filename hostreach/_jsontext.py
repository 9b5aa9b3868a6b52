"""JSON text to and from Python values, through the interpreter's C accelerator module.

The json package imports re (with enum), about 12 ms of a cold ``python -m hostreach flags`` on
the machines we measured; its C scanner and string encoder need none of that. Where the
accelerator is missing (another interpreter), the json package does the work.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"
_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as json.dumps writes them


class _Options:
    # What json.JSONDecoder() hands its scanner: the defaults of json.loads.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json.loads reads them


try:
    from _json import encode_basestring_ascii as _quote
    from _json import make_scanner

    # Any object with json.JSONDecoder's attributes will do (CPython's json/scanner.py).
    _scan = make_scanner(_Options())  # type: ignore[arg-type]
except ImportError:  # pragma: no cover - an interpreter without CPython's accelerator
    from json import JSONDecoder
    from json.encoder import encode_basestring_ascii as _quote

    _scan = JSONDecoder().scan_once  # type: ignore[attr-defined] # set in JSONDecoder.__init__


def loads(text: str | bytes) -> Any:
    """Return the value of a JSON document; ValueError when it is not one."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


def dumps(value: Any) -> str:
    """Return compact JSON text for dicts, lists, tuples, strings, numbers, booleans and None."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, float):
        out.append(_FLOATS.get(float.__repr__(value)) or float.__repr__(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            out.append(("," if i else "") + _quote(key) + ":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
