#!/bin/sh
# Prints the directory of a built guest image for the current recipe,
#   ${CLAWFLEET_IMAGE_CACHE:-/var/cache/clawfleet-images}/<recipe hash>
# building it there first when it is missing (build.sh, ~10 min). The hash
# covers build.sh and every file under files/, so editing the recipe builds
# a new image. Concurrent callers take a lock: one builds, the others wait
# and then use its result.
#
# usage: cached.sh          (as root; the path is the only line on stdout)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${CLAWFLEET_IMAGE_CACHE:-/var/cache/clawfleet-images}
command -v flock >/dev/null || { echo "cached.sh: flock is missing" >&2; exit 1; }

hash=$(sh "$here/build.sh" --recipe-hash)
dir=$cache/$hash
complete() { [ -s "$1/recipe.sha256" ] && [ "$(cat "$1/recipe.sha256")" = "$hash" ]; }

if ! complete "$dir"; then
  mkdir -p "$cache"
  exec 9>"$cache/.$hash.lock"
  flock 9
  if ! complete "$dir"; then
    # A half-written directory can only be left by a killed mv; start over.
    rm -rf "$dir"
    sh "$here/build.sh" "$dir" >&2
  fi
  exec 9>&-
fi
complete "$dir" || { echo "cached.sh: $dir is incomplete" >&2; exit 1; }
echo "$dir"
