"""The argparse classes the command line is parsed with; imported only when there is parsing to do.

argparse (with re, gettext and locale) costs about 13 ms of a start here, more than a cached
answer; ``python -m hostreach flags`` with no options reads its defaults without it (cli.py).
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without importing shutil (6 ms, paid at every start).

    argparse builds a formatter for every add_argument call, and the stock one imports shutil
    for the terminal width; os.get_terminal_size gives the same answer.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
        try:
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(2).columns
        except (ValueError, OSError):
            columns = 80
        super().__init__(prog, indent_increment, max_help_position, width=max(columns, 40) - 2)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, through add_subparsers, subparsers) using _Formatter."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        # Options only as spelled: the warm path (_fastpath) recognises --facts, --no-cache and
        # --debug by name, so an abbreviation such as --fact must not mean --facts.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)
