"""Entry point for ``python -m hostreach``: a replayed warm answer, else the full command line."""

import sys

from hostreach import __version__, _fastpath

code = _fastpath.main(__version__)
if code is None:
    from hostreach.cli import main

    code = main()
sys.exit(code)
