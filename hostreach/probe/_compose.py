"""Compose project reader: the only module that reads compose files and imports PyYAML, lazily.

Which files compose reads (``-f`` in order, else ``COMPOSE_FILE`` split by
``COMPOSE_PATH_SEPARATOR``, else the first of :data:`CANDIDATES` here with its override file),
the project directory's ``.env``, and each file as compose's YAML (``!reset``, ``!override``,
a duplicate key refused). What the files mean is :mod:`hostreach.composition`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from hostreach.composition import Override, Reader, Reset, Service, parse_dotenv, services
from hostreach.errors import UsageError
from hostreach.files import MIB, read_text

CANDIDATES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
"""The file names docker compose looks for, in its order."""

OVERRIDES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
"""The override files docker compose reads after the file it found, in its order."""

WRITTEN_BY = "# Written by `hostreach compose-override`"
"""The first line of an override this command wrote: never read back as the user's."""


def find(directory: str | os.PathLike[str] = ".") -> list[str]:
    """Return the files docker compose would read in ``directory``; raise UsageError."""
    for name in CANDIDATES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            found = [path]
            overrides = (os.path.join(directory, other) for other in OVERRIDES)
            override = next((other for other in overrides if os.path.isfile(other)), None)
            if override is not None and _is_the_users(override):
                found.append(override)
            return found
    raise UsageError(f"no compose file here ({', '.join(CANDIDATES)}); name one with -f FILE")


def _is_the_users(path: str) -> bool:
    """Tell an override the user wrote from one being written now (``> file`` empties it first)
    or one this command wrote before."""
    try:
        head = read_text(path, what="compose file", limit=4 * MIB)[: len(WRITTEN_BY)]
    except FileNotFoundError:
        return False
    return bool(head.strip()) and head != WRITTEN_BY


def project_files(
    named: list[str] | None, environ: Mapping[str, str], *, separator: str = os.pathsep
) -> list[str]:
    """Return the files compose reads: ``-f`` ones, else ``COMPOSE_FILE``'s, else :func:`find`."""
    if named:
        return list(named)
    listed = environ.get("COMPOSE_FILE", "")
    if listed:
        split = environ.get("COMPOSE_PATH_SEPARATOR") or separator
        return [path for path in listed.split(split) if path]
    return find()


def _loader() -> Any:
    """Return a SafeLoader class that reads YAML as compose does."""
    import yaml  # noqa: PLC0415

    class ComposeLoader(yaml.SafeLoader):
        """SafeLoader with compose's tags, keys as written, and duplicate keys refused."""

    def mapping(loader: ComposeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)  # merge keys (<<) first, as compose does
        found: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in found:
                raise UsageError(
                    f"line {key_node.start_mark.line + 1}: mapping key {key!r} already defined"
                )
            found[key] = loader.construct_object(value_node, deep=True)
        return found

    def reset(_loader: ComposeLoader, _node: yaml.Node) -> Reset:
        return Reset()

    def override(loader: ComposeLoader, node: yaml.Node) -> Override:
        if isinstance(node, yaml.MappingNode):
            return Override(mapping(loader, node))
        if isinstance(node, yaml.SequenceNode):
            return Override(loader.construct_sequence(node, deep=True))
        return Override(loader.construct_scalar(node))  # type: ignore[arg-type]

    ComposeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    ComposeLoader.add_constructor("!reset", reset)
    ComposeLoader.add_constructor("!override", override)
    return ComposeLoader


def _load(path: str, *, timeout: float) -> Any:
    """Return one compose file's data; raise UsageError naming the file."""
    import yaml  # noqa: PLC0415

    try:
        text = read_text(path, what="compose file", limit=4 * MIB, pipe_timeout=timeout)
    except FileNotFoundError as exc:
        raise UsageError(f"compose file not found: {path}") from exc
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise UsageError(f"compose file {path} is not valid YAML: {exc}") from exc
    except UsageError as exc:
        raise UsageError(f"compose file {path}: {exc}") from exc
    except RecursionError as exc:
        raise UsageError(f"compose file {path} is nested too deeply") from exc
    if data is not None and not isinstance(data, Mapping):
        raise UsageError(f"compose file {path} is not a mapping")
    return data


def read_services(
    named: list[str] | None, environ: Mapping[str, str], *, timeout: float
) -> tuple[list[str], dict[str, Service]]:
    """Return the files read and ``{service: Service}``, as compose reads them; UsageError else.

    ``timeout`` bounds the wait when a file is a pipe the user named.
    """
    dotenv = _dotenv(named)
    env = {**dotenv, **environ}  # the environment wins over .env, as in compose
    paths = project_files(named, env)
    documents = []
    for path in paths:
        data = _load(path, timeout=timeout)
        documents.append((path, data))
    reader = Reader(yaml=_bounded_loader(timeout), dotenv=_env_text)
    return paths, services(documents, env, reader)


def version(path: str, *, timeout: float) -> str | None:
    """A compose file's top-level ``version`` (a stack's files must all say the same), or None;
    UsageError where it is not a plain version number."""
    data = _load(path, timeout=timeout)
    found = data.get("version") if isinstance(data, Mapping) else None
    if found is None:
        return None
    text = str(found)
    if not (0 < len(text) <= 16 and all(c.isdigit() or c == "." for c in text)):
        raise UsageError(f"compose file {path}: version {text[:20]!r} is not a version number")
    return text


MAX_READS = 1000
"""How many files ``include:`` and ``extends:`` may bring in, counting repeats: a file that
includes another twice, which includes another twice, ... doubles the work at each level."""


def _bounded_loader(timeout: float) -> Callable[[str], Any]:
    """Return a loader that reads each file once and refuses more than :data:`MAX_READS`."""
    loaded: dict[str, Any] = {}
    asked = [0]

    def load(path: str) -> Any:
        asked[0] += 1
        if asked[0] > MAX_READS:
            raise UsageError(
                f"compose files include or extend more than {MAX_READS} files (last: {path}):"
                " a loop of includes? name the files with -f instead"
            )
        key = os.path.normpath(os.path.abspath(path))
        if key not in loaded:
            loaded[key] = _load(path, timeout=timeout)
        return loaded[key]

    return load


def _dotenv(named: list[str] | None) -> dict[str, str]:
    """Return the project directory's ``.env``: beside the first ``-f`` file, else here."""
    directory = os.path.dirname(named[0]) if named else ""
    text = _env_text(os.path.join(directory or ".", ".env"))
    return {} if text is None else parse_dotenv(text)


def _env_text(path: str) -> str | None:
    """Return an env file's text, or None where there is none."""
    try:
        return read_text(path, what="env file", limit=MIB)
    except FileNotFoundError:
        return None
