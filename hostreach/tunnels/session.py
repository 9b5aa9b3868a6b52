"""session: one running tunnel. Containers reach a service on this machine's loopback, opened from here only.

How it works (docs/tunnel.rst says why this way):

- a small container (the *sidecar*, any image with busybox's ``sh``, ``nc``, ``mkfifo``) runs on
  the engine, on a container network; busybox ``nc -ll -p PORT -e HANDLER`` listens inside it,
  so only containers (and the engine's own machine) can connect, never its LAN;
- hostreach stays attached to the sidecar (``docker attach``): each connection a container
  makes there is announced on that stream, and hostreach answers it with two ``docker exec``
  streams into the sidecar, one per direction (started ahead, :mod:`hostreach.tunnels.pool`),
  joined to a fresh connection to the service here. Every connection is opened by hostreach, toward the engine's API: nothing on the
  engine's machine ever connects back;
- the sidecar's stdin is hostreach's attachment (``StdinOnce``): when hostreach ends, however
  it ends (``kill -9`` too), the engine closes that stdin, the sidecar exits and is removed.

The sidecar's shell keeps each direction apart (one fifo each way), so a client's half-close
reaches the service as one (``shutdown(SHUT_WR)``), and the reply still comes back. When the
service closes its side, the client's connection is closed whole: busybox has no way to
half-close a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from hostreach.checks import check_address, host_port
from hostreach.engine.aio import CONTROL_PREFIX, STDOUT, EngineStreams, Stream, check_id
from hostreach.engine.http import NotFound
from hostreach.errors import EngineError, TunnelError
from hostreach.facts import Tunnel
from hostreach.processes import alive
from hostreach.pump import CHUNK, Activity, Idle, RateLimitedLog, within
from hostreach.tunnels import state as states
from hostreach.tunnels.plan import Plan
from hostreach.tunnels.pool import DOWN, UP, ExecPool
from hostreach.tunnels.sidecar import LABEL, PULL_SECONDS, container_spec, json_query, owner

_MAX_LINE = 4096


def proc_net_peer(text: str, *, big_endian: bool = False) -> str | None:
    """The peer address of a ``/proc/net/tcp{,6}`` remote-address field (``0100007F:9606``:
    the address as 32-bit words printed in the machine's byte order), or None."""
    address, _, port = text.partition(":")
    if len(port) != 4 or len(address) not in (8, 32):
        return None
    try:
        raw = bytes.fromhex(address)
    except ValueError:
        return None
    words = raw if big_endian else b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    found = ipaddress.ip_address(words)
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return str(found.ipv4_mapped)
    return str(found)


def _from(peer: str | None) -> str:
    return f" from {peer}" if peer else ""


class TunnelSession:
    """One running tunnel: :meth:`open`, then :meth:`serve` until stopped, then :meth:`close`."""

    def __init__(self, plan: Plan, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.log = RateLimitedLog(log)
        self.say = log
        self.engine = EngineStreams(plan.endpoint, timeout=plan.timeout)
        self.container: str | None = None
        self.control: Stream | None = None
        self.record: Tunnel | None = None
        self.state_path: str | None = None
        self.active: set[asyncio.Task[None]] = set()
        self.peers: dict[str | None, int] = {}
        """Open connections by peer address (None: not known)."""
        self.sent: dict[str, asyncio.Future[int]] = {}
        """What each open connection's client sent in all, once its handler has counted it
        (the sidecar's ``upeof`` line), by the handler's pid."""
        self.owner = owner()
        self._pending = b""
        self.ups = ExecPool(lambda: self._exec(UP, stdin=True))
        self.downs = ExecPool(lambda: self._exec(DOWN, stdin=True))

    # --- start ------------------------------------------------------------------------------

    async def open(self) -> Tunnel:
        """Start the sidecar and return the tunnel's record once its ports listen."""
        plan = self.plan
        self._refuse_duplicate()
        states.remove_control_leftovers(CONTROL_PREFIX)
        await self.engine.start()
        await self.remove_leftovers()
        self.container = await self._create()
        self.control = await self.engine.stream(
            "POST", f"/containers/{self.container}/attach?stream=1&stdin=1&stdout=1&stderr=1"
        )
        try:
            # Starting a container is not an API answer: it gets the start allowance too
            # (issue 24: a VM under emulation took over 2 s).
            await self.engine.call(
                "POST",
                f"/containers/{self.container}/start",
                timeout=plan.timeout + plan.start_seconds,
            )
        except EngineError as exc:
            raise TunnelError(self._start_failure(str(exc))) from exc
        try:
            async with asyncio.timeout(plan.timeout + plan.start_seconds):
                await self._ready()
        except TimeoutError as exc:
            raise TunnelError(
                f"the tunnel's container did not get ready within {plan.timeout + plan.start_seconds:g} s"
            ) from exc
        address = await self._address()
        self.ups.fill()
        self.downs.fill()
        self.record = Tunnel(
            container=self.container,
            address=address,
            network=plan.network,
            ports=tuple(plan.ports),
            pid=os.getpid(),
            network_mode=plan.network_mode,
            endpoint=plan.endpoint.url,
        )
        try:
            self.state_path = states.write_state(self.record)
        except OSError as exc:
            self.say(
                f"warning: the tunnel's state file could not be written ({exc}): `flags` will not know it runs"
            )
        return self.record

    def _refuse_duplicate(self) -> None:
        states.prune()
        for _, other in states.recorded(self.plan.endpoint.url):
            shared = sorted(set(other.ports) & set(self.plan.ports))
            if shared:
                raise TunnelError(
                    f"a tunnel for port {', '.join(map(str, shared))} on this engine already runs"
                    f" (pid {other.pid}): use it, or stop it first"
                )

    async def remove_leftovers(self) -> list[str]:
        """Remove tunnel containers left behind: this caller's whose process is gone, and any
        that has exited (not one just created: another caller's may be starting). Return
        their IDs."""
        query = json_query({"label": [LABEL]})
        found = await self.engine.call("GET", f"/containers/json?all=1&filters={query}")
        removed = []
        for item in found if isinstance(found, list) else ():
            if not isinstance(item, dict):
                continue
            found_labels = item.get("Labels")
            labels: dict[str, Any] = found_labels if isinstance(found_labels, dict) else {}
            pid = str(labels.get(f"{LABEL}.pid", ""))
            ours_and_gone = labels.get(f"{LABEL}.owner") == self.owner and not (
                pid.isdecimal() and alive(int(pid))
            )
            if ours_and_gone or str(item.get("State", "")).lower() in ("exited", "dead"):
                cid = check_id(item.get("Id"), "GET /containers/json")
                with contextlib.suppress(EngineError):
                    await self.engine.call("DELETE", f"/containers/{cid}?force=1")
                    removed.append(cid)
        if removed:
            self.say(f"removed {len(removed)} tunnel container(s) left behind")
        return removed

    async def _create(self) -> str:
        plan = self.plan
        body = container_spec(
            image=plan.image, ports=tuple(plan.ports), network=plan.network, owner=self.owner
        )
        name = f"hostreach-tunnel-{secrets.token_hex(4)}"
        path = f"/containers/create?name={name}"
        try:
            created = await self.engine.call("POST", path, body)
        except EngineError as exc:
            if "sysctl" in str(exc).lower():
                self.say(
                    "warning: the engine refused the sysctl: a burst of connections may be reset"
                )
                del body["HostConfig"]["Sysctls"]
            elif "no such image" in str(exc).lower():
                await self._pull()
            else:
                raise
            created = await self.engine.call("POST", path, body)
        found = created.get("Id") if isinstance(created, dict) else None
        return check_id(found, "POST /containers/create")

    async def _pull(self) -> None:
        image, _, tag = self.plan.image.rpartition(":")
        if not image or "/" in tag:
            image, tag = self.plan.image, "latest"
        self.say(f"pulling {self.plan.image}")
        query = urllib.parse.urlencode({"fromImage": image, "tag": tag})
        progress = await self.engine.call(
            "POST", f"/images/create?{query}", timeout=PULL_SECONDS, lines=True
        )
        for line in progress if isinstance(progress, list) else ():
            if isinstance(line, dict) and line.get("error"):
                raise TunnelError(
                    f"the image {self.plan.image} could not be pulled: {str(line['error'])[:200]}"
                )

    def _start_failure(self, why: str) -> str:
        if "executable file not found" in why or "no such file or directory" in why:
            return f"the image {self.plan.image} cannot run the tunnel: it has no sh ({why})"
        return f"the tunnel's container could not start: {why}"

    async def _lines(self) -> str | None:
        """The next line the sidecar wrote (stdout or stderr), or None at its end."""
        assert self.control is not None  # noqa: S101 - open() attached
        while b"\n" not in self._pending:
            frame = await self.control.frame()
            if frame is None:
                return None
            self._pending += frame[1]
            if len(self._pending) > _MAX_LINE and b"\n" not in self._pending:
                self._pending = b""  # not the sidecar's: drop it
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    async def _ready(self) -> None:
        said: list[str] = []
        while True:
            line = await self._lines()
            if line is None:
                shown = "; ".join(said[-3:]) or "nothing"
                raise TunnelError(
                    f"the tunnel's container ended before it was ready (it said: {shown})"
                )
            if line == "hostreach-tunnel ready":
                return
            if line.startswith("hostreach-tunnel missing "):
                tool = line.rpartition(" ")[2]
                raise TunnelError(
                    f"the image {self.plan.image} cannot run the tunnel: it has no {tool}"
                    " (it needs sh, tcpsvd or nc with -ll -e, mkfifo, cat, tee, wc, grep,"
                    " readlink and timeout: busybox has them)"
                )
            if line.startswith("hostreach-tunnel error "):
                raise TunnelError(
                    f"the tunnel's container: {line.removeprefix('hostreach-tunnel error ')}"
                )
            said.append(line[:200])

    async def _address(self) -> str:
        assert self.container is not None  # noqa: S101
        details = await self.engine.call("GET", f"/containers/{self.container}/json")
        settings = details.get("NetworkSettings") if isinstance(details, dict) else None
        networks = settings.get("Networks") if isinstance(settings, dict) else None
        if not isinstance(networks, dict) or not networks:
            raise TunnelError("the engine reports no network for the tunnel's container")
        entry = networks.get(self.plan.network)
        if not isinstance(entry, dict):
            entry = next(iter(networks.values())) if len(networks) == 1 else None
        try:
            return check_address(entry.get("IPAddress") if isinstance(entry, dict) else None)
        except ValueError as exc:
            raise TunnelError(
                f"the tunnel's container has no address on network {self.plan.network}"
            ) from exc

    # --- serve ------------------------------------------------------------------------------

    async def serve(self, stopped: asyncio.Event) -> None:
        """Carry connections until ``stopped`` is set; TunnelError if the sidecar ends first."""
        control = asyncio.create_task(self._announcements())
        waiting = asyncio.create_task(stopped.wait())
        done, _ = await asyncio.wait({control, waiting}, return_when=asyncio.FIRST_COMPLETED)
        for task in (control, waiting):
            task.cancel()
        if control in done and not stopped.is_set():
            broken = control.exception()  # the stream broke, rather than ended
            raise TunnelError(
                "the tunnel's container ended (the engine stopped, or someone removed it):"
                " containers no longer reach this machine through it"
                + (f" ({broken})" if broken else "")
            ) from broken

    async def _announcements(self) -> None:
        while True:
            line = await self._lines()
            if line is None:
                return
            fields = line.split()
            if len(fields) == 4 and fields[:2] == ["hostreach-tunnel", "upeof"]:
                self._client_ended(fields[2], fields[3])
                continue
            if len(fields) not in (4, 5) or fields[:2] != ["hostreach-tunnel", "open"]:
                if line:  # the sidecar's own complaint (a shell error): worth a (rate-limited) line
                    self.log("sidecar", f"the tunnel's container said: {line[:200]}")
                continue
            port, pid = fields[2], fields[3]
            if not (port.isdecimal() and pid.isdecimal() and int(port) in self.plan.ports):
                continue
            peer = None
            if len(fields) == 5:
                peer = proc_net_peer(fields[4], big_endian=self.plan.big_endian)
            refusal = self._over_cap(int(port), peer)
            if refusal:
                # Refused before anything is opened: no service connection, no engine call.
                self.log(refusal, f"connection to port {port}{_from(peer)} refused: {refusal}")
                self._close(pid)
                continue
            sent = self.sent[pid] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._connection(int(port), pid, peer, sent))
            self.active.add(task)
            self.peers[peer] = self.peers.get(peer, 0) + 1
            task.add_done_callback(functools.partial(self._ended, peer, pid))

    def _client_ended(self, pid: str, count: str) -> None:
        """Connection ``pid``'s client sent ``count`` bytes in all (the sidecar's count)."""
        sent = self.sent.get(pid)
        # ASCII digits only: int() takes other scripts' digits too.
        digits = count.isascii() and count.isdigit() and len(count) <= 18
        if sent is not None and not sent.done() and digits:
            sent.set_result(int(count))

    def _over_cap(self, port: int, peer: str | None) -> str:
        """Why a new connection from ``peer`` is refused (a cap it would pass), or ``""``."""
        limits = self.plan.limits
        if len(self.active) >= limits.connections:
            return f"{limits.connections} already open (the cap)"
        if peer is not None and self.peers.get(peer, 0) >= limits.per_peer:
            return f"{limits.per_peer} already open from that address (the cap per peer)"
        return ""

    def _ended(self, peer: str | None, pid: str, task: asyncio.Task[None]) -> None:
        self.active.discard(task)
        self.sent.pop(pid, None)
        left = self.peers.get(peer, 0) - 1
        if left > 0:
            self.peers[peer] = left
        else:
            self.peers.pop(peer, None)

    def _close(self, pid: str) -> None:
        """End connection ``pid``'s handler in the sidecar, which closes the client's socket:
        a command on the sidecar's stdin (the attachment), so no engine call waits for it."""
        assert self.control is not None  # noqa: S101 - open() attached
        with contextlib.suppress(OSError, RuntimeError):
            self.control.writer.write(f"close {pid}\n".encode("ascii"))

    async def _exec(self, argv: list[str], *, stdin: bool) -> Stream:
        assert self.container is not None  # noqa: S101 - open() created it
        # A burst of connections starts many execs at once, which a busy engine (Podman: 40 in
        # 6 s here) serves slower than one call: allow what a container's start gets.
        seconds = self.plan.timeout + self.plan.start_seconds
        return await self.engine.exec(self.container, argv, stdin=stdin, seconds=seconds)

    async def _streams(self, port: int, pid: str) -> tuple[Stream, Stream] | None:
        """The two exec streams of connection ``pid``, up and down (from the pools); None where
        they could not start (said, and the client's connection closed)."""
        results = await asyncio.gather(
            self.ups.take(pid), self.downs.take(pid), return_exceptions=True
        )
        streams = [r for r in results if isinstance(r, Stream)]
        failed = [r for r in results if not isinstance(r, Stream)]
        if not failed:
            return streams[0], streams[1]
        for stream in streams:
            stream.close()
        if not isinstance(failed[0], EngineError | OSError):
            raise failed[0]
        self.log("broken", f"a connection to port {port} could not start: {failed[0]}")
        self._close(pid)
        return None

    async def _connection(
        self, port: int, pid: str, peer: str | None, sent: asyncio.Future[int]
    ) -> None:
        target = self.plan.ports[port]
        limits = self.plan.limits
        try:
            async with asyncio.timeout(self.plan.timeout):
                reader, writer = await asyncio.open_connection(*target)
        except (OSError, TimeoutError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            self.log(
                f"refused {port}",
                f"connection to port {port}: {host_port(*target)} did not accept it ({why}); the tunnel stays up",
            )
            self._close(pid)
            return
        streams = await self._streams(port, pid)
        if streams is None:
            writer.close()
            return
        up, down = streams
        carried = [0, 0]  # bytes up (client -> service), down
        try:
            activity = Activity()

            async def both_ways() -> None:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._upward(up, writer, activity, carried, sent))
                    group.create_task(self._downward(reader, down, activity, carried))

            # One watch over both directions, not one around every frame and drain: each cost
            # a task and a timer (as in the relay: benchmarks/relay.py).
            await within(both_ways(), activity, limits.idle_seconds, limits.first_byte_seconds)
        except* Idle:
            if activity.moved:
                self.log(
                    "idle",
                    f"a connection to port {port} was closed after {limits.idle_seconds:g} s idle",
                )
            else:
                self.log(
                    "silent",
                    f"a connection to port {port}{_from(peer)} was closed: it carried nothing"
                    f" either way in {limits.first_byte_seconds:g} s",
                )
        except* (EngineError, OSError) as group_error:
            self.log("broken", f"a connection to port {port} broke: {group_error.exceptions[0]}")
        finally:
            if self.plan.verbose:
                local = writer.get_extra_info("sockname")
                self.say(
                    f"connection {pid} on port {port} (via {local[0]}:{local[1]}) carried"
                    f" {carried[0]} bytes up, {carried[1]} down"
                )
            writer.close()
            up.close()
            down.close()

    async def _upward(
        self,
        up: Stream,
        writer: asyncio.StreamWriter,
        activity: Activity,
        carried: list[int],
        sent: asyncio.Future[int],
    ) -> None:
        """Client -> service: the up exec's stdout, then the client's half-close as ours: once
        all the client sent is carried (the sidecar's count), or at the exec's end."""

        def all_carried() -> bool:
            return sent.done() and not sent.cancelled() and carried[0] >= sent.result()

        def counted(_: asyncio.Future[int]) -> None:
            # The count may come while a read waits for a frame that comes only with the exec's
            # end: closing the stream ends that read (EOF), as nothing more is due on it.
            if all_carried():
                up.close()

        sent.add_done_callback(counted)
        while not all_carried():
            frame = await up.frame()
            if frame is None:
                break
            if frame[0] != STDOUT or not frame[1]:
                continue
            activity.touch()
            carried[0] += len(frame[1])
            writer.write(frame[1])
            await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()

    async def _downward(
        self, reader: asyncio.StreamReader, down: Stream, activity: Activity, carried: list[int]
    ) -> None:
        """Service -> client: into the down exec's stdin; the service's end ends it."""
        while True:
            chunk = await reader.read(CHUNK)
            if not chunk:
                break
            activity.touch()
            carried[1] += len(chunk)
            down.writer.write(chunk)
            await down.writer.drain()
        down.end_input()

    # --- stop -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop carrying connections and remove what the tunnel started on the engine."""
        self.ups.close()
        self.downs.close()
        for task in list(self.active):
            task.cancel()
        if self.active:
            await asyncio.wait(self.active, timeout=self.plan.timeout)
        if self.state_path is not None:
            states.remove_state(self.state_path)
        if self.control is not None:
            self.control.close()
        if self.container is not None:
            await self._remove(self.container)
        await self.engine.close()

    async def _remove(self, container: str) -> None:
        """Remove the sidecar, and wait (within the timeout) until the engine no longer has it:
        its own AutoRemove may be under way, which a DELETE then only races (Podman: 'removal
        in progress'), and a tunnel that has ended must have left nothing."""
        with contextlib.suppress(EngineError):
            await self.engine.call("DELETE", f"/containers/{container}?force=1")
        deadline = time.monotonic() + self.plan.timeout
        while time.monotonic() < deadline:
            try:
                await self.engine.call("GET", f"/containers/{container}/json")
            except NotFound:
                return
            except EngineError:
                break  # the engine is gone: nothing to wait for
            await asyncio.sleep(0.05)
        with contextlib.suppress(EngineError):  # still there: once more, now that it stopped
            await self.engine.call("DELETE", f"/containers/{container}?force=1")
