"""An engine on ``ssh://[USER@]HOST[:PORT]``: the ``ssh`` binary, as the docker CLI uses it.

``ssh HOST -- docker system dial-stdio`` carries one connection to the engine's socket over the
user's own ssh (config, keys, agent, known_hosts), never prompting (BatchMode). One of the
connections first says where the engine's machine sees this one: ``SSH_CONNECTION``'s first
field, the caller's address for that engine's containers.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess

from hostreach.engine.address import Address
from hostreach.errors import EngineError

ANNOUNCE = b"hostreach-caller "
SETUP_ALLOWANCE = 10.0
"""Seconds ssh's own connection (TCP, key exchange, authentication) may take beyond
``--timeout``, which bounds the engine's answer: ssh alone took 1.6 s to a VM under emulation,
and 2 s is tight for any ssh (issue 24)."""
_DIAL = "docker system dial-stdio"


def argv(address: Address, timeout: float, options: tuple[str, ...] = ()) -> list[str]:
    """The ssh command line up to the host (which comes last, after ``--``)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise EngineError(f"{address.url} needs the ssh command, which is not installed")
    connect = math.ceil(timeout + SETUP_ALLOWANCE)
    found = [ssh, "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect}"]
    if address.user:
        found += ["-l", address.user]
    if address.port:
        found += ["-p", str(address.port)]
    # "--" first: a host that begins with "-" is a host, never an option (CVE-2017-1000117's kind)
    return [*found, *options, "--", address.host or ""]


def connect(
    address: Address, timeout: float, *, announce: bool, options: tuple[str, ...] = ()
) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Return one end of a socket pair whose other end is an ssh session to the engine.

    ``options`` go before the host (the tunnel's ``-S CONTROL-PATH``).
    """
    command = (
        f'echo "hostreach-caller ${{SSH_CONNECTION%% *}}"; exec {_DIAL}' if announce else _DIAL
    )
    command_line = [*argv(address, timeout, options), command]
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            command_line,
            stdin=theirs.fileno(),
            stdout=theirs.fileno(),
            stderr=subprocess.PIPE,
            start_new_session=True,  # no terminal: ssh cannot ask for a password or a host key
        )
    except OSError as exc:
        ours.close()
        raise EngineError(f"ssh could not be started: {exc}") from exc
    finally:
        theirs.close()
    return ours, process


def why(process: subprocess.Popen[bytes]) -> str:
    """What ssh said on its way out (its last line), once it has ended or been ended."""
    if process.poll() is None:
        process.kill()
    try:
        _, err = process.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        return "ssh did not end"
    lines = (err or b"")[-4096:].decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"ssh ended with {process.returncode}"
