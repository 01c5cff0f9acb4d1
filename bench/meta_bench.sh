#!/usr/bin/env bash
# meta_bench.sh - the issue-8 metadata benchmark: empty files by the million
# through libcairn, the master's memory and disk, metalogger lag under the
# create load, and the time to promote a metalogger (bench/RESULTS.md
# "Metadata at 1 M and 10 M files (issue 8)").
#
# usage: nice -n 10 bash bench/meta_bench.sh [--build DIR] [--work DIR]
#            [--runs R] [--files N] [--large M] [--stat-large K]
#            [--threads T] [--conns C] [--base-port P]
#        bash bench/meta_bench.sh --table RESULTS.jsonl [--files N] [--large M]
#
#  - one large run first (--large M, default 10,000,000; 0 skips it): a
#    fresh cluster, N files, measure, then up to M files, measure, stat K of
#    them (--stat-large, default all M) drawn at random, promote. One run: it
#    takes most of an hour on a 2-CPU machine.
#  - then R runs (default 3), each on a fresh `cairn-local up --no-mount
#    --chunkservers 1` cluster with the master's default settings: create N
#    files (default 1,000,000) in 1,000 directories with bench meta_bench,
#    stat them all in random order, then kill the master and promote ml1.
#  - At each point: creates/s, stats/s, the master's VmRSS and VmHWM, du of
#    its DATA_PATH. During each create phase, once a second: `cairn status
#    --json` (seq, metalogger seq and lag) and the master's VmRSS. Promotion:
#    seconds of `cairn-local promote` after `cairn-local kill master`, and
#    seconds until a client that was connected before the kill (meta_bench
#    probe) gets a lookup answered again, both from the start of promote.
#  - --table FILE prints the table of an earlier run's results.jsonl only.
#
# Decisions a reader must know:
#  1. Binaries are copied to WORK/bin first (cairn-local finds the daemons
#     next to itself), so a rebuild of the build tree during the hour-long run
#     changes nothing under it.
#  2. Everything it starts is stopped at exit (cairn-local down --purge from a
#     trap); WORK keeps the JSON of every phase, the samples and the master
#     logs, and the table is printed again from them at the end.
#  3. The median of R runs is what is reported for 1 M; the machine is shared
#     and noisy, every run's figure is kept in WORK/results.jsonl.
# shellcheck disable=SC2155
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
work=/tmp/meta_bench.$$
runs=3
files=1000000
large=10000000
stat_large=0
threads=64
conns=1
port=19420
table_only=""

say() { echo "meta_bench.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --large) large=$2; shift 2 ;;
    --stat-large) stat_large=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --base-port) port=$2; shift 2 ;;
    --table) table_only=$2; shift 2 ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[ "$stat_large" = 0 ] && stat_large=$large
[ "$large" = 0 ] || [ "$large" -gt "$files" ] || die "--large $large must exceed --files $files"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"

# ---- binaries and work folder ---------------------------------------------------

bin=$work/bin
results=$work/results.jsonl
if [ -n "$table_only" ]; then
    [ -f "$table_only" ] || die "--table $table_only: no such file"
    results=$table_only
else
    mkdir -p "$bin" "$work/logs"
    for f in cairn cairn-local cairn-master cairn-chunkserver cairn-metalogger cairn-disk; do
        [ -x "$build/bin/$f" ] || die "$build/bin/$f missing: run 'make build' first"
        cp "$build/bin/$f" "$bin/"
    done
    [ -x "$build/bench/meta_bench" ] || die "$build/bench/meta_bench missing: run 'make build' first"
    cp "$build/bench/meta_bench" "$bin/"
    : >"$results"
    avail_kb=$(df -Pk "$work" | awk 'NR==2 {print $4}')
    [ "$avail_kb" -gt $((8 << 20)) ] || say "warning: only $((avail_kb >> 20)) GiB free under $work"
fi

# ---- cluster --------------------------------------------------------------------

dir=""  # the running cluster's folder, empty when none runs
addr=""
mpid=""
sampler_pid=""

cleanup() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    if [ -n "$dir" ]; then
        cp "$dir/master/log" "$work/logs/$(basename "$dir").master.log" 2>/dev/null || true
        "$bin/cairn-local" down --dir "$dir" --purge >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

port_free() { ! ss -ltnH | awk '{print $4}' | grep -qE ":($1|$(($1 + 1))|$(($1 + 2)))\$"; }

# cluster_up NAME: a fresh cluster in WORK/NAME with the master's defaults.
cluster_up() {
    while ! port_free "$port"; do port=$((port + 10)); done
    dir=$work/$1
    addr=127.0.0.1:$((port + 1))
    "$bin/cairn-local" up --dir "$dir" --no-mount --chunkservers 1 --disk-size 256M \
        --base-port "$port" >"$work/logs/$1.up" 2>&1 ||
        die "cairn-local up failed: $(tail -n 3 "$work/logs/$1.up")"
    mpid=$(cat "$dir/run/master.pid")
}

cluster_down() {
    local name=$(basename "$dir")
    cp "$dir/master/log" "$work/logs/$name.master.log"
    "$bin/cairn-local" down --dir "$dir" --purge >/dev/null
    dir=""
}

# ---- measurements ---------------------------------------------------------------

proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
data_bytes() { du -sb "$(awk -F' *= *' '$1 == "DATA_PATH" {print $2}' "$dir/master/master.cfg")" | cut -f1; }

# sampler OUT: one JSON line a second: time, master VmRSS, status seq and lag.
sampler() {
    local st rss
    while :; do
        rss=$(proc_kb "$mpid" VmRSS || echo null)
        st=$("$bin/cairn" -m "$addr" status --json 2>/dev/null |
            jq -c '{seq, ml: [.metaloggers[] | {seq, lag_entries, lag_seconds}]}' 2>/dev/null) || st=null
        echo "{\"t\":$(date +%s.%N),\"rss_kb\":${rss:-null},\"st\":${st:-null}}"
        sleep 1 # the sampling period, not a wait for a condition
    done >"$1"
}

# lag_summary FILE: {"samples", "median_s", "max_s", "checkpoint"} of ml1's
# lag_seconds; a -1 (ml1 fell behind the retained changelog) counts apart.
lag_summary() {
    jq -s -c '[.[] | .st.ml[0]? // empty] as $m |
        ($m | map(.lag_seconds | select(. >= 0)) | sort) as $l |
        {samples: ($l | length), median_s: (if ($l | length) > 0 then $l[($l | length) / 2 | floor] else null end),
         max_s: ($l | max), checkpoint: ($m | map(select(.lag_seconds < 0)) | length),
         max_entries: ($m | map(.lag_entries) | max)}' "$1"
}

# point RUN KIND FILES: after `create RUN FROM FILES`, one result line with
# its rate, the master's memory and disk now, and the lag during the phase.
point() {
    local run=$1 kind=$2 n=$3 tag=$work/logs/$1-$3
    local rss=$(proc_kb "$mpid" VmRSS) hwm=$(proc_kb "$mpid" VmHWM) du=$(data_bytes)
    local peak=$(jq -s '[.[] | .rss_kb // empty] | max' "$tag.samples")
    jq -c --argjson lag "$(lag_summary "$tag.samples")" --arg run "$run" --arg kind "$kind" \
        --argjson n "$n" --argjson rss "$rss" --argjson hwm "$hwm" --argjson du "$du" \
        --argjson peak "${peak:-null}" \
        '{run: $run, kind: $kind, files: $n, create_per_s: .per_s, create_s: .seconds,
          create_last_window_per_s: .window_per_s[-1], rss_kb: $rss, hwm_kb: $hwm,
          rss_peak_sampled_kb: $peak, data_bytes: $du, lag: $lag}' "$tag.create.json" >>"$results"
    say "$run: $n files: $(tail -n1 "$results")"
}

# create RUN FROM TO: creates files [FROM, TO) while sampling into
# WORK/logs/RUN-TO.samples; the driver's JSON goes to WORK/logs/RUN-TO.create.json.
create() {
    local tag=$work/logs/$1-$3
    sampler "$tag.samples" &
    sampler_pid=$!
    "$bin/meta_bench" create -m "$addr" --from "$2" --to "$3" --threads "$threads" \
        --conns "$conns" --json >"$tag.create.json" 2>"$tag.create.err" || {
        tail -n 3 "$tag.create.err" >&2
        die "$1: create [$2, $3) failed"
    }
    kill "$sampler_pid"
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""
}

# stat_all RUN COUNT [SAMPLE]: stats SAMPLE (default all) of files [0, COUNT)
# in random order (seed from the run's name).
stat_all() {
    local sj seed=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
    sj=$("$bin/meta_bench" stat -m "$addr" --count "$2" --sample "${3:-$2}" --seed "$seed" \
        --threads "$threads" --conns "$conns" --json 2>"$work/logs/$1-$2.stat.err") || {
        tail -n 3 "$work/logs/$1-$2.stat.err" >&2
        die "$1: stat of $2 files failed"
    }
    jq -c --arg run "$1" '{run: $run, kind: "stat", files: .of, stated: .files,
        stat_per_s: .per_s, stat_s: .seconds}' <<<"$sj" >>"$results"
    say "$1: $(tail -n1 "$results")"
}

# promote RUN FILES: kill the master, promote ml1, time it and the first
# answered lookup of a client connected before the kill.
promote() {
    local line t0 t1 pj pin pout ppid fifo=$work/logs/$1.probe
    rm -f "$fifo.in" "$fifo.out"
    mkfifo "$fifo.in" "$fifo.out"
    "$bin/meta_bench" probe -m "$addr" <"$fifo.in" >"$fifo.out" 2>"$fifo.err" &
    ppid=$!
    exec {pout}>"$fifo.in" {pin}<"$fifo.out"
    if ! read -r -t 60 line <&"$pin" || [ "$line" != ready ]; then
        die "$1: probe did not start: $(tail -n 2 "$fifo.err")"
    fi
    "$bin/cairn-local" kill --dir "$dir" master >/dev/null
    t0=$(date +%s%N)
    echo go >&"$pout"
    "$bin/cairn-local" promote --dir "$dir" ml1 >"$work/logs/$1.promote" 2>&1 ||
        die "$1: promote failed: $(tail -n 3 "$work/logs/$1.promote")"
    t1=$(date +%s%N)
    read -r -t 300 pj <&"$pin" || die "$1: probe got no answer within 300 s"
    exec {pout}>&- {pin}<&-
    wait "$ppid" || die "$1: probe failed: $(tail -n 2 "$fifo.err")"
    rm -f "$fifo.in" "$fifo.out"
    mpid=$(cat "$dir/run/master.pid")
    jq -c --arg run "$1" --argjson n "$2" --argjson t0 "$t0" --argjson t1 "$t1" \
        '{run: $run, kind: "promote", files: $n, promote_s: (($t1 - $t0) / 1e9),
          stat_back_s: ((.ok_wall_ns - $t0) / 1e9), probe_tries: .tries}' <<<"$pj" >>"$results"
    say "$1: $(tail -n1 "$results")"
}

# ---- runs -----------------------------------------------------------------------

if [ -z "$table_only" ]; then
    say "work folder $work; one run to $large files (0: none), then $runs runs of $files; $threads threads, $conns conns"
    # The large run first: it is the long one, and the runs of N after it
    # can be cut short (their medians are then over fewer runs).
    if [ "$large" != 0 ]; then
        cluster_up large
        create large 0 "$files"
        point large small "$files"
        stat_all large-small "$files"
        create large "$files" "$large"
        point large large "$large"
        stat_all large "$large" "$stat_large"
        promote large "$large"
        cluster_down
    fi
    for r in $(seq 1 "$runs"); do
        cluster_up "run$r"
        create "run$r" 0 "$files"
        point "run$r" small "$files"
        stat_all "run$r" "$files"
        promote "run$r" "$files"
        cluster_down
    done
fi

# ---- table ----------------------------------------------------------------------

jq -s -r --argjson n "$files" --argjson m "$large" '
  def med: sort | if length == 0 then null else .[(length / 2 | floor)] end;
  def f(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
  def mib: if . == null then null else . / 1024 end;
  def at(k; files; pick): [.[] | select(.kind == k and .files == files) | pick];
  (map(select(.run | startswith("run")))) as $r | (map(select(.run | startswith("large")))) as $l |
  def count_name(x): if x % 1000000 == 0 then "\(x / 1000000) M" elif x % 1000 == 0 then "\(x / 1000) k" else "\(x)" end;
  ["| metric | \(count_name($n)) files, median (runs) | \(count_name($m)) files, one run |", "|---|---:|---:|",
   "| creates/s | \($r | at("small"; $n; .create_per_s) | med | f(0)) (\($r | at("small"; $n; .create_per_s | f(0)) | join(", "))) | \($l | at("large"; $m; .create_per_s) | .[0] | f(0)) (last tenth \($l | at("large"; $m; .create_last_window_per_s) | .[0] | f(0))) |",
   "| stats/s, random order | \($r | at("stat"; $n; .stat_per_s) | med | f(0)) (\($r | at("stat"; $n; .stat_per_s | f(0)) | join(", "))) | \($l | map(select(.kind == "stat" and .run == "large")) | .[0].stat_per_s | f(0)) |",
   "| master VmRSS MiB | \($r | at("small"; $n; .rss_kb | mib) | med | f(1)) | \($l | at("large"; $m; .rss_kb | mib) | .[0] | f(1)) |",
   "| master VmHWM MiB | \($r | at("small"; $n; .hwm_kb | mib) | med | f(1)) | \($l | at("large"; $m; .hwm_kb | mib) | .[0] | f(1)) |",
   "| DATA_PATH on disk MiB | \($r | at("small"; $n; .data_bytes / 1048576) | med | f(1)) | \($l | at("large"; $m; .data_bytes / 1048576) | .[0] | f(1)) |",
   "| ml1 lag s, median of samples | \($r | at("small"; $n; .lag.median_s) | med | f(3)) | \($l | at("large"; $m; .lag.median_s) | .[0] | f(3)) |",
   "| ml1 lag s, max of samples | \($r | at("small"; $n; .lag.max_s) | med | f(3)) (\($r | at("small"; $n; .lag.max_s | f(3)) | join(", "))) | \($l | at("large"; $m; .lag.max_s) | .[0] | f(3)) |",
   "| promote s | \($r | at("promote"; $n; .promote_s) | med | f(2)) (\($r | at("promote"; $n; .promote_s | f(2)) | join(", "))) | \($l | at("promote"; $m; .promote_s) | .[0] | f(2)) |",
   "| first lookup answered s after promote began | \($r | at("promote"; $n; .stat_back_s) | med | f(2)) | \($l | at("promote"; $m; .stat_back_s) | .[0] | f(2)) |"] | .[]
' "$results"
[ -n "$table_only" ] || say "every figure: $results; logs and samples: $work/logs"
