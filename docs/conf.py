"""Sphinx configuration. No intersphinx: the build machines reach no documentation hosts."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import hostreach  # noqa: E402

project = "hostreach"
author = "the hostreach developers"
copyright = "2026, the hostreach developers"  # noqa: A001
release = hostreach.__version__
extensions = ["sphinx.ext.autodoc", "sphinxarg.ext", "hostreach_docs"]
html_theme = "furo"
html_title = f"hostreach {release}"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
