#!/usr/bin/env bash
# POSIX ACLs through the mount (issue 9), modelled on the ACL cases of the
# usual file-system suites (pjdfstest, xfstests generic/099 style):
#  1. user:bob:r-- on a 0600 file lets bob read, not write; the mode's group
#     bits show the mask; others still get nothing.
#  2. mask::--- takes it away again (getfacl says #effective:---).
#  3. group:staff:r-- lets a user in staff only through a supplementary group
#     (the kernel and the master both see the groups).
#  4. chmod rewrites the mask; setfacl -b leaves the base entries only.
#  5. A directory's default ACL: new files and directories inherit it
#     (masked by the create mode, umask not applied), new directories keep
#     it as their default; without a default ACL the umask applies.
#  6. Only the owner may change an ACL; a default ACL on a file is refused.
#  7. Directory ACLs: user:bob:rwx on a 0700 directory lets bob create in it
#     (the master's parent check agrees with the kernel's); --x lets him
#     reach a file but not list; group:staff:rwx works for a member.
#  8. After a master restart (new session) the groups are declared again:
#     a staff member still reads through group:staff.
#   bash test_43_mount_acl.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_43_mount_acl "${1:-}"
command -v setfacl >/dev/null || { echo "SKIP: setfacl missing (apt-get install acl)" >&2; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (setpriv to other users)" >&2; exit 0; }
# Other users must be able to run programs here. A root directory of mode
# 0700 (some chroot builders make one) stops every exec but root's: open it
# to search for the test's duration and put it back afterwards.
root_mode=$(stat -c %a /)
if ! setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  echo "note: / is mode $root_mode; other users cannot run programs; o+x for this test" >&2
  chmod o+x /
  trap 'acl_rc=$?; chmod "$root_mode" / 2>/dev/null; (exit $acl_rc); ml_cleanup' EXIT
  setpriv --reuid=65534 --regid=65534 --clear-groups true ||
    fail "other users still cannot run programs on this machine"
fi

OWNER=1000 BOB=2000 EVE=4000 STAFF=3000
# as UID GROUPS CMD...: CMD as UID (primary group = UID), with GROUPS
# ("" = none) as its supplementary groups.
as() {
  local u=$1 g=$2
  shift 2
  if [ -n "$g" ]; then
    T 20 setpriv --reuid="$u" --regid="$u" --groups="$g" "$@"
  else
    T 20 setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
  fi
}
can() { as "$@" >/dev/null 2>&1; }
# acl FILE: getfacl's entries, one a line, without the header.
acl() { T 20 getfacl --omit-header --absolute-names "$1" | sed '/^$/d'; }
has() { grep -qx -- "$2" <<<"$1" || fail "ACL lacks '$2':"$'\n'"$1"; }
mode() { stat -c %a "$1"; }

chmod 755 "$work"
export CAIRN_LOCAL_MOUNT_OPTS="-o allow_other"
ml_up --chunkservers 1 --copies 1 --disk-size 256M --metaloggers 0
chmod 755 "$dir"
t="$mnt/acl"
mkdir "$t"
chmod 0777 "$t"

step "1. user:bob:r-- on a 0600 file"
f="$t/f"
echo secret >"$f"
chown "$OWNER:$OWNER" "$f"
chmod 0600 "$f"
can "$BOB" "" cat "$f" && fail "bob reads a 0600 file without an ACL"
as "$OWNER" "" setfacl -m "u:$BOB:r" "$f" || fail "owner's setfacl failed"
a=$(acl "$f")
has "$a" "user:$BOB:r--"
has "$a" "mask::r--"
[ "$(mode "$f")" = 640 ] || fail "mode $(mode "$f") after setfacl, want 640 (group bits = mask)"
[ "$(as "$BOB" "" cat "$f")" = secret ] || fail "bob cannot read with user:bob:r--"
can "$BOB" "" sh -c "echo x >>'$f'" && fail "bob writes with user:bob:r--"
can "$EVE" "" cat "$f" && fail "eve reads: other is ---"

step "2. mask::--- takes it away"
as "$OWNER" "" setfacl -m m::--- "$f" || fail "setfacl -m m::--- failed"
has "$(acl "$f")" "user:$BOB:r--	#effective:---"
can "$BOB" "" cat "$f" && fail "bob reads through mask::---"

step "3. group:staff:r-- through a supplementary group"
as "$OWNER" "" setfacl -m "g:$STAFF:r,m::r" "$f" || fail "setfacl group failed"
has "$(acl "$f")" "group:$STAFF:r--"
can "$EVE" "" cat "$f" && fail "eve reads without being in staff"
[ "$(as "$EVE" "$STAFF" cat "$f")" = secret ] || fail "eve in staff (supplementary) cannot read"
can "$EVE" "$STAFF" sh -c "echo x >>'$f'" && fail "eve writes with group:staff:r--"
# the master checks too: its open refused without the groups it was told
[ "$(as "$EVE" "5,$STAFF,7" cat "$f")" = secret ] || fail "eve with several groups cannot read"

step "4. chmod rewrites the mask; setfacl -b"
chmod 0600 "$f"
has "$(acl "$f")" "mask::---"
can "$BOB" "" cat "$f" && fail "bob reads after chmod 0600"
chmod 0640 "$f"
has "$(acl "$f")" "mask::r--"
[ "$(as "$BOB" "" cat "$f")" = secret ] || fail "bob cannot read after chmod 0640"
setfacl -b "$f"
a=$(acl "$f")
[ "$(wc -l <<<"$a")" = 3 ] || fail "setfacl -b left:"$'\n'"$a"
can "$BOB" "" cat "$f" && fail "bob reads after setfacl -b"
if command -v getfattr >/dev/null; then
  [ -z "$(getfattr -m - -d "$f" 2>/dev/null | grep posix_acl || true)" ] ||
    fail "an ACL xattr is still stored after setfacl -b"
fi

step "5. default ACL inheritance"
d="$t/d"
mkdir "$d"
chown "$OWNER:$OWNER" "$d"
chmod 0755 "$d"
as "$OWNER" "" setfacl -d -m "u:$BOB:rwx" "$d" || fail "setfacl -d failed"
has "$(T 20 getfacl --omit-header --absolute-names -d "$d" | sed '/^$/d')" "user:$BOB:rwx"
as "$OWNER" "" sh -c "umask 022; echo new >'$d/new'; mkdir '$d/sub'" || fail "create in $d failed"
a=$(acl "$d/new")
has "$a" "user:$BOB:rwx	#effective:rw-"
has "$a" "mask::rw-"
[ "$(mode "$d/new")" = 664 ] || fail "new file mode $(mode "$d/new"), want 664 (umask not applied)"
[ "$(as "$BOB" "" cat "$d/new")" = new ] || fail "bob cannot read the inherited file"
as "$BOB" "" sh -c "echo more >>'$d/new'" || fail "bob cannot write the inherited file"
[ "$(mode "$d/sub")" = 775 ] || fail "new directory mode $(mode "$d/sub"), want 775"
has "$(acl "$d/sub")" "user:$BOB:rwx"
has "$(T 20 getfacl --omit-header --absolute-names -d "$d/sub" | sed '/^$/d')" "user:$BOB:rwx"
as "$OWNER" "" sh -c "umask 077; : >'$d/sub/deep'" || fail "create in $d/sub failed"
has "$(acl "$d/sub/deep")" "user:$BOB:rwx	#effective:rw-"
as "$OWNER" "" sh -c "umask 027; : >'$t/plain'; mkdir '$t/plaind'" || fail "create in $t failed"
[ "$(mode "$t/plain")" = 640 ] || fail "plain file mode $(mode "$t/plain"), want 640 (umask 027)"
[ "$(mode "$t/plaind")" = 750 ] || fail "plain directory mode $(mode "$t/plaind"), want 750"
setfacl -k "$d"
[ -z "$(T 20 getfacl --omit-header --absolute-names -d "$d" | sed '/^$/d')" ] || fail "setfacl -k left a default ACL"
: >"$d/after"
[ "$(wc -l <<<"$(acl "$d/after")")" = 3 ] || fail "a file made after setfacl -k has an ACL"

step "6. only the owner; no default ACL on a file"
can "$BOB" "" setfacl -m "u:$BOB:rw" "$f" && fail "bob changed the owner's ACL"
setfacl -d -m "u:$BOB:r" "$f" 2>/dev/null && fail "a default ACL on a file was accepted"

step "7. directory ACLs"
p="$t/private"
mkdir "$p"
echo inside >"$p/in"
chmod 0644 "$p/in"
chown -R "$OWNER:$OWNER" "$p"
chmod 0700 "$p"
can "$BOB" "" cat "$p/in" && fail "bob reaches into a 0700 directory"
as "$OWNER" "" setfacl -m "u:$BOB:rwx" "$p" || fail "setfacl on the directory failed"
as "$BOB" "" sh -c "umask 022; echo bob >'$p/bobs'" || fail "bob cannot create with user:bob:rwx"
[ "$(stat -c %u "$p/bobs")" = "$BOB" ] || fail "bob's file is not bob's"
[ "$(mode "$p/bobs")" = 644 ] || fail "bob's file mode $(mode "$p/bobs"), want 644"
as "$OWNER" "" setfacl -m "u:$BOB:x" "$p" || fail "setfacl u:bob:x failed"
[ "$(as "$BOB" "" cat "$p/in")" = inside ] || fail "bob cannot reach a file through --x"
can "$BOB" "" ls "$p" && fail "bob lists a directory he has --x on"
can "$BOB" "" sh -c ": >'$p/more'" && fail "bob creates with --x"
as "$OWNER" "" setfacl -x "u:$BOB" "$p" || fail "setfacl -x failed"
as "$OWNER" "" setfacl -m "g:$STAFF:rwx" "$p" || fail "setfacl g:staff:rwx failed"
can "$EVE" "" sh -c ": >'$p/eve'" && fail "eve creates without being in staff"
as "$EVE" "$STAFF" sh -c ": >'$p/eve'" || fail "eve in staff cannot create"

step "8. groups declared again after a master restart"
g="$t/g"
echo staffonly >"$g"
chown "$OWNER:$OWNER" "$g"
chmod 0600 "$g"
as "$OWNER" "" setfacl -m "g:$STAFF:r" "$g" || fail "setfacl on g failed"
[ "$(as "$EVE" "$STAFF" cat "$g")" = staffonly ] || fail "eve in staff cannot read g"
"$local_sh" kill --dir "$dir" master >/dev/null
"$local_sh" start --dir "$dir" master >/dev/null || fail "master restart failed"
[ "$(as "$EVE" "$STAFF" cat "$g")" = staffonly ] || fail "eve in staff cannot read g after the restart"
can "$EVE" "" cat "$g" && fail "eve reads g without staff after the restart"
step "done"
