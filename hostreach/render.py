"""render: Route -> text, one renderer per output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hostreach.checks import INERT
from hostreach.errors import HostreachError
from hostreach.routes import Route


def _inert(flag: str) -> str:
    """Return the flag if it is one inert shell word; refuse it otherwise (a last defence)."""
    if not flag.startswith("--") or not INERT.issuperset(flag):
        raise HostreachError(f"refusing to print a flag that is not one plain word: {flag[:80]!r}")
    return flag


def shell(route: Route) -> str:
    """One flag per line: safe unquoted in bash and zsh, one argument each in fish and PowerShell."""
    return "".join(f"{_inert(flag)}\n" for flag in route.flags)


def as_json(route: Route) -> str:
    """The route as one JSON object."""
    import json  # noqa: PLC0415

    return json.dumps(route.to_json(), indent=2) + "\n"


def devcontainer(route: Route) -> str:
    """``{"runArgs": [...]}`` for a ``devcontainer.json`` that names an image or a Dockerfile.

    The devcontainer CLI passes ``runArgs`` to ``docker run`` as they are, before the image
    (devcontainers/cli src/spec-node/singleContainer.ts), so they are the route's flags, each
    checked as for the shell. A compose-based devcontainer ignores ``runArgs``: use
    ``compose-override`` there.
    """
    import json  # noqa: PLC0415

    return json.dumps({"runArgs": [_inert(flag) for flag in route.flags]}, indent=2) + "\n"


def env(route: Route) -> str:
    """``KEY=VALUE`` lines to hand to the app: HOSTREACH_HOST, HOSTREACH_ADDRESS ..."""
    return "".join(f"{key}={value}\n" for key, value in route.env().items())


def _yaml(data: Any) -> str:
    import yaml  # noqa: PLC0415 - only the compose formats

    from hostreach.composition import Override  # noqa: PLC0415

    class Dumper(yaml.SafeDumper):
        """SafeDumper that writes compose's ``!override`` tag."""

    def override(dumper: Dumper, value: Override) -> yaml.Node:
        return dumper.represent_sequence("!override", value.value)

    Dumper.add_representer(Override, override)
    text: str = yaml.dump(data, Dumper=Dumper, default_flow_style=False, sort_keys=False)
    return text


def compose_file(
    fragments: dict[str, dict[str, Any]], *, comment: str = "", version: str | None = None
) -> str:
    """A compose override file: ``services:`` with one fragment per service (after the
    ``version`` a stack's files must share, where given)."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + _yaml({**({"version": version} if version else {}), "services": fragments})


def compose(route: Route) -> str:
    """The compose service fragment (extra_hosts, network_mode), to put under a service."""
    return f"# {route.reason}\n" + _yaml(route.compose())


def k8s(route: Route) -> str:
    """The ``hostAliases`` of a pod spec (YAML), or nothing where the cluster names the host."""
    aliases = route.host_aliases()
    return f"# {route.reason}\n" + _yaml({"hostAliases": aliases}) if aliases else ""


def k8s_patch(route: Route) -> str:
    """A strategic-merge patch giving a workload's pod template the ``hostAliases`` (``kubectl
    patch deployment NAME --patch "$(...)"``; hostAliases merge by ``ip``), or nothing."""
    import json  # noqa: PLC0415

    aliases = route.host_aliases()
    patch = {"spec": {"template": {"spec": {"hostAliases": aliases}}}}
    return json.dumps(patch) + "\n" if aliases else ""


RENDERERS: dict[str, Callable[[Route], str]] = {
    "shell": shell,
    "args": shell,  # the same lines, as a contract for `mapfile -t` and `xargs -d '\\n'`
    "json": as_json,
    "compose": compose,
    "env": env,
    "devcontainer": devcontainer,
    "k8s": k8s,
    "k8s-patch": k8s_patch,
}
"""Output formats for ``flags --format``, by name."""
POD_FORMATS = ("k8s", "k8s-patch")
"""The formats for a pod of the kubeconfig's cluster, not a container of the engine."""


def render(route: Route, fmt: str = "shell") -> str:
    """Return the route in the named format."""
    return RENDERERS[fmt](route)
