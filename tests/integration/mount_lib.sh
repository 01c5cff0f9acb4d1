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
      tail -n 25 "$dir"/master/log "$dir"/cs*/log "$dir"/ml*/log "$dir"/run/mount.log >&2 2>/dev/null
    fi
    # A dead master can make a graceful unmount wait: lazy-unmount first
    # when the mount does not answer.
    timeout 5 stat "$mnt" >/dev/null 2>&1 || umount -l "$mnt" 2>/dev/null
    timeout 60 "$local_sh" down --dir "$dir" >/dev/null 2>&1
    # Sanitizer reports of any daemon or the mount (ASan build), including
    # at exit after `down`: the test fails with them.
    local san
    san=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" \
      "$dir"/master/log "$dir"/cs*/log "$dir"/ml*/log "$dir"/run/mount.log 2>/dev/null || true)
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

# ml_up [OPTIONS]: `cairn-local up` on a random base port in 20000..31999,
# below Linux's ephemeral range (32768..60999 by default): a port in that
# range can be held by any outgoing connection's local end, and a server
# started later (add-server, a restart) would fail to bind it. Retries
# another range when a port is taken. Sets base, cport, maddr.
ml_up() {
  local attempt out
  # Deletes free their chunks at once (as the suites expect) unless the
  # test sets TRASH_TIME itself.
  case ${CAIRN_LOCAL_MASTER_OPTS:-} in
    *TRASH_TIME=*) ;;
    *) export CAIRN_LOCAL_MASTER_OPTS="${CAIRN_LOCAL_MASTER_OPTS:+$CAIRN_LOCAL_MASTER_OPTS;}TRASH_TIME=0" ;;
  esac
  for attempt in 1 2 3 4 5; do
    base=$((20000 + (RANDOM * 32768 + RANDOM + $$ + attempt * 997) % 12000))
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

# ---- self-healing suites (test_3x_heal_*.sh) ---------------------------------
# JSON of the master through `cairn --json`, read with jq. Every helper fails
# (status 1, message on stderr) on a reply without the fields it reads, so a
# master that does not report them fails the test, never passes it.
#
#   cj CMD [ARGS]            `cairn -m $maddr CMD ARGS --json` (bounded)
#   unsafe_chunks            undergoal+endangered+lost of `cairn status`
#   chunk_copies PATH        "INDEX N" per chunk of PATH: N = current parts on
#                            online servers
#   put_rand NAME MIB        random file on the mount (fsync), its sha256 in
#                            want[NAME] (the caller declares `declare -A want`)
#   check_all                every want[] file reads back identical (after
#                            drop_caches)
#   is_asan                  the daemons are an ASan build

cj() { T 30 "$cli" -m "$maddr" "$@" --json; }

unsafe_chunks() {
  local j
  j=$(cj status) || { echo "cairn status --json failed" >&2; return 1; }
  jq -e '.chunks | [.undergoal, .endangered, .lost] |
         if all(type == "number") then add else error("no undergoal/endangered/lost") end' \
    <<<"$j"
}

chunk_copies() {
  local j
  j=$(cj info "$1") || { echo "cairn info $1 --json failed" >&2; return 1; }
  jq -e -r '.chunks | if type == "array" then .[] else error("no chunks") end |
            "\(.index) \([.parts[] | select(.current == true and .server_state == "online")] | length)"' \
    <<<"$j"
}

put_rand() {
  local f="$work/put.tmp"
  mkrand "$f" "$2"
  want[$1]=$(sha "$f")
  T 180 dd if="$f" of="$mnt/$1" bs=1M conv=fsync status=none || fail "write $1 (rc $?)"
  rm -f "$f"
}

check_all() {
  local f got
  drop_caches
  for f in "${!want[@]}"; do
    got=$(msha "$mnt/$f") || fail "read $f failed (rc $?)"
    [ "$got" = "${want[$f]}" ] || fail "$f: wrong data (sha256 $got, want ${want[$f]})"
  done
}

is_asan() { ldd "$bin/cairn-master" 2>/dev/null | grep -q libasan; }

# copies_range FILE...: "MIN MAX" of chunk_copies over every chunk of the
# files (names relative to the mount).
copies_range() {
  local f out all=""
  for f in "$@"; do
    out=$(chunk_copies "$mnt/$f") || return 1
    all+="$out"$'\n'
  done
  awk 'NF == 2 { if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 }
       END { if (min == "") exit 1; print min, max }' <<<"$all"
}

# read_stopped NAME FILE SECONDS: prints "SHA MS": the sha-256 of FILE on
# the mount read (page cache dropped first) while chunkserver NAME is
# SIGSTOPped, and how long the read took; NAME is continued afterwards.
# Fails (status 1) when the read does not finish within SECONDS.
read_stopped() {
  local pid t0 out rc=0
  pid=$(cat "$dir/run/$1.pid")
  drop_caches
  kill -STOP "$pid"
  t0=$(date +%s%N)
  out=$(T "$3" sha256sum "$2") || rc=$?
  kill -CONT "$pid"
  [ "$rc" = 0 ] || return 1
  echo "${out%% *} $((($(date +%s%N) - t0) / 1000000))"
}

# server_field NAME FIELD: FIELD of server NAME in `cairn servers --json`.
server_field() {
  local j
  j=$(cj servers) || { echo "cairn servers --json failed" >&2; return 1; }
  jq -r --arg n "$1" --arg f "$2" \
    '[.servers[] | select(.name == $n)][0][$f] | if . == null then error("no \($f)") else . end' <<<"$j"
}

# heal_env: master and chunkserver timers for the heal suites, before ml_up:
# a dead server is unreachable after 2 s (CS_TIMEOUT_MS) and lost 3 s later
# (CS_GRACE_MS); the health loop runs every 200 ms from 1 s after start.
heal_env() {
  # A master without the health loop would refuse the keys; say so, not
  # "no free port range" from ml_up's retries.
  local k
  for k in CS_GRACE_MS HEALTH_PERIOD_MS HEALTH_START_MS REPAIR_RATE_MBPS BALANCE_BAND; do
    "$bin/cairn-master" --dump-config 2>/dev/null | grep -q "^$k = " ||
      fail "cairn-master has no option $k: the health loop (issue 5) is not in this build"
  done
  export CAIRN_LOCAL_MASTER_OPTS="HEARTBEAT_MS=250ms;CS_TIMEOUT_MS=2s;CS_GRACE_MS=3s;HEALTH_PERIOD_MS=200ms;HEALTH_START_MS=1s${1:+;$1}"
  export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250${2:+;$2}"
}
