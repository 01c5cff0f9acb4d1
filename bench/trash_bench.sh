#!/usr/bin/env bash
# trash_bench.sh - undoing `rm -rf` of 10,000 files with `cairn trash
# restore`, against the operations it undoes, in the same run
# (bench/RESULTS.md "Trash restore").
#
#   bash bench/trash_bench.sh [BUILD_DIR] [--runs N] [--files N]
#
# One cairn-local cluster (2 chunkservers, TRASH_TIME=1h) on 127.0.0.1; per
# run: create N files (default 10,000) in 100 directories through the mount
# (reference 1: `touch` of 100 names at a time; empty files, except one with
# 1 KiB of data whose bytes are checked), `rm -rf` the tree (reference 2),
# then `cairn trash restore` of the tree's path, timed until it returns; the
# run checks that every file came back. Restoring costs the same for a file
# of any size (the data stays where it is). Prints each run, then
# medians and the ratios restore/rm and restore/create. Needs root (FUSE);
# stops what it starts by PID and unmounts.
set -euo pipefail

build=build
runs=3
files=10000
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
build=$(cd "$build" && pwd)
local_sh="$build/bin/cairn-local"
cli="$build/bin/cairn"
[ -x "$local_sh" ] && [ -x "$cli" ] || { echo "trash_bench: binaries missing in $build/bin" >&2; exit 1; }
work=$(mktemp -d /tmp/cairn-trash-bench.XXXXXX)
dir="$work/c"
base=$((21000 + RANDOM % 9000))
cleanup() {
  set +e
  timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=1h" "$local_sh" up --dir "$dir" --base-port "$base" \
  --chunkservers 2 --disk-size 2G --metaloggers 0 >/dev/null
mnt="$dir/mnt"
maddr="127.0.0.1:$((base + 1))"
head -c 1024 /dev/urandom >"$work/blob"
want=$(sha256sum "$work/blob" | cut -d' ' -f1)
per=$((files / 100))

now() { date +%s.%N; }
declare -a tc tr tt
for ((r = 1; r <= runs; r++)); do
  t0=$(now)
  for ((d = 0; d < 100; d++)); do
    mkdir -p "$mnt/tree/d$d"
    (cd "$mnt/tree/d$d" && touch $(seq -f 'f%g' 0 $((per - 1))))
  done
  cp "$work/blob" "$mnt/tree/d7/data"
  sync
  t1=$(now)
  rm -rf "$mnt/tree"
  t2=$(now)
  "$cli" -m "$maddr" trash restore /tree >/dev/null
  t3=$(now)
  n=$(find "$mnt/tree" -type f | wc -l)
  [ "$n" = $((files + 1)) ] || { echo "trash_bench: $n of $((files + 1)) files came back" >&2; exit 1; }
  got=$(sha256sum <"$mnt/tree/d7/data" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "trash_bench: wrong bytes after the restore" >&2; exit 1; }
  tc[r]=$(echo "$t1 - $t0" | bc -l)
  tr[r]=$(echo "$t2 - $t1" | bc -l)
  tt[r]=$(echo "$t3 - $t2" | bc -l)
  printf 'run %d: create %.2fs, rm -rf %.2fs, trash restore %.2fs (%d files)\n' "$r" "${tc[r]}" \
    "${tr[r]}" "${tt[r]}" "$files"
  rm -rf "$mnt/tree"
  "$cli" -m "$maddr" trash purge --all >/dev/null
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mc=$(med "${tc[@]}")
mr=$(med "${tr[@]}")
mt=$(med "${tt[@]}")
printf 'median: create %.2fs, rm -rf %.2fs, trash restore %.2fs; restore/rm %.2f, restore/create %.3f; %.0f files/s restored\n' \
  "$mc" "$mr" "$mt" "$(echo "$mt / $mr" | bc -l)" "$(echo "$mt / $mc" | bc -l)" \
  "$(echo "$files / $mt" | bc -l)"
