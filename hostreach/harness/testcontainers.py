"""Apply the route to a testcontainers ``DockerContainer``, for the engine testcontainers uses.

testcontainers-python picks its engine itself (``tc.host`` in ``~/.testcontainers.properties``,
else ``DOCKER_HOST``, else the docker context) and only then sets ``DOCKER_HOST`` to it, so
``hostreach.route()`` called before the container exists answers for another engine (issue 27).
This helper asks the container's own client instead. It does not import testcontainers: it
takes any object with testcontainers' ``get_docker_client().client`` and ``with_kwargs``.
"""

from __future__ import annotations

from typing import Any, Protocol

from hostreach.errors import UsageError
from hostreach.routes import Route, StrategyChoice


class _Client(Protocol):
    client: object
    """The docker SDK ``DockerClient`` testcontainers made."""


class Container(Protocol):
    """What of testcontainers' ``DockerContainer`` this helper uses."""

    def get_docker_client(self) -> _Client:
        """testcontainers' client wrapper; its ``client`` is the docker SDK's."""
        ...

    def with_kwargs(self, **kwargs: Any) -> Any:
        """Set the keyword arguments for the SDK's ``containers.run`` (replacing, in 4.x)."""
        ...


def with_route(
    container: Container,
    *aliases: str,
    strategy: StrategyChoice = "auto",
    ports: tuple[int, ...] = (),
    timeout: float = 2.0,
) -> Route:
    """Give ``container`` the route to this machine on the engine testcontainers uses; return it.

    Call it before ``start()``, after ``with_network()`` if any. The container's other keyword
    arguments are kept (4.x's ``with_kwargs`` replaces them, so they are read back first) and
    its own ``extra_hosts`` entries too, the route's names winning.
    """
    import hostreach  # noqa: PLC0415 - the package root, which imports nothing at its own import

    try:
        client = container.get_docker_client().client
    except AttributeError as exc:
        raise UsageError("with_route takes a testcontainers DockerContainer") from exc
    network = getattr(container, "_network", None)  # with_network(): a network of its own
    route = hostreach.route(
        *aliases,
        strategy=strategy,
        ports=ports,
        timeout=timeout,
        engine=client,
        own_network=network is not None,
    )
    kwargs: dict[str, Any] = dict(getattr(container, "_kwargs", None) or {})
    own = route.docker_run_kwargs()
    if network is not None and "network_mode" in own:
        raise UsageError(
            f"the route needs --network={own['network_mode']}, and the container joins"
            f" {getattr(network, 'name', 'another network')}: carry the port with a tunnel"
            " on that network instead (hostreach.tunnel(PORT, network=NAME))"
        )
    if "extra_hosts" in own:
        kwargs["extra_hosts"] = {**_as_mapping(kwargs.get("extra_hosts")), **own["extra_hosts"]}
    if "network_mode" in own:
        kwargs["network_mode"] = own["network_mode"]
    container.with_kwargs(**kwargs)
    return route


def _as_mapping(value: object) -> dict[str, str]:
    """Return extra_hosts given as the SDK takes them (a mapping or ``name:address`` list)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(name): str(address) for name, address in value.items()}
    if isinstance(value, list | tuple):
        entries = (str(entry).partition(":") for entry in value)
        return {name: address for name, _, address in entries}
    raise UsageError("the container's extra_hosts is neither a mapping nor a list")
