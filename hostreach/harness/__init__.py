"""Test harnesses: a pytest plugin and a testcontainers helper, neither importing its library.

Each reads the route through :func:`hostreach.route` for the engine the harness itself uses, so
the answer never depends on which engine ``DOCKER_HOST`` names (issue 27).
"""
