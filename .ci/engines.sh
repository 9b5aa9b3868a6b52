#!/usr/bin/env bash
# Install and start the real engines the tests use, as root, on a fresh Debian machine:
# a rootful dockerd, a rootless dockerd (rootlesskit + slirp4netns), and Podman's API service
# rootful and rootless.
# No registry is reachable: the test image is one static busybox, imported into each engine.
set -euo pipefail

IMAGE=localhost/hostreach-test:busybox
ROOTLESS_USER=${HOSTREACH_ROOTLESS_USER:-hostreach-ci}
PODMAN_SOCK=/run/podman/podman.sock
LOGS=${HOSTREACH_LOGS:-/tmp/hostreach-ci}
mkdir -p "$LOGS"

log() { printf '[engines] %s\n' "$*" >&2; }

# The tunnel's second test image, busybox with tcpsvd (.ci/busybox.sh), builds while the
# engines start; it is imported into each of them at the end.
TCPSVD_IMAGE=localhost/hostreach-test:busybox-tcpsvd
TCPSVD_ROOTFS="$LOGS/busybox-tcpsvd-rootfs.tar"
busybox_build=
if ! [ -s "$TCPSVD_ROOTFS" ]; then
  bash "$(dirname "$0")/busybox.sh" "$TCPSVD_ROOTFS" 2>"$LOGS/busybox.log" &
  busybox_build=$!
fi
ENGINES=()

wait_for() {  # wait_for SOCKET SECONDS LOGFILE
  local sock=$1 left=$2
  while ((left > 0)); do
    if curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then return 0; fi
    sleep 1; left=$((left - 1))
  done
  log "no answer on $sock; last lines of $3:"; tail -n 30 "$3" >&2 || true
  return 1
}

if ! command -v dockerd >/dev/null || ! command -v podman >/dev/null || ! [ -x /usr/bin/rootlesskit ] \
   || ! command -v slirp4netns >/dev/null || ! command -v newuidmap >/dev/null || ! command -v curl >/dev/null \
   || ! command -v docker-compose >/dev/null || ! dpkg -s busybox-static >/dev/null 2>&1 \
   || ! [ -x /usr/sbin/sshd ]; then
  log "installing docker.io, podman, rootlesskit, slirp4netns, uidmap, busybox-static, docker-compose, openssh"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOGS/apt.log" 2>&1
  apt-get install -y -q docker.io containerd runc tini iptables podman \
    rootlesskit slirp4netns uidmap busybox-static curl docker-compose openssh-server \
    openssh-client >>"$LOGS/apt.log" 2>&1 \
    || { tail -n 30 "$LOGS/apt.log" >&2; exit 1; }
fi

# Compose v2 beside bookworm's v1 (issue 27): forky's docker-compose package, unpacked as a
# CLI plugin for every user, without touching apt's sources. Its hash is checked against the
# Packages index, whose hash is checked against the InRelease file that gpgv verifies with
# Debian's archive keyring.
COMPOSE_V2=/usr/local/lib/docker/cli-plugins/docker-compose
if ! [ -x "$COMPOSE_V2" ]; then
  log "installing Compose v2 from Debian forky"
  work=$(mktemp -d)
  . "$(dirname "$0")/forky.sh"
  forky_index "$work"
  forky_deb "$work" docker-compose "$work/compose.deb"
  dpkg-deb -x "$work/compose.deb" "$work/root"
  install -D -m 755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE_V2"
  rm -rf "$work"
fi
log "compose: $(docker-compose version --short), v2 $(docker compose version --short)"

# The devcontainer CLI (issue 27: `flags --format devcontainer` tested with the real CLI), from
# the npm registry: its tarball pinned by version and by the sha512 the registry published for
# it (it bundles its dependencies, so nothing else is fetched).
DEVCONTAINER_CLI=0.89.0
DEVCONTAINER_SHA512=LzaoOGKQ/Zql6PsiZ4hVIYVZagzWkD65aG/1ou5/Kly5Y1PtjLg1yn7qu+LZCzVoAl6DZZ/pbz8qOO4RLNlqMg==
if [ "$(devcontainer --version 2>/dev/null)" != "$DEVCONTAINER_CLI" ]; then
  log "installing the devcontainer CLI $DEVCONTAINER_CLI"
  if ! command -v npm >/dev/null; then
    apt-get install -y -q nodejs npm >>"$LOGS/apt.log" 2>&1 || { tail -n 30 "$LOGS/apt.log" >&2; exit 1; }
  fi
  work=$(mktemp -d)
  curl -sfL --max-time 120 -o "$work/cli.tgz" \
    "https://registry.npmjs.org/@devcontainers/cli/-/cli-$DEVCONTAINER_CLI.tgz"
  got=$(openssl dgst -sha512 -binary "$work/cli.tgz" | base64 -w0)
  [ "$got" = "$DEVCONTAINER_SHA512" ] || { echo "devcontainer CLI: sha512 $got" >&2; exit 1; }
  npm install -g -q --no-audit --no-fund "$work/cli.tgz" >"$LOGS/npm.log" 2>&1 \
    || { tail -n 30 "$LOGS/npm.log" >&2; exit 1; }
  rm -rf "$work"
fi
log "devcontainer CLI: $(devcontainer --version)"

# The test image: a root filesystem holding only /bin/busybox and its applet links.
ROOTFS="$LOGS/busybox-rootfs.tar"
rm -rf "$LOGS/rootfs" && mkdir -p "$LOGS/rootfs/bin" "$LOGS/rootfs/etc" "$LOGS/rootfs/tmp"
cp /bin/busybox "$LOGS/rootfs/bin/busybox"
for applet in sh nc cat echo sleep timeout wget ip grep nslookup ls; do ln -sf busybox "$LOGS/rootfs/bin/$applet"; done
tar -C "$LOGS/rootfs" -cf "$ROOTFS" .
chmod 644 "$ROOTFS"

import_image() {  # import_image DOCKER_HOST
  ENGINES+=("$1")
  DOCKER_HOST=$1 docker image inspect "$IMAGE" >/dev/null 2>&1 \
    || DOCKER_HOST=$1 docker import "$ROOTFS" "$IMAGE" >/dev/null
}

# 1. Rootful Docker Engine.
if ! curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1; then
  log "starting rootful dockerd"
  rm -f /var/run/docker.pid
  nohup dockerd >"$LOGS/dockerd.log" 2>&1 &
fi
wait_for /var/run/docker.sock 60 "$LOGS/dockerd.log"
import_image unix:///var/run/docker.sock

# 2. Rootless Docker Engine, as an unprivileged user.
id "$ROOTLESS_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$ROOTLESS_USER"
grep -q "^$ROOTLESS_USER:" /etc/subuid || echo "$ROOTLESS_USER:200000:65536" >>/etc/subuid
grep -q "^$ROOTLESS_USER:" /etc/subgid || echo "$ROOTLESS_USER:200000:65536" >>/etc/subgid
chmod 666 /dev/net/tun  # RootlessKit's slirp4netns needs the tun device; root-only on these VMs
RUID=$(id -u "$ROOTLESS_USER")
RDIR=/run/user/$RUID
mkdir -p "$RDIR" && chown "$ROOTLESS_USER" "$RDIR" && chmod 700 "$RDIR"
if ! curl -sf --max-time 2 --unix-socket "$RDIR/docker.sock" http://d/_ping >/dev/null 2>&1; then
  log "starting rootless dockerd as $ROOTLESS_USER"
  : >"$LOGS/dockerd-rootless.log"; chmod 666 "$LOGS/dockerd-rootless.log"
  su "$ROOTLESS_USER" -s /bin/bash -c "export XDG_RUNTIME_DIR=$RDIR HOME=\$(getent passwd $ROOTLESS_USER | cut -d: -f6) \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin; cd; nohup /usr/share/docker.io/contrib/dockerd-rootless.sh \
    >$LOGS/dockerd-rootless.log 2>&1 &"
fi
wait_for "$RDIR/docker.sock" 90 "$LOGS/dockerd-rootless.log"
import_image "unix://$RDIR/docker.sock"

# 2b. A second rootless dockerd whose RootlessKit lets containers reach the host's 127.0.0.1:
# Debian's dockerd-rootless.sh hard-codes --disable-host-loopback, so a copy without it (what
# DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false does in Engine 26+). Its own
# XDG_RUNTIME_DIR (socket, exec root) and data root, so the two engines share nothing.
HL_DIR=$RDIR/hl
HL_SCRIPT=/usr/local/lib/hostreach-ci/dockerd-rootless-host-loopback.sh
mkdir -p "$(dirname "$HL_SCRIPT")" "$HL_DIR" && chown "$ROOTLESS_USER" "$HL_DIR" && chmod 700 "$HL_DIR"
sed 's/--disable-host-loopback //' /usr/share/docker.io/contrib/dockerd-rootless.sh >"$HL_SCRIPT"
chmod 755 "$HL_SCRIPT"
if ! curl -sf --max-time 2 --unix-socket "$HL_DIR/docker.sock" http://d/_ping >/dev/null 2>&1; then
  log "starting rootless dockerd with host loopback as $ROOTLESS_USER"
  : >"$LOGS/dockerd-rootless-hl.log"; chmod 666 "$LOGS/dockerd-rootless-hl.log"
  su "$ROOTLESS_USER" -s /bin/bash -c "export XDG_RUNTIME_DIR=$HL_DIR HOME=\$(getent passwd $ROOTLESS_USER | cut -d: -f6) \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin; cd; nohup $HL_SCRIPT --data-root \$HOME/.local/share/docker-hl \
    >$LOGS/dockerd-rootless-hl.log 2>&1 &"
fi
wait_for "$HL_DIR/docker.sock" 90 "$LOGS/dockerd-rootless-hl.log"
import_image "unix://$HL_DIR/docker.sock"

# 3. Podman's Docker-compatible API. Its default ulimits exceed what these VMs allow.
mkdir -p /etc/containers /run/podman
if ! grep -q 'nofile=1024:1024' /etc/containers/containers.conf 2>/dev/null; then
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >/etc/containers/containers.conf
fi
if ! curl -sf --max-time 2 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; then
  log "starting podman system service"
  nohup podman system service --time=0 "unix://$PODMAN_SOCK" >"$LOGS/podman.log" 2>&1 &
fi
wait_for "$PODMAN_SOCK" 60 "$LOGS/podman.log"
import_image "unix://$PODMAN_SOCK"

# 4. Rootless Podman's API service, as the same unprivileged user (its own storage and network).
RPODMAN_SOCK=$RDIR/podman/podman.sock
mkdir -p "$RDIR/podman" && chown "$ROOTLESS_USER" "$RDIR/podman"
if ! curl -sf --max-time 2 --unix-socket "$RPODMAN_SOCK" http://d/_ping >/dev/null 2>&1; then
  log "starting rootless podman system service as $ROOTLESS_USER"
  : >"$LOGS/podman-rootless.log"; chmod 666 "$LOGS/podman-rootless.log"
  su "$ROOTLESS_USER" -s /bin/bash -c "export XDG_RUNTIME_DIR=$RDIR HOME=\$(getent passwd $ROOTLESS_USER | cut -d: -f6) \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin; cd; mkdir -p .config/containers; \
    cp /etc/containers/containers.conf .config/containers/containers.conf; \
    nohup podman system service --time=0 unix://$RPODMAN_SOCK >$LOGS/podman-rootless.log 2>&1 &"
fi
wait_for "$RPODMAN_SOCK" 60 "$LOGS/podman-rootless.log"
import_image "unix://$RPODMAN_SOCK"

log "rootful: $(DOCKER_HOST=unix:///var/run/docker.sock docker version --format '{{.Server.Version}}')," \
  "rootless: $(DOCKER_HOST=unix://$RDIR/docker.sock docker version --format '{{.Server.Version}}')," \
  "podman: $(DOCKER_HOST=unix://$PODMAN_SOCK docker version --format '{{.Server.Version}}')," \
  "rootless podman: $(DOCKER_HOST=unix://$RPODMAN_SOCK docker version --format '{{.Server.Version}}')"

# 5. A remote engine: a second rootful dockerd in its own network namespace ("the engine's
# machine", 10.250.0.2), reached over tcp:// from this one ("the caller", 10.250.0.1). Started
# with nsenter (ip netns exec mounts a fresh /sys that hides the cgroup mounts), its own roots
# and bridge, and --tls=false (listening on TCP without TLS otherwise waits 15 s on purpose).
REMOTE_NS=hr-remote
REMOTE_HOST=tcp://10.250.0.2:2375
if ! ip netns list | grep -qw "$REMOTE_NS"; then
  ip netns add "$REMOTE_NS"
  ip link add hr-caller type veth peer name hr-engine
  ip link set hr-engine netns "$REMOTE_NS"
  ip addr add 10.250.0.1/24 dev hr-caller
  ip link set hr-caller up
  ip netns exec "$REMOTE_NS" ip addr add 10.250.0.2/24 dev hr-engine
  ip netns exec "$REMOTE_NS" ip link set hr-engine up
  ip netns exec "$REMOTE_NS" ip link set lo up
fi
if ! curl -sf --max-time 2 "http://10.250.0.2:2375/_ping" >/dev/null 2>&1; then
  log "starting the remote dockerd in network namespace $REMOTE_NS"
  mkdir -p /run/hostreach-remote
  nohup nsenter --net=/run/netns/"$REMOTE_NS" dockerd --host "$REMOTE_HOST" --tls=false \
    --host unix:///run/hostreach-remote/docker.sock \
    --data-root /var/lib/hostreach-remote/docker --exec-root /run/hostreach-remote/docker \
    --pidfile /run/hostreach-remote/docker.pid --bip 172.30.0.1/24 \
    >"$LOGS/dockerd-remote.log" 2>&1 &
fi
left=60
until curl -sf --max-time 2 "http://10.250.0.2:2375/_ping" >/dev/null 2>&1; do
  left=$((left - 1))
  if ((left == 0)); then log "no answer from $REMOTE_HOST:"; tail -n 30 "$LOGS/dockerd-remote.log" >&2; exit 1; fi
  sleep 1
done
import_image "$REMOTE_HOST"
log "remote: $(DOCKER_HOST=$REMOTE_HOST docker version --format '{{.Server.Version}}') at $REMOTE_HOST"

# 6. The same remote engine over ssh://: an sshd in its namespace, whose sessions reach that
# engine (SetEnv DOCKER_HOST: one filesystem, so the local engine's socket is there too), and
# an ssh client config for root naming it hr-remote-ssh, with its own key and known_hosts.
# GatewayPorts: benchmarks/tunnel.py compares the tunnel with `ssh -R` bound to its bridge.
SSH_DIR=/etc/hostreach-remote/ssh
mkdir -p "$SSH_DIR" /run/sshd /root/.ssh
chmod 700 /root/.ssh
[ -f "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_ed25519"
[ -f "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/id_ed25519"
cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
echo "10.250.0.2 $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >"$SSH_DIR/known_hosts"
cat >"$SSH_DIR/sshd_config" <<SSHD
ListenAddress 10.250.0.2
HostKey $SSH_DIR/host_ed25519
PidFile /run/hostreach-remote/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv DOCKER_HOST=unix:///run/hostreach-remote/docker.sock
GatewayPorts clientspecified
SSHD
cat >/root/.ssh/hostreach-ci.conf <<SSHCONF
Host hr-remote-ssh
  HostName 10.250.0.2
  User root
  IdentityFile $SSH_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $SSH_DIR/known_hosts
  StrictHostKeyChecking yes
SSHCONF
touch /root/.ssh/config
grep -q 'Include hostreach-ci.conf' /root/.ssh/config \
  || { printf 'Include hostreach-ci.conf\n' | cat - /root/.ssh/config >/root/.ssh/config.new \
       && mv /root/.ssh/config.new /root/.ssh/config; }
if ! [ -f /run/hostreach-remote/sshd.pid ] || ! kill -0 "$(cat /run/hostreach-remote/sshd.pid)" 2>/dev/null; then
  log "starting sshd in network namespace $REMOTE_NS"
  nsenter --net=/run/netns/"$REMOTE_NS" /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$LOGS/sshd.log"
fi
left=30
until DOCKER_HOST=ssh://hr-remote-ssh timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
  left=$((left - 1))
  if ((left == 0)); then log "no engine over ssh://hr-remote-ssh:"; tail -n 20 "$LOGS/sshd.log" >&2; exit 1; fi
  sleep 1
done
log "remote over ssh: $(DOCKER_HOST=ssh://hr-remote-ssh docker version --format '{{.Server.Version}}')"

if [ -n "$busybox_build" ] && ! wait "$busybox_build"; then
  log "busybox with tcpsvd did not build:"; tail -n 30 "$LOGS/busybox.log" >&2; exit 1
fi
for host in "${ENGINES[@]}"; do
  DOCKER_HOST=$host docker image inspect "$TCPSVD_IMAGE" >/dev/null 2>&1 \
    || DOCKER_HOST=$host docker import "$TCPSVD_ROOTFS" "$TCPSVD_IMAGE" >/dev/null
done
log "$(cat "$LOGS/busybox.log" 2>/dev/null | tail -n 1) imported as $TCPSVD_IMAGE"
