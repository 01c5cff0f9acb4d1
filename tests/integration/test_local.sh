#!/usr/bin/env bash
# cairn-local end to end, without the mount: up (3 chunkservers on
# 127.0.0.1, a random base port), status, kill cs1 (status shows it stopped,
# the master loses it), start cs1 (registered again), down --purge.
#   bash test_local.sh BIN_DIR     (BIN_DIR holds cairn-local and the daemons)
set -euo pipefail

bin=${1:?usage: test_local.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
local_sh="$bin/cairn-local"
[ -x "$local_sh" ] || { echo "FAIL: $local_sh missing" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test-local.XXXXXX")
dir="$work/cluster"
export CAIRN_LOCAL_TIMEOUT=40 CAIRN_LOCAL_STOP_TIMEOUT=5
cleanup() {
  local rc=$?
  if [ -f "$dir/cluster.env" ]; then
    if [ "$rc" != 0 ]; then
      echo "--- logs" >&2
      tail -n 20 "$dir"/master/log "$dir"/cs*/log >&2 || true
    fi
    "$local_sh" down --dir "$dir" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
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
  base=$((20000 + (RANDOM * 32768 + RANDOM + $$ + attempt * 997) % 12000)) # below the ephemeral ports
  step "up --no-mount --base-port $base (attempt $attempt)"
  if out=$("$local_sh" up --dir "$dir" --no-mount --chunkservers 3 --copies 2 \
    --disk-size 256M --base-port "$base" 2>&1); then
    break
  fi
  echo "$out"
  # A port taken before `up` looked ("in use") or between its check and the
  # daemon's bind (the daemon exits at once): another range. Anything else fails.
  grep -Eq "in use|exited before it was ready" <<<"$out" || fail "up failed"
  [ ! -f "$dir/cluster.env" ] || "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1 || true
  rm -rf "$dir"
  [ "$attempt" != 5 ] || fail "no free port range"
done
echo "$out"
grep -q "cluster up in $dir" <<<"$out" || fail "up did not say where the cluster is"
[ -f "$dir/cluster.env" ] || fail "no cluster.env"
for f in master/master.cfg master/data cs1/cs.cfg cs1/disk1.img cs3/disk1.img run/master.pid; do
  [ -e "$dir/$f" ] || fail "layout: $dir/$f missing"
done
grep -q "^CLIENT_LISTEN = 127.0.0.1:$((base + 1))$" "$dir/master/master.cfg" || fail "client port"
grep -q "^LISTEN = 127.0.0.1:$((base + 3))$" "$dir/cs2/cs.cfg" || fail "cs2 port"
# Sparse disks: far less allocated than 256M.
alloc=$(du -k "$dir/cs1/disk1.img" | cut -f1)
[ "$alloc" -lt 65536 ] || fail "disk image is not sparse (${alloc}K allocated)"

step "status"
st=$("$local_sh" status --dir "$dir")
echo "$st"
for n in master cs1 cs2 cs3; do
  grep -Eq "^$n +[0-9]+ +running" <<<"$st" || fail "status: $n not running"
done
[ "$(grep -c ' online ' <<<"$st")" = 3 ] || fail "status: the master does not list 3 online servers"

step "up again on a running cluster: says so, exit 0"
out=$("$local_sh" up --dir "$dir" --no-mount) || fail "second up: exit $?"
grep -q "already up" <<<"$out" || fail "second up: $out"

step "kill cs1"
"$local_sh" kill --dir "$dir" cs1
st=$("$local_sh" status --dir "$dir")
echo "$st"
grep -Eq "^cs1 +- +stopped" <<<"$st" || fail "status: cs1 not stopped"
grep -Eq "^cs2 +[0-9]+ +running" <<<"$st" || fail "status: cs2 not running"
# The master notices the dead connection.
for ((i = 0; i < 100; i++)); do
  srv=$("$bin/cairn" -m "127.0.0.1:$((base + 1))" servers)
  grep -Eq "^cs1 .* online " <<<"$srv" || break
  sleep 0.1
done
[ "$i" -lt 100 ] || fail "the master still lists cs1 online"

step "start cs1"
"$local_sh" start --dir "$dir" cs1
st=$("$local_sh" status --dir "$dir")
grep -Eq "^cs1 +[0-9]+ +running" <<<"$st" || fail "status: cs1 not running again"
srv=$("$bin/cairn" -m "127.0.0.1:$((base + 1))" servers)
grep -Eq "^cs1 .* online " <<<"$srv" || fail "cs1 not registered again: $srv"

step "usage errors"
set +e
"$local_sh" kill --dir "$dir" cs9 2>/dev/null
[ $? = 2 ] || fail "kill cs9 is not a usage error"
set -e

step "down --purge"
"$local_sh" down --dir "$dir" --purge
[ ! -e "$dir" ] || fail "$dir still there after --purge"
for p in $((base)) $((base + 1)) $((base + 2)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then fail "port $p still listening"; fi
done
echo "PASS"
