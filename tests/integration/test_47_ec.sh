#!/usr/bin/env bash
# Proves the erasure-coded data path of issue 7 through the mount, on 7
# chunkservers with a class whose create state is ec=4+2:
#  1. Files of odd sizes (0, 1, 65535, 65537, a partial last row, two
#     chunks) read back exactly, stored as 6 parts on 6 servers, and the
#     disks hold about 1.5 x the data.
#  2. Random overwrites and appends into EC files, and shrinking then
#     growing truncates, read back exactly.
#  3. Every pattern of 1 or 2 SIGKILLed servers leaves every file
#     byte-identical (degraded reads rebuild what is missing); in the
#     sanitizer build the 7 single kills and 7 of the 21 pairs.
#  3a. Two parts of one row damaged on disk (CRC): the file reads back
#     exactly (the damaged blocks are decoded from the other parts).
#  3b. A SIGSTOPped data server: its blocks are decoded from the other
#     parts once it has not answered within ec_slow (2 s).
#  4. Repair: after one server is SIGKILLed, every chunk gets its 6 parts
#     back (the missing part rebuilt from 4 others on the 7th server), the
#     data reads back, and when the server returns its extra parts go.
#  5. With 3 servers of a chunk gone, its reads fail with EIO and `cairn
#     status` names the lost chunk and its file.
#   bash test_47_ec.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_47_ec "${1:-}"

heal_env "REBALANCE_RATE_MBPS=0" # a killed server is lost 5 s later: the lost report comes quickly; no rebalancing moves a part away while a step counts them
ml_up --chunkservers 7 --copies 2 --disk-size 512M --metaloggers 0
wait_online 7
declare -A want=()
C() { T 30 "$cli" -m "$maddr" "$@"; }

C class add ec42 --create "ec=4+2" >/dev/null || fail "class add ec42"
mkdir "$mnt/e"
C class set "$mnt/e" ec42 >/dev/null || fail "class set"

step "files of odd sizes"
for s in 0 1 65535 65536 65537 200000 262144 300001 1048576 3000000; do
  head -c "$s" /dev/urandom >"$work/f$s"
  T 60 cp "$work/f$s" "$mnt/e/f$s" || fail "write f$s"
  want[e/f$s]=$(sha "$work/f$s")
done
check_all
j=$(cj info "$mnt/e/f300001")
[ "$(jq -r '.chunks[0].layout' <<<"$j")" = "ec=4+2" ] || fail "layout: $(jq -c '.chunks[0]' <<<"$j")"
[ "$(jq -r '[.chunks[0].parts[].part] | sort | join(",")' <<<"$j")" = "0,1,2,3,4,5" ] ||
  fail "parts: $(jq -c '[.chunks[0].parts[] | [.part, .server]]' <<<"$j")"
[ "$(jq -r '[.chunks[0].parts[].server] | unique | length' <<<"$j")" = 6 ] || fail "two parts on one server"

step "a file of two chunks (64 MiB + 1)"
put_rand e/two 64
T 60 dd if=/dev/urandom of="$mnt/e/two" bs=1 count=1 seek=$((64 << 20)) conv=notrunc status=none ||
  fail "append to two"
want[e/two]=$(msha "$mnt/e/two")
drop_caches
[ "$(msha "$mnt/e/two")" = "${want[e/two]}" ] || fail "two changed after drop_caches"
[ "$(cj info "$mnt/e/two" | jq '.chunks | length')" = 2 ] || fail "two has not 2 chunks"

step "disk use is about 1.5 x the data"
used0=$(cj disks | jq '[.disks[].used] | add')
put_rand e/space 32
sleep 2
used1=$(cj disks | jq '[.disks[].used] | add')
ratio=$(awk -v a="$used0" -v b="$used1" 'BEGIN { printf "%.3f", (b - a) / (32 * 1048576) }')
echo "32 MiB file: $((used1 - used0)) bytes more on the disks, ratio $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r >= 1.45 && r <= 1.60) }' || fail "disk bytes / file bytes = $ratio, want ~1.5"

step "random overwrites, appends and truncates"
cat >"$work/ow.py" <<'EOF'
import os, random, sys
random.seed(int(sys.argv[3]))
fa = os.open(sys.argv[1], os.O_RDWR)
fb = os.open(sys.argv[2], os.O_RDWR)
size = os.fstat(fa).st_size
for i in range(30):
    if random.random() < 0.6 and size > 0:
        off = random.randrange(0, size)
        n = random.choice([1, 100, 4096, 65536, 70000, 300000])
    else:
        off = size + random.choice([0, 1, 65536, 100000])
        n = random.choice([1, 5000, 65536, 131072, 1000000])
    data = os.urandom(n)
    os.pwrite(fa, data, off)
    os.pwrite(fb, data, off)
    size = max(size, off + n)
    if random.random() < 0.3:
        os.fsync(fb)
os.fsync(fb)
EOF
for f in f1 f65537 f300001 f3000000 f0; do
  T 120 python3 "$work/ow.py" "$work/$f" "$mnt/e/$f" "$RANDOM" || fail "overwrites of $f"
  want[e/$f]=$(sha "$work/$f")
done
for cut in 100000 131072 1; do
  truncate -s "$cut" "$mnt/e/f300001" "$work/f300001" || fail "truncate to $cut"
  truncate -s 2000000 "$mnt/e/f300001" "$work/f300001" || fail "truncate up"
done
want[e/f300001]=$(sha "$work/f300001")
check_all

step "every pattern of one or two killed servers: files intact"
two_sha=${want[e/two]}
unset 'want[e/two]' 'want[e/space]' # 96 MiB more per pattern: checked once below
names=(cs1 cs2 cs3 cs4 cs5 cs6 cs7)
quick=0
is_asan && quick=1
patterns=()
for ((a = 0; a < 7; a++)); do
  patterns+=("${names[a]}")
  for ((b = a + 1; b < 7; b++)); do
    # the sanitizer build: each server in two pairs instead of six (the
    # normal build checks all 21 pairs)
    if [ "$quick" = 1 ] && [ $((b - a)) != 1 ] && [ $((b - a)) != 6 ]; then
      continue
    fi
    patterns+=("${names[a]} ${names[b]}")
  done
done
for p in "${patterns[@]}"; do
  for n in $p; do "$local_sh" kill --dir "$dir" "$n" >/dev/null || fail "kill $n"; done
  check_all
  for n in $p; do "$local_sh" start --dir "$dir" "$n" >/dev/null || fail "start $n"; done
done
wait_online 7
echo "${#patterns[@]} patterns checked"

step "two chunks' worth with two data servers of chunk 0 killed"
read -r s0 s1 < <(cj info "$mnt/e/two" |
  jq -r '[.chunks[0].parts[] | select(.part == 0 or .part == 1) | .server] | join(" ")')
"$local_sh" kill --dir "$dir" "$s0" >/dev/null
"$local_sh" kill --dir "$dir" "$s1" >/dev/null
[ -n "$s0" ] && [ -n "$s1" ] || fail "no parts 0 and 1 in cairn info"
drop_caches
got=$(msha "$mnt/e/two") || fail "degraded read of two"
[ "$got" = "$two_sha" ] || fail "two reads wrong with $s0 and $s1 down"
"$local_sh" start --dir "$dir" "$s0" >/dev/null
"$local_sh" start --dir "$dir" "$s1" >/dev/null
wait_online 7

step "two corrupted parts of one row: the file reads back exactly"
for ((i = 0; i < 4096; i++)); do
  printf 'CAIRNMARK-%06d-%01012d\n' "$i" 0
done >"$work/marks" # 1030-byte lines, ~4 MiB: 17 rows of 4 blocks
T 60 cp "$work/marks" "$mnt/e/marks" || fail "write e/marks"
marks_sha=$(sha "$work/marks")
# row 5: file blocks 20 and 21 are its data parts 0 and 1; the marker of
# the first line starting in each block is damaged on that part's disk
for p in 0 1; do
  srv=$(cj info "$mnt/e/marks" | jq -r --argjson p $p '.chunks[0].parts[] | select(.part == $p) | .server')
  line=$((((20 + p) * 65536 + 1029) / 1030))
  mark=$(printf 'CAIRNMARK-%06d-' "$line")
  "$local_sh" kill --dir "$dir" "$srv" >/dev/null || fail "kill $srv"
  img="$dir/$srv/disk1.img"
  hits=$(grep -obUa "$mark" "$img" || true)
  [ -n "$hits" ] && [ "$(wc -l <<<"$hits")" = 1 ] || fail "marker $mark not found once on $srv"
  off=${hits%%:*}
  printf 'XXXXXXXXXXXXXXXX' | dd of="$img" bs=1 seek="$off" conv=notrunc status=none
  "$local_sh" start --dir "$dir" "$srv" >/dev/null || fail "start $srv"
  echo "part $p on $srv: block $((20 + p)) damaged at disk offset $off"
done
wait_online 7
drop_caches
got=$(msha "$mnt/e/marks") || fail "read e/marks with two damaged parts"
[ "$got" = "$marks_sha" ] || fail "e/marks reads wrong with two damaged parts"

step "a stopped data server: its blocks are decoded from the others after ec_slow"
head -c $((4 << 20)) /dev/urandom >"$work/slow"
T 60 cp "$work/slow" "$mnt/e/slow" || fail "write e/slow"
slow_sha=$(sha "$work/slow")
stopped=$(cj info "$mnt/e/slow" | jq -r '.chunks[0].parts[] | select(.part == 0) | .server')
# 16 rows with part 0 on a stopped (not dead: it accepts connections)
# server: a read that waited the 30 s chunkserver timeout would not finish
out=$(read_stopped "$stopped" "$mnt/e/slow" 15) || fail "reading e/slow with $stopped stopped took over 15 s"
read -r got ms <<<"$out"
[ "$got" = "$slow_sha" ] || fail "e/slow reads wrong with $stopped stopped"
echo "4 MiB read in $ms ms with $stopped (part 0) stopped"
wait_online 7

step "repair: one server killed, every chunk back to 6 parts"
ec_ok() { # every coded chunk has its 6 parts online, none twice
  cj status | jq -e '.classes[] | select(.name == "ec42") | .ok == .chunks and .chunks > 0' >/dev/null
}
victim=$(cj info "$mnt/e/f300001" | jq -r '.chunks[0].parts[2].server')
for ((i = 0; i < 300; i++)); do ec_ok && break; sleep 0.2; done
ec_ok || fail "chunks under goal before the kill: $(cj status | jq -c '.classes')"
"$local_sh" kill --dir "$dir" "$victim" >/dev/null || fail "kill $victim"
# Until the master notices the kill, every chunk still looks whole.
for ((i = 0; i < 150; i++)); do
  [ "$(server_field "$victim" state)" = online ] || break
  sleep 0.2
done
[ "$(server_field "$victim" state)" = online ] && fail "the master still lists $victim online"
for ((i = 0; i < 300; i++)); do ec_ok && break; sleep 0.2; done
ec_ok || fail "not every chunk has 6 parts again: $(cj status | jq -c '.classes')"
cj info "$mnt/e/f300001" | jq -e --arg v "$victim" '[.chunks[0].parts[] | select(.server == $v)] | length == 0' \
  >/dev/null || fail "a part is still counted on $victim"
check_all
"$local_sh" start --dir "$dir" "$victim" >/dev/null || fail "start $victim"
wait_online 7
for ((i = 0; i < 150; i++)); do
  n=$(cj info "$mnt/e/f300001" | jq '[.chunks[0].parts[] | select(.current)] | length')
  [ "$n" = 6 ] && break
  sleep 0.2
done
[ "$n" = 6 ] || fail "after $victim came back, f300001 has $n parts, want 6"

step "three servers of a chunk gone: EIO, and cairn status names the file"
# once the chunk has its 6 parts and no extra copy of one (rebuilds and
# returning servers may leave a second part of an index for a moment), the
# servers of parts 0, 4 and 5: data part 0 and both parities. (Not 0, 1, 2:
# parts 2 and 3 of a 65537-byte chunk are empty, known zeros, so 0, 1 and 2
# gone still leaves 4 parts to decode from.)
six() { cj info "$mnt/e/f65537" | jq -e '[.chunks[0].parts[] | select(.current)] | length == 6 and
  ([.[].part] | unique | length == 6)' >/dev/null; }
for ((i = 0; i < 150; i++)); do six && break; sleep 0.2; done
six || fail "f65537 does not have exactly its 6 parts: $(cj info "$mnt/e/f65537" | jq -c '.chunks[0].parts')"
read -r k1 k2 k3 < <(cj info "$mnt/e/f65537" |
  jq -r '[.chunks[0].parts[] | select(.current and (.part == 0 or .part >= 4)) | .server] | join(" ")')
[ -n "$k3" ] && [ "$k1" != "$k2" ] && [ "$k1" != "$k3" ] && [ "$k2" != "$k3" ] ||
  fail "not three servers for parts 0, 4, 5: '$k1' '$k2' '$k3'"
for n in $k1 $k2 $k3; do "$local_sh" kill --dir "$dir" "$n" >/dev/null || fail "kill $n"; done
drop_caches
if T 60 cat "$mnt/e/f65537" >/dev/null 2>"$work/cat.err"; then
  fail "f65537 read with 3 of 6 parts gone"
fi
grep -qi "input/output" "$work/cat.err" || { cat "$work/cat.err" >&2; fail "not EIO"; }
for ((i = 0; i < 200; i++)); do
  cj status | jq -e '.lost_chunks[] | select(.path == "/e/f65537")' >/dev/null 2>&1 && break
  sleep 0.2
done
cj status | jq -e '.lost_chunks[] | select(.path == "/e/f65537")' >/dev/null ||
  fail "cairn status does not name /e/f65537 as lost: $(cj status | jq -c '.lost_chunks')"
echo "PASS"
