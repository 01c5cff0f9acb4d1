#!/usr/bin/env bash
# File locks across two mounts of one cluster (issue 9), with locktool:
#  1. fcntl ranges: A holds w 0..99; B's F_SETLK on 50..59 gets EAGAIN, on
#     100..199 succeeds; F_GETLK on B names A's range; B's F_SETLKW waits and
#     gets the lock once A's holder closes its file.
#  2. flock: A holds LOCK_EX; B's LOCK_SH|LOCK_NB gets EWOULDBLOCK; B's
#     blocking LOCK_EX waits until A closes; flock and fcntl locks are
#     independent.
#  2b. Open file description locks (F_OFD_SETLK): they conflict with fcntl
#     locks of other owners, and go when their holder closes the file (the
#     kernel sends no unlock for them: libcairn unlocks at the last close).
#  3. A waiter blocked in F_SETLKW is killed by SIGTERM: it ends at once (the
#     FUSE interrupt cancels its wait in the master) and takes nothing later.
#  3b. The same with the master down (SIGKILL): the waiter still ends at once
#     (libcairn finishes a cancelled request it cannot send); after the
#     master's restart the locks it held are gone (soft state).
#  4. 40 blocking waiters on one mount, more than its 32 FUSE workers, behind
#     a holder on the same mount: all get the lock in turn once it closes
#     (a waiting lock holds no FUSE worker).
#  5. SIGKILL of mount A's cairn-mount while a process on A holds a fcntl and
#     a flock lock: B's waiters get both within 10 s; A is lazily unmounted.
#  6. SIGTERM of mount B's cairn-mount while a lock request waits on it: it
#     unmounts and exits cleanly (the waiter is answered before the FUSE
#     session goes away; an ASan build reports no leak).
#   bash test_27_mount_locks.sh BIN_DIR LOCKTOOL
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_27_mount_locks "${1:-}"
tool=${2:?usage: test_27_mount_locks.sh BIN_DIR LOCKTOOL}
[ -x "$tool" ] || fail "$tool is not executable"

mntB="$work/mntB"
mountB_pid=
declare -A hpid=() hin=() hout=()
many=()

lk_cleanup() {
  local rc=$? n
  set +e
  for n in "${!hin[@]}"; do eval "exec ${hin[$n]}>&-" 2>/dev/null; done
  for n in "${!hpid[@]}"; do kill -KILL "${hpid[$n]}" 2>/dev/null; done
  for n in "${many[@]}"; do kill -KILL "$n" 2>/dev/null; done
  if grep -qF " $mntB " /proc/self/mounts 2>/dev/null; then
    timeout 10 fusermount3 -u "$mntB" 2>/dev/null || fusermount3 -u -z "$mntB" 2>/dev/null
  fi
  [ -z "$mountB_pid" ] || kill -TERM "$mountB_pid" 2>/dev/null
  [ -z "$mountB_pid" ] || timeout 10 tail --pid="$mountB_pid" -f /dev/null
  [ -z "$mountB_pid" ] || kill -KILL "$mountB_pid" 2>/dev/null
  if grep -q -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/mountB.log" 2>/dev/null; then
    echo "FAIL: sanitizer reports in mount B's log" >&2
    [ "$rc" != 0 ] || rc=1
  fi
  if [ "$rc" != 0 ] && [ -f "$work/mountB.log" ]; then
    echo "--- mount B log (last lines)" >&2
    tail -n 20 "$work/mountB.log" >&2
  fi
  (exit "$rc")
  ml_cleanup
}
trap lk_cleanup EXIT

# hold NAME ARGS...: `locktool hold ARGS` in the background; its stdin and
# stdout are fifos held by this shell (closing stdin releases the lock). The
# child closes the other holders' fifos: an inherited write end would keep
# their stdin open.
hold() {
  local n=$1 fd
  shift
  mkfifo "$work/$n.in" "$work/$n.out"
  (
    for fd in "${hin[@]}" "${hout[@]}"; do eval "exec $fd>&-"; done
    exec "$tool" hold "$@" <"$work/$n.in" >"$work/$n.out" 2>>"$work/$n.err"
  ) &
  hpid[$n]=$!
  exec {fd}>"$work/$n.in"
  hin[$n]=$fd
  exec {fd}<"$work/$n.out"
  hout[$n]=$fd
}

# nofds CMD...: CMD without the holders' fifos (a daemon it starts would
# keep a holder's stdin open for ever).
nofds() {
  (
    for fd in "${hin[@]}" "${hout[@]}"; do eval "exec $fd>&-"; done
    exec "$@"
  )
}

# locked NAME SECS: 0 when NAME printed "locked" within SECS seconds.
locked() {
  local line=""
  read -r -t "$2" -u "${hout[$1]}" line || true
  [[ "$line" == locked* ]]
}

# release NAME: close its stdin; it unlocks (closes the file) and exits 0.
release() {
  local rc=0
  eval "exec ${hin[$1]}>&- ${hout[$1]}<&-"
  unset "hin[$1]" "hout[$1]"
  T 10 tail --pid="${hpid[$1]}" -f /dev/null || fail "$1 did not exit after its release"
  wait "${hpid[$1]}" || rc=$?
  unset "hpid[$1]"
  return "$rc"
}

# try ARGS...: a non-blocking `locktool hold ARGS nb` released at once;
# prints its exit status (0 locked, 11 EAGAIN).
try() {
  local rc=0
  T 20 "$tool" hold "$@" nb </dev/null >/dev/null 2>>"$work/try.err" || rc=$?
  echo "$rc"
}

step "cluster with one chunkserver; mount B of the same master"
ml_up --chunkservers 1 --copies 1 --disk-size 256M
wait_online 1
mkdir -p "$mntB"
"$bin/cairn-mount" "$maddr" "$mntB" -f >"$work/mountB.log" 2>&1 &
mountB_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -qF " $mntB fuse" /proc/self/mounts && break
  kill -0 "$mountB_pid" 2>/dev/null || fail "mount B exited"
  sleep 0.1
done
grep -qF " $mntB fuse" /proc/self/mounts || fail "$mntB is not mounted"
T 10 bash -c "echo data >'$mnt/f'" || fail "create f on A"
[ "$(T 10 cat "$mntB/f")" = data ] || fail "f is not visible on B"

step "1. fcntl ranges across the mounts"
hold a1 "$mnt/f" posix w 0 100
locked a1 10 || fail "A could not take w 0..99"
[ "$(try "$mntB/f" posix w 50 10)" = 11 ] || fail "B's F_SETLK on 50..59 did not get EAGAIN"
[ "$(try "$mntB/f" posix r 99 1)" = 11 ] || fail "B's read lock on byte 99 did not get EAGAIN"
[ "$(try "$mntB/f" posix w 100 100)" = 0 ] || fail "B's F_SETLK on 100..199 failed"
got=$(T 10 "$tool" getlk "$mntB/f" w 0 0) || fail "F_GETLK on B"
[[ "$got" == "w 0 100 "* ]] || fail "F_GETLK on B: '$got', want A's 'w 0 100 PID'"
got=$(T 10 "$tool" getlk "$mntB/f" w 100 0) || fail "F_GETLK on B"
[ "$got" = none ] || fail "F_GETLK on B past A's range: '$got'"
hold b1 "$mntB/f" posix w 50 10
locked b1 1.5 && fail "B's F_SETLKW got the lock while A holds it"
release a1 || fail "A's holder failed"
locked b1 10 || fail "B's F_SETLKW not granted within 10 s of A's close"
[ "$(try "$mnt/f" posix r 55 1)" = 11 ] || fail "A's read lock on byte 55 not refused while B holds it"
release b1 || fail "B's holder failed"
[ "$(try "$mnt/f" posix w 0 0)" = 0 ] || fail "the whole file not free after both closed"

step "2. flock across the mounts"
hold a2 "$mnt/f" flock ex
locked a2 10 || fail "A could not take LOCK_EX"
[ "$(try "$mntB/f" flock sh)" = 11 ] || fail "B's LOCK_SH|LOCK_NB did not fail"
[ "$(try "$mntB/f" posix w 0 0)" = 0 ] || fail "a fcntl lock on B was blocked by A's flock"
hold b2 "$mntB/f" flock ex
locked b2 1.5 && fail "B's LOCK_EX granted while A holds LOCK_EX"
release a2 || fail "A's flock holder failed"
locked b2 10 || fail "B's LOCK_EX not granted within 10 s of A's close"
[ "$(try "$mnt/f" flock sh)" = 11 ] || fail "A's LOCK_SH not refused while B holds LOCK_EX"
release b2 || fail "B's flock holder failed"

step "2b. open file description locks"
hold a7 "$mnt/f" ofd w 0 10
locked a7 10 || fail "A could not take an OFD lock"
[ "$(try "$mntB/f" ofd w 5 1)" = 11 ] || fail "B's F_OFD_SETLK not refused"
[ "$(try "$mntB/f" posix r 0 1)" = 11 ] || fail "B's F_SETLK not refused by A's OFD lock"
[ "$(try "$mnt/f" posix r 0 1)" = 11 ] || fail "A's own F_SETLK (another owner) not refused"
hold b7 "$mntB/f" ofd w 0 0
locked b7 1.5 && fail "B's F_OFD_SETLKW granted while A holds 0..9"
release a7 || fail "A's OFD holder failed"
locked b7 10 || fail "B's F_OFD_SETLKW not granted within 10 s of A's close"
release b7 || fail "B's OFD holder failed"
[ "$(try "$mnt/f" posix w 0 0)" = 0 ] || fail "the file not free after the OFD holders closed"

step "3. a waiter killed by SIGTERM while blocked"
hold a3 "$mnt/f" posix w 0 0
locked a3 10 || fail "A could not take the whole file"
hold b3 "$mntB/f" posix w 0 0
locked b3 1 && fail "B's waiter granted while A holds the file"
kill -TERM "${hpid[b3]}"
T 5 tail --pid="${hpid[b3]}" -f /dev/null || fail "B's waiter did not end within 5 s of SIGTERM"
eval "exec ${hin[b3]}>&- ${hout[b3]}<&-"
unset "hin[b3]" "hout[b3]" "hpid[b3]"
release a3 || fail "A's holder failed"
[ "$(try "$mntB/f" posix w 0 0)" = 0 ] || fail "the cancelled waiter took the lock after all"

step "3b. a waiter killed by SIGTERM while the master is down"
hold a8 "$mnt/f" posix w 0 0
locked a8 10 || fail "A could not take the whole file"
hold b8 "$mntB/f" posix w 0 0
locked b8 1 && fail "B's waiter granted while A holds the file"
"$local_sh" kill --dir "$dir" master >/dev/null || fail "cairn-local kill master"
kill -TERM "${hpid[b8]}"
T 5 tail --pid="${hpid[b8]}" -f /dev/null || fail "B's waiter did not end within 5 s of SIGTERM (master down)"
eval "exec ${hin[b8]}>&- ${hout[b8]}<&-"
unset "hin[b8]" "hout[b8]" "hpid[b8]"
nofds "$local_sh" start --dir "$dir" master >/dev/null || fail "cairn-local start master"
wait_online 1
# the restarted master holds no lock: B takes the range A still thinks it holds
[ "$(try "$mntB/f" posix w 0 0)" = 0 ] || fail "a lock survived the master's restart"
release a8 || true

step "4. 40 waiters on mount B behind a holder on mount B"
hold b6 "$mntB/f" flock ex
locked b6 10 || fail "B could not take LOCK_EX"
for ((i = 0; i < 40; i++)); do
  (
    for fd in "${hin[@]}" "${hout[@]}"; do eval "exec $fd>&-"; done
    exec "$tool" hold "$mntB/f" flock ex </dev/null >>"$work/many.out" 2>>"$work/many.err"
  ) &
  many+=($!)
done
# all 40 blocked in flock(2) before the holder lets go (its syscall number)
case $(uname -m) in
  x86_64) nr=73 ;;
  aarch64) nr=32 ;;
  *) nr= ;;
esac
n=40
for ((i = 0; i < 100 && ${#nr} > 0; i++)); do
  n=0
  for p in "${many[@]}"; do
    [ "$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null)" = "$nr" ] && n=$((n + 1))
  done
  [ "$n" = 40 ] && break
  sleep 0.1
done
[ "$n" = 40 ] || fail "only $n of the 40 waiters are blocked in flock after 10 s"
[ "$(grep -c locked "$work/many.out" 2>/dev/null || true)" = 0 ] || fail "a waiter got the lock early"
release b6 || fail "B's holder failed"
for p in "${many[@]}"; do
  T 30 tail --pid="$p" -f /dev/null || fail "a waiter still waits 30 s after the holder closed"
  wait "$p" || fail "a waiter failed (see $work/many.err)"
done
many=()
[ "$(grep -c locked "$work/many.out")" = 40 ] || fail "not every waiter took the lock"

step "5. SIGKILL of mount A while its process holds fcntl and flock locks"
hold a4 "$mnt/f" posix w 0 0
locked a4 10 || fail "A could not take the fcntl lock"
hold a5 "$mnt/f" flock ex
locked a5 10 || fail "A could not take the flock lock"
hold b4 "$mntB/f" posix w 10 10
hold b5 "$mntB/f" flock sh
locked b4 1 && fail "B's fcntl waiter granted while A holds the file"
"$local_sh" kill --dir "$dir" mount >/dev/null || fail "cairn-local kill mount"
t0=$SECONDS
locked b4 10 || fail "B's fcntl waiter not granted within 10 s of mount A's death"
locked b5 10 || fail "B's flock waiter not granted within 10 s of mount A's death"
echo "B granted $((SECONDS - t0)) s after mount A died"
# A's holders see a dead mount: they end when told to, whatever close says.
for n in a4 a5; do release "$n" || true; done
fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
release b4 || fail "B's fcntl holder failed"
release b5 || fail "B's flock holder failed"

step "6. SIGTERM of mount B while a lock request waits on it"
hold b9 "$mntB/f" flock ex
locked b9 10 || fail "B could not take LOCK_EX"
hold b10 "$mntB/f" flock ex
locked b10 1 && fail "B's second LOCK_EX granted while the first holds it"
kill -TERM "$mountB_pid"
T 15 tail --pid="$mountB_pid" -f /dev/null || fail "mount B did not exit within 15 s of SIGTERM"
rc=0
wait "$mountB_pid" || rc=$?
mountB_pid=
# libfuse reports the signal that ended the loop: cairn-mount exits 1 then
[ "$rc" -le 1 ] || fail "mount B died (status $rc) after SIGTERM with a waiter (see its log)"
for n in b9 b10; do release "$n" || true; done
echo "PASS"
