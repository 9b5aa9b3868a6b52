"""entry: the program's entry point, replay-or-run. The only module that imports :mod:`hostreach.cli`.

``python -m hostreach`` and the ``hostreach`` console script both start here: a stored answer
(:mod:`hostreach.cache`) is printed when one is valid, before anything else of hostreach is
imported; otherwise the full command line runs. Imports only os and sys until then.
"""

import sys

from hostreach import cache

TYPE_CHECKING = False  # typing would cost more than a whole warm answer
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


def run() -> "NoReturn":
    """The program (``python -m hostreach``, the ``hostreach`` script): :func:`main`, then exit."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed or broken stream: Python's own exit reports it, as before
    if _nothing_at_exit():
        # The interpreter's teardown (freeing every module and object) took 5-7 ms after a cold
        # `flags`, a tenth of its time on 3.11-3.14 (issue 21's cold target, measured beside
        # benchmarks/startup.py); where no exit handler and no other thread is waiting, it
        # frees only what the system reclaims anyway.
        import os  # noqa: PLC0415 - already loaded by cache

        os._exit(code)
    sys.exit(code)


def _nothing_at_exit() -> bool:
    """Whether the interpreter's exit would run nothing but its teardown: no handler registered
    with atexit (logging, coverage, a caller's), no thread that it would wait for."""
    import atexit  # noqa: PLC0415 - a built-in module

    registered = getattr(atexit, "_ncallbacks", None)  # CPython's; elsewhere: exit as usual
    if not callable(registered) or registered() != 0:
        return False
    threading = sys.modules.get("threading")
    if threading is None:
        return True
    main_thread = threading.main_thread()
    return all(t is main_thread or t.daemon for t in threading.enumerate())


def main(argv: "Sequence[str] | None" = None) -> int:
    """Entry point of ``python -m hostreach`` and the ``hostreach`` script: replay, else run."""
    try:
        return _answer(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:
        # Ctrl-C while the command line still loads (its first ~90 ms) reaches no command's
        # handler: it printed a traceback (measured: check, interrupted 10-80 ms in).
        sys.stderr.write("hostreach: interrupted\n")
        return 130


def _answer(argv: "list[str]") -> int:
    cache_key = cache.cli_key(argv)
    stored = cache.read(cache_key) if cache_key is not None else None
    if stored is not None:
        size, _, rest = stored.partition("\n")
        if size.isdigit() and int(size) <= len(rest) and _replayable(rest[: int(size)]):
            sys.stdout.write(rest[: int(size)])
            sys.stderr.write(rest[int(size) :])
            return 0
    from hostreach import prefetch  # noqa: PLC0415 - the full path, only on a miss

    prefetch.start(argv)  # the engine answers while the command line loads
    from hostreach.cli import main as full  # noqa: PLC0415

    return full(argv)


def _replayable(answer: str) -> bool:
    """Whether a stored answer is flags hostreach itself prints, one per line, each of them
    checked as a fresh one is (a damaged or foreign entry is no answer: issue 22)."""
    from hostreach.checks import emitted_flag  # noqa: PLC0415

    lines = answer.split("\n")
    return lines[-1] == "" and all(map(emitted_flag, lines[:-1]))
