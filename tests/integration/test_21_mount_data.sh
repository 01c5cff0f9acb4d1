#!/usr/bin/env bash
# Data integrity through a real FUSE mount of a cairn-local cluster (3
# chunkservers, 2 copies): ~216 MiB of random files of mixed sizes (0 B,
# 1 B, 65535, 65537, 1 MiB+3, 64 MiB+1 across the chunk boundary, one
# 150 MiB file over three chunks and a few random ones) copied in with cp from a local temp
# copy, and a tree of 2,000 small files (0-8 KiB, 20 directories) written by
# a loop; then drop the page cache and compare the SHA-256 of every file
# (sha256sum -c), and check that `cairn info` of the big file reports 2 live
# copies of every chunk.
#   bash test_21_mount_data.sh BIN_DIR
# Needs root (drop_caches) and /dev/fuse. 64 MiB-1 is left out (150 MiB and
# 64 MiB+1 cross the boundary already) so the whole run stays near 200 MiB.
set -euo pipefail

bin=${1:?usage: test_21_mount_data.sh BIN_DIR}
[ -e /dev/fuse ] || { echo "FAIL: no /dev/fuse" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_21_mount_data "$bin"
src="$work/src"
unset CAIRN_LOCAL_MOUNT_OPTS

MiB=$((1024 * 1024))
step "local files in $src"
mkdir -p "$src/files" "$src/tree"
declare -A sizes=(
  [empty]=0 [one]=1 [k64m1]=65535 [k64p1]=65537 [m1p3]=$((MiB + 3))
  [c64p1]=$((64 * MiB + 1)) [big]=$((150 * MiB))
)
# A few more of random sizes up to 1 MiB.
for i in 1 2 3 4 5 6; do sizes[rand$i]=$(((RANDOM * 32768 + RANDOM) % MiB)); done
total=0
for name in "${!sizes[@]}"; do
  head -c "${sizes[$name]}" /dev/urandom >"$src/files/$name.bin"
  total=$((total + sizes[$name]))
done
[ "$(stat -c %s "$src/files/empty.bin")" = 0 ] || fail "local empty file"
[ "$(stat -c %s "$src/files/c64p1.bin")" = $((64 * MiB + 1)) ] || fail "local c64p1"
for ((i = 1; i <= 20; i++)); do printf -v d "d%02d" "$i"; mkdir "$src/tree/$d"; done
for ((i = 0; i < 2000; i++)); do
  printf -v f "d%02d/f%04d" $((i % 20 + 1)) "$i"
  head -c $(((RANDOM * 32768 + RANDOM) % 8193)) /dev/urandom >"$src/tree/$f"
done
[ "$(find "$src/tree" -type f | wc -l)" = 2000 ] || fail "local tree is not 2000 files"
(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$work/manifest"
nfiles=$(wc -l <"$work/manifest")
echo "$nfiles files, $((total / MiB)) MiB in the large set"

ml_up --chunkservers 3 --copies 2 --disk-size 2G

step "cp the large files"
timeout 300 cp -r "$src/files" "$mnt/files" || fail "cp of the large files failed (exit $?)"

step "write the tree of 2000 small files by a loop"
export src mnt
timeout 300 bash -c '
  set -e
  for d in "$src"/tree/*/; do
    d=${d%/}; rel=tree/${d##*/}
    mkdir -p "$mnt/$rel"
    for f in "$d"/*; do cat "$f" >"$mnt/$rel/${f##*/}"; done
  done' || fail "writing the tree failed (exit $?)"

step "drop caches"
sync
echo 3 >/proc/sys/vm/drop_caches

step "sha256sum -c of $nfiles files"
[ "$(cd "$mnt" && timeout 120 find . -type f | wc -l)" = "$nfiles" ] || fail "file count on the mount"
(cd "$mnt" && timeout 300 sha256sum --quiet -c "$work/manifest") || fail "checksums differ"
for name in "${!sizes[@]}"; do
  got=$(timeout 30 stat -c %s "$mnt/files/$name.bin")
  [ "$got" = "${sizes[$name]}" ] || fail "size of $name.bin: $got, want ${sizes[$name]}"
done

step "cairn info /files/big.bin: 2 live copies of each chunk"
cli=("$bin/cairn" -m "127.0.0.1:$((base + 1))")
want_chunks=$(((150 * MiB + 64 * MiB - 1) / (64 * MiB)))
for ((i = 0; i < 60; i++)); do
  info=$(timeout 30 "${cli[@]}" info /files/big.bin) || fail "cairn info failed"
  n=$(grep -Ec "^ +chunk [0-9]+ .* live 2/2$" <<<"$info" || true)
  [ "$n" != "$want_chunks" ] || break
  sleep 0.5
done
echo "$info"
grep -q "^chunks: $want_chunks$" <<<"$info" || fail "big.bin does not have $want_chunks chunks"
[ "$n" = "$want_chunks" ] || fail "big.bin: $n of $want_chunks chunks have live 2/2"

step "down"
timeout 60 "$local_sh" down --dir "$dir" >/dev/null || fail "down failed"
