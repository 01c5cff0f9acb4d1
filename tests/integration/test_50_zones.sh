#!/usr/bin/env bash
# Proves zone spreading and backup copies of issue 7 through the mount, on
# 6 chunkservers in three zones (cs1 cs2: zone=a, cs3 cs4: zone=b, cs5 cs6:
# zone=c; cs6 is also labelled backup):
#  1. copies=3: every chunk has one copy per zone; ec=2+1: one part per zone
#     (a random placement gets this for a chunk 2 times in 5).
#  2. A killed server's copies are repaired inside its zone (the only zone
#     without a part of the chunk), so the rule still holds afterwards.
#  2b. A drained server (cairn server remove) gives its copies and its EC
#     parts to the other server of its zone (EC parts on a leaving server
#     are copied, index for index, then deleted).
#  3. labels=!backup,backup: the copy on the backup server is not read while
#     the other answers (cs6 SIGSTOPped: a read that touched it would stall
#     for the client's 30 s timeout), and it serves the file when the other
#     copy's server is killed.
#   bash test_50_zones.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_50_zones "${1:-}"

heal_env "REBALANCE_RATE_MBPS=0"
ml_up --chunkservers 6 --copies 2 --disk-size 256M --metaloggers 0 \
  --labels 1=zone=a --labels 2=zone=a --labels 3=zone=b --labels 4=zone=b \
  --labels 5=zone=c --labels 6=zone=c,backup
wait_online 6
declare -A want=()
C() { T 30 "$cli" -m "$maddr" "$@"; }
zone_of() { case $1 in cs1 | cs2) echo a ;; cs3 | cs4) echo b ;; *) echo c ;; esac; }

# spread_ok FILE PARTS: every chunk of FILE has PARTS current parts, each in
# its own zone; prints the offending chunk otherwise.
spread_ok() {
  local j n line s z
  j=$(cj info "$mnt/$1") || return 1
  n=$(jq '.chunks | length' <<<"$j")
  [ "$n" -gt 0 ] || return 1
  while read -r line; do
    declare -A seen=()
    local count=0
    for s in $line; do
      z=$(zone_of "$s")
      [ -n "${seen[$z]:-}" ] && { echo "$1: two parts in zone $z: $line"; return 1; }
      seen[$z]=1
      count=$((count + 1))
    done
    unset seen
    [ "$count" = "$2" ] || { echo "$1: $count parts ($line), want $2"; return 1; }
  done < <(jq -r '.chunks[] | [.parts[] | select(.current and .state == "ok") | .server] | join(" ")' <<<"$j")
}
all_spread() {
  local i
  for ((i = 0; i < 12; i++)); do
    spread_ok "z/f$i" 3 || return 1
    spread_ok "e/f$i" 3 || return 1
  done
}

step "copies=3 and ec=2+1 over three zones"
C class add z3 --create "copies=3" >/dev/null || fail "class add z3"
C class add e21 --create "ec=2+1" >/dev/null || fail "class add e21"
mkdir "$mnt/z" "$mnt/e"
C class set "$mnt/z" z3 >/dev/null || fail "class set z"
C class set "$mnt/e" e21 >/dev/null || fail "class set e"
for ((i = 0; i < 12; i++)); do
  head -c $((200000 + i * 1000)) /dev/urandom >"$work/src"
  want[z/f$i]=$(sha "$work/src")
  T 30 cp "$work/src" "$mnt/z/f$i" || fail "write z/f$i"
  head -c $((300000 + i * 1000)) /dev/urandom >"$work/src"
  want[e/f$i]=$(sha "$work/src")
  T 30 cp "$work/src" "$mnt/e/f$i" || fail "write e/f$i"
done
[ "$(cj info "$mnt/e/f0" | jq -r '.chunks[0].layout')" = "ec=2+1" ] || fail "e/f0 is not ec=2+1"
for ((i = 0; i < 50; i++)); do out=$(all_spread) && break; sleep 0.2; done
all_spread >/dev/null || fail "not spread over the zones: $out"
on_cs1=$(for ((i = 0; i < 12; i++)); do cj info "$mnt/z/f$i"; cj info "$mnt/e/f$i"; done |
  jq -s '[.[].chunks[].parts[] | select(.server == "cs1")] | length')
echo "24 files spread over 3 zones; $on_cs1 parts on cs1"
[ "$on_cs1" -gt 0 ] || fail "no part on cs1: the repair step would prove nothing"

step "cs1 killed: its parts are repaired on cs2, the other server of zone a"
"$local_sh" kill --dir "$dir" cs1 >/dev/null || fail "kill cs1"
for ((i = 0; i < 150; i++)); do
  [ "$(server_field cs1 state)" = online ] || break
  sleep 0.2
done
for ((i = 0; i < 200; i++)); do
  [ "$(cj status | jq '.chunks.undergoal + .chunks.endangered')" = 0 ] && break
  sleep 0.2
done
[ "$(cj status | jq '.chunks.undergoal + .chunks.endangered')" = 0 ] ||
  fail "not repaired: $(cj status | jq -c '.chunks')"
for ((i = 0; i < 10; i++)); do out=$(all_spread) && break; sleep 0.5; done
all_spread >/dev/null || fail "after the repair: $out"
check_all
"$local_sh" start --dir "$dir" cs1 >/dev/null || fail "start cs1"
wait_online 6

step "cs2 drained (cairn server remove): its copies and EC parts move to cs1, zone a"
on_cs2() { cj servers | jq -r '.servers[] | select(.name == "cs2") | .parts'; }
[ "$(on_cs2)" -gt 0 ] || fail "cs2 holds no part: the drain would prove nothing"
T 30 "$cli" -m "$maddr" server remove cs2 >/dev/null || fail "server remove cs2"
for ((i = 0; i < 300; i++)); do [ "$(on_cs2)" = 0 ] && break; sleep 0.2; done
[ "$(on_cs2)" = 0 ] || fail "cs2 still holds $(on_cs2) parts: $(cj status | jq -c '.chunks, .health')"
for ((i = 0; i < 20; i++)); do out=$(all_spread) && break; sleep 0.5; done
all_spread >/dev/null || fail "after the drain: $out"
check_all
T 30 "$cli" -m "$maddr" server keep cs2 >/dev/null || fail "server keep cs2"

step "backup copy: not read while the other copy answers"
C class add bk --create "copies=2 labels=!backup,backup" >/dev/null || fail "class add bk"
mkdir "$mnt/b"
C class set "$mnt/b" bk >/dev/null || fail "class set b"
put_rand b/f 8
servers=$(cj info "$mnt/b/f" | jq -r '[.chunks[0].parts[] | select(.current) | .server] | sort | join(" ")')
case " $servers " in *" cs6 "*) ;; *) fail "no copy on the backup server cs6: $servers" ;; esac
primary=${servers/cs6/}
primary=${primary// /}
[ -n "$primary" ] || fail "one copy only: $servers"
out=$(read_stopped cs6 "$mnt/b/f" 10) ||
  fail "reading b/f with the backup server stopped did not finish in 10 s: it was read"
read -r got ms <<<"$out"
[ "$got" = "${want[b/f]}" ] || fail "b/f reads wrong"
echo "8 MiB read in $ms ms with the backup server stopped (primary $primary)"
wait_online 6

step "backup copy: serves the file when $primary is killed"
"$local_sh" kill --dir "$dir" "$primary" >/dev/null || fail "kill $primary"
drop_caches
got=$(msha "$mnt/b/f") || fail "read b/f from the backup copy"
[ "$got" = "${want[b/f]}" ] || fail "b/f reads wrong from the backup copy"
echo "PASS"
