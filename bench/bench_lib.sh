# bench_lib.sh - shell code shared by bench/mount_bench.sh and
# bench/heal_bench.sh; sourced by them, never run on its own.
#
# Both scripts measure Cairn against MooseFS on this machine, so both install
# Debian packages, build a tool of bench/, make a work folder off tmpfs and run
# MooseFS in a network namespace. Decisions a reader must know:
#  1. MooseFS refuses 127.x as its master's address: its side runs in the
#     network namespace $ns, with $mfs_ip/32 on the namespace's own lo. Each
#     `ip netns exec` also has a private mount namespace, so a mount is seen
#     only by the command that made it: a helper written by mfs_helper mounts,
#     does the work and unmounts inside one `ip netns exec`.
#  2. No global state of its own beyond what is listed here. The caller sets
#     bench_name (the prefix of every message), install (0: no apt-get),
#     here, repo, build, workparent, only, work, ns, ns_made=0, mfs_fsync and
#     mfs_pids=() before using the functions; they set apt_error, do_mfs,
#     do_cairn, fstype, ns_made and mfs_pids.
# shellcheck shell=bash disable=SC2154 # the caller's globals, listed above

# ---- messages ---------------------------------------------------------------

# say MSG...: progress, to stderr.
say() { echo "$bench_name: $*" >&2; }

# die MSG...: the message to stderr, and appended to the file $fail_note when
# it is set (a subshell's way to hand its reason up); exit 1.
fail_note=""
die() {
    echo "$bench_name: $*" >&2
    [ -n "$fail_note" ] && echo "$*" >>"$fail_note"
    exit 1
}

# need_root: exits unless run as root.
need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespace, FUSE mounts, drop_caches); run with sudo"
}

# ---- packages ---------------------------------------------------------------

# installed PKG: the Debian package PKG is installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt_install PKG...: installs the missing ones; one `apt-get update` retry for
# a machine whose package lists are empty or stale. Returns non-zero with the
# reason in $apt_error.
apt_error=""
apt_install() {
    local missing=() p log
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$install" = 0 ]; then
        apt_error="not installed: ${missing[*]} (and --no-install given)"
        return 1
    fi
    command -v apt-get >/dev/null || { apt_error="no apt-get on this machine; missing ${missing[*]}"; return 1; }
    say "installing ${missing[*]}"
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >"$log" 2>&1; then
        if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; } >"$log" 2>&1; then
            apt_error="apt-get install ${missing[*]} failed: $(grep -E '^E:' "$log" | head -n 2 | tr '\n' ' ')"
            rm -f "$log"
            return 1
        fi
    fi
    rm -f "$log"
}

# need_base TOOL...: installs fuse3, iproute2 and jq; exits unless each TOOL
# is on the PATH and /dev/fuse exists.
need_base() {
    local tool
    apt_install fuse3 iproute2 jq || die "$apt_error"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found after installing fuse3 iproute2 jq"
    done
    [ -c /dev/fuse ] || die "/dev/fuse missing: load the fuse module (modprobe fuse)"
}

# pick_sides BINARY...: do_mfs and do_cairn (1: measure that side) from
# --only; a side is skipped, saying why, when the MooseFS packages cannot be
# installed or one of the Cairn BINARY is not in $build/bin.
pick_sides() {
    local b
    do_mfs=1
    do_cairn=1
    [ "$only" = cairn ] && do_mfs=0
    [ "$only" = moosefs ] && do_cairn=0
    if [ "$do_mfs" = 1 ]; then
        if ! apt_install moosefs-master moosefs-chunkserver moosefs-client moosefs-cli; then
            say "MooseFS side skipped: $apt_error"
            do_mfs=0
        fi
    fi
    if [ "$do_cairn" = 1 ]; then
        for b in "$@"; do
            if [ ! -x "$build/bin/$b" ]; then
                say "Cairn side skipped: $build/bin/$b not built (make build)"
                do_cairn=0
                break
            fi
        done
    fi
    return 0
}

# build_tool NAME: builds $build/bench/NAME when it is missing or older than
# bench/NAME.c (configuring $build first if it never was).
build_tool() {
    [ ! -x "$build/bench/$1" ] || [ "$here/$1.c" -nt "$build/bench/$1" ] || return 0
    say "building $1 in $build"
    [ -f "$build/CMakeCache.txt" ] || cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    cmake --build "$build" --target "$1" >&2 || die "building $1 failed (see above)"
}

# ---- work folder and processes ----------------------------------------------

# make_work NAME: a new folder $workparent/NAME.XXXXXX ($workparent defaults
# to the build folder) as $work, its file system type as $fstype; exits when
# that is tmpfs.
make_work() {
    [ -n "$workparent" ] || workparent="$build"
    mkdir -p "$workparent"
    work=$(mktemp -d "$(cd "$workparent" && pwd)/$1.XXXXXX")
    fstype=$(df --output=fstype "$work" | tail -n 1)
    [ "$fstype" != tmpfs ] || die "$work is on tmpfs; pass --workdir on a disk"
}

# stop_pid PID: SIGTERM, up to 60 s for a clean stop, then SIGKILL; PID is our
# child ("" or an exited one: nothing to do).
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop in 60 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# machine: "Machine: CPUs, RAM, kernel, work folder's file system." for a report.
machine() {
    echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM," \
        "Linux $(uname -r), work folder on $fstype ($(df --output=source "$work" | tail -n 1))."
}

# ---- MooseFS (decision 1) ---------------------------------------------------

mfs_ip=10.77.0.1

# mfs_ns_up: the network namespace $ns, lo up with $mfs_ip/32; sets ns_made.
mfs_ns_up() {
    ip netns add "$ns" || die "ip netns add $ns failed"
    ns_made=1
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$mfs_ip/32" dev lo
}

# mfs_ns_down: deletes $ns if mfs_ns_up made it.
mfs_ns_down() {
    [ "$ns_made" = 1 ] || return 0
    ip netns del "$ns" 2>/dev/null || say "could not delete network namespace $ns (ip netns del $ns)"
}

# mfs_cli ARG...: mfscli against the master in $ns, niced, 30 s at most.
mfs_cli() { nice -n 19 timeout 30 ip netns exec "$ns" mfscli -H "$mfs_ip" "$@"; }

# mfs_start N [MASTER_CFG]: a fresh MooseFS in $work/mfs: a master (its config
# as shipped but NICE_LEVEL 0, our folders and addresses, plus the lines
# MASTER_CFG) and N chunkservers (HDD_FSYNC_BEFORE_CLOSE=$mfs_fsync, ports
# 9522..), pids in mfs_pids, master first. Returns when all N registered.
mfs_start() {
    local count=$1 extra=${2:-} m="$work/mfs" i n empty pid
    rm -rf "$m"
    mkdir -p "$m/master" "$m/mnt"
    empty=$(dpkg -L moosefs-master | grep 'metadata.mfs.empty$' | head -n 1)
    [ -f "$empty" ] || die "moosefs-master ships no metadata.mfs.empty (dpkg -L moosefs-master)"
    cp "$empty" "$m/master/metadata.mfs"
    echo "* / rw,alldirs,admin,maproot=0:0" >"$m/mfsexports.cfg"
    : >"$m/mfstopology.cfg"
    cat >"$m/mfsmaster.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
NICE_LEVEL = 0
DATA_PATH = $m/master
EXPORTS_FILENAME = $m/mfsexports.cfg
TOPOLOGY_FILENAME = $m/mfstopology.cfg
MATOML_LISTEN_HOST = $mfs_ip
MATOCS_LISTEN_HOST = $mfs_ip
MATOCL_LISTEN_HOST = $mfs_ip
EOF
    [ -z "$extra" ] || echo "$extra" >>"$m/mfsmaster.cfg"
    ip netns exec "$ns" mfsmaster -f -c "$m/mfsmaster.cfg" start >"$m/master.log" 2>&1 &
    mfs_pids=($!)
    # The master must listen before the chunkservers try (they retry every 5 s).
    for ((i = 0; i < 300; i++)); do
        mfs_cli -SIN >/dev/null 2>&1 && break
        kill -0 "${mfs_pids[0]}" 2>/dev/null || die "mfsmaster exited; see $m/master.log"
        sleep 0.1
    done
    for ((i = 1; i <= count; i++)); do
        mkdir -p "$m/cs$i/data" "$m/cs$i/hdd"
        echo "$m/cs$i/hdd" >"$m/cs$i/mfshdd.cfg"
        cat >"$m/cs$i/mfschunkserver.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
NICE_LEVEL = 0
DATA_PATH = $m/cs$i/data
HDD_CONF_FILENAME = $m/cs$i/mfshdd.cfg
HDD_FSYNC_BEFORE_CLOSE = $mfs_fsync
MASTER_HOST = $mfs_ip
BIND_HOST = $mfs_ip
CSSERV_LISTEN_HOST = $mfs_ip
CSSERV_LISTEN_PORT = $((9521 + i))
EOF
        ip netns exec "$ns" mfschunkserver -f -c "$m/cs$i/mfschunkserver.cfg" start \
            >"$m/cs$i.log" 2>&1 &
        mfs_pids+=($!)
    done
    # No event to wait on: poll the master's list (bounded, 60 s).
    n=0
    for ((i = 0; i < 600; i++)); do
        n=$(mfs_cli -SCS 2>/dev/null | grep -c "^chunk servers:" || true)
        [ "$n" = "$count" ] && break
        for pid in "${mfs_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null || die "a MooseFS daemon exited; see $m/master.log $m/cs*.log"
        done
        sleep 0.1
    done
    [ "$n" = "$count" ] || die "only $n of $count MooseFS chunkservers registered in 60 s; see $m/cs*.log"
}

# stop_mfs_mount PIDFILE: stops the mfsmount whose pid the helper left in
# PIDFILE. Not our child (the helper started it): poll instead of wait.
stop_mfs_mount() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# mfs_stop: the mount, then the chunkservers, the master last (it saves its
# metadata on SIGTERM); empties mfs_pids. The namespace stays.
mfs_stop() {
    local i
    stop_mfs_mount "$work/mfs/mount.pid"
    for ((i = ${#mfs_pids[@]} - 1; i >= 0; i--)); do stop_pid "${mfs_pids[$i]}"; done
    mfs_pids=()
}

# mfs_helper FILE USAGE < BODY: writes the script FILE, run as
# `ip netns exec $ns bash FILE MNT IP PIDFILE ARG...`: it mounts MNT from the
# master at IP (mfsmount's pid in PIDFILE, its log next to it), sets goal 2
# and trash time 0, runs BODY (bash read from stdin; it sees $mnt, the ARGs as
# "$@" and sets $status non-zero on failure) and unmounts. USAGE names the
# arguments in its header.
mfs_helper() {
    {
        echo '#!/usr/bin/env bash'
        echo "# $2: runs inside \`ip netns exec\`."
        cat <<'EOF'
set -uo pipefail
mnt=$1 ip=$2 pidfile=$3
shift 3
mfsmount -f "$mnt" -H "$ip" -o mfsnice=0 >>"${pidfile%.pid}.log" 2>&1 &
mp=$!
echo "$mp" >"$pidfile"
for ((i = 0; i < 300; i++)); do
    mountpoint -q "$mnt" && break
    kill -0 "$mp" 2>/dev/null || { echo "mfsmount exited; see ${pidfile%.pid}.log" >&2; exit 1; }
    sleep 0.1
done
mountpoint -q "$mnt" || { echo "mfsmount: no mount after 30 s" >&2; kill "$mp"; exit 1; }
status=0
mfssetgoal -r 2 "$mnt" >/dev/null && mfssettrashtime -r 0 "$mnt" >/dev/null || status=1
EOF
        cat
        cat <<'EOF'
umount "$mnt" || umount -l "$mnt" || status=1
wait "$mp" || true
rm -f "$pidfile"
exit "$status"
EOF
    } >"$1"
}
