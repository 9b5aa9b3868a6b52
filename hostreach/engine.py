"""Typed, read-only views of the raw engine JSON kept in the facts.

Nothing here knows about a particular runtime: that lives in :mod:`hostreach.runtimes`. This
module only reads Engine API fields safely, whatever a pasted ``docker info`` happens to hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hostreach.facts import Facts

Version = tuple[int, ...]

# Engine API version -> Docker Engine release (docker/docs engine/api/version-history.md).
# Used when ServerVersion is not a version: Docker Desktop builds have reported "master".
_API_TO_ENGINE: dict[Version, Version] = {
    (1, 35): (17, 12),
    (1, 36): (18, 2),
    (1, 37): (18, 3),
    (1, 38): (18, 6),
    (1, 39): (18, 9),
    (1, 40): (19, 3),
    (1, 41): (20, 10),
    (1, 42): (23, 0),
    (1, 43): (24, 0),
    (1, 44): (25, 0),
    (1, 45): (26, 0),
    (1, 46): (27, 0),
}


def _digits(text: str) -> str:
    """The ASCII digits ``text`` starts with."""
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[:end]


def parse_version(text: object) -> Version | None:
    """Return ``(major, minor, patch)`` from a version string such as ``20.10.24+dfsg1``, or None.

    Reads what ``v?MAJOR.MINOR[.PATCH]`` matches at the start; the patch is left out when absent.
    """
    if not isinstance(text, str):
        return None
    major, dot, rest = text.strip().removeprefix("v").partition(".")
    minor = _digits(rest)
    if not dot or not major or _digits(major) != major or not minor:
        return None
    patch = _digits(rest[len(minor) + 1 :]) if rest[len(minor) : len(minor) + 1] == "." else ""
    return (int(major), int(minor), int(patch)) if patch else (int(major), int(minor))


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strs(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def info(facts: Facts, key: str) -> str:
    """Return a string field of ``GET /info``, or "" when absent or not a string."""
    return "" if facts.daemon is None else _str(facts.daemon.info, key)


def info_list(facts: Facts, key: str) -> tuple[str, ...]:
    """Return the string items of a list field of ``GET /info`` (SecurityOptions, Labels)."""
    return () if facts.daemon is None else _strs(facts.daemon.info, key)


def version_field(facts: Facts, key: str) -> str:
    """Return a string field of ``GET /version``, or ""."""
    return "" if facts.daemon is None else _str(facts.daemon.version, key)


def platform_name(facts: Facts) -> str:
    """Return ``Platform.Name`` of ``GET /version`` ("Docker Desktop 4.52.0 (210994)", ...)."""
    if facts.daemon is None:
        return ""
    platform = facts.daemon.version.get("Platform")
    return _str(platform, "Name") if isinstance(platform, Mapping) else ""


def components(facts: Facts) -> dict[str, str]:
    """Return ``{component name: version}`` from ``GET /version``."""
    if facts.daemon is None:
        return {}
    found: dict[str, str] = {}
    items = facts.daemon.version.get("Components")
    for item in items if isinstance(items, list | tuple) else ():
        if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
            found[item["Name"]] = _str(item, "Version")
    return found


def rootless(facts: Facts) -> bool:
    """Whether the engine runs rootless (``name=rootless`` in SecurityOptions; moby daemon/info.go)."""
    if facts.daemon is None:
        return False
    if facts.daemon.info.get("Rootless") is True:  # Podman adds this non-Docker field
        return True
    return any(opt.split(",")[0] == "name=rootless" for opt in info_list(facts, "SecurityOptions"))


def containers_os(facts: Facts) -> str:
    """Return the OS the engine's containers run ("linux", "windows"; "" when not reported)."""
    return info(facts, "OSType") or version_field(facts, "Os")


def kernel(facts: Facts) -> str:
    """Return the engine's kernel release (where the containers really run)."""
    return info(facts, "KernelVersion") or version_field(facts, "KernelVersion")


def engine_version(facts: Facts) -> Version | None:
    """Return the Docker Engine version, falling back to the API version when it is not a version."""
    if facts.daemon is None:
        return None
    for text in (info(facts, "ServerVersion"), version_field(facts, "Version")):
        parsed = parse_version(text)
        if parsed is not None:
            return parsed
    api = parse_version(version_field(facts, "ApiVersion"))
    if api is None:
        return None
    api = api[:2]
    if api in _API_TO_ENGINE:
        return _API_TO_ENGINE[api]
    # An API newer than this table: at least the newest engine it knows.
    newest = max(_API_TO_ENGINE)
    return _API_TO_ENGINE[newest] if api > newest else None


def component_version(facts: Facts, name: str) -> Version | None:
    """Return the version of one ``GET /version`` component ("Podman Engine", ...)."""
    return parse_version(components(facts).get(name))
