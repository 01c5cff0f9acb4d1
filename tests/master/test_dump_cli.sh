#!/usr/bin/env bash
# test_dump_cli.sh - cairn-admin end to end: restore the seed dump, dump it,
# restore that, dump again (same bytes), verify; and the refusals the
# command line adds (existing -o file, bad usage, corrupt input: exit 1 and
# nothing left). Usage: test_dump_cli.sh CAIRN_ADMIN SEED_DUMP
set -euo pipefail
admin=$1
seed=$2
work=$(mktemp -d /tmp/cairn-dump-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "test_dump_cli: $*" >&2; exit 1; }

"$admin" restore --master-dir "$work/a" -i "$seed" 2>"$work/log" || fail "restore seed: $(cat "$work/log")"
"$admin" dump --master-dir "$work/a" -o "$work/1.cdump" 2>"$work/log" || fail "dump: $(cat "$work/log")"
"$admin" restore --master-dir "$work/b" <"$work/1.cdump" 2>"$work/log" || fail "restore: $(cat "$work/log")"
"$admin" dump --master-dir "$work/b" >"$work/2.cdump" 2>"$work/log" || fail "dump: $(cat "$work/log")"
cmp -s "$work/1.cdump" "$work/2.cdump" || fail "dump -> restore -> dump differs"
"$admin" verify -i "$work/2.cdump" 2>"$work/log" || fail "verify: $(cat "$work/log")"
grep -q "verified 33 records" "$work/log" || fail "verify counts: $(cat "$work/log")"

# never overwrites a dump file
rc=0; "$admin" dump --master-dir "$work/a" -o "$work/1.cdump" 2>"$work/log" || rc=$?
[ "$rc" -eq 1 ] && grep -q "File exists" "$work/log" || fail "overwrote -o ($rc): $(cat "$work/log")"
cmp -s "$work/1.cdump" "$work/2.cdump" || fail "the existing dump changed"
# a missing directory is named, a failed dump leaves no file
rc=0; "$admin" dump --master-dir "$work/none" -o "$work/3.cdump" 2>"$work/log" || rc=$?
[ "$rc" -eq 1 ] && [ ! -e "$work/3.cdump" ] && grep -q "$work/none" "$work/log" ||
  fail "dump of a missing dir ($rc): $(cat "$work/log")"
# corrupt input: exit 1, the message names a line, nothing left behind
head -c 700 "$work/1.cdump" >"$work/cut.cdump"
rc=0; "$admin" restore --master-dir "$work/c" -i "$work/cut.cdump" 2>"$work/log" || rc=$?
[ "$rc" -eq 1 ] && [ ! -e "$work/c" ] && [ ! -e "$work/c.tmp-restore" ] ||
  fail "restore of a cut dump ($rc): $(cat "$work/log")"
grep -q "truncated dump" "$work/log" || fail "cut dump message: $(cat "$work/log")"
# non-empty target
rc=0; "$admin" restore --master-dir "$work/a" -i "$work/1.cdump" 2>"$work/log" || rc=$?
[ "$rc" -eq 1 ] && grep -q "is not empty" "$work/log" || fail "non-empty target ($rc)"
# usage
rc=0; "$admin" dump 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "dump without --master-dir: exit $rc, want 2"
rc=0; "$admin" frobnicate --master-dir x 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command: exit $rc, want 2"
echo "test_dump_cli: ok"
