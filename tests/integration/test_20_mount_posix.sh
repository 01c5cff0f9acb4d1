#!/usr/bin/env bash
# POSIX behaviour through a real FUSE mount: a cairn-local cluster (3
# chunkservers, 2 copies, -o allow_other so the EACCES checks can run as
# uid 65534), then mount_posix (mount_posix.c) inside DIR/mnt.
#   bash test_20_mount_posix.sh BIN_DIR [MOUNT_POSIX_BIN] [SEED]
set -euo pipefail

bin=${1:?usage: test_20_mount_posix.sh BIN_DIR [MOUNT_POSIX_BIN] [SEED]}
bin=$(cd "$bin" && pwd)
prog=${2:-$bin/mount_posix}
seed=${3:-}
local_sh="$bin/cairn-local"
[ -x "$local_sh" ] || { echo "FAIL: $local_sh missing" >&2; exit 1; }
[ -x "$prog" ] || { echo "FAIL: $prog missing" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "FAIL: no /dev/fuse" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test-posix.XXXXXX")
# uid 65534 must reach DIR/mnt for the EACCES checks.
chmod 755 "$work"
dir="$work/cluster"
export CAIRN_LOCAL_TIMEOUT=60 CAIRN_LOCAL_STOP_TIMEOUT=5
export CAIRN_LOCAL_MOUNT_OPTS="-o allow_other"
cleanup() {
  local rc=$?
  set +e
  if [ -f "$dir/cluster.env" ]; then
    if [ "$rc" != 0 ]; then
      echo "--- logs" >&2
      tail -n 20 "$dir"/master/log "$dir"/cs*/log "$dir"/run/mount.log >&2
    fi
    timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
    # Sanitizer reports of a daemon or the mount (ASan build), also at exit.
    local san
    san=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" \
      "$dir"/master/log "$dir"/cs*/log "$dir"/run/* 2>/dev/null || true)
    if [ -n "$san" ]; then
      echo "FAIL: sanitizer reports in: $san" >&2
      grep -h -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" $san | head -n 80 >&2
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  if grep -qF " $dir/mnt " /proc/self/mounts 2>/dev/null; then
    timeout 10 fusermount3 -u -z "$dir/mnt" 2>/dev/null || umount -l "$dir/mnt" 2>/dev/null
  fi
  [ ! -f "$dir/cluster.env" ] || timeout 60 "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1
  rm -rf "$work"
  [ "$rc" = 0 ] && echo "PASS"
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $*"; }

# Base port in 20000..39990; on a clash `up` refuses (port in use): retry.
for attempt in 1 2 3 4 5; do
  base=$((20000 + (RANDOM * 32768 + RANDOM + $$ + attempt * 997) % 19990))
  step "up --base-port $base (attempt $attempt)"
  if out=$(timeout 120 "$local_sh" up --dir "$dir" --chunkservers 3 --copies 2 \
    --disk-size 1G --base-port "$base" 2>&1); then
    break
  fi
  echo "$out"
  grep -Eq "in use|exited before it was ready" <<<"$out" || fail "up failed"
  [ ! -f "$dir/cluster.env" ] || timeout 60 "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1 || true
  rm -rf "$dir"
  [ "$attempt" != 5 ] || fail "no free port range"
done
chmod 755 "$dir"
mountpoint -q "$dir/mnt" || fail "$dir/mnt is not a mount point"

step "mount_posix $dir/mnt $seed"
start=$SECONDS
rc=0
timeout 240 "$prog" "$dir/mnt" $seed || rc=$?
[ "$rc" = 124 ] && fail "mount_posix hung (timeout)"
[ "$rc" = 0 ] || fail "mount_posix exit $rc"
echo "mount_posix: $((SECONDS - start)) s"

step "down"
timeout 60 "$local_sh" down --dir "$dir" >/dev/null || fail "down failed"
