#!/bin/sh
# `make test`: each phase in order, timed; the table of wall times is printed
# at the end, also when a phase failed (the run stops there and keeps its
# exit status). Phases are the Makefile's own targets.
#
# Two jobs run in the background, each in its own process group, so that
# their minutes hide behind phases that leave a core idle:
# - the guest image (examples/guest-image/cached.sh: built the first time,
#   then cached), from the start, beside the build and the tiers that need
#   no guest; the vm tier's own cached.sh waits for that build's lock (or
#   builds again, and says why, if it failed);
# - the sanitizer and fuzzer builds, at nice 19 once the main build is
#   done, beside the unit and integration tiers (which mostly wait on the
#   systemd they boot), and waited for before the vm tier: a compile beside
#   the guests slowed their boots under TCG by more than it saved (a create
#   took 910 s instead of ≈500 s here). Their tests run after the vm tier.
set -u
make=${MAKE:-make}
log=$(mktemp)
start_all=$(date +%s)
failed=""
bg_pids=""   # the background jobs' process IDs (each leads its group)
outputs=""   # their output files

summary() {
  echo
  echo "make test: wall time per phase"
  while IFS='|' read -r name seconds status; do
    printf '  %6s s  %-38s %s\n' "$seconds" "$name" "$status"
  done <"$log"
  printf '  %6s s  %s\n' "$(( $(date +%s) - start_all ))" "in all${failed:+ (failed: $failed)}"
  rm -f "$log"
  # A run that stopped early ends the background jobs it started (each its
  # own process group; the image's build.sh cleans up on TERM).
  for pid in $bg_pids; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  # shellcheck disable=SC2086
  rm -f $outputs
}
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

# background NAME ON-FAILURE COMMAND: COMMAND in its own session and
# process group (setsid does not fork here: a background job of this
# non-interactive shell leads no group), so that summary can end all of
# it; its line in the table is written when it ends, its output shown
# only when it failed. Its process ID is left in $bg_pid.
background() {
  name=$1 on_failure=$2 command=$3
  out=$(mktemp)
  outputs="$outputs $out"
  setsid sh -c '
    t0=$(date +%s)
    if sh -c "$1" >"$2" 2>&1; then status=ok; else
      status="FAILED ($4)"; echo "make test: $3 failed:" >&2; tail -n 40 "$2" >&2
    fi
    echo "$3 (background)|$(( $(date +%s) - t0 ))|$status" >>"$5"
    [ "$status" = ok ]
  ' sh "$command" "$out" "$name" "$on_failure" "$log" </dev/null &
  bg_pid=$!
  bg_pids="$bg_pids $bg_pid"
}

# await PID NAME: waits for that background job; a failed one fails the run.
await() {
  t0=$(date +%s)
  wait "$1"
  rc=$?
  echo "waiting for the $2|$(( $(date +%s) - t0 ))|$([ "$rc" = 0 ] && echo ok || echo FAILED)" >>"$log"
  [ "$rc" = 0 ] || { failed=$2; exit 1; }
}

phase packages deps
background "guest image" "the vm tier tries again" "sh examples/guest-image/cached.sh"
phase build build-only
background "asan and fuzz builds" "see above" \
  "nice -n 19 $make --no-print-directory asan-build && nice -n 19 $make --no-print-directory fuzz-build"
builds_pid=$bg_pid
phase "unit tests" tests-unit
phase "integration tests" tests-integration
await "$builds_pid" "asan and fuzz builds"
phase "vm tests" tests-vm
phase "asan tests" asan-tests
phase "fuzz run" fuzz-run
