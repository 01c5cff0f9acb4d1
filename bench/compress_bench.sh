#!/usr/bin/env bash
# compress_bench.sh - a class state with compress=zstd against the same
# layout stored plain, same cluster, same run (issue 7; bench/RESULTS.md
# "Compression").
#
#   bash bench/compress_bench.sh [BUILD_DIR] [--runs N] [--size MIB]
#
# One cairn-local cluster (3 chunkservers, 4G sparse disks) on 127.0.0.1 with
# two classes, one directory each: plain (copies=2) and zstd (copies=2
# compress=zstd). The data: SIZE MiB (default 512) of log lines made by awk
# from a fixed seed (timestamps, levels, ids, paths, numbers: text that
# compresses about as well as real service logs), and the same amount of
# random bytes (incompressible: the cost of trying). Per run, class and
# data, in that order: `dd bs=1M conv=fsync` into the class's directory
# (MB/s, durable), the disks' live bytes after minus before (`cairn --json
# disks`, read once two heartbeats agree) over the file's bytes, then
# drop_caches and a timed read (MB/s) checked with cmp; the file is deleted.
# Prints every run, then medians and the ratios zstd / plain. Needs root
# (FUSE, drop_caches); stops what it starts and removes its folder.
set -euo pipefail

build=build
runs=3
size=512
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs N}; shift 2 ;;
    --size) size=${2:?--size needs MIB}; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "compress_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "compress_bench: --runs $runs: want a positive integer" >&2; exit 2; }
[[ $size =~ ^[1-9][0-9]*$ ]] || { echo "compress_bench: --size $size: want MiB" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "compress_bench: needs root (FUSE, drop_caches)" >&2; exit 1; }
build=$(cd "$build" && pwd)
local_sh="$build/bin/cairn-local"
cli="$build/bin/cairn"
[ -x "$local_sh" ] && [ -x "$cli" ] || { echo "compress_bench: binaries missing in $build/bin" >&2; exit 1; }
work=$(mktemp -d /var/tmp/cairn-compress-bench.XXXXXX)
dir="$work/c"
base=$((21000 + RANDOM % 9000))
cleanup() {
  set +e
  timeout 90 "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=0;REBALANCE_RATE_MBPS=0" CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250" \
  "$local_sh" up --dir "$dir" --base-port "$base" --chunkservers 3 --disk-size 4G --metaloggers 0 >/dev/null
mnt="$dir/mnt"
maddr="127.0.0.1:$((base + 1))"
C() { timeout 30 "$cli" -m "$maddr" "$@"; }
C class add plain --create "copies=2" >/dev/null
C class add zstd --create "copies=2 compress=zstd" >/dev/null
for c in plain zstd; do
  mkdir "$mnt/$c"
  C class set "$mnt/$c" "$c" >/dev/null
done
bytes=$((size << 20))
echo "compress_bench: making $size MiB of log text and $size MiB of random bytes" >&2
# awk stops itself at n bytes (no SIGPIPE under pipefail); head cuts exactly
head -c "$bytes" > "$work/text" < <(awk -v n="$bytes" 'BEGIN {
  srand(1); split("INFO INFO INFO INFO DEBUG WARN ERROR", lv, " ");
  split("GET GET GET POST PUT DELETE", mt, " ");
  split("items users orders carts search health", rs, " ");
  while (t < n) {
    line = sprintf("2026-11-26T%02d:%02d:%02d.%03dZ %s worker-%d %s /api/v1/%s/%d status=%d bytes=%d ms=%d req=%08x\n",
      int(rand() * 24), int(rand() * 60), int(rand() * 60), int(rand() * 1000), lv[1 + int(rand() * 7)],
      int(rand() * 32), mt[1 + int(rand() * 6)], rs[1 + int(rand() * 6)], int(rand() * 100000),
      rand() < 0.95 ? 200 : 500, int(rand() * 20000), int(rand() * 300), int(rand() * 4294967295));
    printf "%s", line; t += length(line)
  }
}')
head -c "$bytes" /dev/urandom >"$work/random"
used() { C --json disks | jq '[.disks[].used] | add'; }
stable_used() {
  local a b
  a=$(used)
  for _ in $(seq 1 60); do
    sleep 0.6
    b=$(used)
    [ "$a" = "$b" ] && break
    a=$b
  done
  echo "$b"
}
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}
now() { date +%s.%N; }
declare -A w r s
for ((run = 1; run <= runs; run++)); do
  for data in text random; do
    for c in plain zstd; do
      u0=$(stable_used)
      drop_caches
      t0=$(now)
      timeout 600 dd if="$work/$data" of="$mnt/$c/f" bs=1M conv=fsync status=none
      t1=$(now)
      u1=$(stable_used)
      drop_caches
      t2=$(now)
      timeout 600 dd if="$mnt/$c/f" of=/dev/null bs=1M status=none
      t3=$(now)
      cmp "$work/$data" "$mnt/$c/f" || { echo "compress_bench: $c/$data reads back wrong" >&2; exit 1; }
      rm "$mnt/$c/f"
      k="$data $c"
      w[$k]+="$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1e6 }') "
      r[$k]+="$(awk -v b="$bytes" -v a="$t2" -v z="$t3" 'BEGIN { printf "%.1f", b / (z - a) / 1e6 }') "
      s[$k]+="$(awk -v b="$bytes" -v a="$u0" -v z="$u1" 'BEGIN { printf "%.3f", (z - a) / b }') "
      echo "run $run $data $c: write $(echo "${w[$k]}" | awk '{print $NF}') MB/s," \
        "read $(echo "${r[$k]}" | awk '{print $NF}') MB/s, disk/file $(echo "${s[$k]}" | awk '{print $NF}')"
    done
  done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo
echo "| data | class | write MB/s | read MB/s | disk bytes / file bytes |"
echo "|---|---|---|---|---|"
for data in text random; do
  for c in plain zstd; do
    k="$data $c"
    echo "| $data | $c | $(med "${w[$k]}") | $(med "${r[$k]}") | $(med "${s[$k]}") |"
  done
done
echo
echo "| data | write zstd/plain | read zstd/plain | space zstd/plain |"
echo "|---|---|---|---|"
for data in text random; do
  a="$data plain" b="$data zstd"
  echo "| $data | $(awk -v x="$(med "${w[$b]}")" -v y="$(med "${w[$a]}")" 'BEGIN { printf "%.3f", x / y }') |" \
    "$(awk -v x="$(med "${r[$b]}")" -v y="$(med "${r[$a]}")" 'BEGIN { printf "%.3f", x / y }') |" \
    "$(awk -v x="$(med "${s[$b]}")" -v y="$(med "${s[$a]}")" 'BEGIN { printf "%.3f", x / y }') |"
done
echo "($runs runs of $size MiB; medians)"
