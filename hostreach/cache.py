"""cache: hostreach's one store of answers on disk. Imports only os and sys (and hostreach.version).

:mod:`hostreach.entry` (``python -m hostreach``, the ``hostreach`` console script) and
:func:`hostreach.route` replay a stored answer from here when one is valid, before anything else
of hostreach is imported; :mod:`hostreach.answers` decides what may be kept. The probe stores the
engine's own answers here too. An entry is kept as long as what it depends on holds,
with no expiry:

- its key: hostreach's version, the user, the environment that selects the engine
  (``DOCKER_HOST``, ``DOCKER_CONTEXT``, ...), the Docker CLI config file's identity (``docker
  context use`` rewrites it), and the exact arguments;
- its dependencies, checked at every replay: the engine socket's identity (an engine restart
  makes a new socket file); for a route that points at this machine's own address, that the
  default route still leaves through the same interface holding it; for a route to the caller
  through a tcp:// engine on another machine, that this machine still leaves toward it from the
  same address (that route depends on nothing else).

Only answers made from the engine's own reply are stored (never a guess made without it), and
only where a dependency can be checked (not for ssh://, whose host only ssh resolves). Anything unexpected (an
unreadable, damaged or foreign entry) means "not cached", and the full path runs.
"""

import os
import sys

from hostreach import owned
from hostreach.version import __version__

TYPE_CHECKING = False  # typing would cost more than a whole warm answer (so in __init__ too)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_MAGIC = "hostreach-cache 2"
ENGINE_ENV = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "HOSTREACH_HOST_ADDRESS",
)
"""The environment variables that choose the engine (and so belong in every key)."""
_MAX_ENTRY = 1 << 20  # an engine's three answers are about 10 KB; anything larger is not ours
_SEP = "\x1f"


def cache_dir() -> str:
    """Return ``$XDG_CACHE_HOME/hostreach`` (default ``~/.cache/hostreach``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hostreach")


def docker_config_dir(environ: "Mapping[str, str]" = os.environ, home: str = "") -> str:
    """Return the Docker CLI's configuration directory (DOCKER_CONFIG or ~/.docker)."""
    return environ.get("DOCKER_CONFIG") or os.path.join(home or os.path.expanduser("~"), ".docker")


def file_identity(path: str) -> str:
    """Return ``device:inode:mtime`` of a file (a recreated socket differs), or "" if absent."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ""
    return f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"


def code_identity() -> int:
    """The newest modification time of hostreach's own modules: an upgrade, a reinstall or an
    edit of any of them (a checkout, an editable install) makes every stored answer stale."""
    newest = 0
    folders = [os.path.dirname(os.path.abspath(__file__))]
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py"):
                newest = max(newest, entry.stat().st_mtime_ns)
            elif entry.is_dir() and not entry.name.startswith(("_", ".")):
                folders.append(entry.path)
    return newest


def tunnels_dir() -> str:
    """The folder where running tunnels keep their state files (see hostreach.tunnels.state)."""
    return os.path.join(cache_dir(), "tunnels")


def key(
    *parts: str, environ: "Mapping[str, str] | None" = None, home: "str | os.PathLike[str]" = ""
) -> str:
    """Return the cache key of an answer to ``parts``, in the engine selection that ``environ``
    and ``home`` make (this process's by default: the ones the probe was given).

    The tunnels folder's identity is in it: a tunnel that starts or ends changes the answer.
    """
    environ = os.environ if environ is None else environ
    selection = [f"{name}={environ.get(name, '')}" for name in ENGINE_ENV]
    config = file_identity(os.path.join(docker_config_dir(environ, os.fspath(home)), "config.json"))
    tunnels = file_identity(tunnels_dir())
    return repr((__version__, code_identity(), owned.uid(), *selection, config, tunnels, *parts))


def _file_name(cache_key: str) -> str:
    # 64-bit FNV-1a: it only spreads entries over file names; the full key inside is checked.
    value = 0xCBF29CE484222325
    for byte in cache_key.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def socket_dependency(path: str | None) -> str | None:
    """Return the dependency on an engine socket at ``path``, or None (no socket, or it is gone)."""
    if not path:
        return None
    identity = file_identity(path)
    return f"file{_SEP}{path}{_SEP}{identity}" if identity else None


def address_dependency(interface: str, address: str, proc: str = "/proc") -> str | None:
    """Return the dependency on this machine's main address, or None where it cannot be checked
    (``proc``: where the kernel's tables are read, ``/proc`` but in tests)."""
    if not sys.platform.startswith("linux") or not _main_address_holds(interface, address, proc):
        return None
    return f"main{_SEP}{interface}{_SEP}{address}"


def remote_dependency(host: str, port: int, address: str) -> str | None:
    """Return the dependency of a remote engine's route to the caller: this machine still
    leaves toward ``host:port`` from ``address`` (nothing else of the answer depends on that
    engine). None where that cannot be checked now."""
    if _source_address(host, port) != address:
        return None
    return f"peer{_SEP}{host}{_SEP}{port} {address}"


def _source_address(host: str, port: int) -> str | None:
    # The kernel's choice of source address toward host:port (a UDP connect sends nothing).
    # _socket, not socket: imported only for such an entry, and only its C part is needed.
    import _socket  # noqa: PLC0415

    try:
        # The host as ASCII bytes: a str host would load the idna codec, and with it re (4 ms).
        name = host.encode("ascii")
        family, _, _, _, target = _socket.getaddrinfo(name, port, 0, _socket.SOCK_DGRAM)[0]
        probe = _socket.socket(family, _socket.SOCK_DGRAM)
        try:
            probe.connect(target)
            return str(probe.getsockname()[0])
        finally:
            probe.close()
    except (OSError, IndexError, UnicodeError):
        return None


def _read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read(_MAX_ENTRY)


def _main_address_holds(interface: str, address: str, proc: str = "/proc") -> bool:
    """Whether the IPv4 default route leaves through ``interface`` and ``address`` is local.

    Read from /proc without netifaces: the kernel's routing table and its local address trie.
    """
    try:
        routes = _read_text(os.path.join(proc, "net", "route")).splitlines()[1:]
        trie = _read_text(os.path.join(proc, "net", "fib_trie"))
    except OSError:
        return False
    default = [f[0] for f in (line.split() for line in routes) if len(f) > 2 and f[1] == "00000000"]
    if default[:1] != [interface]:
        return False
    lines = trie.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == f"|-- {address}" and "/32 host LOCAL" in lines[i + 1]:
            return True
    return False


def _holds(dependency: str) -> bool:
    kind, _, rest = dependency.partition(_SEP)
    first, _, second = rest.partition(_SEP)
    if kind == "file":
        return file_identity(first) == second
    if kind == "main":
        return _main_address_holds(first, second)
    if kind == "peer":
        port, _, address = second.partition(" ")
        return port.isdecimal() and _source_address(first, int(port)) == address
    return False


def write(cache_key: str, dependencies: "list[str]", payload: str) -> None:
    """Store ``payload`` under the key, valid while every dependency holds; errors are ignored.

    The file is written whole and renamed into place, so a reader never sees half an entry.
    """
    if not dependencies or any("\n" in d for d in dependencies):
        return
    text = "\n".join(
        [_MAGIC, cache_key.replace("\n", "\\n"), str(len(dependencies)), *dependencies]
    )
    store = owned.folder(cache_dir(), create=True)  # None: not this user's own (said once)
    if store is not None:
        with store:
            store.write(
                _file_name(cache_key), f"{text}\n{payload}".encode("utf-8", "surrogateescape")
            )


def read(cache_key: str) -> str | None:
    """Return the payload stored under the key while its dependencies hold, else None."""
    store = owned.folder(cache_dir(), create=False)
    if store is None:
        return None
    with store:
        data = store.read(_file_name(cache_key), _MAX_ENTRY)
    if data is None:
        return None
    text = data.decode("utf-8", "surrogateescape")
    try:
        magic, stored_key, count, rest = text.split("\n", 3)
        n = int(count)
        *dependencies, payload = rest.split("\n", n)
    except ValueError:
        return None
    if magic != _MAGIC or stored_key != cache_key.replace("\n", "\\n") or len(text) > _MAX_ENTRY:
        return None
    if len(dependencies) != n or not n or not all(map(_holds, dependencies)):
        return None
    return payload


def cli_key(argv: "Sequence[str]") -> str | None:
    """Return the key of a stored CLI answer for these arguments, or None (only ``flags``)."""
    return key("cli", *argv) if list(argv[:1]) == ["flags"] else None
