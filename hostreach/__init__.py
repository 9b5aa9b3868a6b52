"""hostreach: how a process inside a container reaches a service on the host, here.

``import hostreach`` stays cheap: the probes, and the libraries they use, load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
