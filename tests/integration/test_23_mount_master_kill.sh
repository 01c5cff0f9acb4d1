#!/usr/bin/env bash
# The master SIGKILLed under the FUSE mount:
#  1. A write load (a loop of dd conv=fsync; a file goes to the local list
#     only after its dd succeeded) while the master is SIGKILLed and started
#     again: every listed file is there with its checksum, the namespace is
#     consistent (ls -R, stat of every entry), and no write failed (the
#     outage is within master_timeout, so the client must ride it out).
#     A write right after `start master` (chunkservers still re-registering)
#     succeeds too.
#  2. The master killed and not restarted, mount with master_timeout=3:
#     stat of a new name and mkdir fail with EIO within 2..10 s (no hang);
#     after `start master` the same mount works again (no remount).
#   bash test_23_mount_master_kill.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_23_mount_master_kill "${1:-}"

src="$work/src"
mkdir -p "$src"
list="$work/list" errs="$work/errs" stopf="$work/stop"
: >"$list"
: >"$errs"
soft=()   # failures found; the remaining checks still run, then the test fails

export CAIRN_LOCAL_MOUNT_OPTS="-o master_timeout=40"
ml_up --chunkservers 3 --copies 2 --disk-size 1G
wait_online 3

# writer: files w/dK/fN of 64 KiB..2 MiB; "PATH SHA" appended to $list only
# after dd (with conv=fsync) returned 0; dd failures go to $errs.
writer() {
  local n=0 d p s sz e
  while [ ! -e "$stopf" ]; do
    d="w/d$((n / 10))"
    if [ $((n % 10)) = 0 ]; then
      e=$(T 60 mkdir -p "$mnt/$d" 2>&1) || { echo "mkdir $d: $e" >>"$errs"; sleep 0.2; continue; }
    fi
    p="$d/f$n"
    sz=$((1 + RANDOM % 32))
    head -c $((sz * 65536)) /dev/urandom >"$src/cur"
    s=$(sha "$src/cur")
    if e=$(T 60 dd if="$src/cur" of="$mnt/$p" bs=64k conv=fsync status=none 2>&1); then
      echo "$p $s" >>"$list"
    else
      echo "dd $p ($(date +%T.%N)): $e" >>"$errs"
    fi
    n=$((n + 1))
  done
}

# wait_list N: the list has at least N entries (within 90 s).
wait_list() {
  local i
  for ((i = 0; i < 900; i++)); do
    [ "$(wc -l <"$list")" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "the writer did not get to $1 files (has $(wc -l <"$list")); errors: $(head -n 5 "$errs")"
}

step "write load; SIGKILL the master in its middle"
T 30 mkdir "$mnt/w" || fail "mkdir w"
writer &
wpid=$!
wait_list 15
before=$(wc -l <"$list")
"$local_sh" kill --dir "$dir" master
sleep 2
step "start the master again ($before files written before the kill)"
"$local_sh" start --dir "$dir" master
# Right away, while the chunkservers re-register: a new file must work.
head -c 300000 /dev/urandom >"$src/now"
if ! e=$(T 60 dd if="$src/now" of="$mnt/right_after_restart" bs=64k conv=fsync status=none 2>&1); then
  soft+=("a write right after 'start master' failed: $e")
  echo "SOFT FAIL: ${soft[-1]}" >&2
fi
wait_list $((before + 15))
touch "$stopf"
rc=0
T 120 bash -c "while kill -0 $wpid 2>/dev/null; do sleep 0.1; done" || rc=$?
[ "$rc" = 0 ] || fail "the writer did not stop"
wait "$wpid" || true
echo "files written: $(wc -l <"$list")"
if [ -s "$errs" ]; then
  cat "$errs" >&2
  soft+=("$(wc -l <"$errs") write(s) of the load failed across the master restart (first: $(head -n1 "$errs"))")
  echo "SOFT FAIL: ${soft[-1]}" >&2
fi
wait_online 3

step "every listed file is there with its checksum"
drop_caches
while read -r p s; do
  got=$(msha "$mnt/$p") || fail "read $p failed"
  [ "$got" = "$s" ] || fail "$p: wrong data after the master restart"
done <"$list"
if [ -f "$mnt/right_after_restart" ] || [ "${#soft[@]}" = 0 ]; then
  got=$(msha "$mnt/right_after_restart") || fail "read right_after_restart"
  [ "$got" = "$(sha "$src/now")" ] || soft+=("right_after_restart: wrong data")
fi

step "namespace: ls -R and stat of every entry"
T 60 ls -R "$mnt" >"$work/lsR" || fail "ls -R failed"
T 60 find "$mnt" >"$work/found" || fail "find failed"
n=0
while read -r f; do
  T 10 stat "$f" >/dev/null || fail "stat $f failed"
  n=$((n + 1))
done <"$work/found"
echo "stat ok on $n entries"
while read -r p s; do
  grep -qxF "$mnt/$p" "$work/found" || fail "$p is in the list but not in the directory listing"
done <"$list"

step "master down 3 s, then started: a write right away (chunkservers not back yet)"
"$local_sh" kill --dir "$dir" master
sleep 3
"$local_sh" start --dir "$dir" master
if ! e=$(T 60 bash -c "echo restart >'$mnt/right_after_restart2'" 2>&1); then
  soft+=("a write right after 'start master' failed (master down 3 s): $e")
  echo "SOFT FAIL: ${soft[-1]}" >&2
  echo "master log:" >&2
  tail -n 6 "$dir/master/log" >&2
else
  wait_online 3
  [ "$(T 30 cat "$mnt/right_after_restart2" 2>/dev/null)" = restart ] ||
    soft+=("right_after_restart2 does not read back 'restart'")
fi
wait_online 3

step "a long outage (12 s, chunkservers at their longest reconnect backoff):"
step "  a file opened before, written during it; a new file right after the start"
head -c 2000000 /dev/urandom >"$src/during"
T 30 bash -c ": >'$mnt/during'" || fail "create during"
(
  trap '' PIPE
  exec 4>>"$mnt/during"
  sleep 1.5
  cat "$src/during" >&4 || { echo "write to during failed" >"$work/during.err"; exit 1; }
  exec 4>&-
) &
dpid=$!
sleep 0.5
"$local_sh" kill --dir "$dir" master
sleep 12
"$local_sh" start --dir "$dir" master
t0=$(date +%s%N)
if ! e=$(T 60 bash -c "echo long >'$mnt/right_after_long_outage'" 2>&1); then
  soft+=("a write right after 'start master' failed (master down 12 s): $e")
  echo "SOFT FAIL: ${soft[-1]}" >&2
fi
echo "write right after the start: $((($(date +%s%N) - t0) / 1000000)) ms"
rc=0
T 90 bash -c "while kill -0 $dpid 2>/dev/null; do sleep 0.1; done" || rc=$?
[ "$rc" = 0 ] || fail "the write to 'during' hangs after the master is back"
wait "$dpid" || soft+=("the write to 'during' across the outage failed: $(cat "$work/during.err" 2>/dev/null)")
wait_online 3
drop_caches
[ "$(msha "$mnt/during")" = "$(sha "$src/during")" ] || soft+=("'during': wrong data after the outage")
[ -e "$mnt/right_after_long_outage" ] && {
  [ "$(T 30 cat "$mnt/right_after_long_outage")" = long ] || soft+=("right_after_long_outage: wrong data")
}

step "restart the mount with master_timeout=3"
"$local_sh" kill --dir "$dir" mount
CAIRN_LOCAL_MOUNT_OPTS="-o master_timeout=3" "$local_sh" start --dir "$dir" mount
T 10 stat "$mnt/w" >/dev/null || fail "the new mount does not work"

step "kill the master (not restarted): metadata calls fail with EIO in time"
"$local_sh" kill --dir "$dir" master
# eio_in_time WHAT CMD...: CMD fails with EIO in 2..10 s.
eio_in_time() {
  local what=$1 t0 dt out rc=0
  shift
  t0=$(date +%s%N)
  out=$(timeout -k 5 30 "$@" 2>&1) || rc=$?
  dt=$((($(date +%s%N) - t0) / 1000000))
  echo "$what: rc $rc after ${dt} ms: $out"
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "$what hangs with the master down (master_timeout=3)"
  [ "$rc" != 0 ] || fail "$what succeeded with the master down"
  grep -q "Input/output error" <<<"$out" || fail "$what: not EIO: $out"
  [ "$dt" -le 10000 ] || fail "$what took ${dt} ms (master_timeout=3)"
  [ "$dt" -ge 2000 ] || fail "$what failed after ${dt} ms, before master_timeout=3 ran out"
}
eio_in_time "stat of a new name" stat "$mnt/no_such_name_yet"
eio_in_time "mkdir" mkdir "$mnt/newdir"

step "start the master: the same mount works again"
"$local_sh" start --dir "$dir" master
wait_online 3
T 30 mkdir "$mnt/newdir" || fail "mkdir after the master restart"
head -c 1000000 /dev/urandom >"$src/after"
T 60 dd if="$src/after" of="$mnt/newdir/after" bs=64k conv=fsync status=none ||
  fail "write after the master restart"
drop_caches
[ "$(msha "$mnt/newdir/after")" = "$(sha "$src/after")" ] || fail "newdir/after: wrong data"
p=$(head -n1 "$list" | cut -d' ' -f1)
s=$(head -n1 "$list" | cut -d' ' -f2)
[ "$(msha "$mnt/$p")" = "$s" ] || fail "$p: wrong data on the remounted client"
T 30 ls -R "$mnt" >/dev/null || fail "ls -R at the end"

if [ "${#soft[@]}" -gt 0 ]; then
  printf 'FAIL: %s\n' "${soft[@]}" >&2
  exit 1
fi
echo "PASS"
