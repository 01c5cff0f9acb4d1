#!/usr/bin/env bash
# Proves: an empty server added to a half-full cluster (`cairn-local
# add-server`) is filled by the rebalancer until every online disk's
# used/total is within +-5 points (BALANCE_BAND) of the cluster mean, no
# chunk is under goal at any poll, and all data reads back.
#  1. 3 chunkservers with one 512 MiB sparse disk,
#     copies=2, filled to ~50% with 4 MiB files (one part each: fine-grained).
#  2. add-server (cs4, same disk size); polled every 0.5 s: undergoal +
#     endangered + lost is 0, until the usage band holds (bounded).
#  3. Every file reads back identical.
#   bash test_33_heal_rebalance.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_33_heal_rebalance "${1:-}"

if is_asan; then size=512M balance_s=300; else size=512M balance_s=180; fi # 512M: half the data to move, same band
band=5
heal_env "BALANCE_BAND=$band"
ml_up --chunkservers 3 --copies 2 --disk-size "$size"
wait_online 3

# usage: "MEAN MAXDEV NDISKS" over the online disks (percent of total).
usage() {
  local j
  j=$(cj disks) || { echo "cairn disks --json failed" >&2; return 1; }
  jq -e -r '[.disks[] | select(.server_state == "online")] as $d
    | if ($d | length) == 0 then error("no online disks") else . end
    | (($d | map(.used) | add) / ($d | map(.total) | add) * 100) as $m
    | ([$d[] | (.used / .total * 100 - $m) | if . < 0 then -. else . end] | max) as $dev
    | "\($m * 100 | round / 100) \($dev * 100 | round / 100) \($d | length)"' <<<"$j"
}

total=$(cj status | jq -e '.total') || fail "status has no total"
nfiles=$((total / 2 / 2 / (4 * 1024 * 1024)))   # half of the space, 2 copies
declare -A want=()
step "fill to ~50%: $nfiles files of 4 MiB (space $((total >> 20)) MiB)"
files=()
for ((k = 0; k < nfiles; k++)); do
  put_rand "f$k" 4
  files+=("f$k")
done
for ((i = 0; i < 150; i++)); do
  [ "$(unsafe_chunks)" = 0 ] && break
  sleep 0.2
done
read -r mean dev n < <(usage) || fail "cannot compute disk usage"
step "usage before: mean $mean%, max deviation $dev points over $n disks"
awk -v m="$mean" 'BEGIN { exit !(m >= 35 && m <= 65) }' || fail "fill: mean usage $mean%, want 35..65%"
cj disks | jq -c '.disks[] | {server, used, total, parts}' || true

step "add-server"
new=$("$local_sh" add-server --dir "$dir") || fail "cairn-local add-server failed"
[ "$new" = cs4 ] || fail "add-server printed '$new', want cs4"
wait_online 4
t0=$SECONDS
polls=0
while :; do
  bad=$(unsafe_chunks) || fail "cairn status has no chunk health counts"
  polls=$((polls + 1))
  [ "$bad" = 0 ] || fail "$bad chunk(s) under goal during the rebalance ($((SECONDS - t0))s, poll $polls)"
  read -r mean dev n < <(usage) || fail "cannot compute disk usage"
  [ "$n" = 4 ] || fail "$n online disks, want 4"
  awk -v d="$dev" -v b="$band" 'BEGIN { exit !(d <= b) }' && break
  if [ $((SECONDS - t0)) -ge "$balance_s" ]; then
    cj disks | jq -c '.disks[] | {server, used, total, parts}' >&2 || true
    cj status | jq '.health' >&2 || true
    fail "not balanced after ${balance_s}s: mean $mean%, max deviation $dev points (band $band)"
  fi
  sleep 0.5
done
step "balanced in $((SECONDS - t0))s: mean $mean%, max deviation $dev points ($polls polls, never under goal)"
cj disks | jq -c '.disks[] | {server, used, total, parts}' || true
[ "$(server_field cs4 parts)" -gt 0 ] || fail "cs4 got no parts"
r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
[ "${r%% *}" -ge 2 ] || fail "after the rebalance: chunk copies (min max) $r"

step "every file reads back"
check_all
echo "PASS"
