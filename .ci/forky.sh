# Sourced by .ci/engines.sh and .ci/python314.sh: packages from Debian forky without touching
# apt's sources. forky_index DIR fetches forky's InRelease (gpgv-verified with Debian's archive
# keyring) and its amd64 Packages index (checked against it) into DIR; forky_deb DIR PACKAGE
# OUT fetches that package's .deb to OUT, checked against the index.
FORKY_MIRROR=http://deb.debian.org/debian

forky_index() {
  curl -sfL --max-time 60 -o "$1/InRelease" "$FORKY_MIRROR/dists/forky/InRelease"
  gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg --output "$1/Release" \
    "$1/InRelease" 2>"$1/gpgv.log" || { cat "$1/gpgv.log" >&2; return 1; }
  curl -sfL --max-time 120 -o "$1/Packages.xz" \
    "$FORKY_MIRROR/dists/forky/main/binary-amd64/Packages.xz"
  local want
  want=$(awk '$3 == "main/binary-amd64/Packages.xz" && length($1) == 64 {print $1}' "$1/Release")
  echo "$want  $1/Packages.xz" | sha256sum -c --quiet
  xz -dc "$1/Packages.xz" >"$1/Packages"
}

forky_deb() {
  local entry file sum
  entry=$(awk -v p="Package: $2" '$0 == p {f = 1} f && /^$/ {exit} f' "$1/Packages")
  file=$(printf '%s\n' "$entry" | awk '/^Filename:/ {print $2}')
  sum=$(printf '%s\n' "$entry" | awk '/^SHA256:/ {print $2}')
  [ -n "$file" ] && [ -n "$sum" ] || { echo "forky has no package $2" >&2; return 1; }
  curl -sfL --max-time 300 -o "$3" "$FORKY_MIRROR/$file"
  echo "$sum  $3" | sha256sum -c --quiet
}
