#!/usr/bin/env bash
# POSIX behaviour through a real FUSE mount: a cairn-local cluster (3
# chunkservers, 2 copies, -o allow_other so the EACCES checks can run as
# uid 65534), then mount_posix (mount_posix.c) inside DIR/mnt.
#   bash test_20_mount_posix.sh BIN_DIR [MOUNT_POSIX_BIN] [SEED]
set -euo pipefail

bin=${1:?usage: test_20_mount_posix.sh BIN_DIR [MOUNT_POSIX_BIN] [SEED]}
prog=$(realpath -m "${2:-$bin/mount_posix}")
seed=${3:-}
[ -e /dev/fuse ] || { echo "FAIL: no /dev/fuse" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_20_mount_posix "$bin"
[ -x "$prog" ] || fail "$prog missing"
# uid 65534 must reach DIR/mnt for the EACCES checks.
chmod 755 "$work"
export CAIRN_LOCAL_MOUNT_OPTS="-o allow_other"
ml_up --chunkservers 3 --copies 2 --disk-size 1G
chmod 755 "$dir"

step "mount_posix $dir/mnt $seed"
start=$SECONDS
rc=0
timeout 240 "$prog" "$dir/mnt" $seed || rc=$?
[ "$rc" = 124 ] && fail "mount_posix hung (timeout)"
[ "$rc" = 0 ] || fail "mount_posix exit $rc"
echo "mount_posix: $((SECONDS - start)) s"

step "down"
timeout 60 "$local_sh" down --dir "$dir" >/dev/null || fail "down failed"
