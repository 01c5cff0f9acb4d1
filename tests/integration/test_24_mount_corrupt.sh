#!/usr/bin/env bash
# A corrupt copy under the FUSE mount (3 chunkservers, copies=2): a file of a
# few MiB with unique marker lines; the chunkserver of one copy is killed, a
# data block of its part is damaged in the disk image (payload bytes found by
# a marker, not headers: `cairn-disk check` then names the bad block), the
# chunkserver restarted, caches dropped:
#  - every read of the file returns the right data (from the other copy);
#  - the chunkserver logs the CRC failure and the master drops that part
#    (`cairn info` no longer lists it on that server).
#   bash test_24_mount_corrupt.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_24_mount_corrupt "${1:-}"

ml_up --chunkservers 3 --copies 2 --disk-size 256M
wait_online 3

step "write a 4 MiB file of marker lines"
orig="$work/orig"
for ((i = 0; i < 4096; i++)); do
  printf 'CAIRNMARK-%06d-%01012d\n' "$i" 0
done >"$orig"   # 1030-byte lines, ~4 MiB
want=$(sha "$orig")
T 60 dd if="$orig" of="$mnt/f" bs=1M conv=fsync status=none || fail "write f"

# parts_of: "SERVER" for each part of /f the master lists (one a line).
parts_of() {
  T 30 "$cli" -m "$maddr" info /f | awk '/^ *part [0-9]+ +server / {print $4}'
}
for ((i = 0; i < 100; i++)); do
  servers=$(parts_of)
  [ "$(wc -l <<<"$servers")" = 2 ] && break
  sleep 0.2
done
T 30 "$cli" -m "$maddr" info /f
[ "$(wc -l <<<"$servers")" = 2 ] || fail "the master does not list 2 parts of /f"
victim=$(head -n1 <<<"$servers")
other=$(tail -n1 <<<"$servers")
echo "copies on: $victim $other; damaging the copy on $victim"
img="$dir/$victim/disk1.img"

step "kill $victim; damage a data block of its part"
"$local_sh" kill --dir "$dir" "$victim"
T 30 "$bin/cairn-disk" ls "$img"
T 60 "$bin/cairn-disk" check "$img" >/dev/null || fail "$img is damaged before the test damaged it"
# The marker of line 2500 (block 39 of 64 KiB) is unique: its payload offset.
off=$(grep -obUa 'CAIRNMARK-002500-' "$img" | head -n1 | cut -d: -f1)
[ -n "$off" ] || fail "marker not found in $img"
n=$(grep -cUa 'CAIRNMARK-002500-' "$img" || true)
[ "$n" = 1 ] || fail "marker found $n times in $img (want once)"
printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$img" bs=1 seek="$off" conv=notrunc status=none
sync
chk=$(T 60 "$bin/cairn-disk" check "$img" 2>&1) && fail "cairn-disk check does not see the damage: $chk"
echo "$chk"
grep -q "BAD .*block 39" <<<"$chk" || fail "cairn-disk check does not name block 39: $chk"

step "start $victim; drop caches; the file reads back right"
"$local_sh" start --dir "$dir" "$victim"
wait_online 3
drop_caches
for k in 1 2 3; do
  got=$(msha "$mnt/f") || fail "read $k of f failed (rc $?)"
  [ "$got" = "$want" ] || fail "read $k of f: wrong data"
  T 60 cmp "$mnt/f" "$orig" || fail "cmp $k of f"
  drop_caches
done
# A read of the damaged range alone (block 39).
T 30 dd if="$mnt/f" of="$work/blk" bs=64k skip=39 count=1 status=none || fail "read block 39"
cmp "$work/blk" <(dd if="$orig" bs=64k skip=39 count=1 status=none) || fail "block 39: wrong data"

step "the bad part is reported: $victim logs the CRC error, the master drops it"
# Whether the client read the bad copy is its choice; a few reads, then wait.
logged=0 dropped=0
for ((i = 0; i < 150; i++)); do
  grep -qi "crc" "$dir/$victim/log" && logged=1
  parts_of | grep -qx "$victim" || dropped=1
  # the health loop may put a fresh copy back on $victim before a poll
  # sees it gone: the master's log says it dropped the damaged one
  grep -q "$victim: chunk [0-9a-f]* part [0-9]* version [0-9]* failed its CRC" \
    "$dir/master/log" && dropped=1
  [ "$logged" = 1 ] && [ "$dropped" = 1 ] && break
  if [ $((i % 10)) = 0 ]; then
    drop_caches
    T 60 cat "$mnt/f" >/dev/null || fail "read of f failed"
  fi
  sleep 0.2
done
grep -i "crc" "$dir/$victim/log" || true
T 30 "$cli" -m "$maddr" info /f
[ "$logged" = 1 ] || fail "$victim did not log the CRC failure of its damaged part"
[ "$dropped" = 1 ] || fail "the master still lists the damaged part on $victim"
drop_caches
[ "$(msha "$mnt/f")" = "$want" ] || fail "f: wrong data after the part was dropped"

# The above is caught by the chunkserver's scrub as soon as it starts (it
# reads every block at SCRUB_RATE_MBPS), before any client read. Now with
# the scrub off on the damaged server, so that a client read meets the bad
# block: with the good copy's server down, the read of that block fails
# (EIO; never wrong data); with it back, the file reads right; the bad
# part is reported from the read path and dropped.
step "scrub off: a second file, the bad block found by a read"
for ((i = 0; i < 4096; i++)); do
  printf 'GMARK-%06d-%01016d\n' "$i" 0
done >"$work/g"
wantg=$(sha "$work/g")
T 60 dd if="$work/g" of="$mnt/g" bs=1M conv=fsync status=none || fail "write g"
for ((i = 0; i < 100; i++)); do
  sg=$(T 30 "$cli" -m "$maddr" info /g | awk '/^ *part [0-9]+ +server / {print $4}')
  [ "$(wc -l <<<"$sg")" = 2 ] && break
  sleep 0.2
done
[ "$(wc -l <<<"$sg")" = 2 ] || fail "the master does not list 2 parts of /g"
bad=$(head -n1 <<<"$sg")
good=$(tail -n1 <<<"$sg")
echo "copies of g on: $bad $good; damaging the copy on $bad (its scrub off)"
"$local_sh" kill --dir "$dir" "$bad"
img="$dir/$bad/disk1.img"
off=$(grep -obUa 'GMARK-002500-' "$img" | head -n1 | cut -d: -f1)
[ -n "$off" ] || fail "marker not found in $img"
printf 'YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY' | dd of="$img" bs=1 seek="$off" conv=notrunc status=none
sync
echo "SCRUB_RATE_MBPS = 0" >>"$dir/$bad/cs.cfg"
"$local_sh" start --dir "$dir" "$bad"
"$local_sh" kill --dir "$dir" "$good"
wait_online 2
T 30 "$cli" -m "$maddr" info /g
drop_caches
# The line of marker 2500 (1030-byte lines) is in block 2500*1030/65536 = 39.
rc=0
out=$(T 90 dd if="$mnt/g" of="$work/gblk" bs=64k skip=39 count=1 status=none 2>&1) || rc=$?
echo "read of the damaged block with only the bad copy up: rc $rc: $out"
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "the read of a block whose only copy is bad hangs"
if [ "$rc" = 0 ]; then
  cmp -s "$work/gblk" <(dd if="$work/g" bs=64k skip=39 count=1 status=none) ||
    fail "the read of a block whose only live copy is damaged returned WRONG DATA (want EIO)"
  fail "the read of a block whose only live copy is damaged returned the right data?"
fi
grep -q "Input/output error" <<<"$out" || fail "the failed read is not EIO: $out"
"$local_sh" start --dir "$dir" "$good"
wait_online 3
drop_caches
gotg=$(msha "$mnt/g") || fail "read of g with the good copy back failed"
[ "$gotg" = "$wantg" ] || fail "g: wrong data with the good copy back"
# The damaged part is dropped; the health loop may then put the new second
# copy back on $bad (a fresh copy replaces the damaged one: its log says
# "replicate: copied"), which is listed again, and is good.
replaced=0
for ((i = 0; i < 100; i++)); do
  T 30 "$cli" -m "$maddr" info /g | grep -q "server $bad " || break
  if grep -q "replicate: copied chunk" "$dir/$bad/log"; then
    replaced=1
    break
  fi
  sleep 0.2
done
T 30 "$cli" -m "$maddr" info /g
grep -i "crc" "$dir/$bad/log" | tail -n 3
[ "$i" -lt 100 ] || fail "the master still lists the damaged part of g on $bad"
if [ "$replaced" = 1 ]; then
  step "$bad holds a fresh copy of g now: read g with $good stopped"
  "$local_sh" kill --dir "$dir" "$good"
  drop_caches
  gotg=$(msha "$mnt/g") || fail "read of g from the replacement copy on $bad failed"
  [ "$gotg" = "$wantg" ] || fail "g: wrong data from the replacement copy on $bad"
  "$local_sh" start --dir "$dir" "$good"
fi
grep -qi "crc" "$dir/$bad/log" || fail "$bad did not log the CRC failure met by the read"
echo "PASS"
