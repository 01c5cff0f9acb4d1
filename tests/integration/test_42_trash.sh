#!/usr/bin/env bash
# Proves the trash of issue 9 through the mount and `cairn`:
#  1. rm -rf of a tree (files of several sizes and modes, a symlink, nested
#     directories) with the default TRASH_TIME: nothing is freed; `cairn
#     trash ls --json` lists every file with its original path, size and
#     times; `cairn trash restore DIR` brings the whole tree back:
#     byte-identical, same modes and mtimes, directories with their modes.
#  2. A file overwritten by rename goes to the trash too and restores with
#     --to elsewhere; restoring onto a taken name fails and says so.
#  3. trashtime of seconds on a directory: its deleted file is freed after
#     expiry (its parts disappear from the chunkservers: space returns);
#     `trashtime set ... 0`: a delete frees at once.
#  4. trash purge --all empties the trash and frees the parts.
#   bash test_42_trash.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_42_trash "${1:-}"

export CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=1h;HEARTBEAT_MS=250ms"
export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250"
ml_up --chunkservers 2 --copies 2 --disk-size 512M --metaloggers 0
wait_online 2
total_parts() { cj servers | jq -e '[.servers[].parts] | add'; }
wait_parts() { # wait_parts N: the chunkservers hold N parts (within 15 s)
  local i
  for ((i = 0; i < 150; i++)); do
    [ "$(total_parts)" = "$1" ] && return 0
    sleep 0.1
  done
  fail "the chunkservers hold $(total_parts) parts, want $1"
}

step "a tree: files, modes, a symlink, nested directories"
declare -A want=()
mkdir -p "$mnt/t/a/b" "$mnt/t/c"
chmod 0750 "$mnt/t/a"
chmod 0700 "$mnt/t/a/b"
put_rand t/a/big 3
put_rand t/a/b/mid 1
echo "small text" >"$mnt/t/c/small"
want[t/c/small]=$(sha "$mnt/t/c/small")
: >"$mnt/t/empty"
want[t/empty]=$(sha "$mnt/t/empty")
chmod 0600 "$mnt/t/a/big"
chmod 0444 "$mnt/t/c/small"
touch -d "2020-02-02 02:02:02" "$mnt/t/a/b/mid"
ln -s a/big "$mnt/t/link"
stat -c '%n %a %Y' "$mnt"/t/a/big "$mnt"/t/a/b/mid "$mnt"/t/c/small "$mnt"/t/empty \
  "$mnt"/t/a "$mnt"/t/a/b "$mnt"/t/c | sed "s|$mnt/||" | sort >"$work/before"
parts=$(total_parts)
[ "$parts" -ge 6 ] || fail "want at least 6 parts after the writes, have $parts"

step "rm -rf the tree: it waits in the trash, nothing is freed"
rm -rf "$mnt/t"
[ ! -e "$mnt/t" ] || fail "t still there"
ls=$(cj trash ls) || fail "trash ls failed"
for p in /t/a/big /t/a/b/mid /t/c/small /t/empty /t/link /t/a/b /t/a /t/c /t; do
  jq -e --arg p "$p" 'map(select(.path == $p)) | length == 1' <<<"$ls" >/dev/null ||
    { echo "$ls" >&2; fail "trash ls --json has no $p"; }
done
jq -e 'map(select(.path == "/t/a/big"))[0] | .size == 3145728 and .expires_at > .deleted_at and (.id | type == "number")' \
  <<<"$ls" >/dev/null || { echo "$ls" >&2; fail "trash ls: wrong size/times for /t/a/big"; }
sleep 1
[ "$(total_parts)" = "$parts" ] || fail "parts were freed while in the trash ($(total_parts) of $parts)"

step "restore the tree: identical data, modes, times"
T 60 "$cli" -m "$maddr" trash restore /t || fail "trash restore /t failed"
check_all
stat -c '%n %a %Y' "$mnt"/t/a/big "$mnt"/t/a/b/mid "$mnt"/t/c/small "$mnt"/t/empty \
  "$mnt"/t/a "$mnt"/t/a/b "$mnt"/t/c | sed "s|$mnt/||" | sort >"$work/after"
# directory mtimes change as their entries come back; files' must not
grep -v -E '^t/(a|a/b|c) ' "$work/before" >"$work/before.f"
grep -v -E '^t/(a|a/b|c) ' "$work/after" >"$work/after.f"
diff "$work/before.f" "$work/after.f" >&2 || fail "modes or mtimes of files differ after the restore"
for d in t/a t/a/b t/c; do
  [ "$(grep "^$d " "$work/before" | cut -d' ' -f2)" = "$(stat -c %a "$mnt/$d")" ] ||
    fail "$d: mode $(stat -c %a "$mnt/$d") after the restore"
done
[ "$(readlink "$mnt/t/link")" = a/big ] || fail "the symlink did not come back"
[ "$(cj trash ls | jq length)" = 0 ] || fail "the trash is not empty after the restore"

step "rename over a file: the old one goes to the trash; restore --to; a taken name"
echo "old b" >"$mnt/t/c/b"
echo "new a" >"$mnt/t/c/a"
mv "$mnt/t/c/a" "$mnt/t/c/b"
id=$(cj trash ls | jq -e -r 'map(select(.path == "/t/c/b"))[0].id') || fail "the overwritten file is not in the trash"
rc=0
T 30 "$cli" -m "$maddr" trash restore "$id" >"$work/err" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "restoring onto a taken name exited $rc, want 1"
grep -q "the name is taken" "$work/err" || { cat "$work/err" >&2; fail "the refusal does not say the name is taken"; }
[ "$(cat "$mnt/t/c/b")" = "new a" ] || fail "the refused restore changed t/c/b"
mkdir "$mnt/rescued"
T 30 "$cli" -m "$maddr" trash restore "$id" --to "$mnt/rescued" || fail "restore --to failed"
[ "$(cat "$mnt/rescued/b")" = "old b" ] || fail "restore --to: wrong content"

step "trashtime of seconds: expiry frees the parts"
mkdir "$mnt/e"
T 30 "$cli" -m "$maddr" trashtime set "$mnt/e" 2s || fail "trashtime set failed"
[ "$(cj trashtime get "$mnt/e" | jq .trashtime)" = 2 ] || fail "trashtime get does not say 2"
put_rand e/f 2
p1=$(total_parts)
rm "$mnt/e/f"
sleep 0.5
[ "$(total_parts)" = "$p1" ] || fail "freed before its trashtime"
wait_parts $((p1 - 2))
T 30 "$cli" -m "$maddr" trashtime set "$mnt/e" 0 || fail "trashtime set 0 failed"
put_rand e/g 1
p2=$(total_parts)
rm "$mnt/e/g"
wait_parts $((p2 - 2))
unset 'want[e/f]' 'want[e/g]'

step "purge --all frees everything in the trash"
rm -rf "$mnt/t"
[ "$(cj trash ls | jq length)" -ge 9 ] || fail "the tree is not in the trash again"
T 30 "$cli" -m "$maddr" trash purge --all || fail "purge --all failed"
[ "$(cj trash ls | jq length)" = 0 ] || fail "the trash is not empty after purge --all"
wait_parts 2   # rescued/b only (1 chunk x 2 copies)
echo ok
