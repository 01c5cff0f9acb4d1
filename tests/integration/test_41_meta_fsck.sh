#!/usr/bin/env bash
# Proves `cairn fsck` finds and repairs planted metadata inconsistencies on a
# running cluster (issue 8):
#  1. A clean cluster with three files: fsck reports nothing (exit 0).
#  2. With the master stopped, fsck_plant writes: a wrong nlink, an orphan
#     chunk (in the table, named by no file), a missing chunk (named by a
#     file, held by no chunkserver) and orphan parts (a chunk gone from the
#     metadata whose parts stay on the chunkservers).
#  3. Master restarted: the orphan parts go at once (the master deletes
#     parts of unknown chunks when chunkservers register). `cairn fsck`
#     lists the other three kinds, with file paths, and exits 3 (findings
#     left); `cairn fsck --repair` fixes them (exit 0); a second `cairn
#     fsck` is clean. The nlink is right again through the mount and the
#     untouched data reads back identical.
#   bash test_41_meta_fsck.sh BIN_DIR PLANT_TOOL
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_41_meta_fsck "${1:-}"
plant=${2:?usage: test_41_meta_fsck.sh BIN_DIR PLANT_TOOL}

export CAIRN_LOCAL_MASTER_OPTS="HEALTH_START_MS=1s;HEARTBEAT_MS=250ms"
export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250"
ml_up --chunkservers 2 --copies 2 --disk-size 256M --metaloggers 0
wait_online 2

declare -A want=()
mkdir "$mnt/d"
put_rand d/good 1
put_rand d/dropped 1
echo "linked file" >"$mnt/d/linked"
want[d/linked]=$(sha "$mnt/d/linked")
total_parts() { cj servers | jq -e '[.servers[].parts] | add'; }
for ((i = 0; i < 100; i++)); do
  [ "$(total_parts)" = 6 ] && break
  sleep 0.1
done
[ "$(total_parts)" = 6 ] || fail "want 6 parts (3 chunks x 2 copies), have $(total_parts)"

step "a clean cluster: fsck finds nothing"
sleep 1   # past HEALTH_START_MS, so chunk presence is checked too
T 60 "$cli" -m "$maddr" fsck || fail "fsck of a clean cluster exited $?"

step "plant: wrong nlink, orphan chunk, missing chunk, orphan parts"
"$local_sh" kill --dir "$dir" master >/dev/null
"$plant" "$dir/master/data" d good linked dropped || fail "planting failed"
T 60 "$local_sh" start --dir "$dir" master >/dev/null || fail "master did not start"
wait_online 2
sleep 1.5   # HEALTH_START_MS: chunk presence is checked only after it
for ((i = 0; i < 100; i++)); do
  [ "$(total_parts)" = 4 ] && break
  sleep 0.1
done
[ "$(total_parts)" = 4 ] || fail "the orphan parts were not deleted at registration: $(total_parts) parts, want 4"

step "fsck lists every planted problem"
rc=0
out=$(T 60 "$cli" -m "$maddr" --json fsck) || rc=$?
[ "$rc" = 3 ] || { echo "$out" >&2; fail "fsck with findings exited $rc, want 3"; }
echo "$out" | jq -c '.counts'
for kind in bad_nlink orphan_chunk missing_chunk; do
  n=$(jq -r --arg k "$kind" '.counts[$k] // 0' <<<"$out")
  [ "$n" -ge 1 ] || { echo "$out" >&2; fail "fsck did not report $kind"; }
done
jq -e '.parts_checked == true' <<<"$out" >/dev/null || fail "chunk presence was not checked"
jq -e '[.findings[] | select(.kind == "missing_chunk") | .path] | index("/d/good") != null' \
  <<<"$out" >/dev/null || { echo "$out" >&2; fail "missing_chunk does not name /d/good"; }
jq -e '[.findings[] | select(.kind == "bad_nlink") | .path] | index("/d/linked") != null' \
  <<<"$out" >/dev/null || { echo "$out" >&2; fail "bad_nlink does not name /d/linked"; }
[ "$(jq -r '[.findings[] | select(.repaired)] | length' <<<"$out")" = 0 ] ||
  fail "fsck without --repair repaired something"

step "fsck --repair fixes them; a second fsck is clean"
T 60 "$cli" -m "$maddr" fsck --repair || fail "fsck --repair exited $?"
T 60 "$cli" -m "$maddr" fsck || fail "fsck after the repair still finds problems (exit $?)"
[ "$(stat -c %h "$mnt/d/linked")" = 1 ] || fail "nlink of d/linked is $(stat -c %h "$mnt/d/linked") after the repair"
[ "$(total_parts)" = 4 ] || fail "$(total_parts) parts after the repair, want 4"
unset 'want[d/dropped]'
check_all
echo ok
