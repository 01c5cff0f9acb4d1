#!/usr/bin/env bash
# Proves: a chunkserver disk that vanishes while the server runs (a USB disk
# unplugged; here its image is renamed away) is reported missing within
# seconds, its parts stop being read at once but are re-created only after
# the grace time, and when it is back (`cairn disk rescan`, or the automatic
# retry) the same chunkserver process serves and reports its parts again;
# surplus copies go again and every file reads back identical throughout.
#  1. 3 chunkservers with 2 disks each, copies=2, 8 files of 2 MiB.
#  2. The disk holding the most parts is renamed away: within 5 s
#     `cairn disks --json` says "missing"; every file reads back identical.
#  3. After CS_GRACE_MS the master forgets its parts and the health loop
#     copies them: `cairn status` undergoal/endangered/lost back to 0.
#  4. The image is renamed back and `cairn disk rescan SERVER` run: the disk
#     is "ok" again, the chunkserver reports all its parts (log) and the
#     master counts them (disks parts); same PID; data identical; surplus
#     copies are deleted until every chunk has 2 parts again. Parts the
#     server re-created on its other disk meanwhile are deleted from it.
#  5. With DISK_RETRY_MS = 1000 (SIGHUP): away and back again, no command:
#     the disk comes back by itself, same PID, data identical.
#   bash test_49_disk_vanish.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_49_disk_vanish "${1:-}"

if is_asan; then wait_s=90; else wait_s=45; fi
# DISK_RETRY_MS=0: only the rescan command reopens a disk in case 4.
heal_env "CS_GRACE_MS=4s" "LOCAL_BALANCE_BAND=0;SCRUB_RATE_MBPS=0;DISK_RETRY_MS=0;DISK_CHECK_MS=500"
ml_up --chunkservers 3 --copies 2 --disks-per-server 2 --disk-size 256M
wait_online 3

declare -A want=()
step "write 8 files of 2 MiB (copies=2)"
for ((k = 0; k < 8; k++)); do
  put_rand "f$k" 2
done

# wait_until SECS WHAT CMD...: CMD succeeds within SECS (polled), or fail.
wait_until() {
  local s=$1 what=$2 t0=$SECONDS
  shift 2
  while [ $((SECONDS - t0)) -lt "$s" ]; do
    "$@" && return 0
    sleep 0.2
  done
  fail "$what: not within ${s}s"
}
healthy() { [ "$(unsafe_chunks 2>/dev/null)" = 0 ]; }
# disk_field PATH FIELD: FIELD of the disk at PATH in `cairn disks --json`.
disk_field() {
  cj disks | jq -e -r --arg p "$1" --arg f "$2" \
    '[.disks[] | select(.path == $p)][0][$f] | if . == null then error("no \($f)") else . end'
}
disk_is() { [ "$(disk_field "$1" state 2>/dev/null)" = "$2" ]; }
# parts_per_chunk: "MIN MAX" over every chunk of every file of the parts
# in state ok (current, on an online server and disk).
parts_per_chunk() {
  local k
  for ((k = 0; k < 8; k++)); do
    cj info "$mnt/f$k" | jq -r '.chunks[] | [.parts[] | select(.state == "ok")] | length'
  done | sort -n | sed -n '1p;$p' | paste -sd' '
}
two_each() { [ "$(parts_per_chunk 2>/dev/null)" = "2 2" ]; }

wait_until 30 "every chunk with 2 parts after the writes" two_each
read -r victim img nparts < <(cj disks | jq -r '.disks | max_by(.parts) | "\(.server) \(.path) \(.parts)"')
[ "$nparts" -gt 0 ] || fail "no disk holds parts"
case $img in "$dir/$victim/"*) ;; *) fail "disk $img is not under $dir/$victim" ;; esac
pid=$(head -n1 "$dir/run/$victim.pid")
kill -0 "$pid" || fail "$victim (pid $pid) is not running"
echo "victim: $victim disk $img with $nparts parts (pid $pid)"

step "unplug $img (rename it away)"
t0=$SECONDS
mv "$img" "$img.away"
wait_until 5 "$img shown missing" disk_is "$img" missing
echo "missing after $((SECONDS - t0))s"
[ "$(disk_field "$img" parts)" -gt 0 ] ||
  fail "the master forgot the missing disk's parts before its grace time"
check_all
grep -q "disk $img: vanished" "$dir/$victim/log" || fail "$victim did not log the vanished disk"

step "after the grace time the health loop re-creates the missing copies"
wait_until "$wait_s" "chunks healthy again" healthy
wait_until 30 "every chunk with 2 ok parts" two_each
grep -q "disk $img missing for .* forgetting" "$dir/master/log" ||
  fail "the master did not log forgetting the missing disk's parts"
[ "$(disk_field "$img" parts)" = 0 ] || fail "the missing disk still has parts counted"
check_all

step "plug it back: cairn disk rescan $victim"
mv "$img.away" "$img"
T 30 "$cli" -m "$maddr" disk rescan "$victim" || fail "cairn disk rescan $victim"
# The health loop deletes surplus copies within a pass (200 ms), maybe
# before a poll sees them: the master counted the disk's parts again if a
# poll sees them or it deleted a surplus copy on the victim after the disk
# was back (it forgot every part of the disk before).
seen=0
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 15 ]; do
  if disk_is "$img" ok; then
    n=$(disk_field "$img" parts)
    if [ "$n" -gt 0 ]; then seen=$n; break; fi
    if sed -n "/disk ${img//\//\\/} is back/,\$p" "$dir/master/log" |
      grep -q "deleting the surplus copy on $victim"; then
      seen=surplus
      break
    fi
  fi
  sleep 0.1
done
[ "$seen" != 0 ] || fail "$img not ok with its parts counted after the rescan: $(cj disks | jq -c --arg p "$img" '.disks[] | select(.path == $p)')"
echo "back: master counts the parts on $img ($seen)"
back=$(grep -o "disk $img: back online: [0-9]* parts" "$dir/$victim/log" | tail -n1 | awk '{print $(NF-1)}')
# Parts re-created on the victim's other disk meanwhile stay there; the rest
# of the disk's parts must be reported.
[ "${back:-0}" -gt 0 ] || fail "$victim did not report the parts of $img: $(grep "back online" "$dir/$victim/log")"
echo "$victim reported $back of the $nparts parts of $img"
# The others were re-created on the victim's other disk meanwhile: their
# stale copies on $img are deleted (their space would never come back).
dups=$((nparts - back))
if [ "$dups" -gt 0 ]; then
  stale_deleted() { [ "$(grep -c "disk $img: deleted chunk .* on another disk" "$dir/$victim/log")" -ge "$dups" ]; }
  wait_until 10 "the $dups stale copies on $img deleted" stale_deleted
  echo "$dups stale copies deleted from $img"
fi
[ "$(head -n1 "$dir/run/$victim.pid")" = "$pid" ] && kill -0 "$pid" || fail "$victim was restarted"
check_all
step "surplus copies are deleted again"
wait_until "$wait_s" "every chunk back to 2 ok parts" two_each
healthy || fail "chunks not healthy after the surplus deletes"
check_all

step "automatic retry: DISK_RETRY_MS = 1000 (SIGHUP), unplug and plug back, no command"
cfg="$dir/$victim/cs.cfg"
sed -i 's/^DISK_RETRY_MS.*/DISK_RETRY_MS = 1000/' "$cfg"
grep -q '^DISK_RETRY_MS = 1000' "$cfg" || echo "DISK_RETRY_MS = 1000" >>"$cfg"
kill -HUP "$pid"
wait_until 5 "$victim reloaded its configuration" grep -q "configuration reloaded" "$dir/$victim/log"
mv "$img" "$img.away"
wait_until 5 "$img shown missing (second time)" disk_is "$img" missing
mv "$img.away" "$img"
wait_until 10 "$img back by itself" disk_is "$img" ok
[ "$(head -n1 "$dir/run/$victim.pid")" = "$pid" ] && kill -0 "$pid" || fail "$victim was restarted"
wait_until "$wait_s" "every chunk with 2 ok parts at the end" two_each
check_all
echo "PASS"
