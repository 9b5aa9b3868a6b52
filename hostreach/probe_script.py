"""probe_script: what ``check``'s throwaway container runs, and the reading of what it prints.
Pure: :func:`hostreach.operations.probe_container` runs it. The shell function :data:`LOOKUP` is
shared with ``--strategy discover``'s script (:mod:`hostreach.discovery`).
"""

from __future__ import annotations

import math

from hostreach.errors import EngineError

LOOKUP = r"""
# lookup NAME: its address as a container sees it: /etc/hosts first (where --add-host writes),
# then DNS (where Docker Desktop and podman machine answer their names).
lookup() {
  while read -r ip names; do
    case "$ip" in ''|\#*) continue ;; esac
    for n in $names; do [ "$n" = "$1" ] && { echo "$ip"; return; }; done
  done < /etc/hosts
  command -v nslookup >/dev/null 2>&1 || return
  # A DNS server that does not answer is waited for HR_WAIT, not nslookup's own minutes.
  w=; command -v timeout >/dev/null 2>&1 && w="timeout $((${HR_WAIT:-2} + 1))"
  $w nslookup "$1" 2>/dev/null | while read -r k v; do
    case "$k" in
      Name:) f=1 ;;
      Address*) if [ -n "$f" ]; then v=${v#[0-9]: }; echo "${v%% *}"; break; fi ;;
    esac
  done
}
"""
"""A POSIX sh function (busybox has all it needs) that the container scripts share."""

# The probe script: a POSIX sh and nc (busybox has both). Alias and port reach it as
# environment variables, never spliced into the script.
PROBE_SCRIPT = (
    LOOKUP
    + r"""
command -v nc >/dev/null 2>&1 || { echo "hostreach-probe no-nc"; exit 3; }
a=$(lookup "$HR_NAME")
echo "hostreach-probe resolved=$a"
[ -n "$a" ] || { echo "hostreach-probe outcome=unresolved"; exit 4; }
# nc's -w bounds the connect, not a connection that stays open and silent: bound it all, so a
# probe whose check was killed (kill -9) still ends, and the next check removes it.
t=; command -v timeout >/dev/null 2>&1 && t="timeout $((HR_WAIT + 1))"
# First the proof that the name leads to the caller: its listener there answers a random token.
if [ -n "$HR_TOKEN_PORT" ]; then
  got=$($t nc -w "$HR_WAIT" "$a" "$HR_TOKEN_PORT" </dev/null 2>&1)
  case "$got" in
    *"$HR_TOKEN"*) echo "hostreach-probe caller=proven" ;;
    *) echo "hostreach-probe detail=$got"; echo "hostreach-probe outcome=elsewhere"; exit 5 ;;
  esac
fi
out=$($t nc -w "$HR_WAIT" "$a" "$HR_PORT" </dev/null 2>&1); rc=$?
echo "hostreach-probe detail=$out"
if [ $rc = 0 ]; then echo "hostreach-probe outcome=connected"; exit 0; fi
# Ended by the outer timeout, silent: nc's own -w bounds the connect and would have said so,
# so it was connected to a service that waits for its client to speak first (a database).
if [ -n "$t" ] && [ -z "$out" ] && { [ $rc = 124 ] || [ $rc = 143 ]; }; then
  echo "hostreach-probe outcome=connected"; exit 0
fi
case "$out" in
  *refused*) echo "hostreach-probe outcome=refused" ;;
  *"timed out"*) echo "hostreach-probe outcome=timed-out" ;;
  *) echo "hostreach-probe outcome=failed" ;;
esac
exit 1
"""
)


def environment(
    alias: str, port: int, timeout: float, token: tuple[int, str] | None
) -> dict[str, str]:
    """What the probe script reads: never spliced into it, so no value can be a command."""
    found = {"HR_NAME": alias, "HR_PORT": str(port), "HR_WAIT": str(math.ceil(timeout))}
    if token:
        found |= {"HR_TOKEN_PORT": str(token[0]), "HR_TOKEN": token[1]}
    return found


def parse(logs: str, image: str) -> dict[str, str]:
    """The ``key=value`` lines the probe printed; EngineError where it printed no outcome."""
    found: dict[str, str] = {}
    for line in logs.splitlines():
        if line.startswith("hostreach-probe no-nc"):
            raise EngineError(f"image {image!r} has no `nc`: pass --image with busybox or similar")
        if line.startswith("hostreach-probe "):
            key, _, value = line[len("hostreach-probe ") :].partition("=")
            found[key] = value.strip()
    if "outcome" not in found:
        raise EngineError(f"the probe in image {image!r} printed no result: {logs.strip()[:200]!r}")
    return found
