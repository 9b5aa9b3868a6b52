"""The exception hierarchy: everything hostreach raises is a HostreachError."""

from __future__ import annotations


class HostreachError(Exception):
    """Base of every error hostreach raises; ``exit_code`` is what the CLI returns for it."""

    exit_code = 1


class UsageError(HostreachError):
    """Bad input from the caller: an option, an alias, a port (exit 2)."""

    exit_code = 2


class InputError(UsageError):
    """A file given to hostreach that is too large, not a file, not text or malformed (exit 2)."""


class FactsError(InputError):
    """A facts snapshot that is missing, unreadable, not JSON or of the wrong shape (exit 2)."""


class NoRouteError(HostreachError):
    """No route can be given from these facts (exit 1)."""


class EngineError(HostreachError):
    """The container engine could not be reached or answered badly (exit 1)."""


class EndpointError(UsageError):
    """The engine endpoint settings are wrong: a malformed DOCKER_HOST, a missing context (exit 2)."""
