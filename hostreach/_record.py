"""``NamedTuple`` records without importing typing at run time.

typing (with re and enum) costs about 20 ms of a cold ``python -m hostreach flags`` on the
machines we measured, more than the engine's answer; records are all the package needs from it
at run time. Type checkers see typing.NamedTuple itself.
"""

from __future__ import annotations

import collections

__all__ = ["NamedTuple"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    # What typing.NamedTupleMeta does (CPython 3.10-3.13): fields from the annotations, the
    # trailing assigned ones as defaults, then every other name of the body copied onto the class.
    _PROHIBITED = frozenset(
        {
            "__new__",
            "__init__",
            "__slots__",
            "__getnewargs__",
            "_fields",
            "_field_defaults",
            "_make",
            "_replace",
            "_asdict",
            "_source",
        }
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _RecordMeta(type):
        def __new__(
            mcls, typename: str, bases: tuple[type, ...], namespace: dict[str, object]
        ) -> type:
            if namespace.get("_root", False):
                return super().__new__(mcls, typename, bases, namespace)
            annotations = namespace.get("__annotations__", {})
            fields = list(annotations)
            defaults = [namespace[name] for name in fields if name in namespace]
            if any(name not in namespace for name in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{typename}: a field without a default follows one with a default")
            record = collections.namedtuple(
                typename, fields, defaults=defaults, module=namespace["__module__"]
            )
            record.__annotations__ = dict(annotations)
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in record._fields:
                    setattr(record, key, value)
                    set_name = getattr(type(value), "__set_name__", None)
                    if set_name is not None:  # setattr does not call it; class creation would
                        set_name(value, record, key)
            return record

    class NamedTuple(metaclass=_RecordMeta):
        """Base class of a record: ``class Point(NamedTuple): x: int; y: int = 0``."""

        _root = True
