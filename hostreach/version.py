"""The version of hostreach, in a module of its own: the cache key needs it without the package root."""

__version__ = "0.2.0"
