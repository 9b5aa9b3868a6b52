"""engine: the one owner of "which engine" and of talking to it.

:mod:`~hostreach.engine.address` (an address parsed once), :mod:`~hostreach.engine.endpoint`
(the endpoint the Docker CLI would use, found once), :mod:`~hostreach.engine.client` (the
adapter per endpoint), :mod:`~hostreach.engine.http` (the one HTTP codec),
:mod:`~hostreach.engine.sync` (GETs with the stdlib), :mod:`~hostreach.engine.aio` (calls and
streams for the tunnel), :mod:`~hostreach.engine.ssh` (ssh://), :mod:`~hostreach.engine.sdk`
(the docker SDK: TLS, npipe, containers) and :mod:`~hostreach.engine.views` (typed views of its
JSON). This module imports nothing.
"""
