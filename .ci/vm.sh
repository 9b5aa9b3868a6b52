#!/usr/bin/env bash
# The VM lab (issue 24): Docker Engine in two Debian guests under QEMU, booted from one image,
# each guest's sshd forwarded to 127.0.0.1 and its engine socket forwarded to this machine over
# ssh the way Lima and Colima do (ssh -L SOCKET:/var/run/docker.sock), so each is reached both
# as a local unix socket and over ssh:// (the way podman machine is):
# - hr-vm (unix:///run/hostreach-vm/docker.sock, ssh://hr-vm-ssh): QEMU's user-mode network
#   laid out like Lima's (the guest 192.168.5.15, this machine's loopback at 192.168.5.2);
# - hr-vm2 (unix:///run/hostreach-vm2/docker.sock, ssh://hr-vm2-ssh): passt, on 10.77.0.0/24,
#   its gateway 10.77.0.1 mapped to this machine's loopback.
# Their names are not ones hostreach knows: it must tell from the engines' answers that they
# are not on this kernel. TCG unless HOSTREACH_VM_ACCEL says otherwise: nested KVM hangs here.
# Built once per run, beside the engines (.ci/run): 80 s measured on these 2-core machines for
# one guest (debootstrap 40 s, mkfs 10 s, boot to the engine's answer 30 s), the second booting
# beside the first; the tests import their image.
set -euo pipefail

LOGS=${HOSTREACH_LOGS:-/tmp/hostreach-ci}
VM=/var/lib/hostreach-vm
VM_SSH_PORT=${HOSTREACH_VM_SSH_PORT:-2222}
ACCEL=${HOSTREACH_VM_ACCEL:-tcg}
mkdir -p "$LOGS" "$VM"

log() { printf '[vm] %s\n' "$*" >&2; }
fail() { log "$*"; tail -n 40 "$LOGS/${LOG_NAME:-hostreach-vm}-console.log" >&2 2>/dev/null || true; exit 1; }

# `vm.sh --packages` installs what the lab needs and stops: .ci/run calls it before the
# engines' own apt-get, then boots the lab beside them (two apt-gets at once fight for its locks).
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null \
   || ! command -v passt >/dev/null \
   || ! command -v ssh >/dev/null || ! command -v curl >/dev/null; then
  log "installing qemu-system-x86, debootstrap, passt, openssh-client, curl"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q qemu-system-x86 debootstrap passt openssh-client curl; } \
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
  printf '127.0.0.1 localhost\n192.168.5.2 host.lima.internal\n' >"$VM/root/etc/hosts"
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
# The guest's name and network come from the kernel command line (hr.name= hr.addr= hr.gw=
# hr.dns=): one image boots both guests.
for word in $(cat /proc/cmdline); do
  case "$word" in hr.*=*) key=${word%%=*}; eval "${key#hr.}=\${word#*=}" ;; esac
done
hostname "$name"
echo "$name" >/etc/hostname
ip link set lo up
ip link set eth0 up
ip addr add "$addr" dev eth0
ip route add default via "$gw"
echo "nameserver $dns" >/etc/resolv.conf
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

# 2. Boot the guests from that one image (each writes to its own overlay: snapshot=on).
boot() {  # boot NAME SSH_PORT CMDLINE NETDEV...
  local name=$1 port=$2 cmdline=$3 run=/run/$1
  shift 3
  mkdir -p "$run"
  if [ -f "$run/qemu.pid" ] && kill -0 "$(cat "$run/qemu.pid")" 2>/dev/null; then return 0; fi
  log "booting $name ($ACCEL)"
  : >"$LOGS/$name-console.log"
  qemu-system-x86_64 -accel "$ACCEL" -cpu max -smp 2 -m 2048 -display none \
    -kernel "$VM/vmlinuz" -initrd "$VM/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 init=/sbin/hr-init net.ifnames=0 quiet $cmdline" \
    -drive "file=$VM/rootfs.img,format=raw,if=virtio,snapshot=on" \
    "$@" -device virtio-net-pci,netdev=n0 \
    -serial "file:$LOGS/$name-console.log" -pidfile "$run/qemu.pid" -daemonize
}

# hr-vm: QEMU's user-mode network with Lima's layout (lima-vm.io/docs/config/network/user):
# 192.168.5.2 forwards to this machine's loopback.
boot hostreach-vm "$VM_SSH_PORT" "hr.name=hr-vm hr.addr=192.168.5.15/24 hr.gw=192.168.5.2 hr.dns=192.168.5.3" \
  -netdev "user,id=n0,net=192.168.5.0/24,host=192.168.5.2,dns=192.168.5.3,hostfwd=tcp:127.0.0.1:$VM_SSH_PORT-:22"

# hr-vm2: the second mode, passt (Debian 12 has it; gvisor-tap-vsock's gvproxy only from
# trixie), on a subnet of its own no rule knows (as Lima's user-v2 or a custom Colima network
# are): its gateway 10.77.0.1 is mapped to this machine's loopback (passt's default, unless
# --no-map-gw). Only --strategy discover, trying the VM's own default gateway, finds it.
VM2_SSH_PORT=${HOSTREACH_VM2_SSH_PORT:-2223}
PASST=/run/hostreach-vm2/passt  # passt drops root for nobody, who writes its pid file here
mkdir -p "$PASST" && chown nobody "$PASST"
if ! [ -f "$PASST/pid" ] || ! kill -0 "$(cat "$PASST/pid")" 2>/dev/null; then
  rm -f "$PASST/sock"
  passt -q -s "$PASST/sock" -P "$PASST/pid" -a 10.77.0.15 -n 24 -g 10.77.0.1 \
    -t "$VM2_SSH_PORT:22" >"$LOGS/hostreach-vm2-passt.log" 2>&1
fi
boot hostreach-vm2 "$VM2_SSH_PORT" "hr.name=hr-vm2 hr.addr=10.77.0.15/24 hr.gw=10.77.0.1 hr.dns=10.77.0.1" \
  -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$PASST/sock"

# 3. ssh to each guest, named hr-vm-ssh and hr-vm2-ssh, with its own key and known_hosts: in
# ssh_config.d, so that .ci/engines.sh, editing root's ~/.ssh/config at the same time, is not
# raced.
mkdir -p /etc/ssh/ssh_config.d
: >"$VM/known_hosts"
: >/etc/ssh/ssh_config.d/hostreach-vm.conf
for pair in "hr-vm-ssh:$VM_SSH_PORT" "hr-vm2-ssh:$VM2_SSH_PORT"; do
  alias=${pair%%:*} port=${pair#*:}
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$VM/host_ed25519.pub")" >>"$VM/known_hosts"
  cat >>/etc/ssh/ssh_config.d/hostreach-vm.conf <<SSHCONF
Host $alias
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile $VM/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $VM/known_hosts
  StrictHostKeyChecking yes
  ServerAliveInterval 10
SSHCONF
done

# 4. Each engine's socket, forwarded as Lima forwards it, once the guest's engine answers.
forward() {  # forward NAME SSH_ALIAS
  local name=$1 alias=$2 sock=/run/$1/docker.sock left=300
  until ssh -o ConnectTimeout=10 -o BatchMode=yes "$alias" \
      'curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 || docker version >/dev/null 2>&1' 2>/dev/null; do
    left=$((left - 5))
    ((left > 0)) || { LOG_NAME=$name fail "$name's engine did not answer within 300 s"; }
    kill -0 "$(cat "/run/$name/qemu.pid")" 2>/dev/null || { LOG_NAME=$name fail "$name's qemu exited"; }
    sleep 5
  done
  log "$name: engine up: $(ssh "$alias" docker version --format '{{.Server.Version}}')"
  if ! curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    rm -f "$sock"
    ssh -f -N -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes \
      -L "$sock:/var/run/docker.sock" "$alias"
  fi
  left=30
  until curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; do
    left=$((left - 1)); ((left > 0)) || fail "no answer on the forwarded $sock"; sleep 1
  done
}
forward hostreach-vm hr-vm-ssh
forward hostreach-vm2 hr-vm2-ssh
log "VM lab ready: unix:///run/hostreach-vm/docker.sock and ssh://hr-vm-ssh (Lima's layout)," \
  "unix:///run/hostreach-vm2/docker.sock and ssh://hr-vm2-ssh (passt, 10.77.0.0/24)"
