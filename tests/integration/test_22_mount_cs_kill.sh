#!/usr/bin/env bash
# Chunkserver failures through the FUSE mount (3 chunkservers, copies=2):
#  1. ~150 MiB in files (two span chunks: > 64 MiB) with known SHA-256;
#     SIGKILL cs2; drop caches; every file reads back right (read failover).
#  2. With cs2 still dead: new files (one > 64 MiB) are written and read back.
#  3. cs2 restarted; a large write (dd from a local random file) runs while
#     cs3 is SIGKILLed in its middle: dd succeeds, the file reads back right.
#   bash test_22_mount_cs_kill.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_22_mount_cs_kill "${1:-}"

src="$work/src"
mkdir -p "$src"
ml_up --chunkservers 3 --copies 2 --disk-size 1G
wait_online 3

declare -A want=()
# put NAME MIB: a random local file copied into the mount with fsync.
put() {
  mkrand "$src/$1" "$2"
  want[$1]=$(sha "$src/$1")
  T 120 dd if="$src/$1" of="$mnt/$1" bs=1M conv=fsync status=none || fail "write $1 (rc $?)"
}
# check NAME...: each file on the mount has its recorded SHA-256 and size.
check() {
  local f got
  for f in "$@"; do
    got=$(msha "$mnt/$f") || fail "read $f failed (rc $?)"
    [ "$got" = "${want[$f]}" ] || fail "$f: wrong data (sha256 $got, want ${want[$f]})"
  done
}

step "write ~150 MiB: big1 80 MiB, big2 66 MiB (2 chunks each), 4 small files"
put big1 80
put big2 66
put small1 1
put small2 2
T 30 mkdir "$mnt/d" && mkdir -p "$src/d" || fail "mkdir d"
put d/small3 1
T 30 bash -c "printf 'tiny\n' >'$mnt/d/tiny'" || fail "write d/tiny"
want[d/tiny]=$(printf 'tiny\n' | sha256sum | cut -d' ' -f1)
old=(big1 big2 small1 small2 d/small3 d/tiny)
check "${old[@]}"

step "SIGKILL cs2; drop caches; every file reads back"
"$local_sh" kill --dir "$dir" cs2
drop_caches
check "${old[@]}"
T 30 ls -lR "$mnt" >/dev/null || fail "ls -lR with cs2 dead"

step "cs2 still dead: new files (one > 64 MiB) are written and read back"
put new_big 70
put new_small 3
drop_caches
check new_big new_small "${old[@]}"
# The master learns of the parts from the chunkservers: wait for 2/2.
for ((i = 0; i < 100; i++)); do
  info=$(T 30 "$cli" -m "$maddr" info /new_big) || fail "cairn info /new_big"
  [ "$(grep -c 'live 2/2' <<<"$info")" = 2 ] && break
  sleep 0.2
done
echo "$info"
[ "$(grep -c 'live 2/2' <<<"$info")" = 2 ] || fail "new_big does not have 2 live copies of both chunks"
grep -q 'server cs2' <<<"$info" && fail "a part of new_big is on the dead cs2"

step "start cs2; SIGKILL cs3 in the middle of a 120 MiB write"
"$local_sh" start --dir "$dir" cs2
wait_online 3
mkrand "$src/mid" 120
want[mid]=$(sha "$src/mid")
timeout -k 5 180 dd if="$src/mid" of="$mnt/mid" bs=1M conv=fsync status=none &
ddpid=$!
# Kill once dd has handed 24 MiB to the mount (wchar of the dd process).
killed=0
for ((i = 0; i < 600; i++)); do
  # $ddpid is `timeout`; its child dd is the writer.
  w=0
  c=$(pgrep -P "$ddpid" 2>/dev/null | head -n1 || true)
  [ -z "$c" ] || w=$(awk '/^wchar/ {print $2}' "/proc/$c/io" 2>/dev/null || echo 0)
  if [ "${w:-0}" -ge $((24 * 1024 * 1024)) ]; then
    "$local_sh" kill --dir "$dir" cs3
    killed=1
    break
  fi
  kill -0 "$ddpid" 2>/dev/null || break
  sleep 0.05
done
[ "$killed" = 1 ] || fail "the write ended before cs3 could be killed in its middle"
kill -0 "$ddpid" 2>/dev/null || echo "note: dd had already returned when cs3 died"
rc=0
wait "$ddpid" || rc=$?
[ "$rc" = 0 ] || fail "dd of mid failed (rc $rc) after cs3 died during the write"
drop_caches
check mid
step "everything still reads with cs3 dead"
check "${old[@]}" new_big new_small
T 30 ls -lR "$mnt" >/dev/null || fail "ls -lR at the end"
echo "PASS"
