#!/usr/bin/env bash
# convert_bench.sh - keep -> archive conversion throughput (issue 7;
# bench/RESULTS.md "Erasure coding"): a 1 GiB file written as copies=2, then
# its class gains an archive state ec=4+2 after=1s; timed from that
# `cairn class edit` until `cairn info` shows every chunk ec=4+2. Three runs
# on one cairn-local cluster of 7 chunkservers (127.0.0.1, base port 23700,
# heal-suite timers); each run's file is compared with its source, then
# deleted. The time includes the 1 s after= wait and the next health pass.
#
#   bash bench/convert_bench.sh [BUILD_DIR]     (default: build)
#
# Needs root (FUSE, drop_caches); the cluster is purged on exit.
set -euo pipefail
B=$(cd "${1:-build}" && pwd)/bin
D=/tmp/cairn-convert-bench.$$
P=23700
C="$B/cairn -m 127.0.0.1:$((P + 1))"
trap '"$B/cairn-local" down --dir $D --purge >/dev/null 2>&1 || true; rm -f /dev/shm/cairn-convsrc.$$' EXIT
export CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=0;HEARTBEAT_MS=250ms;CS_TIMEOUT_MS=2s;CS_GRACE_MS=3s;HEALTH_PERIOD_MS=200ms;HEALTH_START_MS=1s;REBALANCE_RATE_MBPS=0"
export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250"
"$B/cairn-local" up --dir $D --chunkservers 7 --disk-size 4G --base-port $P --metaloggers 0 >/dev/null
src=/dev/shm/cairn-convsrc.$$
head -c $((1024 << 20)) /dev/urandom >"$src"
for r in 1 2 3; do
  $C class add "a$r" --create "copies=2" >/dev/null
  mkdir "$D/mnt/d$r"
  $C class set "$D/mnt/d$r" "a$r" >/dev/null
  dd if="$src" of="$D/mnt/d$r/f" bs=1M conv=fsync status=none
  sleep 2
  t0=$(date +%s.%N)
  $C class edit "a$r" --archive "ec=4+2" after=1s >/dev/null
  for ((i = 0; i < 3000; i++)); do
    $C --json info "$D/mnt/d$r/f" | jq -e '.chunks | all(.layout == "ec=4+2")' >/dev/null && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  echo 3 >/proc/sys/vm/drop_caches
  cmp "$src" "$D/mnt/d$r/f"
  echo "run $r: 1024 MiB converted copies=2 -> ec=4+2 in $(echo "$t1 - $t0" | bc) s:" \
    "$(echo "1073.741824 / ($t1 - $t0)" | bc -l | cut -c1-6) MB/s"
  rm "$D/mnt/d$r/f"
done
