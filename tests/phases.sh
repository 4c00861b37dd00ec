#!/bin/sh
# `make test`: each phase in order, timed; the table of wall times is printed
# at the end, also when a phase failed (the run stops there and keeps its
# exit status). Phases are the Makefile's own targets.
#
# The guest image (examples/guest-image/cached.sh: built the first time,
# then cached) is made in the background from the start, beside the build
# and the tiers that need no guest; the vm tier comes last and its tests'
# own cached.sh waits for that build's lock (or builds again, and says why,
# if it failed). A fresh machine saves the image build's minutes that way.
set -u
make=${MAKE:-make}
log=$(mktemp)
start_all=$(date +%s)
failed=""

summary() {
  echo
  echo "make test: wall time per phase"
  while IFS='|' read -r name seconds status; do
    printf '  %6s s  %-26s %s\n' "$seconds" "$name" "$status"
  done <"$log"
  printf '  %6s s  %s\n' "$(( $(date +%s) - start_all ))" "in all${failed:+ (failed: $failed)}"
  rm -f "$log"
  # A run that stopped early ends the image build it started (its own
  # process group; build.sh cleans up on TERM).
  if [ -n "$image_pid" ] && kill -0 "$image_pid" 2>/dev/null; then
    kill -TERM -- "-$image_pid" 2>/dev/null
    wait "$image_pid" 2>/dev/null
  fi
  rm -f "$image_log"
}
image_pid=""
image_log=$(mktemp)
trap summary EXIT

phase() {
  name=$1 target=$2
  t0=$(date +%s)
  $make --no-print-directory "$target"
  rc=$?
  if [ "$rc" = 0 ]; then status=ok; else status="FAILED (exit $rc)"; failed=$name; fi
  echo "$name|$(( $(date +%s) - t0 ))|$status" >>"$log"
  [ "$rc" = 0 ] || exit "$rc"
}

phase packages deps
# Its own session and process group (setsid does not fork here: a
# background job of this non-interactive shell leads no group), so that
# summary can end all of it; its line in the table is written when it ends.
setsid sh -c '
  t0=$(date +%s)
  if sh examples/guest-image/cached.sh >"$1" 2>&1; then status=ok; else
    status="FAILED (the vm tier tries again)"; echo "make test: the guest image build failed:" >&2; tail -n 30 "$1" >&2
  fi
  echo "guest image (background)|$(( $(date +%s) - t0 ))|$status" >>"$2"
' sh "$image_log" "$log" </dev/null &
image_pid=$!
phase build build-only
phase "unit tests" tests-unit
phase "integration tests" tests-integration
phase "asan build" asan-build
phase "asan tests" asan-tests
phase "fuzz build" fuzz-build
phase "fuzz run" fuzz-run
phase "vm tests" tests-vm
