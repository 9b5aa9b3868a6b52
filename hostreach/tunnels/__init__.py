"""tunnels: containers reach a service on this machine's loopback through a sidecar on the engine,
every connection opened from here (``hostreach tunnel``; docs/tunnel.rst says why this way).

One job a module: :mod:`~hostreach.tunnels.plan` (what to open, pure),
:mod:`~hostreach.tunnels.sidecar` (the container and its scripts),
:mod:`~hostreach.tunnels.session` (one running tunnel), :mod:`~hostreach.tunnels.runner` (run it
here or in a thread; the library's context manager) and :mod:`~hostreach.tunnels.state` (the
state files by which the other commands know it runs). This module imports nothing: the probe
reads the state without loading the rest.
"""
