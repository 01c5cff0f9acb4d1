#!/usr/bin/env bash
# Run every fuzz target for a bounded time: run.sh BUILD_DIR SECONDS.
# Starts from the checked-in corpus (copied, so CI never writes the tree);
# a crash leaves its input in the work dir and fails the run.
set -euo pipefail
build=$(cd "$1" && pwd)
secs=${2:-60}
root=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/cairn-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
ran=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  target=$(basename "$bin")
  mkdir -p "$work/$target"
  if [ -d "$root/corpus/$target" ]; then
    cp -r "$root/corpus/$target/." "$work/$target/"
  fi
  echo "fuzz: $target for ${secs}s"
  if ! (cd "$work" && "$bin" -max_total_time="$secs" -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/$target" 2>"$work/$target.log"); then
    tail -60 "$work/$target.log"
    mkdir -p /tmp/cairn-fuzz-crashes && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
      /tmp/cairn-fuzz-crashes/ 2>/dev/null || true
    echo "fuzz: $target FAILED (inputs saved in /tmp/cairn-fuzz-crashes)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done" "$work/$target.log" | tail -2
  echo "fuzz: $target ok"
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "fuzz: no fuzz_* targets in $build/tests/fuzz" >&2
  exit 1
fi
