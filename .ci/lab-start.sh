#!/bin/sh
# The lab container's command (.ci/lab.sh mounts it as /usr/local/sbin/hr-lab-start): start
# this lab host's engines, give each the busybox test image, then write /run/hr-lab/ready
# ("NAME SOCKET VERSION" a line) or /run/hr-lab/failed, and stay.
set -u
LOGS=/var/log/hr-lab
mkdir -p /run/hr-lab "$LOGS"
chmod 1777 "$LOGS"  # the lab users write their engines' logs here
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# What --privileged would have done: a writable /sys (RootlessKit, netavark), /dev/net/tun
# (slirp4netns, pasta), /dev/fuse (fuse-overlayfs).
mount -o remount,rw /sys
mount --make-rshared /  # rootless Podman's mounts propagate
mkdir -p /dev/net
[ -e /dev/net/tun ] || mknod -m 666 /dev/net/tun c 10 200
[ -e /dev/fuse ] || mknod -m 666 /dev/fuse c 10 229

# Podman's builds raise nofile and nproc to their own defaults, which a container without
# CAP_SYS_RESOURCE may not ("error setting rlimit type 7: operation not permitted"): give
# them this container's hard limits instead.
hard() { awk -v what="$1" '$0 ~ what { v = $(NF-1); if (v == "unlimited") v = -1; print v }' /proc/self/limits; }
mkdir -p /etc/containers/containers.conf.d
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
  "$(hard '^Max open files')" "$(hard '^Max open files')" \
  "$(hard '^Max processes')" "$(hard '^Max processes')" \
  >/etc/containers/containers.conf.d/hr-lab-ulimits.conf

as_user() {  # USER UID COMMAND...: run in the background as USER, with its runtime dir
  user=$1 uid=$2
  shift 2
  mkdir -p "/run/user/$uid"
  chown "$user:$user" "/run/user/$uid"
  chmod 700 "/run/user/$uid"
  su -s /bin/sh "$user" -c "cd; export XDG_RUNTIME_DIR=/run/user/$uid HOME=/home/$user \
    PATH=$PATH; $*" &
}

# HR_LAB_ENGINES narrows the engines (the IPv6 host runs its rootful Docker alone);
# HR_LAB_IPV6 gives that engine's default bridge an IPv6 subnet (issue 23, item 3).
ALL="rootful podman rootless podman_rootless rootless_pasta rootless_loopback"
WANTED=${HR_LAB_ENGINES:-$ALL}
if [ -n "${HR_LAB_IPV6:-}" ]; then
  sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
  mkdir -p /etc/docker
  printf '{"ipv6": true, "fixed-cidr-v6": "%s"}\n' "$HR_LAB_IPV6" >/etc/docker/daemon.json
fi
wanted() { case " $WANTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

wanted rootful && dockerd >"$LOGS/dockerd.log" 2>&1 &
if wanted podman; then
  mkdir -p /run/podman
  podman system service --time=0 unix:///run/podman/podman.sock >"$LOGS/podman.log" 2>&1 &
fi
wanted rootless &&
  as_user hr 1000 "/usr/share/docker.io/contrib/dockerd-rootless.sh >$LOGS/rootless.log 2>&1"
wanted podman_rootless &&
  as_user hr 1000 "mkdir -p /run/user/1000/podman && podman system service --time=0 \
  unix:///run/user/1000/podman/podman.sock >$LOGS/podman-rootless.log 2>&1"
wanted rootless_pasta && as_user hrpasta 1001 "DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta \
  DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=implicit /usr/share/docker.io/contrib/dockerd-rootless.sh \
  >$LOGS/rootless-pasta.log 2>&1"
wanted rootless_loopback &&
  as_user hrloop 1002 "dockerd-rootless-host-loopback.sh >$LOGS/rootless-loopback.log 2>&1"

ENGINES="rootful:root:/var/run/docker.sock podman:root:/run/podman/podman.sock
rootless:hr:/run/user/1000/docker.sock podman_rootless:hr:/run/user/1000/podman/podman.sock
rootless_pasta:hrpasta:/run/user/1001/docker.sock
rootless_loopback:hrloop:/run/user/1002/docker.sock"

: >/run/hr-lab/starting
for entry in $ENGINES; do
  name=${entry%%:*} rest=${entry#*:}
  wanted "$name" || continue
  user=${rest%%:*} sock=${rest#*:}
  version=
  for _ in $(seq 1 360); do  # up to 3 minutes an engine, for a loaded machine
    version=$(su -s /bin/sh "$user" -c "DOCKER_HOST=unix://$sock docker version \
      --format '{{.Server.Version}}'" 2>/dev/null) && break
    sleep 0.5
  done
  if [ -z "$version" ]; then
    echo "$name: no answer on $sock" >/run/hr-lab/failed
    break
  fi
  su -s /bin/sh "$user" -c "DOCKER_HOST=unix://$sock docker import /opt/busybox.tar \
    localhost/hostreach-test:busybox" >/dev/null 2>>"$LOGS/import.log" ||
    echo "$name: the test image was not imported" >/run/hr-lab/failed
  echo "$name $sock $version" >>/run/hr-lab/starting
done
[ -e /run/hr-lab/failed ] || mv /run/hr-lab/starting /run/hr-lab/ready
exec sleep infinity
