#!/usr/bin/env bash
# Proves the metadata safety net of issue 8 through a cairn-local cluster
# with two metaloggers (ml1, ml2) and the mount:
#  1. Both follow a write load: after a SIGKILL of ml2 during the load and a
#     restart, it catches up from the changelog (its log says "following the
#     master from entry", never "copying a checkpoint" after the restart; the
#     master counts no new checkpoint for it).
#  2. With the writer still running, a snapshot L1 of the files acknowledged
#     so far is taken, then the master's seq S; once ml1 acknowledged S the
#     master is SIGKILLed and its directory wiped; `cairn-local promote ml1`
#     starts a master on ml1's copy: every file of L1 is there with its data,
#     the mount works on (new files), and ml2 follows the new master.
#     The promoted master (online dump, cairn-admin dump --master) and ml2's
#     copy (offline dump) are byte-identical.
#  3. A metalogger that falls behind the changelog's retention window
#     (CHANGELOG_ENTRIES=300) copies a checkpoint again and then follows.
#   bash test_40_metalogger.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_40_metalogger "${1:-}"
[ -x "$bin/cairn-metalogger" ] || fail "$bin/cairn-metalogger missing"

export CAIRN_LOCAL_MASTER_OPTS="CHANGELOG_ENTRIES=300"
ml_up --chunkservers 2 --copies 2 --disk-size 512M --metaloggers 2
wait_online 2

# ml_field NAME FIELD: FIELD of metalogger NAME in `cairn status --json`.
ml_field() {
  local j
  j=$(cj status) || { echo "cairn status --json failed" >&2; return 1; }
  jq -e -r --arg n "$1" --arg f "$2" \
    '[.metaloggers[] | select(.name == $n)][0][$f] | if . == null then error("no \($f)") else . end' \
    <<<"$j"
}
master_seq() { cj status | jq -e -r '.seq'; }

# wait_caught_up NAME SEQ: NAME acknowledged SEQ (within 30 s).
wait_caught_up() {
  local i s=0
  for ((i = 0; i < 150; i++)); do
    s=$(ml_field "$1" seq 2>/dev/null) || s=0
    [ "$s" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "$1 acknowledged entry $s, want $2 within 30 s"
}

# The writer: small files of known content, one line per file in
# $work/done once its write and close returned (dd conv=fsync).
mkdir -p "$mnt/load"
: >"$work/done"
writer() {
  local i=0
  while :; do
    i=$((i + 1))
    if printf 'file %d %s\n' "$i" "$(head -c 24 /dev/urandom | base64)" >"$work/w.tmp" &&
      timeout 20 dd if="$work/w.tmp" of="$mnt/load/w$i" conv=fsync status=none 2>/dev/null; then
      echo "w$i $(sha "$work/w.tmp")" >>"$work/done"
    fi
    sleep 0.01
  done
}

step "a write load; SIGKILL ml2 during it, restart it"
writer &
wpid=$!
sleep 2
"$local_sh" kill --dir "$dir" ml2 >/dev/null
sleep 2
restart_line=$(wc -l <"$dir/ml2/log")
T 60 "$local_sh" start --dir "$dir" ml2 >/dev/null || fail "ml2 did not start again"
sleep 2
tail -n +"$((restart_line + 1))" "$dir/ml2/log" >"$work/ml2.after"
grep -q "following the master from entry" "$work/ml2.after" ||
  { cat "$work/ml2.after" >&2; fail "ml2 did not resume from the changelog"; }
grep -q "copying a checkpoint" "$work/ml2.after" &&
  { cat "$work/ml2.after" >&2; fail "ml2 copied a checkpoint instead of following the changelog"; }
[ "$(ml_field ml2 snapshots)" = 1 ] || fail "the master sent ml2 $(ml_field ml2 snapshots) checkpoints, want 1 (the first copy)"

step "snapshot of the acknowledged files, the master's seq, ml1 catches up"
sleep 1
cp "$work/done" "$work/L1"
S=$(master_seq) || fail "no seq in cairn status"
n1=$(wc -l <"$work/L1")
[ "$n1" -ge 20 ] || fail "the writer acknowledged only $n1 files"
wait_caught_up ml1 "$S"
wait_caught_up ml2 "$S"
lag=$(ml_field ml1 lag_seconds)
echo "master seq $S, $n1 files acknowledged, ml1 lag ${lag}s"

step "SIGKILL the master (writer still running), wipe its directory, promote ml1"
"$local_sh" kill --dir "$dir" master >/dev/null
kill "$wpid" 2>/dev/null || true
wait "$wpid" 2>/dev/null || true
rm -rf "$dir/master/data"
t0=$SECONDS
T 90 "$local_sh" promote --dir "$dir" ml1 || fail "promote failed"
echo "promote took $((SECONDS - t0)) s"
wait_online 2

step "every acknowledged file is there with its data"
drop_caches
missing=0
while read -r f want_sha; do
  got=$(msha "$mnt/load/$f") || { missing=$((missing + 1)); echo "missing: $f" >&2; continue; }
  [ "$got" = "$want_sha" ] || fail "load/$f: wrong data after the promotion"
done <"$work/L1"
[ "$missing" = 0 ] || fail "$missing of $n1 acknowledged files are missing after the promotion"
[ "$(master_seq)" -ge "$S" ] || fail "the promoted master is at entry $(master_seq), before $S"

step "the new master works; ml2 follows it"
echo after >"$mnt/after-promote" || fail "cannot write through the promoted master"
[ "$(cat "$mnt/after-promote")" = after ] || fail "reading back after the promotion"
S2=$(master_seq)
wait_caught_up ml2 "$S2"
wait_caught_up ml1 "$S2"

step "the promoted master and ml2's copy compare equal by a dump"
admin="$bin/cairn-admin"
[ -x "$admin" ] || fail "$admin missing"
wait_caught_up ml2 "$(master_seq)"
T 60 "$admin" dump --master "127.0.0.1:$base" -o "$work/master.cdump" ||
  fail "online dump of the promoted master failed"
s_dump=$(master_seq)
wait_caught_up ml2 "$s_dump"
"$local_sh" kill --dir "$dir" ml2 >/dev/null
T 60 "$admin" dump --master-dir "$dir/ml2/data/meta" -o "$work/ml2.cdump" ||
  fail "dump of ml2's copy failed"
cmp -s "$work/master.cdump" "$work/ml2.cdump" || {
  zstdcat "$work/master.cdump" >"$work/a.txt"
  zstdcat "$work/ml2.cdump" >"$work/b.txt"
  diff "$work/a.txt" "$work/b.txt" | head -20 >&2
  fail "the dumps of the master and of ml2's copy differ"
}
[ "$(master_seq)" = "$s_dump" ] || echo "note: the master committed during the dumps"

step "ml2 falls behind the retention window: it copies a checkpoint again"
mkdir -p "$mnt/burst"
for ((i = 0; i < 250; i++)); do echo "$i" >"$mnt/burst/b$i"; done
S3=$(master_seq)
first=$(cj status | jq -r '.changelog_first')
echo "master seq $S3, oldest kept entry $first, ml2 had $S2"
[ "$first" -gt $((S2 + 1)) ] || fail "the changelog still holds entry $((S2 + 1)) (oldest $first): the burst was too small"
restart_line=$(wc -l <"$dir/ml2/log")
T 60 "$local_sh" start --dir "$dir" ml2 >/dev/null || fail "ml2 did not start again"
wait_caught_up ml2 "$S3"
tail -n +"$((restart_line + 1))" "$dir/ml2/log" | grep -q "copying a checkpoint" ||
  fail "ml2 was behind the retention window but did not copy a checkpoint"
[ "$(ml_field ml2 snapshots)" -ge 1 ] || fail "the master counted no checkpoint for ml2"
for ((i = 0; i < 250; i += 50)); do
  [ "$(cat "$mnt/burst/b$i")" = "$i" ] || fail "burst/b$i reads wrong"
done
echo "ok"
