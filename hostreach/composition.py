"""A compose project as compose reads it, for the fields that decide a route (issue 27).

Pure: the YAML documents and the environment come in, already read (``probe._compose`` reads
them). What is read: which services there are, their ``network_mode`` after interpolation and
merging, and their ``extra_hosts``, because Compose v2 keeps a base file's entry for a name
beside the override's and writes the base's first in ``/etc/hosts`` (measured with 2.40.3:
``host.docker.internal:host-gateway`` in the base won over the override's address).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from hostreach.checks import check_name
from hostreach.errors import UsageError


class Reset:
    """Compose's ``!reset`` tag: the value goes back to its default (absent)."""


class Override(NamedTuple):
    """Compose's ``!override`` tag: the value replaces the base's instead of merging with it."""

    value: Any


class Service(NamedTuple):
    """What decides a service's route: its network mode and its extra_hosts, merged."""

    network_mode: str | None
    extra_hosts: tuple[tuple[str, str], ...]


_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BARE_NAME = re.compile(_NAME)


def parse_dotenv(text: str) -> dict[str, str]:
    """Return the variables of a ``.env`` file: ``KEY=VALUE``, quotes, ``export``, comments."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _DOTENV_LINE.fullmatch(line)
        if match is None:
            continue  # blank lines, comments; compose refuses some others, which it then says
        key, value = match.groups()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        found[key] = value
    return found


def _closing(text: str, start: int) -> int:
    """Return the index of the ``}`` that closes the ``${`` whose body starts at ``start``."""
    depth = 1
    for index in range(start, len(text)):
        if text.startswith("${", index):
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def interpolate(text: str, env: Mapping[str, str], *, where: str) -> str:
    """Return ``text`` with compose's ``$VAR``/``${VAR...}`` rules applied; raise UsageError."""
    out: list[str] = []
    index = 0
    while (start := text.find("$", index)) >= 0:
        out.append(text[index:start])
        if text.startswith("$$", start):
            out.append("$")
            index = start + 2
            continue
        name_match = _BARE_NAME.match(text, start + 1)
        if name_match is not None:
            out.append(env.get(name_match.group(), ""))
            index = name_match.end()
            continue
        end = _closing(text, start + 2) if text.startswith("${", start) else -1
        if end < 0:
            raise UsageError(f"{where}: invalid interpolation format in {text[:80]!r}")
        out.append(_expression(text[start + 2 : end], env, where=where))
        index = end + 1
    out.append(text[index:])
    return "".join(out)


def _expression(body: str, env: Mapping[str, str], *, where: str) -> str:
    """Return the value of one ``${...}`` body: ``VAR``, ``VAR:-x``, ``VAR-x``, ``VAR:?e`` ..."""
    match = re.fullmatch(rf"({_NAME})(?:(:?[-?+])(.*))?", body, re.DOTALL)
    if match is None:
        raise UsageError(f"{where}: invalid interpolation format ${{{body[:80]}}}")
    name, operator, operand = match.groups()
    value = env.get(name)
    if operator is None:
        return value or ""
    present = bool(value) if operator.startswith(":") else value is not None
    if operator.endswith("-"):
        return value if present and value is not None else interpolate(operand, env, where=where)
    if operator.endswith("+"):
        return interpolate(operand, env, where=where) if present else ""
    if not present:
        reason = interpolate(operand, env, where=where)
        raise UsageError(f"{where}: required variable {name} is missing a value: {reason[:200]}")
    return value or ""


def _host_entries(value: Any, *, where: str) -> list[tuple[str, str]]:
    """Return ``[(name, address)]`` from an extra_hosts list (``a:b``, ``a=b``) or mapping."""
    if isinstance(value, Mapping):
        items = [(str(key), str(address)) for key, address in value.items()]
    elif isinstance(value, list):
        items = []
        for entry in value:
            if not isinstance(entry, str):
                raise UsageError(f"{where}: an extra_hosts entry is not text")
            name, _, address = entry.partition("=") if "=" in entry else entry.partition(":")
            items.append((name, address))
    else:
        raise UsageError(f"{where}: extra_hosts is neither a list nor a mapping")
    return items


def _merged(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """Merge one file's service over the same service of the files before it, as compose v2."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Reset):
            merged.pop(key, None)
        elif isinstance(value, Override):
            merged[key] = value.value
        elif key == "extra_hosts" and isinstance(merged.get(key), list | dict):
            merged[key] = [*_as_list(merged[key]), *_as_list(value)]
        else:
            merged[key] = value
    return merged


def _as_list(value: Any) -> list[Any]:
    """Return extra_hosts as a list of ``name:address`` entries."""
    if isinstance(value, Mapping):
        return [f"{key}={address}" for key, address in value.items()]
    return list(value) if isinstance(value, list) else [value]


class Reader(NamedTuple):
    """How the files are read (``probe._compose`` reads them): compose YAML, and ``.env`` text."""

    yaml: Callable[[str], Any]
    """One compose file's data, given its path."""
    dotenv: Callable[[str], str | None]
    """One env file's text, given its path; None where there is no such file."""


def services(
    documents: list[tuple[str, Any]], env: Mapping[str, str], reader: Reader
) -> dict[str, Service]:
    """Return every service of the files, merged in order, with what decides its route."""
    raw: dict[str, dict[str, Any]] = {}
    for path, data in documents:
        found = _file_services(path, data, env, reader, directory=os.path.dirname(path), chain=())
        for name, service in found.items():
            if isinstance(service, Reset):
                raw.pop(name, None)
            else:
                raw[name] = _merged(raw.get(name, {}), service)
    if not raw:
        raise UsageError(f"compose file {documents[-1][0]} has no services")
    return {name: _service(name, fields) for name, fields in raw.items()}


def _file_services(
    path: str,
    data: Any,
    env: Mapping[str, str],
    reader: Reader,
    *,
    directory: str,
    chain: tuple[str, ...],
) -> dict[str, Any]:
    """Return one file's services, its ``include:``'s first, each interpolated and extended.

    A file's own service may not redefine an included one ("services.db conflicts with
    imported resource", Compose v2.40.3); a later ``-f`` file may. ``!reset`` beside an
    include leaves the included service as it is, as v2 does.
    """
    imported = _included(path, data, env, reader, directory=directory, chain=chain)
    found: dict[str, Any] = dict(imported)
    own = _services_of(path, data)
    for name, service in own.items():
        if isinstance(service, Reset):
            if name not in imported:
                found[name] = service
            continue
        extended = _extended(path, own, name, env, reader, directory=directory, seen=())
        if name in imported and extended != imported[name]:
            raise UsageError(
                f"compose file {path}: services.{name[:60]} conflicts with imported resource"
            )
        found[name] = extended
    return found


def _included(
    path: str,
    data: Any,
    env: Mapping[str, str],
    reader: Reader,
    *,
    directory: str,
    chain: tuple[str, ...],
) -> dict[str, Any]:
    """Return the services of a file's ``include:`` entries, each read as its own project."""
    entries = data.get("include") if isinstance(data, Mapping) else None
    if entries is None:
        return {}
    where = f"compose file {path}: include"
    if not isinstance(entries, list):
        raise UsageError(f"{where} must be a list")
    chain = (*chain, os.path.abspath(path))
    imported: dict[str, Any] = {}
    for entry in entries:
        paths, project, env_files = _include_entry(entry, env, where=where)
        paths = [os.path.join(directory, one) for one in paths]
        project = os.path.join(directory, project) if project else os.path.dirname(paths[0])
        included_env = {**_env_files(env_files, project, directory, reader, where=where), **env}
        merged: dict[str, Any] = {}
        for one in paths:
            if os.path.abspath(one) in chain or len(chain) > 32:
                raise UsageError(f"compose file {path}: include cycle detected at {one}")
            found = _file_services(
                one, reader.yaml(one), included_env, reader, directory=project, chain=chain
            )
            for name, service in found.items():
                if isinstance(service, Reset):
                    merged.pop(name, None)
                else:
                    merged[name] = _merged(merged.get(name, {}), service)
        for name, service in merged.items():
            if name in imported and imported[name] != service:
                shown = ", ".join(paths)
                raise UsageError(f"{where}: {shown} defines conflicting service {name[:60]}")
            imported[name] = service
    return imported


def _include_entry(
    entry: Any, env: Mapping[str, str], *, where: str
) -> tuple[list[str], str | None, list[str] | None]:
    """Return one include entry's paths, project directory and env files, interpolated."""
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, Mapping):
        raise UsageError(f"{where}: an entry is neither a path nor a mapping")
    paths = _texts(entry.get("path"), where=f"{where}.path")
    if not paths:
        raise UsageError(f"{where}: an entry names no path")
    project = entry.get("project_directory")
    if project is not None and not isinstance(project, str):
        raise UsageError(f"{where}.project_directory is not text")
    env_files = entry.get("env_file")
    return (
        [interpolate(one, env, where=where) for one in paths],
        None if project is None else interpolate(project, env, where=where),
        None
        if env_files is None
        else [
            interpolate(one, env, where=where)
            for one in _texts(env_files, where=f"{where}.env_file")
        ],
    )


def _texts(value: Any, *, where: str) -> list[str]:
    """Return a text or a list of texts as a list; raise UsageError for anything else."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(one, str) for one in items):
        raise UsageError(f"{where} is neither a path nor a list of paths")
    return list(items)


def _env_files(
    named: list[str] | None, project: str, directory: str, reader: Reader, *, where: str
) -> dict[str, str]:
    """Return an included project's env files, later ones winning: those named (each must
    exist), else its project directory's ``.env`` where there is one."""
    if named is None:
        text = reader.dotenv(os.path.join(project, ".env"))
        return {} if text is None else parse_dotenv(text)
    found: dict[str, str] = {}
    for one in named:
        path = os.path.join(directory, one)
        text = reader.dotenv(path)
        if text is None:
            raise UsageError(f"{where}: env file not found: {path}")
        found.update(parse_dotenv(text))
    return found


def _services_of(path: str, data: Any) -> Mapping[str, Any]:
    """Return one file's ``services`` mapping, checked: each name text a container may carry."""
    found = data.get("services") if isinstance(data, Mapping) else None
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        raise UsageError(f"compose file {path}: services is not a mapping")
    for name, service in found.items():
        if not isinstance(name, str):
            raise UsageError(
                f"compose file {path}: the service name {str(name)[:60]} must be a quoted"
                " string (compose refuses it too)"
            )
        check_name(name, "compose service")
        if not isinstance(service, Mapping | Reset):
            raise UsageError(f"compose file {path}: services.{name[:60]} is not a mapping")
    return found


def _extended(
    path: str,
    found: Mapping[str, Any],
    name: str,
    env: Mapping[str, str],
    reader: Reader,
    *,
    directory: str,
    seen: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """Return a service, interpolated, with what it ``extends`` merged under it, as compose
    does per file; ``extends.file`` is relative to ``directory`` (the project's, in an include)."""
    service = _interpolated(found[name], env, where=f"compose file {path}: services.{name[:60]}")
    spec = service.pop("extends", None)
    if spec is None:
        return service
    where = f"compose file {path}: services.{name[:60]}.extends"
    if isinstance(spec, str):
        spec = {"service": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("service"), str):
        raise UsageError(f"{where} names no service")
    base_name = interpolate(spec["service"], env, where=where)
    base_path, base_found = path, found
    if isinstance(spec.get("file"), str):
        base_path = os.path.join(directory, interpolate(spec["file"], env, where=where))
        base_found = _services_of(base_path, reader.yaml(base_path))
    if (base_path, base_name) in seen or len(seen) > 32:
        raise UsageError(f"{where}: a circle of extends")
    if not isinstance(base_found.get(base_name), Mapping):
        raise UsageError(f"{where}: service {base_name[:60]!r} not found in {base_path}")
    base = _extended(
        base_path,
        base_found,
        base_name,
        env,
        reader,
        directory=os.path.dirname(base_path),
        seen=(*seen, (path, name)),
    )
    return _merged(base, service)


def _interpolated(
    service: Mapping[str, Any], env: Mapping[str, str], *, where: str
) -> dict[str, Any]:
    """Return a service with its route-deciding fields interpolated, as compose interpolates
    each file with its own project's variables before any merge."""
    fields = dict(service)
    for key in ("network_mode", "extra_hosts"):
        if key in fields:
            fields[key] = _interpolated_value(fields[key], env, where=f"{where}.{key}")
    return fields


def _interpolated_value(value: Any, env: Mapping[str, str], *, where: str) -> Any:
    """Return one field interpolated: a text, a list's texts or a mapping's text values, one
    level deep (a list built from YAML aliases is never walked further), under ``!override``."""
    if isinstance(value, Override):
        return Override(_interpolated_value(value.value, env, where=where))
    if isinstance(value, str):
        return interpolate(value, env, where=where)
    if isinstance(value, list):
        return [
            interpolate(one, env, where=where) if isinstance(one, str) else one for one in value
        ]
    if isinstance(value, Mapping):
        return {
            key: interpolate(one, env, where=where) if isinstance(one, str) else one
            for key, one in value.items()
        }
    return value


def _service(name: str, fields: Mapping[str, Any]) -> Service:
    """Return one merged service's route-deciding fields."""
    where = f"services.{name[:60]}"
    mode = fields.get("network_mode")
    # Only text is a network mode; anything else (a list built from YAML aliases, a billion of
    # them) is refused before it is ever turned into text.
    if mode is not None and not isinstance(mode, str):
        raise UsageError(f"{where}.network_mode is not text")
    hosts = fields.get("extra_hosts")
    entries = [] if hosts is None else _host_entries(hosts, where=f"{where}.extra_hosts")
    return Service(mode or None, tuple(entries))
