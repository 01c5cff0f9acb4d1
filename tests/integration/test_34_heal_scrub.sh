#!/usr/bin/env bash
# Proves: a part damaged on disk is found by the chunkserver's scrub (no
# client read involved) and the master replaces it: the chunk is back to 2
# current parts, a repair copy was made, and the new copy holds right data.
#  1. 3 chunkservers, copies=2; a 4 MiB file of unique marker lines.
#  2. The server of one copy is killed; a data block of its part is damaged in
#     its disk image (found by a marker, as in test_24; `cairn-disk check`
#     names the bad block); it starts again with SCRUB_RATE_MBPS = 1000.
#  3. Without reading the file: wait (bounded) until that server logs the CRC
#     failure, health.copies_done grew and the chunk has 2 current parts on
#     online servers.
#  4. The victim never became "lost" (CS_GRACE_MS=60s), so the copy is the
#     scrub's doing. The file reads back right; then the server of the good original copy
#     is killed and it still reads back right (from the replacement).
#   bash test_34_heal_scrub.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_34_heal_scrub "${1:-}"

if is_asan; then heal_s=180; else heal_s=90; fi
# CS_GRACE_MS=60s: the victim is down for seconds while its image is damaged;
# it must not count as lost (a repair for that reason would hide the scrub's).
heal_env "CS_GRACE_MS=60s"
ml_up --chunkservers 3 --copies 2 --disk-size 256M
wait_online 3

step "write a 4 MiB file of marker lines"
orig="$work/orig"
for ((i = 0; i < 4096; i++)); do
  printf 'HEALMARK-%06d-%01012d\n' "$i" 0
done >"$orig"   # 1029-byte lines, ~4 MiB
want_sha=$(sha "$orig")
T 60 dd if="$orig" of="$mnt/f" bs=1M conv=fsync status=none || fail "write f"

# parts: "SERVER DISK" of each current part of /f on an online server.
parts() {
  cj info "$mnt/f" | jq -e -r '.chunks[0].parts[] | select(.current == true and .server_state == "online")
    | "\(.server) \(.disk)"'
}
for ((i = 0; i < 100; i++)); do
  p=$(parts) || true
  [ "$(grep -c . <<<"$p")" = 2 ] && break
  sleep 0.2
done
cj info "$mnt/f" | jq -c '.chunks[] | {index, goal, live, parts}'
[ "$(grep -c . <<<"$p")" = 2 ] || fail "the master does not list 2 current parts of /f: $p"
read -r victim img < <(head -n1 <<<"$p")
read -r good _ < <(tail -n1 <<<"$p")
[ -f "$img" ] || fail "the part's disk '$img' is not a disk image of this cluster"
case $img in "$dir/$victim/"*) ;; *) fail "disk $img is not under $dir/$victim" ;; esac
done0=$(cj status | jq -e '.health.copies_done') || fail "status has no health.copies_done"
echo "copies on: $victim ($img) and $good; damaging the copy on $victim; copies_done $done0"

step "kill $victim; damage a data block of its part"
"$local_sh" kill --dir "$dir" "$victim"
T 60 "$bin/cairn-disk" check "$img" >/dev/null || fail "$img is damaged before the test damaged it"
off=$(grep -obUa 'HEALMARK-002500-' "$img" | head -n1 | cut -d: -f1)
[ -n "$off" ] || fail "marker not found in $img"
n=$(grep -cUa 'HEALMARK-002500-' "$img" || true)
[ "$n" = 1 ] || fail "marker found $n times in $img (want once)"
printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$img" bs=1 seek="$off" conv=notrunc status=none
sync
chk=$(T 60 "$bin/cairn-disk" check "$img" 2>&1) && fail "cairn-disk check does not see the damage: $chk"
grep -q "BAD" <<<"$chk" || fail "cairn-disk check names no bad block: $chk"

step "start $victim with a fast scrub; no reads: the master replaces the part"
cfg="$dir/$victim/cs.cfg"
grep -v '^SCRUB_RATE_MBPS' "$cfg" >"$cfg.new" && echo "SCRUB_RATE_MBPS = 1000" >>"$cfg.new"
mv "$cfg.new" "$cfg"
"$local_sh" start --dir "$dir" "$victim"
t0=$SECONDS
logged=0 ok=0
while [ $((SECONDS - t0)) -lt "$heal_s" ]; do
  grep -qi "crc" "$dir/$victim/log" && logged=1
  if [ "$logged" = 1 ]; then
    done_n=$(cj status | jq -e '.health.copies_done') || fail "status has no health.copies_done"
    p=$(parts) || true
    if [ "$done_n" -gt "$done0" ] && [ "$(grep -c . <<<"$p")" = 2 ]; then
      ok=1
      break
    fi
  fi
  sleep 0.5
done
grep -i "crc" "$dir/$victim/log" | tail -n 3 || true
cj info "$mnt/f" | jq -c '.chunks[] | {index, goal, live, parts}' || true
[ "$logged" = 1 ] || fail "$victim did not log a CRC failure within ${heal_s}s (scrub)"
[ "$ok" = 1 ] || fail "the damaged part was not replaced within ${heal_s}s: copies_done ${done_n:-?} (was $done0), current parts: $(tr '\n' ' ' <<<"$p")"
# The master logs "chunkserver NAME lost (...)" when the grace runs out.
! grep -q "chunkserver $victim lost" "$dir/master/log" ||
  fail "$victim was declared lost: the repair may not be the scrub's"
step "replaced after $((SECONDS - t0))s; copies_done $done0 -> $done_n"

drop_caches
[ "$(msha "$mnt/f")" = "$want_sha" ] || fail "f: wrong data after the repair"
T 60 cmp "$mnt/f" "$orig" || fail "cmp of f after the repair"

step "kill $good (the undamaged original): f reads back from the replacement"
"$local_sh" kill --dir "$dir" "$good"
drop_caches
got=$(msha "$mnt/f") || fail "read of f with $good dead failed"
[ "$got" = "$want_sha" ] || fail "f: wrong data from the replacement copy"
echo "PASS"
