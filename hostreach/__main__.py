"""Entry point for ``python -m hostreach``: a replayed warm answer, else the full command line."""

import sys

from hostreach.entry import main

sys.exit(main())
