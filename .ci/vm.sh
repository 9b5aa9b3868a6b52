#!/usr/bin/env bash
# The VM lab (issue 24): Docker Engine in a Debian guest under QEMU, laid out like Lima.
# QEMU's user-mode network with Lima's addresses (the guest 192.168.5.15, this machine's
# loopback at 192.168.5.2), the guest's sshd forwarded to 127.0.0.1:$VM_SSH_PORT, and its
# engine socket forwarded to this machine over ssh the way Lima and Colima do
# (ssh -L SOCKET:/var/run/docker.sock), so it is reached both as a local unix socket and as
# ssh://hr-vm-ssh (the way podman machine is). The guest is named hr-vm, a name hostreach
# does not know: it must tell from the engine's answers that the engine is not on this kernel.
# TCG unless HOSTREACH_VM_ACCEL says otherwise: nested KVM hangs on these machines.
# Built once per run, beside the engines (.ci/run): 80 s measured on these 2-core machines
# (debootstrap 40 s, mkfs 10 s, boot to the engine's answer 30 s); the tests import their image.
set -euo pipefail

LOGS=${HOSTREACH_LOGS:-/tmp/hostreach-ci}
VM=/var/lib/hostreach-vm
RUN=/run/hostreach-vm
SOCK=$RUN/docker.sock
VM_SSH_PORT=${HOSTREACH_VM_SSH_PORT:-2222}
ACCEL=${HOSTREACH_VM_ACCEL:-tcg}
mkdir -p "$LOGS" "$VM" "$RUN"

log() { printf '[vm] %s\n' "$*" >&2; }
fail() { log "$*"; tail -n 40 "$LOGS/vm-console.log" >&2 2>/dev/null || true; exit 1; }

# `vm.sh --packages` installs what the lab needs and stops: .ci/run calls it before the
# engines' own apt-get, then boots the lab beside them (two apt-gets at once fight for its locks).
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null \
   || ! command -v ssh >/dev/null || ! command -v curl >/dev/null; then
  log "installing qemu-system-x86, debootstrap, openssh-client, curl"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q qemu-system-x86 debootstrap openssh-client curl; } \
    >"$LOGS/vm-apt.log" 2>&1 || { tail -n 30 "$LOGS/vm-apt.log" >&2; exit 1; }
fi
[ "${1:-}" != --packages ] || exit 0

# 1. The guest's root file system: Debian 12 with its cloud kernel, Docker Engine and sshd.
if ! [ -f "$VM/rootfs.img" ]; then
  log "debootstrap: bookworm with docker.io, openssh-server and the cloud kernel"
  rm -rf "$VM/root"
  debootstrap --variant=minbase \
    --include=linux-image-cloud-amd64,docker.io,openssh-server,iproute2,tini,busybox-static,kmod \
    bookworm "$VM/root" http://deb.debian.org/debian >"$LOGS/vm-debootstrap.log" 2>&1 \
    || { tail -n 30 "$LOGS/vm-debootstrap.log" >&2; exit 1; }
  [ -f "$VM/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$VM/id_ed25519"
  [ -f "$VM/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$VM/host_ed25519"
  install -d -m 700 "$VM/root/root/.ssh"
  install -m 600 "$VM/id_ed25519.pub" "$VM/root/root/.ssh/authorized_keys"
  install -m 600 "$VM/host_ed25519" "$VM/root/etc/ssh/ssh_host_ed25519_key"
  install -m 644 "$VM/host_ed25519.pub" "$VM/root/etc/ssh/ssh_host_ed25519_key.pub"
  cat >"$VM/root/etc/ssh/sshd_config.d/hostreach.conf" <<'SSHD'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
UseDNS no
SSHD
  echo hr-vm >"$VM/root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 hr-vm\n192.168.5.2 host.lima.internal\n' >"$VM/root/etc/hosts"
  # PID 1: mount what the engine needs, bring up Lima's addresses, start sshd, then tini reaps
  # and runs dockerd (no systemd: it would cost most of the boot under emulation).
  cat >"$VM/root/sbin/hr-init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run/sshd
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname hr-vm
ip link set lo up
ip link set eth0 up
ip addr add 192.168.5.15/24 dev eth0
ip route add default via 192.168.5.2
echo nameserver 192.168.5.3 >/etc/resolv.conf
for m in overlay br_netfilter veth nf_nat iptable_nat iptable_filter xt_MASQUERADE xt_addrtype xt_conntrack; do
  modprobe "$m" 2>/dev/null
done
/usr/sbin/sshd -E /var/log/sshd.log
echo "hr-init: sshd started" >/dev/console
exec /usr/bin/tini -s -- /usr/sbin/dockerd --log-level warn
INIT
  chmod 755 "$VM/root/sbin/hr-init"
  cp "$VM/root"/boot/vmlinuz-* "$VM/vmlinuz"
  cp "$VM/root"/boot/initrd.img-* "$VM/initrd.img"
  rm -rf "$VM/root/var/cache/apt/archives"/*.deb
  log "mkfs.ext4: the guest's disk image"
  mkfs.ext4 -q -F -L hr-vm -d "$VM/root" "$VM/rootfs.img" 3G >"$LOGS/vm-mkfs.log" 2>&1 \
    || { cat "$LOGS/vm-mkfs.log" >&2; exit 1; }
fi

# 2. Boot it: QEMU user-mode networking with Lima's layout (lima-vm.io/docs/config/network/user).
if ! [ -f "$RUN/qemu.pid" ] || ! kill -0 "$(cat "$RUN/qemu.pid")" 2>/dev/null; then
  log "booting the guest ($ACCEL)"
  : >"$LOGS/vm-console.log"
  qemu-system-x86_64 -accel "$ACCEL" -cpu max -smp 2 -m 2048 -display none \
    -kernel "$VM/vmlinuz" -initrd "$VM/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 init=/sbin/hr-init net.ifnames=0 quiet" \
    -drive "file=$VM/rootfs.img,format=raw,if=virtio,snapshot=on" \
    -netdev "user,id=n0,net=192.168.5.0/24,host=192.168.5.2,dns=192.168.5.3,hostfwd=tcp:127.0.0.1:$VM_SSH_PORT-:22" \
    -device virtio-net-pci,netdev=n0 \
    -serial "file:$LOGS/vm-console.log" -pidfile "$RUN/qemu.pid" -daemonize
fi

# 3. ssh to the guest, named hr-vm-ssh, with its own key and known_hosts: in ssh_config.d, so
# that .ci/engines.sh, editing root's ~/.ssh/config at the same time, is not raced.
echo "[127.0.0.1]:$VM_SSH_PORT $(cut -d' ' -f1,2 "$VM/host_ed25519.pub")" >"$VM/known_hosts"
mkdir -p /etc/ssh/ssh_config.d
cat >/etc/ssh/ssh_config.d/hostreach-vm.conf <<SSHCONF
Host hr-vm-ssh
  HostName 127.0.0.1
  Port $VM_SSH_PORT
  User root
  IdentityFile $VM/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $VM/known_hosts
  StrictHostKeyChecking yes
  ServerAliveInterval 10
SSHCONF

left=300
until ssh -o ConnectTimeout=10 -o BatchMode=yes hr-vm-ssh 'curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 || docker version >/dev/null 2>&1' 2>/dev/null; do
  left=$((left - 5))
  ((left > 0)) || fail "the guest's engine did not answer within 300 s"
  kill -0 "$(cat "$RUN/qemu.pid")" 2>/dev/null || fail "qemu exited"
  sleep 5
done
log "guest engine up: $(ssh hr-vm-ssh docker version --format '{{.Server.Version}}')"

# 4. The socket, forwarded as Lima forwards it.
if ! curl -sf --max-time 5 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  rm -f "$SOCK"
  ssh -f -N -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes \
    -L "$SOCK:/var/run/docker.sock" hr-vm-ssh
fi
left=30
until curl -sf --max-time 5 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; do
  left=$((left - 1)); ((left > 0)) || fail "no answer on the forwarded $SOCK"; sleep 1
done
log "VM lab ready: unix://$SOCK and ssh://hr-vm-ssh"
