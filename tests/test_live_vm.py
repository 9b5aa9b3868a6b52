"""The VM lab (.ci/vm.sh, issue 24): Docker Engine in a QEMU guest laid out like Lima, named
something hostreach does not know, reached through its socket forwarded over ssh -L and over
ssh://. A decoy in the guest answers the caller's port: a route into the VM fails the test.

Run alone with ``pytest -m vm``; each container costs 5-10 s under emulation, so they are few.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import (
    IMAGE,
    VM2_HOST,
    VM_HOST,
    Engine,
    HostServer,
    cli,
    decoy_in_the_vm,
    in_container,
    reach,
)

pytestmark = [pytest.mark.engine, pytest.mark.vm]


def first_line(engine: Engine, flags: list[str], port: int) -> subprocess.CompletedProcess[str]:
    """What host.docker.internal:PORT answers first. Debian 12's passt (2023-03) loses the end
    of a connection the container half-closed now and then, so nc is not waited for to end."""
    script = f"timeout 10 nc -w 3 host.docker.internal {port} </dev/null | head -n 1"
    return in_container(engine, flags, script, timeout=60)


def test_through_the_forwarded_socket_the_vms_host_gateway_is_never_the_answer(
    vm: Engine, loopback_server: HostServer
) -> None:
    port = loopback_server.port
    with decoy_in_the_vm(port) as decoy:
        done = cli("flags", "--no-cache", env=vm.env())
        assert done.returncode == 1, done.stdout
        assert "does not run on this machine's kernel" in done.stderr
        assert "--strategy discover" in done.stderr
        assert done.stdout == ""
        # The control: host-gateway, asked for by hand, lands on the decoy in the VM.
        forced = cli("flags", "--strategy", "host-gateway", env=vm.env(), check=True)
        assert "lead into its VM" in forced.stderr
        assert decoy in reach(vm, forced.stdout.split(), "host.docker.internal", port).stdout
        # Lima's rule, where the runtime is named: 192.168.5.2 is this machine's loopback.
        lima = cli("flags", "--runtime", "lima", env=vm.env(), check=True).stdout.split()
        assert lima == [f"--add-host=host.docker.internal:{VM_HOST}"]
        got = reach(vm, lima, "host.docker.internal", port)
        assert loopback_server.token in got.stdout, got.stderr
        assert decoy not in got.stdout


def test_over_ssh_the_route_is_the_callers_address_as_the_vm_sees_it(
    vm_ssh: Engine, loopback_server: HostServer
) -> None:
    port = loopback_server.port
    with decoy_in_the_vm(port) as decoy:
        done = cli("flags", "--timeout", "10", "--no-cache", env=vm_ssh.env(), check=True)
        flags = done.stdout.split()
        assert flags == [f"--add-host=host.docker.internal:{VM_HOST}"]
        got = reach(vm_ssh, flags, "host.docker.internal", port)
        assert loopback_server.token in got.stdout, got.stderr
        assert decoy not in got.stdout


def test_the_doctor_says_there_is_no_route_it_can_vouch_for(vm: Engine) -> None:
    done = cli("doctor", "--format", "json", "--no-cache", env=vm.env())
    assert done.returncode == 1
    found = {f["id"]: f for f in json.loads(done.stdout)["findings"]}
    assert found["no-route"]["severity"] == "error"
    assert "its memory is" in found["no-route"]["message"]


def test_check_names_what_led_into_the_vm(vm: Engine, loopback_server: HostServer) -> None:
    port = str(loopback_server.port)
    argv = ["check", "--port", port, "--strategy", "host-gateway", "--image", IMAGE]
    done = cli(*argv, "--format", "json", "--timeout", "10", env=vm.env())
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["probes"][0]["outcome"] == "elsewhere"
    (wrong,) = [f for f in data["findings"] if f["id"] == "wrong-machine"]
    assert "Docker Engine maps host-gateway to this machine." in wrong["fix"]
    assert "--strategy discover" in wrong["fix"]


@pytest.mark.parametrize("over", ["vm", "vm_ssh"], ids=["socket", "ssh"])
def test_discover_finds_the_route_into_this_machine_not_the_vm(
    over: str, loopback_server: HostServer, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(over)
    port = loopback_server.port
    with decoy_in_the_vm(port) as decoy:
        argv = ["flags", "--strategy", "discover", "--image", IMAGE, "--format", "json"]
        done = cli(*argv, "--timeout", "10", "--no-cache", env=engine.env(), check=True)
        route = json.loads(done.stdout)
        assert route["flags"] == [f"--add-host=host.docker.internal:{VM_HOST}"]
        assert "answered at fixed (192.168.5.2)" in route["reason"]
        got = reach(engine, route["flags"], "host.docker.internal", port)
        assert loopback_server.token in got.stdout, got.stderr  # 127.0.0.1 only, and reached
        assert decoy not in got.stdout


def test_check_over_ssh_needs_no_paramiko_and_knows_the_nat(
    vm_ssh: Engine, loopback_server: HostServer
) -> None:
    # Issue 24: "Install paramiko package to enable ssh:// support"; then a loopback-only
    # error for a service that 192.168.5.2 reaches. paramiko is not installed in the tests.
    port = str(loopback_server.port)
    argv = ["check", "--port", port, "--image", IMAGE, "--format", "json", "--timeout", "10"]
    done = cli(*argv, env=vm_ssh.env())
    data = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert data["probes"][0]["outcome"] == "connected"
    assert data["probes"][0]["proven"] is True
    ids = {f["id"] for f in data["findings"]}
    assert "loopback-only" not in ids
    assert "nat-caller" in ids


def test_the_tunnel_through_the_forwarded_socket_reaches_the_callers_loopback(
    vm: Engine, loopback_server: HostServer
) -> None:
    from test_live_tunnel import tunnel_running  # noqa: PLC0415 - its helper, not its tests

    port = loopback_server.port
    with decoy_in_the_vm(port) as decoy, tunnel_running(vm, "--port", str(port)) as tunnel:
        flags = cli("flags", "--port", str(port), env=vm.env(), check=True).stdout.split()
        assert flags == tunnel.flags
        got = reach(vm, flags, "host.docker.internal", port)
        assert loopback_server.token in got.stdout, (got.stderr, tunnel.log)
        assert decoy not in got.stdout
    assert tunnel.proc.returncode == 0, tunnel.log


def test_on_a_subnet_no_rule_knows_discover_finds_the_vms_own_gateway(
    vm2: Engine, loopback_server: HostServer
) -> None:
    # The second mode: passt on 10.77.0.0/24. No fixed address leads here; the VM's own
    # default gateway does (passt maps it to this machine's loopback).
    port = loopback_server.port
    with decoy_in_the_vm(port, "hr-vm2-ssh") as decoy:
        assert cli("flags", "--no-cache", env=vm2.env()).returncode == 1  # no guess
        argv = ["flags", "--strategy", "discover", "--image", IMAGE, "--format", "json"]
        done = cli(*argv, "--timeout", "10", "--no-cache", env=vm2.env(), check=True)
        route = json.loads(done.stdout)
        assert route["flags"] == [f"--add-host=host.docker.internal:{VM2_HOST}"]
        assert "answered at vm-gateway (10.77.0.1)" in route["reason"]
        got = first_line(vm2, route["flags"], port)
        assert loopback_server.token in got.stdout, got.stderr
        assert decoy not in got.stdout


def test_over_ssh_to_the_passt_vm_the_callers_address_is_its_gateway(
    vm2_ssh: Engine, loopback_server: HostServer
) -> None:
    port = loopback_server.port
    with decoy_in_the_vm(port, "hr-vm2-ssh") as decoy:
        done = cli("flags", "--format", "json", "--no-cache", env=vm2_ssh.env(), check=True)
        route = json.loads(done.stdout)
        assert route["flags"] == [f"--add-host=host.docker.internal:{VM2_HOST}"]
        assert "nat-caller" in [n["id"] for n in route["notes"]]
        got = first_line(vm2_ssh, route["flags"], port)
        assert loopback_server.token in got.stdout, got.stderr
        assert decoy not in got.stdout
