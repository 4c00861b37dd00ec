#!/bin/sh
# `make test`: each phase in order, timed; the table of wall times is printed
# at the end, also when a phase failed (the run stops there and keeps its
# exit status). Phases are the Makefile's own targets.
set -u
make=${MAKE:-make}
log=$(mktemp)
start_all=$(date +%s)
failed=""

summary() {
  echo
  echo "make test: wall time per phase"
  while IFS='|' read -r name seconds status; do
    printf '  %6s s  %-18s %s\n' "$seconds" "$name" "$status"
  done <"$log"
  printf '  %6s s  %s\n' "$(( $(date +%s) - start_all ))" "in all${failed:+ (failed: $failed)}"
  rm -f "$log"
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

phase packages deps
phase build build-only
phase "unit tests" tests-unit
phase "integration tests" tests-integration
phase "vm tests" tests-vm
phase "asan build" asan-build
phase "asan tests" asan-tests
phase "fuzz build" fuzz-build
phase "fuzz run" fuzz-run
