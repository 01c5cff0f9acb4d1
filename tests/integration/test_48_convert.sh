#!/usr/bin/env bash
# Proves the keep -> archive conversion of issue 7 (copies=2 -> ec=4+2)
# through the mount, on 7 chunkservers:
#  1. A class gains an archive state with after=1s: its files' chunks are
#     rewritten as ec=4+2 by the chunkservers, the copies deleted.
#  2. SIGKILL of a converting chunkserver and of the master while the
#     conversion runs loses nothing: after both restart, the conversion
#     resumes and finishes, and every file reads back identical.
#  3. Disk bytes afterwards are within 5% of 1.5 x the file bytes.
#  4. The archive state edited to ec=2+1: the chunks are re-coded (decoded
#     to copies=2, then encoded), data intact, 1.5 x the bytes.
#  5. The archive state removed: the chunks are decoded back to copies=2
#     by the chunkservers (ec -> copies), data intact, 2 x the bytes.
#   bash test_48_convert.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_48_convert "${1:-}"

heal_env "REBALANCE_RATE_MBPS=0"
ml_up --chunkservers 7 --copies 2 --disk-size 1G --metaloggers 0
wait_online 7
declare -A want=()
C() { T 30 "$cli" -m "$maddr" "$@"; }
used() { cj disks | jq '[.disks[].used] | add'; }
# stable_used: the disks' total once two heartbeats in a row agree
stable_used() {
  local a b i
  a=$(used)
  for ((i = 0; i < 60; i++)); do
    sleep 0.6
    b=$(used)
    [ "$a" = "$b" ] && { echo "$b"; return 0; }
    a=$b
  done
  echo "$b"
}
# all_layout L: every chunk of every file in a/ has layout L, and the class
# counts every chunk ok
all_layout() {
  local f
  for f in "$mnt"/a/*; do
    cj info "$f" | jq -e --arg l "$1" '.chunks | length == 0 or all(.layout == $l)' >/dev/null || return 1
  done
  cj status | jq -e '.classes[] | select(.name == "arc") | .ok == .chunks' >/dev/null
}

used0=$(stable_used)
C class add arc --create "copies=2" >/dev/null || fail "class add"
mkdir "$mnt/a"
C class set "$mnt/a" arc >/dev/null || fail "class set"

step "write 200 MiB in copies=2"
put_rand a/big1 64
put_rand a/big2 64
put_rand a/mid 40
bytes=$((168 << 20))
for s in 1 65537 300001 3000000; do
  head -c "$s" /dev/urandom >"$work/s$s"
  T 60 cp "$work/s$s" "$mnt/a/s$s" || fail "write s$s"
  want[a/s$s]=$(sha "$work/s$s")
  bytes=$((bytes + s))
done
[ "$(cj info "$mnt/a/big1" | jq -r '.chunks[0].layout')" = copies=2 ] || fail "not copies=2 before"

step "archive state ec=4+2 after 1 s: conversion starts"
C class edit arc --archive "ec=4+2" after=1s >/dev/null || fail "class edit"
for ((i = 0; i < 150; i++)); do
  line=$(grep -m1 "converting chunk" "$dir/master/log" || true)
  [ -n "$line" ] && break
  sleep 0.1
done
[ -n "$line" ] || fail "no conversion started"
conv=${line##* on }
echo "first conversion runs on $conv: $line"

step "SIGKILL $conv and the master during the conversion"
"$local_sh" kill --dir "$dir" "$conv" >/dev/null || fail "kill $conv"
"$local_sh" kill --dir "$dir" master >/dev/null || fail "kill master"
sleep 1
"$local_sh" start --dir "$dir" master >/dev/null || fail "start master"
"$local_sh" start --dir "$dir" "$conv" >/dev/null || fail "start $conv"
wait_online 7

step "the conversion resumes and finishes"
for ((i = 0; i < 600; i++)); do all_layout ec=4+2 && break; sleep 0.2; done
all_layout ec=4+2 || fail "not every chunk is ec=4+2: $(cj status | jq -c '.classes, .health')"
check_all

step "disk bytes are about 1.5 x the file bytes"
# wait_ratio LO HI: until (disk bytes - used0) / file bytes is in [LO, HI]
# (30 tries): the old parts are deleted after the switch, asynchronously.
# Sets ratio and grew.
wait_ratio() {
  local i u
  for ((i = 0; i < 30; i++)); do
    u=$(stable_used)
    grew=$((u - used0))
    ratio=$(awk -v g="$grew" -v f="$bytes" 'BEGIN { printf "%.3f", g / f }')
    awk -v r="$ratio" -v lo="$1" -v hi="$2" 'BEGIN { exit !(r >= lo && r <= hi) }' && return 0
    sleep 1
  done
  return 1
}
wait_ratio 1.425 1.575 || fail "disk/file = $ratio, want 1.5 within 5%: $(cj disks | jq -c '[.disks[] | [.server, .used, .parts]]')"
echo "file bytes $bytes, disk bytes $grew, ratio $ratio"
step "the archive state becomes ec=2+1: the chunks are re-coded (through copies=2)"
C class edit arc --archive "ec=2+1" after=1s >/dev/null || fail "class edit --archive ec=2+1"
for ((i = 0; i < 600; i++)); do all_layout ec=2+1 && break; sleep 0.2; done
all_layout ec=2+1 || fail "not every chunk is ec=2+1: $(cj status | jq -c '.classes, .health')"
check_all
wait_ratio 1.425 1.575 || fail "disk/file = $ratio as ec=2+1, want 1.5 within 5%"
echo "as ec=2+1: file bytes $bytes, disk bytes $grew, ratio $ratio"

step "the archive state removed: the chunks are decoded back to copies=2"
C class edit arc --archive - >/dev/null || fail "class edit --archive -"
for ((i = 0; i < 600; i++)); do all_layout copies=2 && break; sleep 0.2; done
all_layout copies=2 || fail "not every chunk is copies=2 again: $(cj status | jq -c '.classes, .health')"
grep -q "converted chunk .* (copies=2)" "$dir/master/log" || fail "no decode conversion in the master log"
check_all
wait_ratio 1.9 2.1 || fail "disk/file = $ratio after decoding, want 2.0 within 5%"
echo "file bytes $bytes, disk bytes $grew, ratio $ratio"
echo "PASS"
