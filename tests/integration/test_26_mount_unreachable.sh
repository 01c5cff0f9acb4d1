#!/usr/bin/env bash
# cairn-mount against a master that is not there (127.0.0.1, a port nothing
# listens on): exits non-zero within ~6 s (connect_timeout 5 s by default),
# says so naming the master address, and leaves nothing mounted. In the
# background mode (the parent waits for the child's verdict), with -f, and
# with -o connect_timeout=2 (fails within ~2..4 s).
#   bash test_26_mount_unreachable.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_26_mount_unreachable "${1:-}"
mkdir -p "$mnt"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for ((k = 0; k < 20; k++)); do
  port=$((20000 + (RANDOM * 32768 + RANDOM + $$ + k * 997) % 19990))
  port_busy "$port" || break
done
addr="127.0.0.1:$port"

# try MAX_MS MIN_MS ARGS...: cairn-mount ARGS fails in MIN_MS..MAX_MS, naming addr.
try() {
  local max=$1 min=$2 t0 dt rc=0 out
  shift 2
  step "cairn-mount $*"
  t0=$(date +%s%N)
  out=$(timeout -k 5 30 "$bin/cairn-mount" "$@" 2>&1) || rc=$?
  dt=$((($(date +%s%N) - t0) / 1000000))
  echo "rc $rc after $dt ms: $out"
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "cairn-mount hangs on an unreachable master"
  [ "$rc" != 0 ] || fail "cairn-mount exits 0 with no master"
  grep -qF "$addr" <<<"$out" || fail "the message does not name the master $addr: $out"
  [ "$dt" -le "$max" ] || fail "took $dt ms (want <= $max)"
  [ "$dt" -ge "$min" ] || fail "gave up after $dt ms, before connect_timeout (want >= $min)"
  ! grep -qF " $mnt " /proc/self/mounts || fail "$mnt is mounted after a failed mount"
}
try 6500 0 "$addr" "$mnt"
try 6500 0 "$addr" "$mnt" -f
try 4500 1500 "$addr" "$mnt" -o connect_timeout=2

step "bad arguments: usage errors, no hang"
rc=0
out=$(timeout 10 "$bin/cairn-mount" "$addr" 2>&1) || rc=$?
echo "rc $rc: $out"
[ "$rc" = 2 ] || fail "cairn-mount without a mount point: exit $rc, want 2"
rc=0
out=$(timeout 10 "$bin/cairn-mount" "$addr" "$work/no/such/dir" 2>&1) || rc=$?
echo "rc $rc: $out"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "cairn-mount on a missing mount point: exit $rc"
echo "PASS"
