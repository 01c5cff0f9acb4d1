#!/usr/bin/env bash
# snapshot_bench.sh - `cairn snapshot` of a tree of 10,000 files against
# `cp -a` of the same tree on the same mount, in the same run
# (bench/RESULTS.md "Snapshots").
#
#   bash bench/snapshot_bench.sh [BUILD_DIR] [--runs N] [--files N] [--size BYTES]
#
# One cairn-local cluster (2 chunkservers, copies=2) on 127.0.0.1. The tree:
# N files (default 10,000) of SIZE bytes (default 4096) in 100 directories,
# written once through the mount. Per run: `cp -a tree copyR` (the
# reference) and `cairn snapshot tree snapR`, each timed until it returns;
# the run checks that both copies hold every file (`diff -r` of a sample of
# directories) and that the snapshot added no part on the chunkservers.
# Prints each run, then medians and the ratio snapshot / cp -a. Needs root
# (FUSE); stops what it starts by PID and unmounts.
set -euo pipefail

build=build
runs=3
files=10000
size=4096
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
build=$(cd "$build" && pwd)
local_sh="$build/bin/cairn-local"
cli="$build/bin/cairn"
[ -x "$local_sh" ] && [ -x "$cli" ] || { echo "snapshot_bench: binaries missing in $build/bin" >&2; exit 1; }
work=$(mktemp -d /tmp/cairn-snap-bench.XXXXXX)
dir="$work/c"
base=$((21000 + RANDOM % 9000))
cleanup() {
  set +e
  timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=0" "$local_sh" up --dir "$dir" --base-port "$base" \
  --chunkservers 2 --disk-size 4G --metaloggers 0 >/dev/null
mnt="$dir/mnt"
maddr="127.0.0.1:$((base + 1))"
parts() { "$cli" -m "$maddr" --json servers | jq '[.servers[].parts] | add'; }
per=$((files / 100))
head -c "$size" /dev/urandom >"$work/blob"
echo "snapshot_bench: writing $files files of $size bytes"
for ((d = 0; d < 100; d++)); do
  mkdir -p "$mnt/tree/d$d"
  for ((f = 0; f < per; f++)); do cp "$work/blob" "$mnt/tree/d$d/f$f"; done
done
sync
now() { date +%s.%N; }
declare -a tcp tsn
for ((r = 1; r <= runs; r++)); do
  t0=$(now)
  cp -a "$mnt/tree" "$mnt/copy$r"
  sync
  t1=$(now)
  p1=$(parts)
  "$cli" -m "$maddr" snapshot "$mnt/tree" "$mnt/snap$r" >/dev/null
  t2=$(now)
  sleep 2
  [ "$(parts)" = "$p1" ] || { echo "snapshot_bench: the snapshot changed the parts" >&2; exit 1; }
  for d in 0 37 99; do
    diff -r "$mnt/tree/d$d" "$mnt/snap$r/d$d" >/dev/null &&
      diff -r "$mnt/tree/d$d" "$mnt/copy$r/d$d" >/dev/null ||
      { echo "snapshot_bench: a copy differs in d$d" >&2; exit 1; }
  done
  tcp[r]=$(echo "$t1 - $t0" | bc -l)
  tsn[r]=$(echo "$t2 - $t1" | bc -l)
  printf 'run %d: cp -a %.2fs, snapshot %.3fs (%d files)\n' "$r" "${tcp[r]}" "${tsn[r]}" "$files"
  rm -rf "$mnt/copy$r" "$mnt/snap$r"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mc=$(med "${tcp[@]}")
ms=$(med "${tsn[@]}")
printf 'median: cp -a %.2fs, snapshot %.3fs; snapshot/cp %.4f (%.0fx faster)\n' "$mc" "$ms" \
  "$(echo "$ms / $mc" | bc -l)" "$(echo "$mc / $ms" | bc -l)"
