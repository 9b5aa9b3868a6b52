"""Client probe: where hostreach itself runs (OS, kernel, WSL, inside a container). Stdlib only."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from hostreach.checks import check_address, check_host_address
from hostreach.engine.endpoint import StrPath

_OS = {"linux": "linux", "darwin": "darwin", "win32": "windows", "cygwin": "windows"}

# Paths under the root that say "this process runs in a container", and what they mean.
_MARKER_FILES = {
    ".dockerenv": "/.dockerenv",  # Docker (testcontainers' IN_A_CONTAINER)
    "run/.containerenv": "/run/.containerenv",  # Podman
}
_CGROUP_HINTS = ("/docker/", "/docker-", "/libpod-", "/kubepods")
# What dev container tools set in the container (hostreach issue 16, rule 7): GitHub Codespaces
# (CODESPACES=true, as ddev's nodeps.IsCodespaces reads it), VS Code Dev Containers
# (REMOTE_CONTAINERS=true) and the devcontainers CLI images (IN_DEVCONTAINER=true).
_MARKER_ENV = ("CODESPACES", "REMOTE_CONTAINERS", "IN_DEVCONTAINER")


def _mountinfo_marker(text: str) -> str | None:
    # Engines bind-mount /etc/hostname from their own storage into each container
    # (/var/lib/docker/containers/<id>/hostname, .../containers/storage/.../userdata/hostname).
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/etc/hostname" and "/containers/" in fields[3]:
            return f"/proc/self/mountinfo: /etc/hostname from {fields[3]}"
    return None


_HEX = frozenset("0123456789abcdef")


def container_id(markers: tuple[str, ...]) -> str | None:
    """The engine's ID of the container this process runs in, from the path its /etc/hostname
    is mounted from (a 64-hex-digit directory), or None."""
    for marker in markers:
        for part in marker.split("/"):
            if len(part) == 64 and _HEX.issuperset(part):
                return part
    return None


def container_markers(root: StrPath, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Return the signs found that this process runs inside a container."""
    found = [
        shown for rel, shown in _MARKER_FILES.items() if os.path.exists(os.path.join(root, rel))
    ]
    found += [f"${name}" for name in _MARKER_ENV if (environ or {}).get(name) == "true"]
    for rel in ("proc/self/mountinfo", "proc/1/cgroup"):
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read(1 << 20)  # /proc text, bounded all the same
        except OSError:
            continue
        if rel.endswith("mountinfo"):
            marker = _mountinfo_marker(text)
        else:  # cgroup v1 paths name the engine; under v2 they read "0::/"
            hint = next((h for h in _CGROUP_HINTS if h in text), None)
            marker = f"/{rel}: {hint}" if hint else None
        if marker:
            found.append(marker)
    return tuple(found)


def is_wsl(release: str, environ: Mapping[str, str], root: StrPath) -> bool:
    """Whether this is WSL; no single signal is reliable (microsoft/WSL#4555)."""
    if "microsoft" in release.lower():
        return True
    if environ.get("WSL_DISTRO_NAME") or environ.get("WSL_INTEROP"):
        return True
    binfmt = os.path.join(root, "proc/sys/fs/binfmt_misc")
    return any(os.path.exists(os.path.join(binfmt, n)) for n in ("WSLInterop", "WSLInterop-late"))


def host_override(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """``HOSTREACH_HOST_ADDRESS`` if it is an IP address; else None, and why (when it is set)."""
    value = environ.get("HOSTREACH_HOST_ADDRESS", "")
    if not value:
        return None, ""
    try:
        check_address(value)
    except ValueError:
        return None, f"HOSTREACH_HOST_ADDRESS={value[:60]!r} is not an IP address"
    try:
        return check_host_address(value), ""
    except ValueError as exc:
        return None, f"HOSTREACH_HOST_ADDRESS={value[:60]!r} is refused: {exc}"


def resolve_names(names: tuple[str, ...]) -> dict[str, str]:
    """Return the IPv4 address each name resolves to here (/etc/hosts, then DNS); skip the rest."""
    if not names:
        return {}
    import socket  # noqa: PLC0415 - only `address` resolves names

    found = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # socket.gaierror is an OSError
            continue
        if infos:
            found[name] = str(infos[0][4][0])
    return found


def _uname() -> tuple[str, str]:
    """Return the kernel release and host name (os.uname: the platform module costs 3 ms)."""
    if hasattr(os, "uname"):
        uname = os.uname()
        return uname.release, uname.nodename
    import platform  # noqa: PLC0415 - Windows

    return platform.release(), platform.node()


def wsl_networking(timeout: float = 2.0) -> str | None:
    """WSL 2's networking mode from ``wslinfo --networking-mode`` (WSL 2.0+), or None."""
    import shutil  # noqa: PLC0415 - WSL only
    import subprocess  # noqa: PLC0415

    command = shutil.which("wslinfo")
    if command is None:
        return None
    try:
        done = subprocess.run(
            [command, "--networking-mode"], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout[:64].decode("ascii", "replace").strip().lower()
    return answer if done.returncode == 0 and answer in ("nat", "mirrored") else None


# Folders under C:\\Users that are no user's profile: a .wslconfig there is not the user's (WSL
# reads %USERPROFILE%\\.wslconfig only), and C:\\Users\\Public is writable by every local user.
_NOT_PROFILES = frozenset({"public", "default", "default user", "all users", "defaultapppool"})


def wslconfig(root: StrPath, environ: Mapping[str, str] | None = None) -> str | None:
    """The Windows user's .wslconfig, as WSL reads it: %USERPROFILE%\\.wslconfig, where WSLENV
    passes USERPROFILE in (``USERPROFILE/p``); else the one user profile under C:\\Users that
    has one (none, or several users': not guessed)."""
    import glob  # noqa: PLC0415 - WSL only

    from hostreach.errors import InputError  # noqa: PLC0415
    from hostreach.files import read_text  # noqa: PLC0415

    profile = (environ or {}).get("USERPROFILE", "")
    if profile.startswith("/mnt/"):
        found = [os.path.join(os.fspath(root), profile.lstrip("/"), ".wslconfig")]
        found = [f for f in found if os.path.isfile(f)]
    else:
        found = [
            f
            for f in glob.glob(
                os.path.join(os.fspath(root), "mnt", "c", "Users", "*", ".wslconfig")
            )
            if os.path.basename(os.path.dirname(f)).lower() not in _NOT_PROFILES
        ]
    if len(found) != 1:
        return None
    try:
        return read_text(found[0], what=".wslconfig", limit=64 * 1024)
    except (OSError, InputError):
        return None


def mem_total(root: StrPath) -> int | None:
    """This machine's memory in bytes, from /proc/meminfo's MemTotal (in kB), as the engine
    reads its own (moby pkg/meminfo); None where it cannot be read, or where /proc/meminfo is
    a view mounted over the kernel's (lxcfs in a container), which says nothing of the kernel."""
    try:
        with open(os.path.join(root, "proc/self/mountinfo"), "rb") as f:
            mounts = f.read(1 << 20)
        with open(os.path.join(root, "proc/meminfo"), "rb") as f:
            head = f.read(4096)  # MemTotal is the first line
    except OSError:
        return None
    if any(line.split()[4:5] == [b"/proc/meminfo"] for line in mounts.splitlines()):
        return None
    for line in head.split(b"\n"):
        key, _, value = line.partition(b":")
        if key == b"MemTotal":
            parts = value.split()
            if len(parts) == 2 and parts[1] == b"kB" and parts[0].isdigit():
                return int(parts[0]) * 1024
    return None


def os_name() -> str:
    """Return this machine's OS as the facts name it: linux, darwin or windows."""
    return _OS.get(sys.platform, sys.platform)


def read_client(environ: Mapping[str, str], root: StrPath) -> dict[str, object]:
    """Return the client fields of the facts (the endpoint is read by the endpoint probe)."""
    system = os_name()
    release, node = _uname()
    markers = container_markers(root, environ) if system == "linux" else ()
    wsl = system == "linux" and is_wsl(release, environ, root)
    return {
        "os": system,
        "release": release,
        "wsl": wsl,
        "wsl_networking": wsl_networking() if wsl and not markers else None,
        "wslconfig": wslconfig(root, environ) if wsl and not markers else None,
        "in_container": bool(markers),
        "container_markers": list(markers),
        "hostname": node,
        "container_id": container_id(markers),
        "mem_total": mem_total(root) if system == "linux" else None,
    }
