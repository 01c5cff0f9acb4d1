# shellcheck shell=bash
# mount_lib.sh: shared helpers of the mount fault suites (test_2x_mount_*.sh).
# Sourced, not run. The caller sets `bin` (the build's bin dir) and `name`.
#
#   ml_init NAME BIN        work dir, trap cleanup (down --purge, unmount)
#   ml_up [cairn-local up options]   a cluster on a random free base port
#   T SECS CMD...           CMD bounded by timeout (a hang fails, never blocks)
#   fail MSG / step MSG
#   drop_caches             the kernel's page/dentry/inode caches
#
# Environment for cairn-local: CAIRN_LOCAL_MOUNT_OPTS etc. are passed through.

set -euo pipefail

ml_init() {
  name=$1
  bin=$(cd "${2:?usage: $name.sh BIN_DIR}" && pwd)
  local_sh="$bin/cairn-local"
  cli="$bin/cairn"
  for p in cairn-local cairn cairn-mount cairn-master cairn-chunkserver cairn-disk; do
    [ -x "$bin/$p" ] || { echo "FAIL: $bin/$p missing" >&2; exit 1; }
  done
  [ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 0; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-$name.XXXXXX")
  dir="$work/cluster"
  mnt="$dir/mnt"
  export CAIRN_LOCAL_TIMEOUT=${CAIRN_LOCAL_TIMEOUT:-60} CAIRN_LOCAL_STOP_TIMEOUT=5
  ML_T0=$SECONDS
  trap ml_cleanup EXIT
}

ml_cleanup() {
  local rc=$?
  set +e
  # Background jobs of the test (writers) first.
  local j
  for j in $(jobs -p); do kill "$j" 2>/dev/null; done
  if [ -f "$dir/cluster.env" ]; then
    if [ "$rc" != 0 ]; then
      echo "--- logs (last lines)" >&2
      tail -n 25 "$dir"/master/log "$dir"/cs*/log "$dir"/run/mount.log >&2 2>/dev/null
    fi
    # A dead master can make a graceful unmount wait: lazy-unmount first
    # when the mount does not answer.
    timeout 5 stat "$mnt" >/dev/null 2>&1 || umount -l "$mnt" 2>/dev/null
    timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
    # Sanitizer reports of any daemon or the mount (ASan build), including
    # at exit after `down`: the test fails with them.
    local san
    san=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" \
      "$dir"/master/log "$dir"/cs*/log "$dir"/run/mount.log 2>/dev/null || true)
    if [ -n "$san" ]; then
      echo "FAIL: sanitizer reports in: $san" >&2
      grep -h -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" $san | head -n 80 >&2
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  if grep -qF " $mnt " /proc/self/mounts 2>/dev/null; then
    timeout 10 fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
  fi
  # Processes of this cluster that survived `down` (by their recorded pids).
  local f
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] && kill -KILL "$(head -n1 "$f")" 2>/dev/null
  done
  grep -qF " $mnt " /proc/self/mounts 2>/dev/null && umount -l "$mnt" 2>/dev/null
  rm -rf "$work"
  echo "$name: $([ "$rc" = 0 ] && echo PASS || echo "FAIL (rc $rc)") in $((SECONDS - ML_T0))s" >&2
  exit "$rc"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- [$((SECONDS - ML_T0))s] $*"; }

# T SECS CMD...: CMD under timeout; 124 (timed out) is reported as a hang.
T() {
  local s=$1 rc=0
  shift
  timeout -k 5 "$s" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "HANG: '$*' did not finish within ${s}s" >&2
  fi
  return "$rc"
}

drop_caches() {
  sync 2>/dev/null || true
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 >/proc/sys/vm/drop_caches
  fi
}

# ml_up [OPTIONS]: `cairn-local up` on a random base port in 20000..39990;
# retries another range when a port is taken. Sets base, cport, maddr.
ml_up() {
  local attempt out
  for attempt in 1 2 3 4 5; do
    base=$((20000 + (RANDOM * 32768 + RANDOM + $$ + attempt * 997) % 19990))
    step "up --base-port $base $* (attempt $attempt)"
    if out=$("$local_sh" up --dir "$dir" --base-port "$base" "$@" 2>&1); then
      break
    fi
    echo "$out"
    grep -Eq "in use|exited before it was ready|not mounted|did not start" <<<"$out" || fail "up failed"
    [ ! -f "$dir/cluster.env" ] || "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1 || true
    rm -rf "$dir"
    [ "$attempt" != 5 ] || fail "no free port range"
  done
  cport=$((base + 1))
  maddr="127.0.0.1:$cport"
  grep -qF " $mnt fuse" /proc/self/mounts || fail "$mnt is not mounted after up"
}

# wait_online N: the master lists N chunkservers online (within 30 s).
wait_online() {
  local want=$1 i n
  for ((i = 0; i < 150; i++)); do
    n=$(T 10 "$cli" -m "$maddr" servers 2>/dev/null | grep -c ' online ' || true)
    [ "$n" = "$want" ] && return 0
    sleep 0.2
  done
  T 10 "$cli" -m "$maddr" servers >&2 || true
  fail "the master does not list $want chunkservers online"
}

# mkrand FILE MIB: FILE of MIB MiB of random bytes.
mkrand() {
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# msha FILE: sha-256 of a file on the mount (bounded).
msha() {
  local out
  out=$(T 120 sha256sum "$1") || return 1
  echo "${out%% *}"
}
