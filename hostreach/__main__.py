"""Entry point for ``python -m hostreach``: a replayed warm answer, else the full command line."""

import sys

from hostreach._fastpath import main

sys.exit(main())
