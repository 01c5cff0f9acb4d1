#!/usr/bin/env bash
# Proves: a disk added to an existing chunkserver fills up by itself: the
# chunkserver moves parts from its full disk to the new one (balance.c)
# until their usage is within LOCAL_BALANCE_BAND (5) points, the master
# learns the new disk of each moved part, and every file reads back.
#  1. 2 chunkservers, copies=1, 1 disk of 512 MiB each; ~180 MiB of files
#     of 4 MiB (parts small enough to even out within the band).
#  2. cs1 is stopped; a second formatted disk is added to its DISKS; cs1
#     starts again.
#  3. Wait (bounded) until cs1's two disks are within 5 points of each other
#     in `cairn disks --json` and the new disk holds parts; `cairn info` of
#     every file lists each chunk on one online server; all data reads back.
#   bash test_35_heal_new_disk.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_35_heal_new_disk "${1:-}"

# copies=1 on 2 servers: cs1 gets about half the files at random, and its
# first disk must end more than LOCAL_BALANCE_BAND (5 points of 512 MiB,
# 26 MiB) fuller than the new one; 36 files make 7 or fewer on cs1
# (P < 1e-4) the only way to miss that.
if is_asan; then nfiles=36 wait_s=240; else nfiles=45 wait_s=120; fi
heal_env "REBALANCE_RATE_MBPS=0"
ml_up --chunkservers 2 --copies 1 --disk-size 512M
wait_online 2

declare -A want=()
step "write $nfiles files of 4 MiB"
files=()
for ((k = 0; k < nfiles; k++)); do
  put_rand "f$k" 4
  files+=("f$k")
done

step "stop cs1, give it a second disk, start it again"
"$local_sh" kill --dir "$dir" cs1
img="$dir/cs1/disk2.img"
truncate -s 512M "$img"
T 60 "$bin/cairn-disk" format --segment-size 16M "$img" >/dev/null || fail "format $img"
grep -q '^DISKS = ' "$dir/cs1/cs.cfg" || fail "no DISKS line in cs1/cs.cfg"
sed -i "s|^DISKS = \(.*\)$|DISKS = \1, $img|" "$dir/cs1/cs.cfg"
grep '^DISKS' "$dir/cs1/cs.cfg"
"$local_sh" start --dir "$dir" cs1 || fail "cs1 did not start with its new disk"
wait_online 2

# usage_gap: "GAP PARTS_ON_NEW" for cs1's two disks (percent points).
usage_gap() {
  cj disks | jq -e -r --arg p "$img" '
    [.disks[] | select(.server == "cs1")] as $d
    | if ($d | length) != 2 then error("cs1 has \($d | length) disks") else . end
    | ($d | map(100 * .used / .total)) as $u
    | "\(($u | max) - ($u | min)) \([$d[] | select(.path == $p)][0].parts)"'
}
step "wait until cs1's disks are within 5 points"
t0=$SECONDS
ok=0
while [ $((SECONDS - t0)) -lt "$wait_s" ]; do
  read -r gap onnew < <(usage_gap) || fail "cannot read cs1's disks"
  if awk -v g="$gap" 'BEGIN { exit !(g <= 5) }' && [ "$onnew" -gt 0 ]; then
    ok=1
    break
  fi
  sleep 1
done
cj disks | jq -c '.disks[] | select(.server == "cs1") | {path, used, total, parts}'
[ "$ok" = 1 ] || fail "cs1's disks still $gap points apart after ${wait_s}s ($onnew parts on the new disk)"
step "balanced after $((SECONDS - t0))s: gap $gap points, $onnew parts on the new disk"
grep -c "balance: moved" "$dir/cs1/log" || fail "cs1 logged no move"

r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
[ "$r" = "1 1" ] || fail "chunk copies (min max) $r, want 1 1"
step "every file reads back"
check_all
echo "test_35_heal_new_disk: PASS in $((SECONDS - ML_T0))s"
