#!/usr/bin/env bash
# Proves: after SIGKILL of one of 4 chunkservers (copies=2) the master alone
# restores 2 copies of every chunk, all data reads back, and when the server
# returns the surplus copies are deleted without any chunk going under goal.
#  1. 500 MiB (150 MiB under ASan) in files of 1..2 chunks, known SHA-256;
#     every chunk has 2 current parts.
#  2. SIGKILL the server holding the most parts; no operator action: the
#     master lists it lost, status shows undergoal = endangered = lost = 0 and
#     every chunk of every file has >= 2 current parts on online servers
#     (bounded wait); caches dropped; every file reads back identical.
#  3. The killed server starts again: every chunk ends with exactly 2 current
#     parts; at every poll from the restart on, no chunk is under goal.
#   bash test_30_heal_cs_kill.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_30_heal_cs_kill "${1:-}"

# Sizes in MiB: 3 x 100 + 2 x 70 + 6 x 10 = 500; under ASan 150.
if is_asan; then
  sizes=(70 40 10 10 10 10)
  repair_s=240
else
  sizes=(100 100 100 70 70 10 10 10 10 10 10)
  repair_s=150
fi
heal_env
ml_up --chunkservers 4 --copies 2 --disk-size 2G
wait_online 4

declare -A want=()
step "write ${#sizes[@]} files, $(IFS=+; echo $((${sizes[*]}))) MiB"
files=()
for ((k = 0; k < ${#sizes[@]}; k++)); do
  put_rand "f$k" "${sizes[k]}"
  files+=("f$k")
done

# wait_copies WANT: every chunk of every file has WANT current online parts
# (the master learns of parts from the chunkservers' reports).
for ((i = 0; i < 150; i++)); do
  r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
  [ "$r" = "2 2" ] && break
  sleep 0.2
done
[ "$r" = "2 2" ] || fail "after the writes: chunk copies (min max) $r, want 2 2"

victim=$(cj servers | jq -r '.servers | max_by(.parts) | .name')
vparts=$(server_field "$victim" parts)
[ "$vparts" -gt 0 ] || fail "no server holds parts?"
step "SIGKILL $victim ($vparts parts); wait for the master to restore 2 copies"
"$local_sh" kill --dir "$dir" "$victim"
t0=$SECONDS
ok=0
while [ $((SECONDS - t0)) -lt "$repair_s" ]; do
  bad="" r=""   # the failure message shows this poll's values only
  st=$(server_field "$victim" state) || fail "no $victim in cairn servers"
  if [ "$st" = lost ]; then
    bad=$(unsafe_chunks) || fail "cairn status has no chunk health counts"
    if [ "$bad" = 0 ]; then
      r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
      if [ "${r%% *}" -ge 2 ]; then
        ok=1
        break
      fi
    fi
  fi
  sleep 0.5
done
cj status | jq '{chunks, health}' || true
[ "$ok" = 1 ] || fail "no full redundancy ${repair_s}s after $victim died: $victim $st, unsafe chunks ${bad:-?}, copies (min max) ${r:-?}"
step "redundancy back after $((SECONDS - t0))s (grace included)"
done_n=$(cj status | jq -e '.health.copies_done') || fail "status has no health.copies_done"
[ "$done_n" -ge 1 ] || fail "health.copies_done is $done_n after a repair"

step "drop caches; every file reads back with $victim dead"
check_all

step "start $victim again: surplus copies are deleted, no chunk under goal meanwhile"
del0=$(cj status | jq -e '.health.deletes_done') || fail "status has no health.deletes_done"
# Polls run while it starts and registers, not only after.
"$local_sh" start --dir "$dir" "$victim" &
startpid=$!
t1=$SECONDS
ok=0
polls=0
while [ $((SECONDS - t1)) -lt 120 ]; do
  bad=$(unsafe_chunks) || fail "cairn status has no chunk health counts"
  polls=$((polls + 1))
  [ "$bad" = 0 ] || fail "$bad chunk(s) under goal $((SECONDS - t1))s after $victim was started (poll $polls)"
  st=$(server_field "$victim" state) || fail "no $victim in cairn servers"
  if [ "$st" = online ] && ! kill -0 "$startpid" 2>/dev/null; then
    r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
    if [ "$r" = "2 2" ]; then
      ok=1
      break
    fi
  fi
  sleep 0.2
done
wait "$startpid" || fail "cairn-local start $victim failed"
cj status | jq '{chunks, health}' || true
[ "$ok" = 1 ] || fail "surplus not deleted 120s after $victim came back: $victim $st, copies (min max) ${r:-?}, want 2 2"
del1=$(cj status | jq -e '.health.deletes_done')
step "surplus deleted after $((SECONDS - t1))s ($polls polls, none under goal; deletes_done $del0 -> $del1)"
check_all
echo "PASS"
