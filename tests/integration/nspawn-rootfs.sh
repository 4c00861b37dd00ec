#!/bin/sh
# Builds the root file system that tests/integration/nspawn.h boots with
# systemd-nspawn: Debian 12 minbase with systemd, dbus, iproute2, nftables
# and clawfleet's runtime libraries, packed
# as a .tar.zst. The harness names the archive after the SHA-256 of this
# script, so editing the recipe builds a new archive.
#
# usage: nspawn-rootfs.sh OUTPUT.tar.zst
# The mirror is the host's own Debian mirror, read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.sources (or
# $CLAWFLEET_DEBIAN_MIRROR when set).
set -eu

out=${1:?usage: nspawn-rootfs.sh OUTPUT.tar.zst}
suite=bookworm

for tool in debootstrap zstd tar systemctl flock; do
  command -v "$tool" >/dev/null || { echo "nspawn-rootfs.sh: $tool is missing" >&2; exit 1; }
done

mkdir -p "$(dirname "$out")"
# One builder at a time; a second caller waits and then finds the archive.
exec 9>"$out.lock"
flock 9
[ -s "$out" ] && exit 0

mirror=${CLAWFLEET_DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  # deb [options] URI SUITE COMPONENTS...
  mirror=$(awk -v s="$suite" '$1 == "deb" {
      i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i+1) == s) { print $i; exit } }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822 stanzas separated by blank lines: the URI of the first stanza
    # of type deb whose Suites list the plain suite.
    mirror=$(awk -v s="$suite" '
      function flush() { if (deb && has && uri != "" && found == "") found = uri; deb = 0; has = 0; uri = "" }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:"  { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:"   { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) has = 1 }
      END { flush(); print found }' "$f")
    [ -n "$mirror" ] && break
  done
fi
[ -n "$mirror" ] || { echo "nspawn-rootfs.sh: no Debian $suite mirror in /etc/apt/sources.list*" >&2; exit 1; }

work=$(mktemp -d /var/tmp/cf-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

# Beside systemd: the runtime libraries of a host-built clawfleet, so the
# VM unit can run the real `clawfleet vm` helper inside the container, and
# nftables to inspect the table it installs.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,iproute2,nftables,genisoimage,libyaml-cpp0.7,libfmt9,libcurl4,libnftables1,libmnl0 \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# Nothing in a test container should wait for a console or run timers.
systemctl --root="$root" mask console-getty.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer dpkg-db-backup.timer systemd-tmpfiles-clean.timer >/dev/null 2>&1
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar --numeric-owner --xattrs --acls -C "$root" -cf - . | zstd -q -T0 -o "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
