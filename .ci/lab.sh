#!/usr/bin/env bash
# The modern-engines lab (issue 23): today's Debian engines, each lab a container that plays a
# host with its own engines, from Debian's packages and no registry.
#   bash .ci/lab.sh build   root file systems of trixie and forky (debootstrap, in parallel),
#                           each with a venv of hostreach's dependencies from PyPI's wheels;
#                           needs no engine, so it runs beside the engines' start
#   bash .ci/lab.sh start   imports what build made into this machine's rootful engine as
#                           hostreach-lab:SUITE; one container per suite (hr-lab-SUITE), its
#                           engines started by this checkout's .ci/lab-start.sh:
#                           Docker rootful; rootless with slirp4netns, with pasta, with host
#                           loopback; Podman rootful and rootless (pasta); waits until all answer
#   bash .ci/lab.sh stop    removes the lab containers and their volumes
# Measured here: both suites build in about 2.5 minutes side by side on a fresh machine
# (debootstrap is most of it); importing and starting both labs takes about 30 s.
# HOSTREACH_LAB_SUITES narrows the suites (default "trixie forky").
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=${HOSTREACH_LAB_SUITES:-trixie forky}
WORK=${HOSTREACH_LAB_WORK:-/var/tmp/hostreach-lab}
LOGS=${HOSTREACH_LOGS:-/tmp/hostreach-ci}
MIRROR=http://deb.debian.org/debian
mkdir -p "$WORK" "$LOGS"
log() { echo "[lab] $*" >&2; }

# trixie: docker.io 26.1, podman 5.4, rootlesskit 2.0; forky: docker.io 28.5, podman 5.8,
# docker-compose 2.40, docker-buildx. Their docker.io has no docker command: docker-cli.
# netavark needs nftables.
PACKAGES=docker.io,docker-cli,podman,rootlesskit,passt,slirp4netns,uidmap,nftables,iptables
PACKAGES=$PACKAGES,runc,busybox-static,python3,python3-venv,docker-compose,docker-buildx
PACKAGES=$PACKAGES,fuse-overlayfs,iproute2,procps,ca-certificates

# Lab users, one rootless dockerd each (RootlessKit allows one per user); hr also runs rootless
# Podman.
USERS="hr:1000 hrpasta:1001 hrloop:1002"

python_of() { case $1 in trixie) echo 3.13 ;; *) echo 3.14 ;; esac; }

build_suite() {
  local suite=$1 root="$WORK/$1" script=()
  if [ -e "$root/.lab-built" ]; then log "$suite: already built in $root"; return; fi
  # bookworm's debootstrap has no forky script; sid's fits.
  [ "$suite" = trixie ] || script=(/usr/share/debootstrap/scripts/sid)
  if ! [ -e "$root/.debootstrap-done" ]; then  # (one left by an interrupted build is reused)
    rm -rf "$root"
    debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$MIRROR" \
      "${script[@]}" >"$LOGS/lab-$suite-debootstrap.log" 2>&1 ||
      { tail -n 20 "$LOGS/lab-$suite-debootstrap.log" >&2; return 1; }
    touch "$root/.debootstrap-done"
  fi
  configure "$suite" "$root"
  # The lab containers need no network: the dependencies come as wheels for the suite's Python.
  local wheels="$root/opt/wheelhouse"
  mkdir -p "$wheels"
  python3 -m pip download -q --only-binary=:all: --python-version "$(python_of "$suite")" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 -d "$wheels" \
    'docker>=7.2,<8' 'psutil>=6.0' 'netifaces-plus>=0.12.5,<0.13' 'PyYAML>=6.0' 2>&1 |
    grep -v '^WARNING: Location' >&2 || true
  chroot "$root" python3 -m venv /opt/hr
  env -u PIP_FIND_LINKS chroot "$root" /opt/hr/bin/pip install -q --no-index --find-links /opt/wheelhouse \
    docker psutil netifaces-plus PyYAML
  touch "$root/.lab-built"
  log "$suite: root file system in $root"
}

import_suite() {  # the built root file system, as an image of this machine's rootful engine
  local suite=$1 root="$WORK/$1"
  [ -e "$root/.lab-built" ] || { echo "no $suite lab built: $0 build first" >&2; return 1; }
  docker image rm -f "hostreach-lab:$suite" >/dev/null 2>&1 || true
  tar -C "$root" --exclude=./.lab-built --exclude=./.debootstrap-done -c . |
    docker import - "hostreach-lab:$suite" >/dev/null
  rm -rf "$root"
  log "$suite: image hostreach-lab:$suite"
}

configure() {
  local suite=$1 root=$2 user uid
  for entry in $USERS; do
    chroot "$root" useradd -m -u "${entry##*:}" -s /bin/sh "${entry%%:*}"
  done
  # Written after useradd, which adds ranges of its own where login.defs says so.
  for entry in $USERS; do
    user=${entry%%:*}
    uid=${entry##*:}
    echo "$user:$((100000 + (uid - 1000) * 65536)):65536"
  done | tee "$root/etc/subgid" >"$root/etc/subuid"
  # crun refuses these machines' hybrid cgroups; no systemd, no journald.
  mkdir -p "$root/etc/containers"
  cat >"$root/etc/containers/containers.conf" <<'EOF'
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  # A copy of dockerd-rootless.sh that keeps the host's loopback (hrloop's engine), whichever
  # way the suite's script spells the option.
  sed 's/--disable-host-loopback//' "$root/usr/share/docker.io/contrib/dockerd-rootless.sh" \
    >"$root/usr/local/bin/dockerd-rootless-host-loopback.sh"
  chmod +x "$root/usr/local/bin/dockerd-rootless-host-loopback.sh"
  # The test image every engine in the lab gets: one static busybox and its applets.
  local bb="$root/opt/busybox-rootfs"
  mkdir -p "$bb/bin"
  cp "$root/bin/busybox" "$bb/bin/busybox"
  for applet in sh nc cat echo sleep timeout wget ip grep nslookup; do
    ln -sf busybox "$bb/bin/$applet"
  done
  tar -C "$bb" -cf "$root/opt/busybox.tar" .
  rm -rf "$bb"
  echo "$suite" >"$root/etc/hostreach-lab"
}

build() {
  command -v debootstrap >/dev/null || { apt-get install -y -q debootstrap >&2; }
  local pids=() suite failed=0
  for suite in $SUITES; do
    build_suite "$suite" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

# --privileged fails on these machines ("unable to apply caps": the bounding set lacks
# CAP_SYS_RESOURCE); this is what it would give, less that one capability.
RUN_FLAGS=(--init --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined --security-opt systempaths=unconfined
  --device-cgroup-rule 'a *:* rwm' --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw)

# The labs' own network: a lab host's address must not fall in a rootless engine's default
# bridge (172.17.0.0/16), as the default network's would (RootlessKit's namespace sees none of the
# host's interfaces; tests/fixtures/live/debian13-docker-26.1-rootless-bridge-clash.json). Its
# gateway, 10.251.0.1, is the machine outside the labs: a decoy there catches a route that leaks.
LAB_NETWORK=hr-lab
LAB_SUBNET=10.251.0.0/24

start() {
  local suite
  docker network inspect "$LAB_NETWORK" >/dev/null 2>&1 ||
    docker network create --subnet "$LAB_SUBNET" "$LAB_NETWORK" >/dev/null
  local hosts=()
  for suite in $SUITES; do
    if [ -e "$WORK/$suite/.lab-built" ]; then import_suite "$suite"; fi
    run_host "$suite" "$suite"
    hosts+=("$suite")
    if [ "$suite" = forky ]; then
      # Engine 28 with IPv6 on its default bridge, where host-gateway names an IPv6 address
      # too (moby/moby#48807): a host of its own, its rootful Docker alone.
      run_host forky-ipv6 forky -e HR_LAB_ENGINES=rootful -e HR_LAB_IPV6=fd00:28::/64
      hosts+=(forky-ipv6)
    fi
  done
  for name in "${hosts[@]}"; do
    for _ in $(seq 1 1200); do  # lab-start.sh gives up first
      docker exec "hr-lab-$name" test -e /run/hr-lab/ready 2>/dev/null && break
      docker exec "hr-lab-$name" test -e /run/hr-lab/failed 2>/dev/null && break
      sleep 0.5
    done
    if ! docker exec "hr-lab-$name" test -e /run/hr-lab/ready 2>/dev/null; then
      docker exec "hr-lab-$name" sh -c 'cat /run/hr-lab/failed; tail -n 20 /var/log/hr-lab/*' >&2 ||
        docker logs "hr-lab-$name" >&2
      return 1
    fi
    log "$name: $(docker exec "hr-lab-$name" cat /run/hr-lab/ready | tr '\n' ' ')"
  done
}

run_host() {  # NAME SUITE [docker run options...]: one lab host, hr-lab-NAME
  local name=$1 suite=$2
  shift 2
  docker rm -f "hr-lab-$name" >/dev/null 2>&1 || true
  docker run -d --name "hr-lab-$name" --hostname "hr-lab-$name" "${RUN_FLAGS[@]}" "$@" \
    --network "$LAB_NETWORK" --label hostreach-lab=1 \
    -v "hr-lab-$name-docker:/var/lib/docker" -v "hr-lab-$name-containers:/var/lib/containers" \
    -v "hr-lab-$name-home:/home" -v "$PWD/.ci/lab-start.sh:/usr/local/sbin/hr-lab-start:ro" \
    "hostreach-lab:$suite" sh /usr/local/sbin/hr-lab-start >/dev/null
}

stop() {
  local name
  for name in $SUITES forky-ipv6; do
    docker rm -f "hr-lab-$name" >/dev/null 2>&1 || true
    docker volume rm "hr-lab-$name-docker" "hr-lab-$name-containers" "hr-lab-$name-home" \
      >/dev/null 2>&1 || true
  done
  docker network rm "$LAB_NETWORK" >/dev/null 2>&1 || true
}

case ${1:-} in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 build|start|stop" >&2; exit 2 ;;
esac
