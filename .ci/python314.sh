#!/usr/bin/env bash
# Python 3.14 for the test command (issue 23: every Python python_requires admits runs the tests),
# on a machine that has none: pyenv holds 3.11-3.13 here and python.org is out of reach, but
# Debian's archive is not. Debian forky's own python3.14 packages, each checked against the
# Packages index, whose hash is checked against the InRelease file gpgv verifies with Debian's
# archive keyring (as .ci/engines.sh takes Compose v2), unpacked under /opt/hostreach-py314
# with forky's C library beside them: forky's glibc is newer than this machine's, so the
# interpreter is pointed at that loader and its libraries (patchelf), and runs here as it is,
# nothing compiled. Prints the directory to put on PATH.
set -euo pipefail

ROOT=${HOSTREACH_PY314_ROOT:-/opt/hostreach-py314}
PYTHON=$ROOT/usr/bin/python3.14
log() { printf '[python3.14] %s\n' "$*" >&2; }

if "$PYTHON" -c 'import ssl, sqlite3, ctypes, lzma, bz2' 2>/dev/null; then
  echo "$ROOT/usr/bin"
  exit 0
fi
command -v patchelf >/dev/null || {
  log "installing patchelf"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q patchelf >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q patchelf >/dev/null; }
}
PACKAGES="python3.14-minimal libpython3.14-minimal libpython3.14-stdlib python3.14 libc6
  libexpat1 zlib1g libssl3t64 libffi8 libsqlite3-0 liblzma5 libbz2-1.0 libzstd1 libuuid1
  libncursesw6 libtinfo6 libreadline8t64 libmpdec4 libcrypt1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "unpacking Debian forky's python3.14 into $ROOT"
. "$(dirname "$0")/forky.sh"
forky_index "$work"
rm -rf "$ROOT.new" && mkdir -p "$ROOT.new"
for package in $PACKAGES; do
  forky_deb "$work" "$package" "$work/p.deb"
  dpkg-deb -x "$work/p.deb" "$ROOT.new"
done
patchelf --set-interpreter "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
  --force-rpath --set-rpath "$ROOT/usr/lib/x86_64-linux-gnu" "$ROOT.new/usr/bin/python3.14"
rm -rf "$ROOT" && mv "$ROOT.new" "$ROOT"
"$PYTHON" -c 'import ssl, sqlite3, ctypes, lzma, bz2, sys; print(sys.version)' >&2
echo "$ROOT/usr/bin"
