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


class EngineUnanswered(EngineError):
    """An engine answer that could not be had; ``reason`` is the doctor's code for why
    (no-socket, permission-denied, timed-out, refused, unreachable, bad-answer)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TunnelError(HostreachError):
    """The tunnel could not start, or ended without being asked to (exit 1)."""


class RelayError(HostreachError):
    """The relay could not start: the address is taken, or not this machine's (exit 1)."""
