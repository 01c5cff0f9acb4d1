#!/usr/bin/env bash
# heal_bench.sh - self-healing: Cairn against MooseFS, same machine, same run.
#
# Two measurements (issue 5, "Benchmark"), each on a fresh cluster of 4
# chunkservers on loopback with 2 copies of every chunk, after --data bytes
# (default 2 GiB: 32 files of the same 64 MiB of random bytes) were written
# through the mount, so that each server holds about 1 GiB:
#   kill   SIGKILL the chunkserver that holds the most; time from the kill
#          until no chunk is under goal any more (full redundancy again);
#   drain  mark that server's disk for removal; time from the mark until
#          everything on it has its copies elsewhere.
# Reported per measurement: seconds, the bytes the server or disk held before
# (MiB), and MiB/s = those bytes / seconds. In the same run, bench/loopcopy
# measures the loopback copy bandwidth (a cold 1 GiB file read, sent over one
# TCP connection on 127.0.0.1 and written to a file with an fdatasync every
# 64 MiB, on the same disk): Cairn's repair MiB/s is divided by it. The runs
# alternate between the two systems (the order flips every run) and the
# figures are medians of --runs. The JSON summary and a markdown table go to
# stdout; progress goes to stderr.
#
# Decisions a reader must know:
#  1. Both systems are given their fastest repair settings, stated in the
#     report: Cairn with CS_TIMEOUT_MS=2s, CS_GRACE_MS=0s (parts of an
#     unreachable server count as missing at once), HEALTH_START_MS=0s (repair
#     from the master's start on, like MooseFS's REPLICATIONS_DELAY_INIT=0)
#     and REPAIR_RATE_MBPS=0 (no rate limit); SERVER_JOBS (copies in flight per
#     server, default 4) and HEALTH_PERIOD_MS (default 1 s) at their defaults
#     unless CAIRN_LOCAL_MASTER_OPTS says otherwise (it is appended, so it
#     wins). MooseFS 3.0 with
#     REPLICATIONS_DELAY_INIT=0 (otherwise nothing is replicated in the first
#     60 s after the master starts), CHUNKS_LOOP_MIN_TIME=60 and
#     CHUNKS_LOOP_MAX_CPS=10000000 (the bounds its chunks.c clamps them to:
#     60..7200 s, 10000..10000000), and CHUNKS_WRITE_REP_LIMIT /
#     CHUNKS_READ_REP_LIMIT = N,N,N,N with N = --mfs-rep-limit (default 50).
#     Those two are parsed with strtod and have no upper bound; they cap the
#     replications in flight to / from one server, and 50 is more than the ~16
#     chunks a server holds here, i.e. no limit. MooseFS 3.0 has no
#     REPLICATIONS_DELAY_DISCONNECT (commented out in its chunks.c): a
#     SIGKILLed server's chunks are queued for repair as soon as the master
#     notices the closed connection.
#  2. MooseFS's chunkservers do not fsync a chunk by default
#     (HDD_FSYNC_BEFORE_CLOSE=0): a replicated chunk may sit in the page cache
#     when MooseFS counts it as a copy. Cairn's copies are durable when
#     counted. --mfs-fsync turns MooseFS's fsync on; the report says which.
#  3. Before every kill or mark: `sync` and drop_caches, so both read the
#     surviving copies from the disk, not from the page cache of the write.
#  4. "Done" is read from each system's own status, polled every --poll
#     seconds (default 0.5) by a niced client; the time is that of the first
#     poll that shows it, so each figure may be up to one poll late.
#     Kill: Cairn `cairn status --json` chunks.undergoal + endangered + lost,
#     MooseFS `mfscli -SIC` (all copies) missing + endangered + undergoal;
#     the count must first go above 0 (the master noticed) and then reach 0;
#     for MooseFS, whose copies can all be made between two polls, the notice
#     is also its log line "... has been fully removed from data structures"
#     (the killed server's chunks are off its books from then on).
#     Drain: Cairn `cairn disks --json` parts of that disk == 0; MooseFS keeps
#     the chunks on a disk marked for removal until the operator pulls it, so
#     its end is `mfscli -SIC -m 1` (regular copies, those not on marked
#     disks) missing + endangered + undergoal back to 0, which is when
#     `mfscli -SHD` says "marked for removal (ready)".
#  5. MooseFS refuses 127.x as its master's address: its side runs in a
#     network namespace made here (10.77.0.1/32 on its lo), as in
#     bench/mount_bench.sh. Each `ip netns exec` has a private mount
#     namespace, so the mount and the writes share one helper call.
#  6. Everything started here is stopped by PID on exit, failure or Ctrl-C;
#     the namespace and the work folder are deleted (kept with --keep-work,
#     or on failure, for the logs).
#
# usage: bash bench/heal_bench.sh [--runs N] [--phases kill,drain] ... (--help)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bench_name=heal_bench
# shellcheck source=bench/bench_lib.sh
. "$here/bench_lib.sh"

runs=3
data=2G
phases=kill,drain
build="$repo/build"
workparent=""
keep_work=0
install=1
mfs_fsync=0
mfs_rep=50
cairn_port=19520
only=""
poll=0.5
wait_s=900
ref_size=1G

usage() {
    cat <<EOF
usage: bash bench/heal_bench.sh [options]
  --runs N            runs per system, alternating (default 3)
  --data SIZE         bytes written before each measurement, a multiple of
                      64 MiB (default 2G: ~1 GiB on each of the 4 servers)
  --phases LIST       kill,drain (default both)
  --only cairn|moosefs  measure one system only (the reference always runs)
  --mfs-fsync         MooseFS chunkservers fsync chunks (HDD_FSYNC_BEFORE_CLOSE=1)
  --mfs-rep-limit N   MooseFS CHUNKS_{WRITE,READ}_REP_LIMIT = N,N,N,N (default 50)
  --poll S            status poll interval in seconds (default 0.5)
  --timeout S         longest wait for one repair or drain (default 900)
  --ref-size SIZE     bytes loopcopy copies (default 1G)
  --build DIR         CMake build folder with bin/ and bench/ (default build)
  --workdir DIR       parent of the work folder; must not be tmpfs
                      (default: the build folder, on the project's disk)
  --cairn-base-port P cairn-local --base-port (default 19520)
  --no-install        do not apt-get install missing packages
  --keep-work         leave the work folder (logs, configs) behind
environment: CAIRN_LOCAL_MASTER_OPTS is appended to this script's master
  options (e.g. "SERVER_JOBS=8").
Needs root: network namespace, FUSE mounts, drop_caches.
EOF
}

cmdline="bash bench/heal_bench.sh"
for a in "$@"; do cmdline+=" $a"; done
user_master_opts=${CAIRN_LOCAL_MASTER_OPTS:-}

while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --data) data=${2:?--data needs a size}; shift 2 ;;
    --phases) phases=${2:?--phases needs a list}; shift 2 ;;
    --only) only=${2:?--only needs cairn or moosefs}; shift 2 ;;
    --mfs-fsync) mfs_fsync=1; shift ;;
    --mfs-rep-limit) mfs_rep=${2:?--mfs-rep-limit needs a number}; shift 2 ;;
    --poll) poll=${2:?--poll needs seconds}; shift 2 ;;
    --timeout) wait_s=${2:?--timeout needs seconds}; shift 2 ;;
    --ref-size) ref_size=${2:?--ref-size needs a size}; shift 2 ;;
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    --workdir) workparent=${2:?--workdir needs a folder}; shift 2 ;;
    --cairn-base-port) cairn_port=${2:?--cairn-base-port needs a port}; shift 2 ;;
    --no-install) install=0; shift ;;
    --keep-work) keep_work=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: want a positive number"
[[ "$mfs_rep" =~ ^[1-9][0-9]*$ ]] || die "--mfs-rep-limit $mfs_rep: want a positive number"
[[ "$wait_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout $wait_s: want whole seconds"
[[ "$poll" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--poll $poll: want seconds"
poll=$(awk -v p="$poll" 'BEGIN {print p + 0}') # ".5" is no JSON number
case "$only" in "" | cairn | moosefs) ;; *) die "--only $only: want cairn or moosefs" ;; esac
for p in ${phases//,/ }; do
    case "$p" in kill | drain) ;; *) die "--phases: unknown phase $p (want kill, drain)" ;; esac
done
data_b=$(numfmt --from=iec "$data") || die "--data $data: not a size"
((data_b > 0 && data_b % (64 << 20) == 0)) || die "--data $data: want a positive multiple of 64M"
nfiles=$((data_b / (64 << 20)))
need_root

# ---- packages ---------------------------------------------------------------

need_base ip jq mountpoint timeout numfmt
pick_sides cairn cairn-local cairn-mount cairn-master cairn-chunkserver

# A master without the health loop (issue 5) refuses the options this script
# sets: say so once instead of failing in the first run.
if [ "$do_cairn" = 1 ]; then
    for k in CS_GRACE_MS REPAIR_RATE_MBPS; do
        if ! "$build/bin/cairn-master" --dump-config 2>/dev/null | grep -q "^$k = "; then
            say "Cairn side skipped: $build/bin/cairn-master has no option $k (no health loop in this build)"
            do_cairn=0
            break
        fi
    done
fi

loopcopy="$build/bench/loopcopy"
build_tool loopcopy

# ---- work folder and cleanup ------------------------------------------------

make_work heal_bench
mkdir -p "$work/results" "$work/logs"
records="$work/results/records.jsonl"
: >"$records"
cairn_failed=0
cairn_error=""
ns="cairnheal$$"
ns_made=0
mfs_pids=()   # master first, then cs1..cs4; "" for one already stopped
cairn_dir="" # the Cairn cluster (set by cairn_start)

cairn_stop() { # cairn_stop [--purge]: the cluster in $work/cairn, if there is one
    [ -f "$work/cairn/cluster.env" ] || return 0
    "$build/bin/cairn-local" down --dir "$work/cairn" "$@" >&2 ||
        say "cairn-local down failed; check: $build/bin/cairn-local status --dir $work/cairn"
}

# cairn_keep_logs NAME: the Cairn cluster's logs to $work/logs/cairn-NAME.
cairn_keep_logs() {
    local f d="$work/logs/cairn-$1"
    [ -d "$work/cairn" ] || return 0
    mkdir -p "$d"
    for f in "$work/cairn"/*/log* "$work/cairn"/run/*.out; do
        [ -f "$f" ] && cp "$f" "$d/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    return 0
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    mfs_stop
    mfs_ns_down
    cairn_stop # logs stay in the work folder on failure
    if [ "$keep_work" = 1 ] || [ "$status" != 0 ] || [ "$cairn_failed" = 1 ]; then
        rm -f "$work/blob"
        say "work folder kept (logs, configs): $work"
    else
        rm -rf -- "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# record JSON: one measurement, a line of $records.
record() { echo "$1" >>"$records"; }

# One 64 MiB block of random bytes, written --data / 64 MiB times per cluster.
head -c 64M /dev/urandom >"$work/blob"

# ---- reference --------------------------------------------------------------

reference_run() { # reference_run RUN
    local out
    drop_caches
    out=$(timeout 600 "$loopcopy" --json --size "$ref_size" "$work") ||
        die "loopcopy failed in $work (see its message above)"
    record "$(jq -c --argjson r "$1" '{side: "reference", phase: "loopcopy", run: $r,
        seconds: .seconds, bytes: .bytes, mib_per_s: .mib_per_s}' <<<"$out")"
    say "run $1: loopback copy $(jq -r .mib_per_s <<<"$out") MiB/s"
}

# ---- MooseFS ----------------------------------------------------------------

# mfs_bad all|regular: chunks under goal (missing + endangered + undergoal),
# counting all copies or only those on disks not marked for removal.
mfs_bad() {
    local mode=() label="all chunks matrix"
    [ "$1" = regular ] && { mode=(-m 1); label="regular chunks matrix"; }
    mfs_cli -SIC "${mode[@]}" | awk -F'\t' -v l="$label:" '
        $1 == l && $2 ~ /^chunkclass (missing|endangered|undergoal):$/ {s += $3; seen = 1}
        END {if (!seen) exit 1; print s + 0}'
}

# mfs_gone: the master has taken the killed server's chunks off its books.
mfs_gone_port=""
mfs_gone() {
    grep -q "port: $mfs_gone_port has been fully removed from data structures" "$work/mfs/master.log"
}

mfs_up() { # a fresh master and 4 chunkservers in $work/mfs (decision 1)
    mfs_start 4 "REPLICATIONS_DELAY_INIT = 0
CHUNKS_LOOP_MIN_TIME = 60
CHUNKS_LOOP_MAX_CPS = 10000000
CHUNKS_WRITE_REP_LIMIT = $mfs_rep,$mfs_rep,$mfs_rep,$mfs_rep
CHUNKS_READ_REP_LIMIT = $mfs_rep,$mfs_rep,$mfs_rep,$mfs_rep"
}

# Mount, goal 2, trash 0, write the files, sync, unmount: one `ip netns exec`
# (decision 5).
mfs_helper "$work/mfs_write.sh" "mfs_write.sh MNT IP PIDFILE BLOB N" <<'EOF'
blob=$1 n=$2
for ((i = 1; i <= n && status == 0; i++)); do
    cp "$blob" "$mnt/f$i" || status=1
done
sync
EOF

mfs_fill() {
    local m="$work/mfs" bad
    timeout 1800 ip netns exec "$ns" bash "$work/mfs_write.sh" "$m/mnt" "$mfs_ip" "$m/mount.pid" \
        "$work/blob" "$nfiles" || die "writing $data into MooseFS failed; see $m/mount.log"
    # Wait until every chunk has its 2 copies (they are written in a chain).
    for ((i = 0; i < 600; i++)); do
        bad=$(mfs_bad all 2>/dev/null || echo x)
        [ "$bad" = 0 ] && return 0
        sleep 0.1
    done
    die "MooseFS: chunks still under goal 60 s after writing (mfscli -SIC)"
}

# mfs_target: the chunkserver index holding the most bytes, and the bytes.
mfs_target() {
    local i b best=0 bi=1
    for i in 1 2 3 4; do
        b=$(du -sb "$work/mfs/cs$i/hdd" | cut -f1)
        ((b > best)) && { best=$b; bi=$i; }
    done
    echo "$bi $best"
}

# wait_count FUNC ARG... : polls FUNC (prints a number) until the master has
# noticed the event (FUNC printed more than 0, or $notice_fn succeeds) and
# then FUNC prints 0. Sets t_seen, t_done (epoch seconds).
t_seen=""
t_done=""
notice_fn=""
wait_count() {
    local v deadline seen=0
    deadline=$(awk -v n="$(now)" -v w="$wait_s" 'BEGIN {printf "%.6f", n + w}')
    t_seen=""
    t_done=""
    while :; do
        if [ "$seen" = 0 ] && [ -n "$notice_fn" ] && "$notice_fn"; then
            seen=1
            t_seen=$(now)
        fi
        v=$("$@" 2>/dev/null) || v=""
        if [[ "$v" =~ ^[0-9]+$ ]]; then
            if ((v > 0)) && [ "$seen" = 0 ]; then seen=1; t_seen=$(now); fi
            if ((v == 0)) && [ "$seen" = 1 ]; then t_done=$(now); return 0; fi
        fi
        awk -v n="$(now)" -v d="$deadline" 'BEGIN {exit !(n > d)}' && return 1
        sleep "$poll"
    done
}

mfs_run() { # mfs_run RUN PHASE
    local r=$1 phase=$2 tgt bytes t0 m="$work/mfs" secs
    mfs_up
    mfs_fill
    read -r tgt bytes <<<"$(mfs_target)"
    drop_caches
    if [ "$phase" = kill ]; then
        t0=$(now)
        kill -KILL "${mfs_pids[$tgt]}"
        wait "${mfs_pids[$tgt]}" 2>/dev/null || true
        mfs_pids[tgt]=""
        # Its chunks can be copied again between two polls (no fsync, 8 KiB
        # headers): the master's log line that it finished counting the lost
        # server's chunks is the notice (decision 4).
        mfs_gone_port=$((9521 + tgt))
        notice_fn=mfs_gone
        wait_count mfs_bad all ||
            die "MooseFS run $r: redundancy not back ${wait_s} s after killing cs$tgt (mfscli -SIC; logs in $m)"
        notice_fn=""
    else
        echo "*$m/cs$tgt/hdd" >"$m/cs$tgt/mfshdd.cfg"
        t0=$(now)
        ip netns exec "$ns" mfschunkserver -c "$m/cs$tgt/mfschunkserver.cfg" reload >/dev/null 2>&1 ||
            die "mfschunkserver reload of cs$tgt failed"
        wait_count mfs_bad regular ||
            die "MooseFS run $r: disk of cs$tgt not drained in ${wait_s} s (mfscli -SHD; logs in $m)"
        mfs_cli -SHD | grep -F "cs$tgt/hdd" | cut -f4 >"$work/logs/mfs-$r-drain-status" || true
    fi
    secs=$(elapsed "$t0" "$t_done")
    record "$(jq -nc --argjson r "$r" --arg p "$phase" --argjson s "$secs" --argjson b "$bytes" \
        --argjson d "$(elapsed "$t0" "$t_seen")" --arg t "cs$tgt" \
        '{side: "moosefs", phase: $p, run: $r, target: $t, seconds: $s, bytes: $b,
          noticed_s: $d, mib_per_s: ($b / 1048576 / $s)}')"
    say "run $r: MooseFS $phase of cs$tgt ($((bytes >> 20)) MiB): $secs s"
    cp "$m/master.log" "$work/logs/mfs-$r-$phase-master.log" 2>/dev/null || true
    mfs_stop
}

# ---- Cairn ------------------------------------------------------------------

cairn_cli() { nice -n 19 timeout 30 "$build/bin/cairn" -m "127.0.0.1:$((cairn_port + 1))" --json "$@"; }

cairn_bad() {
    cairn_cli status | jq -e '.chunks | .undergoal + .endangered + .lost'
}

# cairn_disk_parts SERVER: parts on that server's first disk (fails when the
# master does not report "parts" per disk).
cairn_disk_parts() {
    cairn_cli disks | jq -e --arg s "$1" '[.disks[] | select(.server == $s)][0].parts'
}

cairn_start() {
    local opts="CS_TIMEOUT_MS=2s;CS_GRACE_MS=0s;HEALTH_START_MS=0s;REPAIR_RATE_MBPS=0"
    [ -n "$user_master_opts" ] && opts+=";$user_master_opts"
    cairn_dir="$work/cairn"
    rm -rf "$cairn_dir"
    CAIRN_LOCAL_MASTER_OPTS="$opts" "$build/bin/cairn-local" up --dir "$cairn_dir" \
        --chunkservers 4 --copies 2 --disk-size 4G --base-port "$cairn_port" >&2 ||
        die "cairn-local up failed (--dir $cairn_dir; master options $opts)"
    mountpoint -q "$cairn_dir/mnt" || die "cairn-local up returned but $cairn_dir/mnt is not mounted"
}

cairn_fill() {
    local i bad
    for ((i = 1; i <= nfiles; i++)); do
        timeout 600 cp "$work/blob" "$cairn_dir/mnt/f$i" || die "writing $cairn_dir/mnt/f$i failed"
    done
    sync
    for ((i = 0; i < 600; i++)); do
        bad=$(cairn_bad 2>/dev/null || echo x)
        [ "$bad" = 0 ] && return 0
        sleep 0.1
    done
    die "Cairn: chunks still under goal 60 s after writing (cairn status)"
}

# cairn_target: name, parts and bytes used of the online server holding most.
cairn_target() {
    cairn_cli servers | jq -r '[.servers[] | select(.state == "online")
        | {n: .name, p: .parts, b: ([.disks[].used] | add)}] | max_by(.b) | "\(.n) \(.p) \(.b)"'
}

cairn_copied() { cairn_cli status | jq -r '.health.bytes_copied // empty' 2>/dev/null || true; }

cairn_run() { # cairn_run RUN PHASE
    local r=$1 phase=$2 name parts bytes t0 secs c0 c1 copied=null
    cairn_start
    cairn_fill
    read -r name parts bytes <<<"$(cairn_target)"
    [ -n "$bytes" ] && [ "$bytes" != null ] || die "cairn servers --json: no server with disks"
    c0=$(cairn_copied)
    drop_caches
    if [ "$phase" = kill ]; then
        t0=$(now)
        "$build/bin/cairn-local" kill --dir "$cairn_dir" "$name" >&2 || die "cairn-local kill $name failed"
        wait_count cairn_bad ||
            die "Cairn run $r: redundancy not back ${wait_s} s after killing $name (cairn status; logs in $cairn_dir)"
    else
        cairn_disk_parts "$name" >/dev/null ||
            die "Cairn: \`cairn disks --json\` has no \"parts\" per disk; the drain cannot be timed"
        t0=$(now)
        nice -n 19 "$build/bin/cairn" -m "127.0.0.1:$((cairn_port + 1))" disk remove "$name:0" >&2 ||
            die "cairn disk remove $name:0 failed"
        # parts goes from N to 0: it is never 0 before the drain is done.
        t_seen=$t0
        wait_parts() { local p; p=$(cairn_disk_parts "$1") || return 1; [ "$p" = 0 ] && echo 0 || echo 1; }
        wait_count wait_parts "$name" ||
            die "Cairn run $r: disk 0 of $name not drained in ${wait_s} s (cairn disks; logs in $cairn_dir)"
        t_seen=$t0
    fi
    secs=$(elapsed "$t0" "$t_done")
    c1=$(cairn_copied)
    [ -n "$c0" ] && [ -n "$c1" ] && copied=$((c1 - c0))
    record "$(jq -nc --argjson r "$r" --arg p "$phase" --argjson s "$secs" --argjson b "$bytes" \
        --argjson d "$(elapsed "$t0" "$t_seen")" --arg t "$name" --argjson parts "$parts" \
        --argjson c "$copied" \
        '{side: "cairn", phase: $p, run: $r, target: $t, seconds: $s, bytes: $b, parts: $parts,
          bytes_copied: $c, noticed_s: $d, mib_per_s: ($b / 1048576 / $s)}')"
    say "run $r: Cairn $phase of $name ($((bytes >> 20)) MiB, $parts parts): $secs s"
    cairn_keep_logs "run$r-$phase"
    cairn_stop --purge
}

# ---- runs -------------------------------------------------------------------

if [ "$do_mfs" = 1 ]; then mfs_ns_up; fi
mfs_version=$(dpkg-query -W -f='${Version}' moosefs-master 2>/dev/null || echo "not installed")
say "work folder $work; $nfiles files of 64 MiB per cluster; phases $phases; $runs run(s)"

for ((r = 1; r <= runs; r++)); do
    reference_run "$r"
    if ((r % 2 == 1)); then order="cairn moosefs"; else order="moosefs cairn"; fi
    for side in $order; do
        for p in ${phases//,/ }; do
            if [ "$side" = cairn ] && [ "$do_cairn" = 1 ]; then
                # A Cairn failure (e.g. a feature not landed yet) stops the
                # Cairn side only: the MooseFS and reference figures still come.
                if ! (
                    fail_note="$work/results/cairn_error"
                    trap 'cairn_keep_logs failed-run$r-$p; cairn_stop --purge' EXIT
                    cairn_run "$r" "$p"
                ); then
                    cairn_error=$(tail -n 1 "$work/results/cairn_error" 2>/dev/null || echo "see above")
                    say "Cairn side stopped after run $r $p: $cairn_error"
                    do_cairn=0
                    cairn_failed=1
                fi
            elif [ "$side" = moosefs ] && [ "$do_mfs" = 1 ]; then
                mfs_run "$r" "$p"
            fi
        done
    done
done

# ---- report -----------------------------------------------------------------

summary=$(jq -s --arg cmd "$cmdline" --arg mfs "$mfs_version" --argjson fsync "$mfs_fsync" \
    --argjson rep "$mfs_rep" --arg copts "CS_TIMEOUT_MS=2s;CS_GRACE_MS=0s;HEALTH_START_MS=0s;REPAIR_RATE_MBPS=0${user_master_opts:+;$user_master_opts}" \
    --argjson poll "$poll" --argjson data "$data_b" --arg cerr "$cairn_error" '
    def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def pick(s; p): [.[] | select(.side == s and .phase == p)];
    def stats(s; p): pick(s; p) | if length == 0 then null else {
        seconds: ([.[].seconds] | median), mib_per_s: ([.[].mib_per_s] | median),
        mib: ([.[].bytes / 1048576] | median), runs: map({seconds, mib_per_s, target, bytes,
        noticed_s} + (if .parts then {parts, bytes_copied} else {} end))} end;
    . as $all
    | {command: $cmd, data_bytes: $data, poll_s: $poll,
       moosefs: {version: $mfs, hdd_fsync_before_close: $fsync,
                 settings: "REPLICATIONS_DELAY_INIT=0 CHUNKS_LOOP_MIN_TIME=60 CHUNKS_LOOP_MAX_CPS=10000000 CHUNKS_WRITE_REP_LIMIT=\($rep),\($rep),\($rep),\($rep) CHUNKS_READ_REP_LIMIT=\($rep),\($rep),\($rep),\($rep)"},
       cairn: {master_opts: $copts, error: (if $cerr == "" then null else $cerr end)},
       reference: ($all | pick("reference"; "loopcopy") | {mib_per_s: ([.[].mib_per_s] | median),
                   runs: [.[].mib_per_s]}),
       kill: {cairn: ($all | stats("cairn"; "kill")), moosefs: ($all | stats("moosefs"; "kill"))},
       drain: {cairn: ($all | stats("cairn"; "drain")), moosefs: ($all | stats("moosefs"; "drain"))}}
    | .ratios = {
        kill_time_cairn_over_moosefs: (if .kill.cairn and .kill.moosefs then .kill.cairn.seconds / .kill.moosefs.seconds else null end),
        drain_time_cairn_over_moosefs: (if .drain.cairn and .drain.moosefs then .drain.cairn.seconds / .drain.moosefs.seconds else null end),
        repair_cairn_over_reference: (if .kill.cairn then .kill.cairn.mib_per_s / .reference.mib_per_s else null end),
        repair_moosefs_over_reference: (if .kill.moosefs then .kill.moosefs.mib_per_s / .reference.mib_per_s else null end)}
    ' "$records")
echo "$summary" >"$work/results/summary.json"
echo "$summary"

f1() { jq -r "$1 | if . == null then \"pending\" else (. * 10 | round / 10 | tostring) end" <<<"$summary"; }
f2() { jq -r "$1 | if . == null then \"pending\" else (. * 100 | round / 100 | tostring) end" <<<"$summary"; }
runs_of() { jq -r "$1 | if . == null then \"\" else [.runs[].seconds | . * 10 | round / 10 | tostring] | join(\", \") end" <<<"$summary"; }
verdict() { # verdict VALUE OP TARGET
    [ "$1" = pending ] && return 0
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {ok = (op == "le") ? v <= t : v >= t; printf " %s", ok ? "met" : "missed"}'
}

echo
# The commit at report time; the binaries may be older (or rebuilt by someone
# else during the run, in a shared build folder): their times say which.
echo "**Command** ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown);" \
    "cairn-master built $(date -u -r "$build/bin/cairn-master" '+%H:%M UTC' 2>/dev/null || echo '?')," \
    "cairn-chunkserver $(date -u -r "$build/bin/cairn-chunkserver" '+%H:%M UTC' 2>/dev/null || echo '?')):"
echo
echo "    $cmdline"
echo
echo "$(machine)" \
    "$((data_b >> 20)) MiB written per cluster (4 servers, 2 copies); medians of $runs run(s); poll every $poll s." \
    "MooseFS $mfs_version, chunk fsync $([ "$mfs_fsync" = 1 ] && echo on || echo 'off (its default)')," \
    "rep limits $mfs_rep,$mfs_rep,$mfs_rep,$mfs_rep." \
    "Loopback copy (loopcopy, fdatasync per 64 MiB): $(f1 .reference.mib_per_s) MiB/s" \
    "(runs: $(jq -r '.reference.runs | map(. * 10 | round / 10 | tostring) | join(", ")' <<<"$summary"))."
echo
echo "| measurement | Cairn s | MooseFS s | Cairn/MooseFS time | target | Cairn MiB/s | MooseFS MiB/s | MiB held (C / M) | Cairn runs s | MooseFS runs s |"
echo "|---|---:|---:|---:|---|---:|---:|---|---|---|"
for p in ${phases//,/ }; do
    rt=$(f2 ".ratios.${p}_time_cairn_over_moosefs")
    echo "| $p | $(f1 ".$p.cairn.seconds") | $(f1 ".$p.moosefs.seconds") | **$rt** | ≤ 1.0$(verdict "$rt" le 1.0) |" \
        "$(f1 ".$p.cairn.mib_per_s") | $(f1 ".$p.moosefs.mib_per_s") | $(f1 ".$p.cairn.mib") / $(f1 ".$p.moosefs.mib") |" \
        "$(runs_of ".$p.cairn") | $(runs_of ".$p.moosefs") |"
done
[ "$cairn_failed" = 1 ] && { echo; echo "Cairn side stopped: $cairn_error"; }
if [[ ",$phases," == *,kill,* ]]; then
    rr=$(f2 .ratios.repair_cairn_over_reference)
    echo
    echo "Repair bandwidth ÷ loopback copy: Cairn **$rr** (target ≥ 0.5$(verdict "$rr" ge 0.5)), MooseFS $(f2 .ratios.repair_moosefs_over_reference)."
fi
