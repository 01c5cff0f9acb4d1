#!/usr/bin/env bash
# Proves storage classes of issue 7 (copies layouts and labels) through the
# mount and `cairn class`:
#  1. A new file system has the built-ins 2cp (the default), 3cp, ec4+2 and
#     ec8+3; a bad SPEC is refused with the bad token and its column.
#  2. Classes are inherited on create; `class set -r` puts a tree in a class
#     and the health loop moves its existing parts to the labelled servers.
#  3. 3cp keeps three copies; `cairn info --json` shows class, layout,
#     target and part states.
#  4. strict labels with too few matching servers: under goal, reported by
#     class in `cairn status`, nothing placed outside the labels.
#  5. loose labels: placed outside (reported misplaced), then moved home
#     when a server with the label joins.
#  6. class rm is refused while in use and for built-ins; class edit.
#  6b. A deleted file's chunks in the trash follow the class's trash state
#     (copies=1 on hdd), and go back to the keep state when restored.
#  6c. compress=zstd: 16 MiB of text in copies=2 grows the disks by under
#     4 MiB (32 MiB plain) and reads back exactly.
#  7. Classes and files' classes survive a master restart; data intact.
#   bash test_46_class.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_46_class "${1:-}"

ml_up --chunkservers 4 --copies 2 --disk-size 512M --metaloggers 0 \
  --labels 1=ssd --labels 2=ssd --labels 3=hdd
wait_online 4
declare -A want=()
C() { T 30 "$cli" -m "$maddr" "$@"; }

# servers FILE: the sorted servers of FILE's current parts, comma-separated
servers() {
  cj info "$mnt/$1" | jq -e -r '[.chunks[].parts[] | select(.current) | .server] | sort | join(",")'
}
# wait_servers FILE WANT SECONDS: until servers FILE is WANT
wait_servers() {
  local got i
  for ((i = 0; i < $3 * 5; i++)); do
    got=$(servers "$1") && [ "$got" = "$2" ] && return 0
    sleep 0.2
  done
  cj info "$mnt/$1" >&2 || true
  fail "$1 is on '$got', want '$2' within $3 s"
}
class_count() { # class_count NAME FIELD: that field of the class in `cairn status`
  cj status | jq -e -r --arg n "$1" --arg f "$2" '.classes[] | select(.name == $n) | .[$f]'
}

step "built-in classes; / is in 2cp"
names=$(cj class ls | jq -r '[.classes[].name] | join(" ")')
[ "$names" = "2cp 3cp ec4+2 ec8+3" ] || fail "built-ins: '$names'"
[ "$(cj class show ec4+2 | jq -r '.archive')" = "ec=4+2 after=1d" ] || fail "ec4+2 archive state"
[ "$(cj class get "$mnt" | jq -r '.class')" = 2cp ] || fail "/ is not in 2cp"

step "bad SPECs are refused with the token and its column"
rc=0
C class add bad --create "copies=2 labels=ssd&" 2>"$work/err" || rc=$?
[ "$rc" = 2 ] || fail "a bad SPEC: exit $rc, want 2"
grep -q 'column 20' "$work/err" || { cat "$work/err" >&2; fail "no column in the error"; }
rc=0
C class add bad --create "copies=2 mirror=yes" 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -q '"mirror=yes"' "$work/err" || { cat "$work/err" >&2; fail "unknown key not named"; }
rc=0
C class add bad --create "copies=2" --archive "ec=4+2" 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -qi 'after' "$work/err" || { cat "$work/err" >&2; fail "archive without after= accepted"; }
cj class show bad >/dev/null 2>&1 && fail "a refused class exists"

step "classes: hot (ssd, strict), s3 (3 on ssd, strict), lhdd (hdd, loose)"
C class add hot --create "copies=2 labels=ssd mode=strict" >/dev/null || fail "class add hot"
C class add s3 --create "copies=3 labels=ssd mode=strict" >/dev/null || fail "class add s3"
C class add lhdd --create "copies=2 labels=hdd mode=loose" >/dev/null || fail "class add lhdd"
rc=0
C class add hot --create "copies=2" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "a second class hot: exit $rc"

step "inheritance: a file in a hot directory is hot and lives on ssd servers"
mkdir "$mnt/hot"
C class set "$mnt/hot" hot >/dev/null || fail "class set hot"
mkdir "$mnt/hot/sub"
put_rand hot/sub/a 3
[ "$(cj class get "$mnt/hot/sub/a" | jq -r '.class')" = hot ] || fail "hot/sub/a is not hot"
wait_servers hot/sub/a cs1,cs2 20

step "class set -r moves a 2cp tree onto the ssd servers"
mkdir "$mnt/tree"
for i in 1 2 3 4 5 6; do put_rand "tree/f$i" 1; done
j=$(cj class set "$mnt/tree" hot -r) || fail "class set -r"
[ "$(jq '.inodes' <<<"$j")" = 7 ] || fail "class set -r changed $(jq '.inodes' <<<"$j") inodes, want 7"
for i in 1 2 3 4 5 6; do wait_servers "tree/f$i" cs1,cs2 60; done

step "3cp: three copies; info --json shows class and layout"
mkdir "$mnt/three"
C class set "$mnt/three" 3cp >/dev/null || fail "class set 3cp"
put_rand three/x 2
for ((i = 0; i < 150; i++)); do
  [ "$(servers three/x | tr ',' '\n' | wc -l)" = 3 ] && break
  sleep 0.2
done
[ "$(servers three/x | tr ',' '\n' | wc -l)" = 3 ] || fail "3cp: parts on $(servers three/x)"
j=$(cj info "$mnt/three/x")
[ "$(jq -r '.class' <<<"$j")" = 3cp ] || fail "info class: $(jq -r '.class' <<<"$j")"
[ "$(jq -r '.chunks[0].layout' <<<"$j")" = copies=3 ] || fail "info layout"
[ "$(jq -r '.chunks[0].target' <<<"$j")" = null ] || fail "info target not null"
[ "$(jq -r '[.chunks[0].parts[].state] | unique | join(",")' <<<"$j")" = ok ] || fail "part states"

step "strict with too few servers: under goal, reported, never outside ssd"
mkdir "$mnt/s3"
C class set "$mnt/s3" s3 >/dev/null || fail "class set s3"
put_rand s3/y 1
sleep 3
[ "$(servers s3/y)" = cs1,cs2 ] || fail "strict s3 placed outside ssd: $(servers s3/y)"
[ "$(class_count s3 undergoal)" -ge 1 ] || fail "s3's under-goal chunk not reported"
C status | grep -q 'class s3 .*undergoal 1' || fail "cairn status does not show s3 under goal"

step "loose: placed outside the labels, reported, moved home when hdd space comes"
mkdir "$mnt/cold"
C class set "$mnt/cold" lhdd >/dev/null || fail "class set lhdd"
put_rand cold/z 2
s=$(servers cold/z)
[[ $s == *cs3* ]] && [ "$(tr ',' '\n' <<<"$s" | wc -l)" = 2 ] || fail "loose placement: '$s'"
[ "$(class_count lhdd misplaced)" -ge 1 ] || fail "the misplaced part is not reported"
new=$("$local_sh" add-server --dir "$dir" --labels hdd) || fail "add-server --labels hdd"
wait_servers cold/z "cs3,$new" 60
[ "$(class_count lhdd misplaced)" = 0 ] || fail "still misplaced after moving home"

step "class rm: refused in use and for built-ins; edit"
rc=0
C class rm hot 2>"$work/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'in use' "$work/err" || { cat "$work/err" >&2; fail "rm of a used class"; }
rc=0
C class rm 3cp 2>"$work/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'built in' "$work/err" || { cat "$work/err" >&2; fail "rm of a built-in"; }
C class add unused --create "copies=1" >/dev/null || fail "class add unused"
C class rm unused >/dev/null || fail "class rm unused"
cj class show unused >/dev/null 2>&1 && fail "a removed class is still shown"
C class edit lhdd --keep "copies=2 labels=hdd|ssd" >/dev/null || fail "class edit"
[ "$(cj class show lhdd | jq -r '.keep')" = "copies=2 labels=hdd|ssd" ] || fail "edit not kept"

step "trash state: a deleted file's chunk goes to one copy on hdd, back when restored"
parts_on() { cj servers | jq -r --arg s "$1" '.servers[] | select(.name == $s) | .parts'; }
C class add tr --create "copies=2 labels=ssd mode=strict" --trash "copies=1 labels=hdd" >/dev/null ||
  fail "class add tr"
mkdir "$mnt/tr"
C class set "$mnt/tr" tr >/dev/null || fail "class set tr"
C trashtime set "$mnt/tr" 1h >/dev/null || fail "trashtime set"
put_rand tr/doc 1
wait_servers tr/doc cs1,cs2 20
hdd_parts() { echo $(($(parts_on cs3) + $(parts_on "$new"))); } # both hdd servers
ssd_parts() { echo $(($(parts_on cs1) + $(parts_on cs2))); }
h=$(hdd_parts) s=$(ssd_parts)
rm "$mnt/tr/doc"
for ((i = 0; i < 150; i++)); do
  [ "$(hdd_parts)" = $((h + 1)) ] && [ "$(ssd_parts)" = $((s - 2)) ] && break
  sleep 0.2
done
[ "$(hdd_parts)" = $((h + 1)) ] || fail "the trashed chunk did not move to hdd (hdd parts $(hdd_parts), were $h)"
[ "$(ssd_parts)" = $((s - 2)) ] || fail "the trashed chunk kept its ssd copies (ssd parts $(ssd_parts), were $s)"
C trash restore /tr/doc >/dev/null || fail "trash restore"
wait_servers tr/doc cs1,cs2 30

step "compress=zstd: compressible blocks take less disk, and read back exactly"
used() { cj disks | jq '[.disks[].used] | add'; }
stable_used() { # the disks' total once three heartbeats in a row agree
  local a b c i
  a=$(used)
  for ((i = 0; i < 40; i++)); do
    sleep 0.5
    b=$(used)
    [ "$a" = "$b" ] && [ "${c:-}" = "$b" ] && break
    c=$a a=$b
  done
  echo "$b"
}
C class add zc --create "copies=2 compress=zstd" >/dev/null || fail "class add zc"
mkdir "$mnt/zc"
C class set "$mnt/zc" zc >/dev/null || fail "class set zc"
head -c $((16 << 20)) < <(yes "cairn keeps this line compressed on its disks; it repeats") >"$work/text"
want[zc/text]=$(sha "$work/text")
u0=$(stable_used)
T 60 cp "$work/text" "$mnt/zc/text" || fail "write zc/text"
for ((i = 0; i < 100; i++)); do
  [ "$(cj info "$mnt/zc/text" | jq '[.chunks[].parts[] | select(.current)] | length')" = 2 ] && break
  sleep 0.2
done
u1=$(stable_used)
echo "16 MiB of text in copies=2 compress=zstd: $((u1 - u0)) bytes more on the disks (plain: $((32 << 20)))"
[ $((u1 - u0)) -gt 0 ] && [ $((u1 - u0)) -lt $((4 << 20)) ] ||
  fail "compressed text grew the disks by $((u1 - u0)) bytes, want under 4 MiB"
drop_caches
[ "$(msha "$mnt/zc/text")" = "${want[zc/text]}" ] || fail "zc/text reads back wrong"

step "restart the master: classes and files' classes are kept"
"$local_sh" kill --dir "$dir" master >/dev/null || fail "kill master"
"$local_sh" start --dir "$dir" master >/dev/null || fail "start master"
for ((i = 0; i < 100; i++)); do cj class ls >/dev/null 2>&1 && break; sleep 0.2; done
[ "$(cj class ls | jq '.classes | length')" = 9 ] || fail "classes after restart: $(cj class ls)"
[ "$(cj class get "$mnt/hot/sub/a" | jq -r '.class')" = hot ] || fail "file's class lost"
check_all
echo "PASS"
