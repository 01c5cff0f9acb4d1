#!/usr/bin/env bash
# Proves snapshots of issue 9 through the mount and `cairn snapshot`:
#  1. A tree of 1,000 files (890 empty, 100 small, 10 of 2 MiB): the snapshot adds no
#     part on the chunkservers (metadata only) and reads back identical.
#  2. Writes to some files of the source and to another of the snapshot:
#     each side reads its own version, and exactly the chunks written got
#     new parts (copy-on-write on the chunkservers, 2 copies each).
#  3. Deleting the source leaves the snapshot intact (with its own change);
#     deleting the snapshot then frees every part.
#   bash test_45_snapshot.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_45_snapshot "${1:-}"

export CAIRN_LOCAL_MASTER_OPTS="HEARTBEAT_MS=250ms"
export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250"
ml_up --chunkservers 2 --copies 2 --disk-size 1G --metaloggers 0
wait_online 2
total_parts() { cj servers | jq -e '[.servers[].parts] | add'; }
wait_parts() { # wait_parts N: the chunkservers hold N parts (within 20 s)
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(total_parts)" = "$1" ] && return 0
    sleep 0.1
  done
  fail "the chunkservers hold $(total_parts) parts, want $1"
}

step "a tree of 1,000 files"
declare -A want=()
mkdir -p "$mnt/src"
for ((d = 0; d < 10; d++)); do
  mkdir "$mnt/src/d$d"
  (cd "$mnt/src/d$d" && touch $(seq -f 'e%g' 0 88)) # empty files: no chunk
  for ((f = 0; f < 10; f++)); do echo "file $d/$f" >"$mnt/src/d$d/f$f"; done
done
for ((k = 0; k < 10; k++)); do put_rand "src/big$k" 2; done
files=$(find "$mnt/src" -type f | wc -l)
[ "$files" = 1000 ] || fail "$files files, want 1000"
sync
wait_parts 220 # 100 small and 10 big one-chunk files, 2 copies each
p0=220
inodes0=$(cj status | jq .inodes)

step "snapshot: metadata only"
t0=$(date +%s%N)
T 120 "$cli" -m "$maddr" snapshot "$mnt/src" "$mnt/snap" || fail "snapshot failed"
echo "snapshot of 1,000 files took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ "$(cj status | jq .inodes)" = $((inodes0 + 1011)) ] || fail "want 1,011 new inodes (1,000 files, 11 directories)"
sleep 1
[ "$(total_parts)" = "$p0" ] || fail "the snapshot changed the parts: $(total_parts), was $p0"
diff -r "$mnt/src" "$mnt/snap" >/dev/null || fail "the snapshot differs from the source"

step "each side writes: copy-on-write of exactly those chunks"
want_snap_big1=$(msha "$mnt/src/big1")
dd if=/dev/urandom of="$mnt/src/big0" bs=64K count=1 seek=5 conv=notrunc,fsync status=none
echo "appended" >>"$mnt/src/d3/f7"
dd if=/dev/urandom of="$mnt/snap/big1" bs=64K count=1 seek=9 conv=notrunc,fsync status=none
sync
wait_parts $((p0 + 6))
drop_caches
[ "$(msha "$mnt/src/big0")" != "$(msha "$mnt/snap/big0")" ] || fail "src/big0 and snap/big0 are the same after writing src"
[ "$(msha "$mnt/snap/big0")" = "${want[src/big0]}" ] || fail "the snapshot's big0 changed"
[ "$(msha "$mnt/src/big1")" = "$want_snap_big1" ] || fail "the source's big1 changed by a write to the snapshot"
[ "$(tail -n1 "$mnt/src/d3/f7")" = appended ] || fail "src/d3/f7 lost its append"
[ "$(cat "$mnt/snap/d3/f7")" = "file 3/7" ] || fail "snap/d3/f7 changed"
snap_big1=$(msha "$mnt/snap/big1")
[ "$snap_big1" != "$want_snap_big1" ] || fail "the write to snap/big1 is not there"

step "delete the source: the snapshot stays whole"
rm -rf "$mnt/src"
drop_caches
for ((k = 2; k < 10; k++)); do
  [ "$(msha "$mnt/snap/big$k")" = "${want[src/big$k]}" ] || fail "snap/big$k changed after rm -rf src"
done
[ "$(msha "$mnt/snap/big1")" = "$snap_big1" ] || fail "snap/big1 lost its own write"
[ "$(cat "$mnt/snap/d9/f9")" = "file 9/9" ] || fail "snap/d9/f9 wrong"
wait_parts "$p0" # src's copies of big0 and f7 went, and big1, which only src kept
T 60 "$cli" -m "$maddr" fsck || fail "fsck after the deletes found problems"
rm -rf "$mnt/snap"
wait_parts 0
echo ok
