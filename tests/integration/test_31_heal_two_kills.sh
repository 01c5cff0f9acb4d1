#!/usr/bin/env bash
# Proves: with copies=3 on 5 chunkservers, two servers killed one after the
# other (the second once the first repair finished) lose no data: after each
# kill the master alone restores 3 copies of every chunk.
#  1. 200 MiB (80 under ASan) in files of 1..2 chunks with known SHA-256.
#  2. SIGKILL cs1; wait until it is lost, undergoal = endangered = lost = 0
#     and every chunk has >= 3 current parts on online servers.
#  3. SIGKILL cs4; the same wait; every file reads back identical.
#   bash test_31_heal_two_kills.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_31_heal_two_kills "${1:-}"

if is_asan; then
  sizes=(70 5 5)
  repair_s=240
else
  sizes=(100 70 10 10 5 5)
  repair_s=120
fi
heal_env
ml_up --chunkservers 5 --copies 3 --disk-size 2G
wait_online 5

declare -A want=()
step "write ${#sizes[@]} files, $(IFS=+; echo $((${sizes[*]}))) MiB, copies=3"
files=()
for ((k = 0; k < ${#sizes[@]}; k++)); do
  put_rand "f$k" "${sizes[k]}"
  files+=("f$k")
done
for ((i = 0; i < 150; i++)); do
  r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
  [ "$r" = "3 3" ] && break
  sleep 0.2
done
[ "$r" = "3 3" ] || fail "after the writes: chunk copies (min max) $r, want 3 3"

# kill_and_heal NAME: SIGKILL NAME, wait until the master restored 3 copies.
kill_and_heal() {
  local victim=$1 t0 ok=0 st bad="" r=""
  step "SIGKILL $victim ($(server_field "$victim" parts) parts); wait for 3 copies again"
  "$local_sh" kill --dir "$dir" "$victim"
  t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$repair_s" ]; do
    bad="" r=""   # the failure message shows this poll's values only
    st=$(server_field "$victim" state) || fail "no $victim in cairn servers"
    if [ "$st" = lost ]; then
      bad=$(unsafe_chunks) || fail "cairn status has no chunk health counts"
      if [ "$bad" = 0 ]; then
        r=$(copies_range "${files[@]}") || fail "cannot read the chunks of the files"
        if [ "${r%% *}" -ge 3 ]; then
          ok=1
          break
        fi
      fi
    fi
    sleep 0.5
  done
  cj status | jq '{chunks, health, lost_chunks}' || true
  [ "$ok" = 1 ] || fail "no full redundancy ${repair_s}s after $victim died: $victim $st, unsafe chunks ${bad:-?}, copies (min max) ${r:-?}"
  step "3 copies again $((SECONDS - t0))s after $victim died"
  [ "$(cj status | jq -e '.lost_chunks | length')" = 0 ] || fail "status lists lost chunks"
}

kill_and_heal cs1
kill_and_heal cs4
step "every file reads back with cs1 and cs4 dead"
check_all
echo "PASS"
