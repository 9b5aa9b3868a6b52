"""Entry point for ``python -m hostreach``: a replayed warm answer, else the full command line."""

from hostreach.entry import run

run()
