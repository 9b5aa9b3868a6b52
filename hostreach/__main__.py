"""Entry point for ``python -m hostreach``."""

import sys

from hostreach.cli import main

sys.exit(main())
