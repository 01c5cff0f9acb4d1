#!/usr/bin/env bash
# Proves: draining a disk (`cairn disk remove`) and then a whole server
# (`cairn server remove`) empties them while no chunk is ever under goal,
# `cairn disks` says when the disk is safe to pull, data reads back, and
# `disk keep` / `server keep` undo the marks.
#  1. 4 chunkservers x 2 disks, copies=2; 320 MiB (192 MiB in the sanitizer build) in 8 MiB
#     files; errors: `disk remove nosuch:0` and `disk remove SERVER:99` exit 1
#     with a message.
#  2. `disk remove SERVER:INDEX` of the disk with the most parts: leaving,
#     mark "master"; polled every 0.2 s: undergoal+endangered+lost is 0 at
#     every poll, until the disk has 0 parts and safe_to_pull.
#  3. `server remove` of another server: same, until it has 0 parts.
#  4. A third server restarted with `*` before its second disk in DISKS: that
#     disk is leaving with mark "config" and drains the same way.
#  5. Every file reads back; `disk keep SERVER:PATH` and `server keep` clear
#     "leaving".
# REPAIR_RATE_MBPS=16 (after the 64 MiB burst of its token bucket) makes the
# drains last many polls.
#   bash test_32_heal_drain.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_32_heal_drain "${1:-}"

if is_asan; then drain_s=240 nfiles=24; else drain_s=120 nfiles=40; fi
heal_env "REPAIR_RATE_MBPS=16"
ml_up --chunkservers 4 --disks-per-server 2 --copies 2 --disk-size 1G
wait_online 4
adm() { T 30 "$cli" -m "$maddr" "$@"; }

declare -A want=()
step "write $nfiles files of 8 MiB"
files=()
for ((k = 0; k < nfiles; k++)); do
  put_rand "f$k" 8
  files+=("f$k")
done
for ((i = 0; i < 150; i++)); do
  r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
  [ "$r" = "2 2" ] && break
  sleep 0.2
done
[ "$r" = "2 2" ] || fail "after the writes: chunk copies (min max) $r, want 2 2"

step "errors: an unknown server or disk"
rc=0
out=$(adm disk remove nosuch:0 2>&1) || rc=$?
echo "disk remove nosuch:0 -> rc $rc: $out"
[ "$rc" = 1 ] || fail "disk remove nosuch:0: rc $rc, want 1"
grep -q nosuch <<<"$out" || fail "disk remove nosuch:0: the message does not name the server: $out"
rc=0
out=$(adm disk remove cs1:99 2>&1) || rc=$?
echo "disk remove cs1:99 -> rc $rc: $out"
[ "$rc" = 1 ] || fail "disk remove cs1:99: rc $rc, want 1"
[ -n "$out" ] || fail "disk remove cs1:99: no message"
rc=0
out=$(adm server remove nosuch 2>&1) || rc=$?
[ "$rc" = 1 ] && [ -n "$out" ] || fail "server remove nosuch: rc $rc, want 1 with a message ($out)"

# disk_field UUID FIELD: FIELD of that disk in `cairn disks --json`.
disk_field() {
  local j
  j=$(cj disks) || { echo "cairn disks --json failed" >&2; return 1; }
  jq -r --arg u "$1" --arg f "$2" \
    '[.disks[] | select(.uuid == $u)][0][$f] | if . == null then error("no \($f)") else . end' <<<"$j"
}

# drain_wait WHAT DONE_CMD...: poll every 0.2 s; fail as soon as a chunk is
# under goal; return when DONE_CMD succeeds (bounded by drain_s).
drain_wait() {
  local what=$1 t0=$SECONDS polls=0 bad
  shift
  while :; do
    bad=$(unsafe_chunks) || fail "cairn status has no chunk health counts"
    polls=$((polls + 1))
    if [ "$bad" != 0 ]; then
      cj status | jq '{chunks, health}' >&2 || true
      fail "$bad chunk(s) under goal while draining $what ($((SECONDS - t0))s, poll $polls)"
    fi
    "$@" && break
    [ $((SECONDS - t0)) -lt "$drain_s" ] || {
      cj status | jq '{chunks, health}' >&2 || true
      fail "$what not drained after ${drain_s}s"
    }
    sleep 0.2
  done
  step "$what drained in $((SECONDS - t0))s ($polls polls, never under goal)"
}

j=$(cj disks) || fail "cairn disks --json"
read -r uuid dsrv dpath dparts < <(jq -r '.disks | max_by(.parts) | "\(.uuid) \(.server) \(.path) \(.parts)"' <<<"$j")
didx=$(jq -r --arg u "$uuid" --arg s "$dsrv" '[.disks[] | select(.server == $s)] | map(.uuid) | index($u)' <<<"$j")
[ "${dparts:-0}" -gt 0 ] || fail "no disk holds parts: $j"
[ "$(disk_field "$uuid" leaving)" = false ] || fail "$dsrv:$dpath is leaving before any remove"
step "disk remove $dsrv:$didx ($dpath, $dparts parts)"
adm disk remove "$dsrv:$didx" || fail "disk remove $dsrv:$didx (rc $?)"
[ "$(disk_field "$uuid" leaving)" = true ] || fail "$dsrv:$dpath not leaving after disk remove"
[ "$(disk_field "$uuid" mark)" = master ] || fail "$dsrv:$dpath: mark $(disk_field "$uuid" mark), want master"
disk_done() {
  [ "$(disk_field "$uuid" parts)" = 0 ] && [ "$(disk_field "$uuid" safe_to_pull)" = true ]
}
drain_wait "disk $dsrv:$dpath" disk_done
adm disks

ssrv=$(cj servers | jq -r --arg s "$dsrv" '[.servers[] | select(.name != $s)] | max_by(.parts) | .name')
step "server remove $ssrv ($(server_field "$ssrv" parts) parts)"
adm server remove "$ssrv" || fail "server remove $ssrv (rc $?)"
[ "$(server_field "$ssrv" leaving)" = true ] || fail "$ssrv not leaving after server remove"
server_done() { [ "$(server_field "$ssrv" parts)" = 0 ]; }
drain_wait "server $ssrv" server_done
r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
[ "${r%% *}" -ge 2 ] || fail "after the drains: chunk copies (min max) $r"
cj info "$mnt/f0" | jq -c '.chunks[].parts' || true
for f in "${files[@]}"; do
  cj info "$mnt/$f" | jq -e --arg s "$ssrv" '[.chunks[].parts[] | select(.server == $s)] | length == 0' \
    >/dev/null || fail "$f still has a part on the drained $ssrv"
done

csrv=$(cj servers | jq -r --arg a "$dsrv" --arg b "$ssrv" \
  '[.servers[] | select(.name != $a and .name != $b)] | max_by(.parts) | .name')
cimg="$dir/$csrv/disk2.img"
step "restart $csrv with '*' before $cimg in DISKS"
"$local_sh" kill --dir "$dir" "$csrv"
sed -i "s|^DISKS = .*|DISKS = $dir/$csrv/disk1.img, *$cimg|" "$dir/$csrv/cs.cfg"
grep '^DISKS' "$dir/$csrv/cs.cfg"
"$local_sh" start --dir "$dir" "$csrv"
cuuid=$(cj disks | jq -r --arg p "$cimg" '[.disks[] | select(.path == $p)][0].uuid')
[ -n "$cuuid" ] && [ "$cuuid" != null ] || fail "no disk $cimg in cairn disks"
for ((i = 0; i < 150; i++)); do
  [ "$(unsafe_chunks)" = 0 ] && break
  sleep 0.2
done
[ "$(disk_field "$cuuid" leaving)" = true ] || fail "$csrv:$cimg ('*' in DISKS) is not leaving"
[ "$(disk_field "$cuuid" mark)" = config ] || fail "$csrv:$cimg: mark $(disk_field "$cuuid" mark), want config"
cdone() { [ "$(disk_field "$cuuid" parts)" = 0 ] && [ "$(disk_field "$cuuid" safe_to_pull)" = true ]; }
drain_wait "disk $csrv:$cimg (config)" cdone

step "every file reads back"
check_all

step "disk keep $dsrv:$dpath, server keep $ssrv"
adm disk keep "$dsrv:$dpath" || fail "disk keep $dsrv:$dpath (rc $?)"
[ "$(disk_field "$uuid" leaving)" = false ] || fail "$dsrv:$dpath still leaving after disk keep"
adm server keep "$ssrv" || fail "server keep $ssrv (rc $?)"
[ "$(server_field "$ssrv" leaving)" = false ] || fail "$ssrv still leaving after server keep"
[ "$(unsafe_chunks)" = 0 ] || fail "chunks under goal at the end"
echo "PASS"
