#!/usr/bin/env bash
# The tunnel's second test image (issue 26): busybox as Docker Hub's busybox image has it, whose
# applets include tcpsvd (Debian's busybox-static has none: the tunnel's sidecar then falls back
# to nc -ll, whose listen backlog is 2). Built from Debian forky's busybox source (its InRelease
# gpgv-verified, Sources.xz and the tarball checked against it), with busybox's defconfig, as
# docker-library/busybox builds that image; static, and without tc (its CBQ code needs kernel
# headers that newer kernels dropped: docker-library patches it out). About 40 s on 2 cores.
#
#   bash .ci/busybox.sh OUT.tar     a root file system: /bin/busybox and every applet linked
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=.ci/forky.sh
. .ci/forky.sh

curl -sfL --max-time 60 -o "$work/InRelease" "$FORKY_MIRROR/dists/forky/InRelease"
gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg --output "$work/Release" \
  "$work/InRelease" 2>"$work/gpgv.log" || { cat "$work/gpgv.log" >&2; exit 1; }
curl -sfL --max-time 120 -o "$work/Sources.xz" "$FORKY_MIRROR/dists/forky/main/source/Sources.xz"
want=$(awk '$3 == "main/source/Sources.xz" && length($1) == 64 {print $1}' "$work/Release")
echo "$want  $work/Sources.xz" | sha256sum -c --quiet
xz -dc "$work/Sources.xz" >"$work/Sources"
# busybox's entry (one kept only as the source of other builds says Extra-Source-Only).
entry=$(awk -v RS= '/^Package: busybox\n/ && !/\nExtra-Source-Only: yes/ {print; exit}' "$work/Sources")
dir=$(printf '%s\n' "$entry" | awk '/^Directory:/ {print $2}')
# The tarball's line under Checksums-Sha256 (the one whose sum has 64 digits).
read -r sum _ tarball < <(printf '%s\n' "$entry" | awk 'length($1) == 64 && $3 ~ /\.orig\.tar\./')
[ -n "$dir" ] && [ -n "$sum" ] || { echo "forky's Sources has no busybox tarball" >&2; exit 1; }
curl -sfL --max-time 300 -o "$work/$tarball" "$FORKY_MIRROR/$dir/$tarball"
echo "$sum  $work/$tarball" | sha256sum -c --quiet

tar -xf "$work/$tarball" -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'busybox-*' | head -n 1)
(
  cd "$src"
  make defconfig >/dev/null
  sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' \
    .config
  { yes '' || true; } | make oldconfig >/dev/null 2>&1
  grep -q '^CONFIG_TCPSVD=y$' .config
  make -j "$(nproc)" busybox >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; exit 1; }
)
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp "$src/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -f "$root/bin/busybox" "$root/bin/$applet"
done
tar -C "$root" -cf "$out.part" .
chmod 644 "$out.part"
mv "$out.part" "$out"
echo "[busybox] $("$root/bin/busybox" | head -n 1 | cut -d' ' -f1-2), with tcpsvd: $out" >&2
