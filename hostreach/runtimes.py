"""The runtime registry: one ordered table row per container runtime; the first match wins.

Everything hostreach knows about a runtime lives in its row: how to recognise it from the
facts, which host names it already resolves, whether ``host-gateway`` reaches the machine the
user means, what to use instead, and what to warn about. Each row cites its sources, and each
has a replay fixture under ``tests/fixtures/`` taken from a real published ``docker info``.
Each runtime's section defines its rules, then its row; ``RUNTIMES`` at the bottom orders them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Literal, NamedTuple

from hostreach import vantage
from hostreach.engine import views
from hostreach.errors import UsageError
from hostreach.facts import Facts
from hostreach.routes import Note, Strategy

# What --add-host=NAME:host-gateway does on a runtime: it reaches the host; it is accepted but
# lands elsewhere (a VM or a namespace, not the host); or the engine rejects it (or writes it
# literally).
# "unreliable": it reaches the host in most releases but has regressed, so it is not chosen.
HostGateway = Literal["reaches-host", "elsewhere", "rejected", "unknown", "unreliable"]


Arrives = Literal["bridge", "main", "unknown"]
"""Where connections to a runtime's own names land (see :attr:`Runtime.names_arrive`)."""


class Verdict(NamedTuple):
    """A runtime's answer about ``host-gateway``, with the reason shown to the user."""

    status: HostGateway
    why: str = ""
    note: str = "version-unknown"
    """The doctor's finding id for an ``unknown`` verdict: what is not known."""


_HOST_GATEWAY_MIN = (20, 10)  # moby/moby#40007, first released in Engine 20.10.0


def engine_host_gateway(facts: Facts, *, vm: str | None = None) -> Verdict:
    """Docker Engine's rule: host-gateway from 20.10; ``vm`` says where it lands instead."""
    version = views.engine_version(facts)
    if version is not None and version < _HOST_GATEWAY_MIN:
        shown = ".".join(map(str, version))
        return Verdict("rejected", f"Engine {shown} predates host-gateway (Engine 20.10)")
    if vm is not None:
        return Verdict("elsewhere", vm)
    if version is None and facts.daemon is not None:
        # A partial paste, an engine that hides its version: host-gateway needs 20.10, and an
        # older engine writes it into /etc/hosts literally (hostreach issue 16, rule 4).
        return Verdict(
            "unknown",
            "the engine's version is unknown (no ServerVersion, no usable ApiVersion), so"
            " host-gateway (Engine 20.10+) is not assumed",
        )
    return Verdict("reaches-host")


def _no_fallback(_: Facts) -> Strategy | None:
    return None


def _no_notes(_: Facts) -> tuple[Note, ...]:
    return ()


def _unknown_loopback(_: Facts) -> bool | None:
    return None


def _yes(_: Facts) -> bool:
    return True


class Runtime(NamedTuple):
    """One container runtime: how to recognise it and how its containers reach the host."""

    id: str
    title: str
    detect: Callable[[Facts], bool]
    provides: tuple[str, ...] = ()
    """Every host name it resolves in some version or mode: ``address`` tries them from inside a
    container, where the runtime cannot be asked."""
    names: Callable[[Facts], frozenset[str]] | None = None
    """Which names it resolves on these facts (None: all it ``provides``)."""
    host_gateway: Callable[[Facts], Verdict] = engine_host_gateway
    fallback: Callable[[Facts], Strategy | None] = _no_fallback
    """Strategy for names the runtime does not resolve when host-gateway is unsafe (None: none)."""
    notes: Callable[[Facts], tuple[Note, ...]] = _no_notes
    reaches_loopback: Callable[[Facts], bool | None] = _unknown_loopback
    """Whether its own names and host-gateway land on the host's 127.0.0.1 (None: unknown).

    The doctor uses it: where they do not, a service bound to 127.0.0.1 only is unreachable.
    """
    host_gateway_ipv6: Callable[[Facts], str | None] = lambda _facts: None
    """The IPv6 subnet whose bridge address ``host-gateway`` also writes into /etc/hosts, where it
    does (None: it names an IPv4 address only)."""
    host_network: Callable[[Facts], Verdict] = lambda _facts: Verdict("reaches-host")
    """Whether ``--network=host`` puts a container on this machine's network (its 127.0.0.1)."""
    loopback_address: Callable[[Facts], str | None] = lambda _facts: None
    """The address of the host's loopback on these facts, for the ``host-loopback`` strategy
    (None: there is none)."""
    generic: bool = False
    """A catch-all row (plain Docker Engine, unknown): matches whatever the rows above did not."""
    cli: str = "docker"
    """The engine's own command line, which ``hostreach run`` hands over to."""
    default_network: str = "bridge"
    """The network a container joins when none is named (a sibling on it needs no --network)."""
    joins_default_network: Callable[[Facts], bool] = lambda _facts: True
    """Whether a plain ``run`` joins ``default_network`` (False: each container gets its own
    user-mode network, and a sibling must name the network to share it)."""
    names_arrive: Callable[[Facts], Arrives] = lambda _facts: "bridge"
    """Where connections to its own names land on this machine: at the default bridge's
    gateway (``bridge``), at this machine's main address (``main``: rootless Podman's pasta
    maps them there), or somewhere not known (``unknown``). The doctor and relay listen there."""
    shared_gateway: bool = True
    """Whether containers on a network of their own (compose's project network) reach the
    default network's gateway too (False: that address exists only while a container is on
    the default network, so the ``gateway-ip`` route is the default network's alone)."""
    in_vm: bool = False
    """Whether its rules are for an engine in a VM (a desktop runtime, podman machine). Where
    the engine is found not to be on this machine's kernel, a row without them has no route
    it can vouch for: its host-gateway and gateway lead into the VM (issue 24)."""
    sockets: tuple[str, ...] = ()
    """Engine socket paths that name it (fnmatch patterns, matched against the path's end):
    a hint used only where the engine's own answers are missing or too thin to tell."""
    summary: str = ""
    """How its containers reach the host, for people (the docs' runtime pages show it)."""
    sources: tuple[str, ...] = ()

    def builtin_names(self, facts: Facts) -> frozenset[str]:
        """The host names this runtime resolves by itself on these facts."""
        return frozenset(self.provides) if self.names is None else self.names(facts)


def _at_least(version: views.Version | None, minimum: views.Version) -> bool:
    return version is not None and version >= minimum


def _wsl_kernel(facts: Facts) -> bool:
    return "microsoft" in views.kernel(facts).lower()


# --- Podman -----------------------------------------------------------------------------------
# Recognised by its /version component (containers/podman pkg/api/handlers/compat/version.go);
# Platform.Name is "linux/<arch>/<distro>-<ver>" and does not say podman.

_PODMAN = "Podman Engine"


def _podman_machine(facts: Facts) -> bool:
    # podman machine: the engine in a Linux VM, for a client on macOS or Windows, or on Linux
    # where the engine's kernel is not this machine's (podman machine runs there too).
    return facts.client.os in ("darwin", "windows") or vantage.of(facts).vm


def _pasta_before_guest_addr(facts: Facts) -> bool:
    """Rootless Podman 5.0-5.2 on Linux: pasta by default, without ``--map-guest-addr`` (5.3)."""
    version = views.component_version(facts, _PODMAN)
    return (
        views.rootless(facts)
        and not _podman_machine(facts)
        and _at_least(version, (5, 0))
        and not _at_least(version, (5, 3))
    )


def _other_address(facts: Facts) -> bool | None:
    """Whether the engine's machine has an IPv4 address besides the one pasta copies into each
    container (None: unknown, the caller is not on the engine's machine and network).

    Podman 5.0-5.2 points host.containers.internal at the first global address that pasta did
    not copy (the default route's), and writes nothing when there is none.
    """
    if vantage.of(facts).topology != "local" or facts.network.default_gateway is None:
        return None
    copied = vantage.lan_address(facts)
    for addresses in facts.network.interfaces.values():
        for text in addresses:
            if text != copied and vantage.global_ipv4(text):
                return True
    return False


def _pasta_without_address(facts: Facts) -> bool:
    # containers/podman#22881 ("host containers internal IP address is empty"), and #19213
    # (Podman 5.2.2: no host.containers.internal entry on a host with a single interface).
    return _pasta_before_guest_addr(facts) and _other_address(facts) is False


def _podman_names(facts: Facts) -> frozenset[str]:
    version = views.component_version(facts, _PODMAN)
    if _podman_machine(facts):
        # gvproxy's DNS answers both zones (containers/gvisor-tap-vsock cmd/gvproxy/main.go).
        return frozenset({"host.containers.internal", "host.docker.internal"})
    if _pasta_without_address(facts):
        return frozenset()
    names = set()
    if _at_least(version, (3, 2)):  # RELEASE_NOTES 3.2.0, #5651
        names.add("host.containers.internal")
    if _at_least(version, (4, 7)):  # written next to host.containers.internal with host-gateway
        names.add("host.docker.internal")
    return frozenset(names)


def _podman_host_gateway(facts: Facts) -> Verdict:
    version = views.component_version(facts, _PODMAN)
    if _pasta_without_address(facts):
        return Verdict(
            "rejected",
            "rootless Podman 5.0-5.2 (pasta) has no address for this machine: its only address"
            " is copied into each container, so host-gateway is left empty (podman#22881);"
            " Podman 5.3 maps 169.254.1.2 to it; or carry the port from this side with"
            " python -m hostreach tunnel --port PORT",
        )
    if _at_least(version, (4, 7)):  # RELEASE_NOTES 4.7.0, containers/podman#19152
        return Verdict("reaches-host")
    # Measured on Debian's Podman 4.3.1: its CLI rejects the value ("invalid IP address in
    # add-host"), and through the Docker API it is written literally into /etc/hosts.
    shown = ".".join(map(str, version)) if version else "this version"
    return Verdict("rejected", f"Podman {shown} does not support host-gateway (4.7+)")


def _podman_names_arrive(facts: Facts) -> Arrives:
    # Rootless Podman 5.3+ maps 169.254.1.2 to this machine's main address (pasta
    # --map-guest-addr, RELEASE_NOTES 5.3.0); measured on 5.4 and 5.8 (issue 23): a relay on
    # 10.88.0.1 was refused, one on the main address reached. 5.0-5.2 point the names at another
    # address of this machine, which one not known here (#19213).
    version = views.component_version(facts, _PODMAN)
    if not views.rootless(facts) or _podman_machine(facts) or not _at_least(version, (5, 0)):
        return "bridge"
    return "main" if _at_least(version, (5, 3)) else "unknown"


def _podman_fallback(facts: Facts) -> Strategy | None:
    # Rootful: the default network's gateway (10.88.0.1), which GET /networks/bridge reports.
    # Rootless: that gateway lives in the user's namespace; use the host's own address instead,
    # except under pasta (5.0+), which copies that address into the container: it would land
    # in the container itself (containers/podman#22768, #26244).
    if not views.rootless(facts):
        return "gateway-ip"
    if _podman_machine(facts) or not _at_least(views.component_version(facts, _PODMAN), (5, 0)):
        return "lan-ip"
    return None


def _podman_notes(facts: Facts) -> tuple[Note, ...]:
    version = views.component_version(facts, _PODMAN)
    if _pasta_before_guest_addr(facts):
        # Before 5.3 the name is another address of this machine, if it has one (#19213).
        notes: list[Note] = []
        if not _at_least(version, (5, 1)):
            # RELEASE_NOTES 5.1.0: wrong host.containers.internal on rootless bridge networks.
            notes.append(
                Note(
                    "pasta-host-address",
                    "on a network of your own (podman network create), rootless Podman 5.0 points"
                    " host.containers.internal at this machine's main address, which is not"
                    " reached from there (containers/podman#22644, fixed in 5.1)",
                    "upgrade to Podman 5.1 or later, or run on the default network",
                )
            )
        notes.append(
            Note(
                "pasta-host-address",
                "rootless Podman 5.0-5.2 (pasta) points host.containers.internal at an address of"
                " this machine other than its main one, and writes no entry where there is none"
                " (containers/podman#19213, #22881): the service must listen on that address or"
                " on all interfaces",
                "upgrade to Podman 5.3+ (pasta --map-guest-addr), or carry the port from this"
                " side: python -m hostreach tunnel --port PORT",
            ),
        )
        return tuple(notes)
    if views.rootless(facts) and _at_least(version, (5, 0)) and not _podman_machine(facts):
        # pasta maps the name to the host's main interface, never its loopback:
        # https://github.com/podman-container-tools/podman/issues/28718
        return (
            Note(
                "rootless-loopback",
                "rootless Podman (pasta) maps the host name to this machine's main interface,"
                " not its loopback: the host service must not listen on 127.0.0.1 only",
                "make the service listen on this machine's main address, or run"
                " `podman run --network pasta:--map-host-loopback=169.254.1.2 ...`",
            ),
        )
    return ()


PODMAN = Runtime(
    id="podman",
    title="Podman",
    detect=lambda f: _PODMAN in views.components(f),
    provides=("host.containers.internal", "host.docker.internal"),
    names=_podman_names,
    host_gateway=_podman_host_gateway,
    fallback=_podman_fallback,
    notes=_podman_notes,
    # podman machine: gvproxy NATs 192.168.127.254 to the host's 127.0.0.1. On Linux the names
    # are the bridge gateway (rootful) or the main interface (pasta), never loopback.
    reaches_loopback=_podman_machine,
    cli="podman",
    default_network="podman",  # `podman network ls`; its Docker API calls it "bridge" too
    # Rootless `podman run` defaults to slirp4netns (4.x) or pasta (5.x), not the podman
    # network: containers/podman docs/source/markdown/options/network.md ("default").
    joins_default_network=lambda facts: not views.rootless(facts),
    # netavark removes the default network's bridge, and 10.88.0.1 with it, when its last
    # container goes (containers/netavark src/commands/teardown.rs, complete_teardown): from
    # compose's project network 10.88.0.1 was refused on Podman 4.3.1 (issue 27).
    shared_gateway=False,
    names_arrive=_podman_names_arrive,
    in_vm=True,
    summary="Podman resolves host.containers.internal itself (3.2+) and, from 4.7, also"
    " host.docker.internal, when host-gateway became valid. Older Podman (Debian 12 ships 4.3.1)"
    " gets its default network's gateway, 10.88.0.1, written in (compose's project network,"
    " which cannot reach it, gets this machine's main address); rootless Podman gets this"
    " machine's main address. Rootless Podman 5.0-5.2 runs pasta, which copies that address into"
    " each container: its names point at another address of this machine, and where there is"
    " none they are missing and host-gateway fails, so there is no route but a tunnel; 5.3 maps"
    " 169.254.1.2 to the main address instead. podman machine answers both names through gvproxy's DNS, which"
    " forwards to the host's 127.0.0.1.",
    # podman machine's API sockets on macOS and Linux hosts (podman-machine-default-api.sock)
    sockets=("*/podman-machine-*.sock", "*/podman/machine/*/podman.sock"),
    sources=(
        "containers/podman RELEASE_NOTES.md (3.2.0, 4.7.0, 5.0.0, 5.3.0)",
        "https://github.com/podman-container-tools/podman/issues/22881",
        "https://github.com/podman-container-tools/podman/issues/19213",
        "https://github.com/podman-container-tools/podman/pull/23791",
        "https://github.com/podman-container-tools/podman/issues/22644",
        "containers/podman docs/source/markdown/options/add-host.md",
        "containers/podman docs/source/markdown/options/network.md",
        "https://github.com/podman-container-tools/podman/issues/28718",
        "containers/netavark src/commands/teardown.rs (complete_teardown)",
    ),
)


# --- Docker Desktop ---------------------------------------------------------------------------


def _docker_desktop(facts: Facts) -> bool:
    labels = views.info_list(facts, "Labels")
    return (
        views.info(facts, "OperatingSystem") == "Docker Desktop"
        or views.info(facts, "Name") == "docker-desktop"
        or views.platform_name(facts).startswith("Docker Desktop")
        or any(label.startswith("com.docker.desktop.address=") for label in labels)
        # Docker for Mac/Windows before 18.03 showed only a -moby kernel suffix.
        or views.kernel(facts).endswith("-moby")
        # The context Docker Desktop creates (docker/docs desktop/setup/install/linux: "docker
        # context use desktop-linux"; the macOS client of docker/for-mac#7618 on it): it names
        # Desktop where its engine does not answer (issue 23).
        or facts.client.context == "desktop-linux"
    )


def _desktop_names(facts: Facts) -> frozenset[str]:
    version = views.engine_version(facts)
    # host.docker.internal since 18.03 (docker/docs desktop/previous-versions/edge-releases-mac.md)
    if version is None or version >= (18, 3):
        return frozenset({"host.docker.internal"})
    return frozenset()


DOCKER_DESKTOP = Runtime(
    id="docker-desktop",
    title="Docker Desktop",
    detect=_docker_desktop,
    provides=("host.docker.internal",),
    names=_desktop_names,
    # Desktop passes dockerd --host-gateway-ip itself (moby/moby#40007 description); no
    # fallback: never hard-code 192.168.65.x or 172.17.0.1 (docker/for-mac#6000).
    # Outbound traffic leaves from the host-side com.docker.backend process (docker/docs
    # desktop/features/networking/_index.md), so 127.0.0.1 services answer.
    reaches_loopback=_yes,
    in_vm=True,
    summary="Docker Desktop resolves host.docker.internal itself (since 18.03) and forwards it"
    " to the host's own 127.0.0.1. Older Desktop gets no host-gateway; never hard-code"
    " 192.168.65.x or 172.17.0.1, which changed between releases.",
    # docs.docker.com desktop/setup/install/mac-permission-requirements: ~/.docker/run/docker.sock
    sockets=(
        "*/.docker/run/docker.sock",
        "*/.docker/desktop/docker.sock",
        "//./pipe/dockerDesktop*",
    ),
    sources=(
        "docker/docs content/manuals/desktop/features/networking/networking-how-tos.md",
        "https://github.com/moby/moby/pull/40007",
        "https://github.com/docker/for-mac/issues/6000",
        "docker/docs content/manuals/desktop/setup/install/linux/_index.md (desktop-linux)",
        "https://github.com/docker/for-mac/issues/7618",
    ),
)


# --- OrbStack ---------------------------------------------------------------------------------


def _orbstack(facts: Facts) -> bool:
    # Not the kernel alone: a user's own dockerd in an OrbStack Linux machine has an -orbstack-
    # kernel too, and is a plain docker-engine.
    return (
        views.info(facts, "OperatingSystem") == "OrbStack"
        or views.info(facts, "Name") == "orbstack"
        or facts.client.context == "orbstack"
    )


ORBSTACK = Runtime(
    id="orbstack",
    title="OrbStack",
    detect=_orbstack,
    provides=("host.docker.internal", "host.orb.internal"),
    reaches_loopback=_yes,  # docs.orbstack.dev/docker/network: "localhost" servers
    in_vm=True,
    summary="OrbStack resolves host.docker.internal and host.orb.internal itself, reaching"
    " services on the Mac's 127.0.0.1.",
    sockets=("*/.orbstack/run/docker.sock",),  # docs.orbstack.dev/docker: its socket
    sources=(
        "https://docs.orbstack.dev/docker/network",
        "https://github.com/orbstack/orbstack/discussions/102",
    ),
)


# --- Rancher Desktop --------------------------------------------------------------------------


def _rancher_desktop(facts: Facts) -> bool:
    return (
        views.info(facts, "Name") == "lima-rancher-desktop"
        or views.info(facts, "OperatingSystem") == "Rancher Desktop WSL Distribution"
        or any("/etc/rancher-desktop/" in o for o in views.info_list(facts, "SecurityOptions"))
        or facts.client.context == "rancher-desktop"
    )


def _rancher_notes(facts: Facts) -> tuple[Note, ...]:
    if facts.daemon is not None:
        return ()
    # Its socket (or the link to it) and no answer: stopped, or the containerd engine, which
    # serves no Docker API; the socket is then missing (rancher-sandbox/rancher-desktop#2534).
    return (
        Note(
            "rancher-containerd",
            "Rancher Desktop's Docker socket does not answer: it is stopped, or it runs"
            " containerd (nerdctl), which has no Docker API. With containerd, `nerdctl run` gets"
            " host.docker.internal from the VM's hosts file, but a restarted container loses it"
            " (rancher-desktop#2172): recreate the container instead. hostreach can only name"
            " the route there; check, the doctor's proof, tunnel and run need the Docker API",
            "start Rancher Desktop, or choose dockerd (moby) under Preferences > Container Engine",
        ),
    )


RANCHER_DESKTOP = Runtime(
    id="rancher-desktop",
    title="Rancher Desktop",
    detect=_rancher_desktop,
    provides=("host.docker.internal", "host.rancher-desktop.internal"),
    # host-gateway overrides the working name with the VM's 172.17.0.1:
    # https://github.com/rancher-sandbox/rancher-desktop/issues/7611
    host_gateway=lambda f: engine_host_gateway(
        f, vm="on Rancher Desktop host-gateway is the VM's 172.17.0.1, not this machine"
    ),
    # Lima user-mode networking on macOS/Linux; nothing fixed on the Windows (WSL) backend.
    fallback=lambda f: None if _wsl_kernel(f) else "host-loopback",
    reaches_loopback=lambda f: None if _wsl_kernel(f) else True,  # Lima: 192.168.5.2
    loopback_address=lambda _: "192.168.5.2",
    notes=_rancher_notes,
    in_vm=True,
    summary="Rancher Desktop resolves host.docker.internal and host.rancher-desktop.internal"
    " itself. host-gateway must not be added: there it is the VM's 172.17.0.1 and overrides the"
    " working name. Other names get Lima's 192.168.5.2. Its containerd engine (nerdctl) serves"
    " no Docker API: recognised by its socket (or the link to it) not answering, where"
    " hostreach names the route and says what it cannot do.",
    sockets=("*/.rd/docker.sock",),  # docs.rancherdesktop.io: ~/.rd/docker.sock (1.7+)
    sources=(
        "https://github.com/rancher-sandbox/docs.rancherdesktop.io/pull/378",
        "https://github.com/rancher-sandbox/rancher-desktop/issues/7611",
        "https://github.com/rancher-sandbox/rancher-desktop/issues/2172",
        "https://github.com/rancher-sandbox/rancher-desktop/issues/2534",
    ),
)


# --- Colima -----------------------------------------------------------------------------------


def _colima(facts: Facts) -> bool:
    def named(value: str | None) -> bool:
        return value is not None and (value == "colima" or value.startswith("colima-"))

    return named(views.info(facts, "Name")) or named(facts.client.context)


def _colima_host_gateway(facts: Facts) -> Verdict:
    verdict = engine_host_gateway(facts)
    if verdict.status != "reaches-host":
        return verdict
    # From 0.5.3 host-gateway is Lima's loopback alias (abiosoft/colima#574), but 0.6.5 broke it
    # (abiosoft/colima#902, fixed by #904); Colima's version is not in the engine's answers.
    return Verdict(
        "unreliable",
        "host-gateway has regressed in Colima releases (0.6.5: abiosoft/colima#902), while"
        " 192.168.5.2 is its fixed address of this machine (abiosoft/colima#860)",
    )


COLIMA = Runtime(
    id="colima",
    title="Colima",
    detect=_colima,
    provides=("host.docker.internal",),  # since 0.3.4 (abiosoft/colima#201)
    # The name has come and gone with Lima upgrades (ddev/ddev#6031 put 192.168.5.2 back after
    # ddev#5994 had relied on it): the fixed address is the route.
    names=lambda _facts: frozenset(),
    host_gateway=_colima_host_gateway,
    fallback=lambda _facts: "host-loopback",
    reaches_loopback=_yes,  # Lima's user-mode network forwards 192.168.5.2 to the Mac's loopback
    loopback_address=lambda _facts: "192.168.5.2",
    in_vm=True,
    summary="Colima's fixed address of this machine is Lima's 192.168.5.2, which reaches its"
    " loopback; it is written in for every name. Colima also resolves host.docker.internal and"
    " maps host-gateway there, but both have regressed between releases (the name lost after"
    " a Lima upgrade, host-gateway broken in 0.6.5), and 0.6.0-0.6.1 moved the address to"
    " 192.168.104.2 until 0.6.2 restored it.",
    # ~/.colima/<profile>/docker.sock (0.4+), ~/.colima/docker.sock before (abiosoft/colima README)
    sockets=("*/.colima/*/docker.sock", "*/.colima/docker.sock"),
    sources=(
        "https://github.com/abiosoft/colima/pull/201",
        "https://github.com/abiosoft/colima/issues/277",
        "https://github.com/abiosoft/colima/issues/857",
        "https://github.com/abiosoft/colima/pull/860",
        "https://github.com/abiosoft/colima/issues/902",
        "https://github.com/ddev/ddev/pull/5994",
        "https://github.com/ddev/ddev/pull/6031",
        "abiosoft/colima environment/container/docker/daemon.go",
    ),
)


# --- Lima -------------------------------------------------------------------------------------


def _lima(facts: Facts) -> bool:
    # Rancher Desktop's VM is a Lima instance too; its row comes first but "exactly one row"
    # must hold on its own.
    name = views.info(facts, "Name")
    return name.startswith("lima-") and not _rancher_desktop(facts)


LIMA = Runtime(
    id="lima",
    title="Lima",
    detect=_lima,
    # host.lima.internal in the VM; Lima's docker template also answers host.docker.internal
    # inside containers (hostResolver.hosts), but a VM from another template need not, so names
    # get 192.168.5.2 written in, which is the same address either way.
    provides=("host.lima.internal", "host.docker.internal"),
    names=lambda _: frozenset(),
    host_gateway=lambda f: engine_host_gateway(
        f,
        vm="on Lima host-gateway stays inside the VM (its docker0, or RootlessKit's namespace"
        " with Lima's default docker template, which is rootless), not this machine",
    ),
    fallback=lambda _: "host-loopback",
    notes=lambda _: (
        Note(
            "lima-network",
            "Lima: 192.168.5.2 is this machine's loopback in Lima's default user-mode network;"
            " with another network mode, pass --strategy lan-ip",
        ),
    ),
    loopback_address=lambda _: "192.168.5.2",
    reaches_loopback=_yes,
    in_vm=True,
    summary="A plain Lima VM: host.lima.internal and 192.168.5.2 are the host's loopback in"
    " Lima's default user-mode network; host-gateway is the VM's own docker0.",
    sockets=("*/.lima/*/sock/docker.sock",),  # lima templates/docker.yaml: ~/.lima/docker/sock
    sources=(
        "https://lima-vm.io/docs/config/network/user/",
        "https://github.com/lima-vm/lima/issues/450",
        "https://github.com/lima-vm/lima/blob/master/templates/docker.yaml",
    ),
)


# --- Docker Engine on Linux -------------------------------------------------------------------


def _docker_engine(facts: Facts) -> bool:
    # Any engine running Linux containers; a pasted partial `docker info` may lack OSType.
    if facts.daemon is None:
        return False
    if _desktop_vm(facts):
        return False
    return views.containers_os(facts) in ("linux", "")


def _desktop_vm(facts: Facts) -> bool:
    """A macOS or Windows client on a local socket, with only /version to go by: its Linux
    engine runs in a VM of some desktop runtime (they all resolve host.docker.internal), never
    a plain Docker Engine whose host-gateway is this machine (hostreach issue 16, rule 5)."""
    endpoint = facts.client.endpoint or ""
    local = endpoint.startswith(("unix://", "npipe://")) or not endpoint
    return facts.client.os in ("darwin", "windows") and local and thin(facts)


def _docker_engine_host_gateway(facts: Facts) -> Verdict:
    if views.rootless(facts):
        # Verified with Debian's Engine 20.10 + rootlesskit: 172.17.0.1, connection refused.
        # https://github.com/moby/moby/issues/47684
        return Verdict(
            "elsewhere",
            "on a rootless engine host-gateway is 172.17.0.1 inside RootlessKit's namespace,"
            " not this machine",
        )
    verdict = engine_host_gateway(facts)
    if verdict.status == "reaches-host" and _rootless_unknown(facts):
        return Verdict(
            "unknown",
            "the engine's answers do not say whether it is rootless (its /info has no"
            " SecurityOptions), and a rootless engine's host-gateway is inside RootlessKit's"
            " namespace, not this machine: host-gateway is not assumed",
            note="rootless-unknown",
        )
    return verdict


def _rootless_unknown(facts: Facts) -> bool:
    """An engine that answered without saying whether it is rootless (a paste cut short)."""
    return facts.daemon is not None and views.rootless_known(facts) is None


def _docker_engine_notes(facts: Facts) -> tuple[Note, ...]:
    notes = []
    if _wsl_kernel(facts):
        # https://github.com/microsoft/WSL/issues/12023; MicrosoftDocs/WSL WSL/networking.md
        notes.append(
            Note(
                "wsl-two-hosts",
                "this engine runs inside WSL 2: the route reaches the WSL distro, not Windows; for"
                " a service on Windows pass --target windows",
                "for a service on Windows: python -m hostreach flags --target windows (the"
                " distro's default gateway in NAT mode; Windows' own address in mirrored mode,"
                " with hostAddressLoopback=true)",
            )
        )
    if _rootless_unknown(facts) and engine_host_gateway(facts).status != "reaches-host":
        # Otherwise the host-gateway verdict says it (rootless-unknown), once.
        notes.append(
            Note(
                "rootless-unknown",
                "the engine's answers do not say whether it is rootless (its /info has no"
                " SecurityOptions), so the names point at this machine's main address, which"
                " rootful and rootless engines both reach",
            )
        )
    kit = facts.rootlesskit
    if views.rootless(facts) and kit is not None and kit.host_loopback:
        if _rootless_loopback(facts) is None:
            notes.append(
                Note(
                    "rootless-loopback",
                    f"RootlessKit lets containers reach this machine's 127.0.0.1, but through its"
                    f" {kit.net} driver at an address hostreach does not know, so they reach the"
                    " host at its main address",
                    "make the service listen on this machine's main address, or run"
                    " `python -m hostreach tunnel --port PORT`",
                )
            )
    elif views.rootless(facts):
        # docker/docs engine/security/rootless/tips.md "Connecting to the host from a container"
        notes.append(
            Note(
                "rootless-loopback",
                "the engine is rootless: RootlessKit blocks its containers from this machine's"
                " 127.0.0.1 by design, so they reach the host at its main address",
                "make the service listen on this machine's main address (or 0.0.0.0 behind a"
                " firewall), or keep it on 127.0.0.1 and run `python -m hostreach tunnel --port"
                " PORT`; Engine 26+ can opt in with"
                " DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false",
            )
        )
    return tuple(notes)


_LOOPBACK_BY_DRIVER = {
    "slirp4netns": "10.0.2.2",  # measured here; ddev uses it too (moby/moby#47684)
    "pasta": "10.0.2.2",  # measured on trixie's rootlesskit 2.0.2 with pasta (issue 23)
    # rootlesskit's gvisor-tap-vsock driver puts the host at 10.0.2.1
    # (rootless-containers/rootlesskit#515); rootless Docker's default from 29.5
    # (moby/moby#52641; "the address is different in other network drivers", docker/docs#25774)
    "gvisor-tap-vsock": "10.0.2.1",
}


def _rootless_loopback(facts: Facts) -> str | None:
    """Where a rootless engine's containers reach the host's 127.0.0.1, where RootlessKit runs
    without --disable-host-loopback (read from its command line, so on this machine only): the
    host address of its network driver, as /version's ``rootlesskit`` component reports it
    (RootlessKit's own API), else as its command line names it. Other drivers: None."""
    kit = facts.rootlesskit
    if not views.rootless(facts) or kit is None or not kit.host_loopback:
        return None
    return _LOOPBACK_BY_DRIVER.get(views.rootlesskit_driver(facts) or kit.net)


def _docker_engine_fallback(facts: Facts) -> Strategy:
    if views.rootless(facts):
        return "host-loopback" if _rootless_loopback(facts) else "lan-ip"
    if _rootless_unknown(facts):
        return "lan-ip"  # this machine's main address: reached from rootful and rootless alike
    return "gateway-ip"


_HOST_GATEWAY_IPV6 = (28, 0)  # moby/moby#48807, released in Engine 28.0.0


def _docker_engine_host_gateway_ipv6(facts: Facts) -> str | None:
    # Engine 28 writes the default bridge's IPv6 address for host-gateway too, where that bridge
    # has IPv6 (moby/moby#48807). Measured on forky's Engine 28.5 (issue 23): /etc/hosts got
    # "fd00:28::1 host.docker.internal" after the IPv4 line, and a service on 0.0.0.0 refused a
    # client that connected there.
    if views.rootless(facts) or not _at_least(views.engine_version(facts), _HOST_GATEWAY_IPV6):
        return None
    return views.bridge_subnet6(facts)


_ROOTLESS_HOST_NETWORK = (29, 5)  # docker/docs engine/security/rootless/troubleshoot.md


def _docker_engine_host_network(facts: Facts) -> Verdict:
    # Measured on Engine 20.10 rootless: a --network=host container's 127.0.0.1 is not the host's.
    if not views.rootless(facts):
        return Verdict("reaches-host")
    version = views.engine_version(facts)
    if version is None:
        return Verdict(
            "unknown",
            "a rootless engine shares this machine's network with --network=host only from"
            " Engine 29.5, and this one's version is unknown",
        )
    if version < _ROOTLESS_HOST_NETWORK:
        shown = ".".join(map(str, version))
        return Verdict(
            "elsewhere",
            f"on a rootless Engine {shown} --network=host is RootlessKit's network namespace,"
            " not this machine's (until Engine 29.5)",
        )
    return Verdict("reaches-host")


DOCKER_ENGINE = Runtime(
    id="docker-engine",
    title="Docker Engine",
    detect=_docker_engine,
    host_gateway=_docker_engine_host_gateway,
    host_gateway_ipv6=_docker_engine_host_gateway_ipv6,
    fallback=_docker_engine_fallback,
    loopback_address=_rootless_loopback,
    host_network=_docker_engine_host_network,
    notes=_docker_engine_notes,
    # Rootful: the bridge gateway, and 127.0.0.1 is not routed from docker0
    # (docker/for-linux#1365). Rootless: RootlessKit blocks host loopback by default.
    reaches_loopback=lambda _: False,
    generic=True,
    summary="Docker Engine on Linux: host-gateway (20.10+) is the default bridge's gateway, this"
    " machine; older engines get that address written in. A rootless engine's host-gateway is"
    " inside RootlessKit's namespace, so names get this machine's main address, and services"
    " must listen on it (RootlessKit blocks the host's 127.0.0.1), unless its RootlessKit runs"
    " without --disable-host-loopback, where its driver's host address reaches the host's"
    " 127.0.0.1 (10.0.2.2 for slirp4netns and pasta, 10.0.2.1 for gvisor-tap-vsock; read from"
    " RootlessKit's command line, so on this machine only). An engine that does not say"
    " whether it is rootless (no SecurityOptions, no rootlesskit component) gets this"
    " machine's main address, which both reach. A rootless"
    " engine's --network=host is RootlessKit's namespace before Engine 29.5. Where Engine 28+"
    " has IPv6 on its default bridge, host-gateway names that bridge's IPv6 address too, which"
    " a service listening on IPv4 only refuses: the names are pinned to the bridge's IPv4"
    " gateway instead. In WSL 2 the"
    " host is the WSL distro, not Windows.",
    sources=(
        "https://github.com/moby/moby/pull/40007",
        "docker/docs content/manuals/engine/security/rootless/troubleshoot.md",
        "https://github.com/moby/moby/issues/47684",
        "docker/docs content/manuals/engine/security/rootless/tips.md",
        "moby/moby daemon/info_unix.go (fillRootlessVersion: the rootlesskit component)",
        "https://github.com/rootless-containers/rootlesskit/pull/515",
        "https://github.com/docker/docs/pull/25774",
        "https://github.com/moby/moby/pull/48807",
    ),
)


# --- Unknown ----------------------------------------------------------------------------------


def _unknown_names(facts: Facts) -> frozenset[str]:
    # Every runtime on macOS and Windows answers this name (Docker Desktop, OrbStack, Colima,
    # Rancher Desktop, podman machine); adding host-gateway would break Rancher Desktop.
    if facts.client.os in ("darwin", "windows"):
        return frozenset({"host.docker.internal"})
    return frozenset()


def _unknown_notes(facts: Facts) -> tuple[Note, ...]:
    if facts.daemon is None:  # nothing to recognise: resolve says the engine was not reached
        return ()
    return (
        Note(
            "runtime-unknown",
            "the container runtime was not recognised; this is the most widely working route."
            " Please send the output of `python -m hostreach facts` so that it can be recognised",
            "python -m hostreach facts > facts.json, and attach it to an issue; meanwhile name the"
            " runtime yourself with --runtime ID",
        ),
    )


UNKNOWN = Runtime(
    id="unknown",
    title="an unrecognised container runtime",
    detect=_yes,
    provides=("host.docker.internal",),
    names=_unknown_names,
    fallback=lambda _: "gateway-ip",
    notes=_unknown_notes,
    generic=True,
    summary="Anything not recognised: host-gateway where the engine supports it, else the bridge"
    " gateway, with a warning and a request for the facts.",
)


# --- The table --------------------------------------------------------------------------------

RUNTIMES: tuple[Runtime, ...] = (
    PODMAN,
    DOCKER_DESKTOP,
    ORBSTACK,
    RANCHER_DESKTOP,
    COLIMA,
    LIMA,
    DOCKER_ENGINE,
    UNKNOWN,
)
"""Every runtime, in detection order; the last row matches anything."""

RUNTIME_IDS: tuple[str, ...] = tuple(r.id for r in RUNTIMES)


def host_names() -> tuple[str, ...]:
    """Every name some runtime provides for the host, the most widely provided first."""
    provided = [name for row in RUNTIMES for name in row.provides]
    return tuple(sorted(dict.fromkeys(provided), key=lambda n: -provided.count(n)))


def identify(facts: Facts) -> Runtime:
    """Return the first runtime whose predicate matches the facts; where only a catch-all row
    does and the engine's answers are missing or thin, the row its socket path names."""
    found = next(r for r in RUNTIMES if r.detect(facts))
    if found.generic and thin(facts):
        return socket_hint(facts) or found
    return found


def thin(facts: Facts) -> bool:
    """Whether the engine could not be asked, or its /info said nothing (a /version only)."""
    return facts.daemon is None or not facts.daemon.info


def socket_hint(facts: Facts) -> Runtime | None:
    """The row whose socket path patterns match the endpoint in use, or None."""
    endpoint = facts.client.endpoint or ""
    path = endpoint.split("://", 1)[1] if "://" in endpoint else endpoint
    paths = [p for p in (path, facts.client.socket_target) if p]
    for row in RUNTIMES:
        if any(fnmatch.fnmatchcase(p, pattern) for p in paths for pattern in row.sockets):
            return row
    return None


def by_id(runtime_id: str) -> Runtime:
    """Return the row with this id; UsageError if there is none."""
    for row in RUNTIMES:
        if row.id == runtime_id:
            return row
    raise UsageError(f"unknown runtime {runtime_id!r}; choose from {', '.join(RUNTIME_IDS)}")
