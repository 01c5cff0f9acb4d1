#!/usr/bin/env bash
# mount_bench.sh - Cairn against MooseFS through the mount, same machine, same run.
#
# Both file systems run here as 3 chunkservers on loopback with 2 copies of
# every chunk, their data in one work folder (so on the same file system), and
# bench/fsbench runs the same phases on each mount: sequential write and read
# of one file (--size, 1 MiB calls), 4 KiB random reads, create/stat/unlink of
# --files empty files. The runs alternate between the two (the order flips
# every run, so neither always meets the disk after the other); the figures
# are the medians over --runs, with every run's value next to them. The
# markdown table on stdout can be pasted into bench/RESULTS.md; progress goes
# to stderr.
#
# Decisions a reader must know:
#  1. MooseFS refuses 127.x as its master's address, so its whole side (master,
#     chunkservers, mount and the workload) runs in a network namespace made
#     here, with 10.77.0.1/32 on the namespace's own lo. `ip netns exec` also
#     gives each command a private mount namespace: the mount is only visible
#     to the command that made it, so one helper (mfs_run.sh in the work
#     folder) mounts, runs fsbench and unmounts inside a single `ip netns exec`
#     per run. Master and chunkservers stay up across runs.
#  2. MooseFS is configured as shipped except: NICE_LEVEL 0 and mfsnice=0
#     (the default -19 would give it the CPU ahead of Cairn on a busy
#     machine), trash time 0 (deleted files are removed, not kept a day), goal
#     2. Its chunkservers do not fsync chunk files by default
#     (HDD_FSYNC_BEFORE_CLOSE=0); --mfs-fsync turns that on.
#  3. The MooseFS packages come from Debian (moosefs-master, -chunkserver,
#     -client, -cli). When they cannot be installed the script says
#     "MooseFS side skipped: <reason>" and measures Cairn alone; when
#     build/bin/cairn-mount is missing it says "Cairn side skipped" likewise.
#  4. Everything started here is stopped by PID on exit, also on failure or
#     Ctrl-C; the namespace and the work folder are deleted.
#
# usage: bash bench/mount_bench.sh [--runs N] [--size SIZE] [--quick] ... (--help)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bench_name=mount_bench
# shellcheck source=bench/bench_lib.sh
. "$here/bench_lib.sh"

runs=3
runs_given=0
size=2G
files=10000
rand_seconds=10
phases=seqwrite,seqread,randread,create,stat,unlink
build="$repo/build"
workparent=""
keep_work=0
install=1
mfs_fsync=0
cairn_port=19420
only=""

usage() {
    cat <<EOF
usage: bash bench/mount_bench.sh [options]
  --runs N            runs per file system, alternating (default 3)
  --size SIZE         sequential file size, multiple of 1 MiB (default 2G)
  --files N           empty files for create/stat/unlink (default 10000)
  --rand-seconds S    duration of the random-read phase (default 10)
  --phases LIST       fsbench phases (default all)
  --quick             smoke run: --size 256M --files 1000 --rand-seconds 3
                      (and 1 run unless --runs is given)
  --build DIR         CMake build folder with bin/ and bench/ (default build)
  --workdir DIR       parent of the work folder; must not be tmpfs
                      (default: the build folder, on the project's disk)
  --only cairn|moosefs  measure one side only
  --mfs-fsync         MooseFS chunkservers fsync chunks on close
  --cairn-base-port P cairn-local --base-port (default 19420)
  --no-install        do not apt-get install missing packages
  --keep-work         leave the work folder (logs, configs) behind
Needs root: network namespaces, FUSE mounts, drop_caches.
EOF
}

# The command line as given, for the report.
cmdline="bash bench/mount_bench.sh"
for a in "$@"; do cmdline+=" $a"; done

while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=${2:?--runs needs a number}; runs_given=1; shift 2 ;;
    --size) size=${2:?--size needs a size}; shift 2 ;;
    --files) files=${2:?--files needs a number}; shift 2 ;;
    --rand-seconds) rand_seconds=${2:?--rand-seconds needs seconds}; shift 2 ;;
    --phases) phases=${2:?--phases needs a list}; shift 2 ;;
    --quick) size=256M; files=1000; rand_seconds=3; [ "$runs_given" = 1 ] || runs=1; shift ;;
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    --workdir) workparent=${2:?--workdir needs a folder}; shift 2 ;;
    --only) only=${2:?--only needs cairn or moosefs}; shift 2 ;;
    --mfs-fsync) mfs_fsync=1; shift ;;
    --cairn-base-port) cairn_port=${2:?--cairn-base-port needs a port}; shift 2 ;;
    --no-install) install=0; shift ;;
    --keep-work) keep_work=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: want a positive number"
case "$only" in "" | cairn | moosefs) ;; *) die "--only $only: want cairn or moosefs" ;; esac
need_root

# ---- packages ---------------------------------------------------------------

need_base ip jq mountpoint timeout
pick_sides cairn-local cairn-mount cairn-master cairn-chunkserver
[ "$do_mfs" = 1 ] || [ "$do_cairn" = 1 ] || die "nothing to measure: both sides skipped"

# ---- fsbench ----------------------------------------------------------------

fsbench="$build/bench/fsbench"
build_tool fsbench
fsbench_args=(--json --size "$size" --files "$files" --rand-seconds "$rand_seconds" --phases "$phases")

# ---- work folder and cleanup ------------------------------------------------

make_work mount_bench
ns="cairnbench$$"
ns_made=0
mfs_pids=()
cairn_up=0

cleanup() {
    local status=$? purge
    trap - EXIT INT TERM
    mfs_stop
    mfs_ns_down
    if [ "$cairn_up" = 1 ]; then
        # On failure keep Cairn's logs: stop without --purge.
        purge=--purge
        { [ "$keep_work" = 1 ] || [ "$status" != 0 ]; } && purge=""
        "$build/bin/cairn-local" down --dir "$work/cairn" $purge >&2 ||
            say "cairn-local down failed; check: $build/bin/cairn-local status --dir $work/cairn"
    fi
    if [ "$keep_work" = 1 ] || [ "$status" != 0 ]; then
        say "work folder kept (logs, configs): $work"
    else
        rm -rf -- "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/results"

# ---- MooseFS side -----------------------------------------------------------

mfs_up() {
    local m="$work/mfs"
    mfs_ns_up
    mfs_start 3
    # One ip netns exec per run: mount, fsbench, unmount (decision 1).
    mfs_helper "$m/mfs_run.sh" "mfs_run.sh MNT IP PIDFILE OUT FSBENCH ARGS..." <<'EOF'
out=$1
shift
[ "$status" = 0 ] && { timeout 3600 "$@" "$mnt" >"$out" || status=1; }
EOF
    say "MooseFS $(dpkg-query -W -f='${Version}' moosefs-master) up in namespace $ns: master and 3 chunkservers on $mfs_ip"
}

mfs_run() { # mfs_run RUN
    local m="$work/mfs"
    ip netns exec "$ns" bash "$m/mfs_run.sh" "$m/mnt" "$mfs_ip" "$m/mount.pid" \
        "$work/results/moosefs-$1.json" "$fsbench" "${fsbench_args[@]}" ||
        die "MooseFS run $1 failed; see $m/mount.log and the fsbench message above"
}

# ---- Cairn side -------------------------------------------------------------

cairn_start() {
    # Each chunkserver may end up holding a copy of everything: room for that.
    local size_mib disk_mib
    size_mib=$(numfmt --from=iec "$size") || die "--size $size: not a size"
    size_mib=$((size_mib / 1048576))
    disk_mib=$((size_mib * 2 > 4096 ? size_mib * 2 : 4096))
    "$build/bin/cairn-local" up --dir "$work/cairn" --chunkservers 3 --copies 2 \
        --disk-size "${disk_mib}M" --base-port "$cairn_port" >&2 ||
        die "cairn-local up failed (--dir $work/cairn)"
    cairn_up=1
    mountpoint -q "$work/cairn/mnt" || die "cairn-local up returned but $work/cairn/mnt is not mounted"
    say "Cairn up: 3 chunkservers, copies 2, disks of ${disk_mib} MiB, mount $work/cairn/mnt"
}

cairn_run() { # cairn_run RUN
    timeout 3600 "$fsbench" "${fsbench_args[@]}" "$work/cairn/mnt" >"$work/results/cairn-$1.json" ||
        die "Cairn run $1 failed; logs in $work/cairn"
}

# ---- runs -------------------------------------------------------------------

if [ "$do_mfs" = 1 ]; then mfs_up; fi
if [ "$do_cairn" = 1 ]; then cairn_start; fi
for ((r = 1; r <= runs; r++)); do
    if ((r % 2 == 1)); then order="cairn moosefs"; else order="moosefs cairn"; fi
    for side in $order; do
        if [ "$side" = cairn ] && [ "$do_cairn" = 1 ]; then
            say "run $r/$runs: Cairn"
            cairn_run "$r"
        elif [ "$side" = moosefs ] && [ "$do_mfs" = 1 ]; then
            say "run $r/$runs: MooseFS"
            mfs_run "$r"
        fi
    done
done

# ---- report -----------------------------------------------------------------

# values SIDE PHASE: that phase's value of every run, one a line, run order.
values() {
    local f r
    for ((r = 1; r <= runs; r++)); do
        f="$work/results/$1-$r.json"
        if [ -f "$f" ]; then jq -r --arg p "$2" '.[] | select(.phase == $p) | .value' "$f"; fi
    done
    return 0
}
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
fmt() { if [ -n "$1" ]; then printf '%.1f' "$1"; else printf 'pending'; fi; }
list() { tr '\n' ' ' | awk '{for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i}'; }

echo
echo "**Command** ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)):"
echo
echo "    $cmdline"
echo
echo "$(machine)" \
    "File $size, $files files, random reads for $rand_seconds s; medians of $runs run(s)." \
    "MooseFS $(dpkg-query -W -f='${Version}' moosefs-master 2>/dev/null || echo 'not installed')" \
    "(chunk fsync on close: $([ "$mfs_fsync" = 1 ] && echo on || echo 'off, the default'))."
echo
echo "| phase | unit | Cairn | MooseFS | Cairn/MooseFS | target | Cairn runs | MooseFS runs |"
echo "|---|---|---:|---:|---:|---|---|---|"
for p in ${phases//,/ }; do
    case "$p" in
    seqwrite | seqread) unit="MB/s"; target=1.5 ;;
    create) unit="ops/s"; target=1.5 ;;
    randread) unit="IOPS"; target=1.0 ;;
    *) unit="ops/s"; target=1.0 ;;
    esac
    c=$(values cairn "$p" | median)
    m=$(values moosefs "$p" | median)
    if [ -n "$c" ] && [ -n "$m" ]; then
        ratio=$(awk -v c="$c" -v m="$m" 'BEGIN {printf "%.2f", c / m}')
        verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r >= t ? "met" : "below")}')
        ratio="**$ratio**"
    else
        ratio="pending"
        verdict=""
    fi
    echo "| $p | $unit | $(fmt "$c") | $(fmt "$m") | $ratio | ≥ $target${verdict:+ $verdict} |" \
        "$(values cairn "$p" | list) | $(values moosefs "$p" | list) |"
done
