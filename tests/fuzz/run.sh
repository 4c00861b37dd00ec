#!/usr/bin/env bash
# Runs the manifest fuzzer for a bounded time, seeded with the examples and
# the invalid corpus; the working corpus lives in a temp dir, never the tree.
set -euo pipefail
fuzzer=$1 seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
find "$root/examples" "$root/tests/manifests" -name '*.yaml' -exec cp {} "$work/corpus/" \; 2>/dev/null || true
# -rss_limit_mb and -timeout turn a blow-up or a hang into a failure.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" 2>"$work/log" || {
  tail -n 60 "$work/log"
  for f in "$work"/artifacts/*; do [ -e "$f" ] && { echo "crashing input ($f), base64:"; base64 "$f"; }; done
  exit 1
}
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$work/log" || true
echo "fuzz: manifest_fuzzer ran ${seconds}s without a finding"
