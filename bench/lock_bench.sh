#!/usr/bin/env bash
# lock_bench.sh - lock acquire + release cycles per second through Cairn's
# FUSE mounts, against the same driver on a local directory (ext4 or tmpfs)
# as the reference (bench/RESULTS.md "Locks").
#
#   bash bench/lock_bench.sh [BUILD_DIR] [--runs N] [--seconds S] [--local DIR]
#
# BUILD_DIR (default build) must hold bin/ (cairn-local and the daemons) and
# tests/integration/locktool. One cairn-local cluster (1 chunkserver) on
# 127.0.0.1 with a second mount of the same master; per run, each case runs
# `locktool bench` for S seconds (default 5):
#   posix-1   one process, fcntl F_SETLKW + F_UNLCK of the whole file, mount A
#   posix-2   two processes, one on each mount, contending for the same file
#   flock-2   the same with flock(LOCK_EX) / LOCK_UN
# The local reference runs the same cases with both processes in DIR (default
# /dev/shm, then the build dir's filesystem: ext4 here). Prints one line per
# case and run, then the medians and ratios. Needs root (FUSE) like
# cairn-local; stops what it starts by PID and unmounts.
set -euo pipefail

build=build
runs=3
secs=5
locals=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --local) locals+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
build=$(cd "$build" && pwd)
tool="$build/tests/integration/locktool"
local_sh="$build/bin/cairn-local"
[ -x "$tool" ] || { echo "lock_bench: $tool missing (cmake --build $build --target locktool)" >&2; exit 1; }
[ -x "$local_sh" ] || { echo "lock_bench: $local_sh missing" >&2; exit 1; }
[ ${#locals[@]} -gt 0 ] || locals=(/dev/shm "$build")

work=$(mktemp -d /tmp/cairn-lockbench.XXXXXX)
dir="$work/cluster"
mnt="$dir/mnt"
mntB="$work/mntB"
mountB_pid=
cleanup() {
  set +e
  if grep -qF " $mntB " /proc/self/mounts; then
    timeout 10 fusermount3 -u "$mntB" || fusermount3 -u -z "$mntB"
  fi
  [ -z "$mountB_pid" ] || { kill -TERM "$mountB_pid"; timeout 10 tail --pid="$mountB_pid" -f /dev/null; }
  [ -f "$dir/cluster.env" ] && timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
  for d in "${locals[@]}"; do rm -f "$d/cairn-lockbench.$$"; done
  rm -rf "$work"
}
trap cleanup EXIT

base=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 19990))
"$local_sh" up --dir "$dir" --base-port "$base" --chunkservers 1 --copies 1 --disk-size 256M \
  >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
mkdir -p "$mntB"
"$build/bin/cairn-mount" "127.0.0.1:$((base + 1))" "$mntB" -f >"$work/mountB.log" 2>&1 &
mountB_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -qF " $mntB fuse" /proc/self/mounts && break
  sleep 0.1
done
grep -qF " $mntB fuse" /proc/self/mounts || { echo "lock_bench: mount B failed" >&2; exit 1; }
echo x >"$mnt/lockfile"

# case NAME FILE_A FILE_B: cycles/s of one case (sum over its processes).
one() {
  local name=$1 a=$2 b=$3 ra rb
  case $name in
    posix-1) "$tool" bench "$a" posix "$secs" | awk '{print $6}' ;;
    posix-2 | flock-2)
      local kind=${name%-2}
      "$tool" bench "$a" "$kind" "$secs" >"$work/a.out" &
      local pa=$!
      "$tool" bench "$b" "$kind" "$secs" >"$work/b.out"
      wait "$pa"
      ra=$(awk '{print $2}' "$work/a.out")
      rb=$(awk '{print $2}' "$work/b.out")
      # both ran S seconds side by side: their cycles over the longer time
      awk -v a="$ra" -v b="$rb" -v fa="$(awk '{print $4}' "$work/a.out")" \
        -v fb="$(awk '{print $4}' "$work/b.out")" \
        'BEGIN { t = fa > fb ? fa : fb; printf "%.1f\n", (a + b) / t }'
      ;;
  esac
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

cases=(posix-1 posix-2 flock-2)
declare -A res=()
echo "lock_bench: $runs runs of ${secs}s per case; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= runs; r++)); do
  for c in "${cases[@]}"; do
    v=$(one "$c" "$mnt/lockfile" "$mntB/lockfile")
    res[cairn,$c]+="$v "
    echo "run $r cairn $c $v"
    for d in "${locals[@]}"; do
      f="$d/cairn-lockbench.$$"
      echo x >"$f"
      v=$(one "$c" "$f" "$f")
      res[$d,$c]+="$v "
      echo "run $r local:$d $c $v"
    done
  done
done
echo
printf '%-8s %12s' case cairn
for d in "${locals[@]}"; do printf ' %14s %8s' "$(df --output=fstype "$d" | tail -n1):$d" ratio; done
echo
for c in "${cases[@]}"; do
  mc=$(tr ' ' '\n' <<<"${res[cairn,$c]}" | grep . | median)
  printf '%-8s %12.1f' "$c" "$mc"
  for d in "${locals[@]}"; do
    ml=$(tr ' ' '\n' <<<"${res[$d,$c]}" | grep . | median)
    printf ' %14.1f %8.5f' "$ml" "$(awk -v a="$mc" -v b="$ml" 'BEGIN {print a / b}')"
  done
  echo
done
