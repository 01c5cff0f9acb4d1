#!/usr/bin/env bash
# Proves directory quotas of issue 9 through the mount and `cairn quota`:
#  1. A hard byte limit: a write that would pass it fails with EDQUOT
#     (dd reports "Disk quota exceeded"), nothing written before is lost,
#     and usage stays at or under the limit; after deleting, writes work.
#  2. A hard inode limit: the create past it fails with EDQUOT.
#  3. `df` inside the directory shows the quota as the size.
#  4. A soft limit: passing it works until the grace period ran out, then
#     creates fail; back under it, they work again.
#  5. quota get / ls / rm; after rm the limit is gone.
#   bash test_44_quota.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_44_quota "${1:-}"

ml_up --chunkservers 2 --copies 2 --disk-size 512M --metaloggers 0
wait_online 2
declare -A want=()
qjson() { cj quota get "$mnt/$1"; }

step "a 10 MiB / 20 inode hard quota on q"
mkdir "$mnt/q"
T 30 "$cli" -m "$maddr" quota set "$mnt/q" --bytes 10M --inodes 20 || fail "quota set failed"
[ "$(qjson q | jq '.bytes.hard')" = 10485760 ] || fail "quota get: wrong hard byte limit"
put_rand q/first 6
[ "$(qjson q | jq '.bytes.used')" = 6291456 ] || fail "usage after 6 MiB: $(qjson q | jq '.bytes.used')"

step "a write past the byte limit fails with EDQUOT; the first file is intact"
head -c $((8 << 20)) /dev/urandom >"$work/big"
rc=0
T 120 dd if="$work/big" of="$mnt/q/second" bs=1M conv=fsync status=none 2>"$work/dd.err" || rc=$?
[ "$rc" != 0 ] || fail "writing 8 MiB more into a 10 MiB quota with 6 MiB used succeeded"
grep -qi "quota" "$work/dd.err" || { cat "$work/dd.err" >&2; fail "dd did not report EDQUOT"; }
used=$(qjson q | jq '.bytes.used')
[ "$used" -le 10485760 ] || fail "usage $used passed the hard limit"
check_all
rm -f "$mnt/q/second"
put_rand q/third 3
check_all

step "df inside q shows the quota"
size=$(df -B1 --output=size "$mnt/q" | tail -n1 | tr -d ' ')
[ "$size" = 10485760 ] || fail "df in q says $size bytes, want 10485760"
itot=$(df --output=itotal "$mnt/q" | tail -n1 | tr -d ' ')
[ "$itot" = 20 ] || fail "df -i in q says $itot inodes, want 20"
droot=$(df -B1 --output=size "$mnt" | tail -n1 | tr -d ' ')
[ "$droot" != 10485760 ] || fail "df at the root shows the quota too"

step "the inode limit"
n=$(qjson q | jq '.inodes.used')
for ((i = n; i < 20; i++)); do : >"$mnt/q/e$i" || fail "create $i of 20 failed"; done
if (: >"$mnt/q/one-too-many") 2>"$work/touch.err"; then
  fail "the 21st inode was created"
fi
grep -qi "quota" "$work/touch.err" || { cat "$work/touch.err" >&2; fail "no EDQUOT for the 21st inode"; }
if mkdir "$mnt/q/d" 2>/dev/null; then fail "mkdir past the inode limit worked"; fi

step "a soft inode limit with a 2 s grace"
mkdir "$mnt/s"
T 30 "$cli" -m "$maddr" quota set "$mnt/s" --soft-inodes 2 --grace 2s || fail "soft quota set failed"
: >"$mnt/s/a"
: >"$mnt/s/b"
: >"$mnt/s/c" || fail "passing the soft limit failed before the grace ran out"
[ "$(qjson s | jq '.inodes.over_since')" != 0 ] || fail "over_since not set after passing the soft limit"
sleep 2.5
if (: >"$mnt/s/d") 2>/dev/null; then fail "a create after the grace period worked"; fi
rm "$mnt/s/b" "$mnt/s/c"
: >"$mnt/s/e" || fail "back under the soft limit, a create failed"

step "quota ls and rm"
[ "$(cj quota ls | jq '.quotas | length')" = 2 ] || fail "quota ls does not list 2 quotas"
T 30 "$cli" -m "$maddr" quota rm "$mnt/q" || fail "quota rm failed"
: >"$mnt/q/now-free" || fail "the inode limit is still there after quota rm"
[ "$(cj quota ls | jq '.quotas | length')" = 1 ] || fail "quota ls after rm"
rc=0
T 30 "$cli" -m "$maddr" quota get "$mnt/q" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "quota get of a removed quota exited $rc"
echo ok
