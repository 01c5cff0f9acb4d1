#!/usr/bin/env bash
# Proves that chunks placed before a second zone existed are spread over
# the zones when one appears (issue 7, zones), through the mount:
#  1. 3 chunkservers, all zone=a, copies=2: every chunk has both copies in
#     zone a (one zone: the rule allows it).
#  2. A chunkserver in zone b joins: every chunk gets a copy there and keeps
#     one in zone a (2 copies, one per zone), the surplus zone-a copy is
#     deleted, `cairn status` is healthy, and the data reads back.
#   bash test_51_zone_spread.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_51_zone_spread "${1:-}"

heal_env "REBALANCE_RATE_MBPS=0"
ml_up --chunkservers 3 --copies 2 --disk-size 256M --metaloggers 0 \
  --labels 1=zone=a --labels 2=zone=a --labels 3=zone=a
wait_online 3
declare -A want=()

step "10 files in copies=2, all in zone a"
for ((i = 0; i < 10; i++)); do
  head -c $((100000 + i * 7000)) /dev/urandom >"$work/src"
  want[f$i]=$(sha "$work/src")
  T 30 cp "$work/src" "$mnt/f$i" || fail "write f$i"
done
# servers FILE: the sorted servers of the current parts of FILE's chunk 0
servers() { cj info "$mnt/$1" | jq -r '[.chunks[0].parts[] | select(.current) | .server] | sort | join(" ")'; }
for ((i = 0; i < 10; i++)); do
  s=$(servers "f$i")
  [ "$(wc -w <<<"$s")" = 2 ] || fail "f$i has copies on '$s', want 2"
done

step "cs4 joins in zone b: one copy of every chunk moves there"
"$local_sh" add-server --dir "$dir" --labels zone=b --disk-size 256M >/dev/null || fail "add-server"
wait_online 4
spread() { # every file: 2 copies, one on cs4 (the only zone-b server)
  local i s
  for ((i = 0; i < 10; i++)); do
    s=$(servers "f$i")
    [ "$(wc -w <<<"$s")" = 2 ] && [[ " $s " == *" cs4 "* ]] || { echo "f$i on '$s'"; return 1; }
  done
}
for ((i = 0; i < 200; i++)); do out=$(spread) && break; sleep 0.2; done
spread >/dev/null || fail "not spread over zones a and b: $out"
for ((i = 0; i < 100; i++)); do
  [ "$(unsafe_chunks)" = 0 ] && [ "$(cj status | jq '.chunks.misplaced')" = 0 ] && break
  sleep 0.2
done
[ "$(unsafe_chunks)" = 0 ] || fail "chunks at risk after the spread: $(cj status | jq -c '.chunks')"
[ "$(cj status | jq '.chunks.misplaced')" = 0 ] || fail "misplaced after the spread: $(cj status | jq -c '.chunks')"
check_all
echo "PASS"
