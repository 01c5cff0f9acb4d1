#!/usr/bin/env bash
# ec_bench.sh - erasure-coded files through the mount against two copies,
# same cluster, same run (issue 7; bench/RESULTS.md "Erasure coding").
#
#   bash bench/ec_bench.sh [BUILD_DIR] [--runs N] [--size MIB] [--disk-size SIZE]
#
# BUILD_DIR defaults to `build` (binaries in BUILD_DIR/bin), --runs to 3,
# --size to 2048 (MiB per file), --disk-size to 8G (one sparse disk file per
# chunkserver). One cairn-local cluster of 11 chunkservers on 127.0.0.1
# (ec=8+3 needs 11) with three classes, one directory each: c2 (copies=2),
# e42 (ec=4+2), e83 (ec=8+3). Per run and class, in that order:
#   write     `dd bs=1M conv=fsync` of a SIZE MiB random file into the
#             class's directory, timed until dd returns (durable); MB/s;
#   space     disk bytes / file bytes: the sum of "used" of every disk
#             (`cairn --json disks`) after minus before the write, against
#             (K+M)/K (2 for copies=2);
#   read      drop_caches, `dd bs=1M` of the file to /dev/null, timed; MB/s;
#             then `cmp` with the source (not timed);
#   degraded  e42 only: SIGKILL the server of part 0 of chunk 0, drop_caches,
#             read the file again, timed, and `cmp` it; restart the server;
#   regain    e42 and c2: SIGKILL the server of part 0 (a copy) of chunk 0;
#             time until `cairn status --json` counts every chunk of the
#             class ok again (polled every 0.2 s, 10 min at most); restart it;
#   and the file is deleted before the next class. Each run's figures go to
#   stderr as they come; the end prints markdown tables for RESULTS.md on
#   stdout (every run, medians, the ratios of the issue against their
#   targets) and every raw figure goes to WORK/results.jsonl (kept, its path
#   is printed; WORK is a new folder ${TMPDIR:-/tmp}/cairn-ec-bench.XXXXXX
#   that also holds the cluster while it runs). Needs root (FUSE,
#   drop_caches); everything it starts is stopped on exit, failure or
#   Ctrl-C (`cairn-local down --purge`).
#
# Decisions a reader must know:
#  1. Master timers as in the heal suites (tests/integration/mount_lib.sh
#     heal_env): a SIGKILLed server's connection drops at once, it is lost
#     CS_GRACE_MS = 3 s later and repair starts with the next health pass
#     (HEALTH_PERIOD_MS = 200 ms). The regain times include those ~3 s, for
#     both layouts alike. REPAIR_RATE_MBPS stays 0 (unlimited).
#     REBALANCE_RATE_MBPS = 0: a restarted server comes back emptier (its
#     extra parts are deleted) and rebalancing would move parts during the
#     next measurement.
#  2. The degraded read runs with CS_GRACE_MS = 1h (master.cfg edited and
#     reloaded with SIGHUP, then set back): the killed server stays
#     "unreachable", its parts are not handed to readers and nothing is
#     rebuilt, so every chunk with a data part there is read degraded and no
#     repair traffic competes. With one server of 11 down that is about 4/11
#     of the chunks of an ec=4+2 file. The regain time is measured under a
#     kill of its own (cluster settled, 3 s grace), so e42's is not slowed by
#     a concurrent read and compares with c2's.
#  3. The source file lives in /dev/shm when it fits (else in WORK, with the
#     page cache dropped after generating it): reading it costs no disk I/O
#     during the write. Generated once, the same bytes for every file.
#  4. drop_caches before every timed read and every kill: the chunkservers
#     run on this machine, so their page cache would serve the read.
#  5. MB/s is 10^6 bytes per second of wall clock around dd. Disk "used" is
#     what the chunkservers report in their heartbeats (every 250 ms): read
#     once it is unchanged for 1 s. After every kill and restart the run
#     waits until the cluster settled (every server online, every chunk ok,
#     no repair, delete or copy pending) before the next step.
#  6. Ports: a random base in 20000..31999, below Linux's ephemeral range
#     (a restarted chunkserver must be able to bind its port again); `up`
#     is retried on another base when a port is taken.
#  7. One file at a time on the cluster (each is deleted after its class is
#     measured): the peak real space in WORK is about 2 x SIZE plus one
#     server's share being repaired. The disks are sparse files; the script
#     warns when the free space of WORK looks short.
set -euo pipefail

build=build
runs=3
size=2048
disk_size=8G
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs N}; shift 2 ;;
    --size) size=${2:?--size needs MIB}; shift 2 ;;
    --disk-size) disk_size=${2:?--disk-size needs SIZE}; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^# Decisions/ { exit } NR > 1' "$0"; exit 0 ;;
    -*) echo "ec_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done

say() { echo "ec_bench: $*" >&2; }
die() {
  say "$*"
  exit 1
}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { say "--runs $runs: want a positive integer"; exit 2; }
[[ $size =~ ^[1-9][0-9]*$ ]] || { say "--size $size: want MiB, a positive integer"; exit 2; }
[[ $disk_size =~ ^[1-9][0-9]*[KMGT]$ ]] || { say "--disk-size $disk_size: want e.g. 8G"; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (FUSE mount, /proc/sys/vm/drop_caches); run with sudo"
[ -c /dev/fuse ] || die "/dev/fuse missing: load the fuse module (modprobe fuse)"
for t in jq cmp awk timeout fusermount3; do
  command -v "$t" >/dev/null || die "$t not found (apt-get install jq diffutils gawk coreutils fuse3)"
done
[ -d "$build" ] || die "build directory $build not found (make build, or pass BUILD_DIR)"
build=$(cd "$build" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
local_sh="$build/bin/cairn-local"
cli="$build/bin/cairn"
for p in cairn-local cairn cairn-master cairn-chunkserver cairn-mount cairn-disk; do
  [ -x "$build/bin/$p" ] || die "$build/bin/$p missing (make build)"
done

nservers=11
classes=(c2 e42 e83)
declare -A layout=([c2]="copies=2" [e42]="ec=4+2" [e83]="ec=8+3")
declare -A expect=([c2]=2 [e42]=1.5 [e83]=1.375)
bytes=$((size * 1048576))
io_tmo=$((120 + size)) # seconds for one dd or cmp of the file: >= ~1 MiB/s

# size_bytes SIZE: N with K/M/G/T (powers of 1024), as cairn-local reads it.
size_bytes() {
  local n=${1%[KMGT]} m=1
  case ${1: -1} in
    K) m=1024 ;;
    M) m=$((1024 ** 2)) ;;
    G) m=$((1024 ** 3)) ;;
    T) m=$((1024 ** 4)) ;;
  esac
  echo $((n * m))
}
disk_bytes=$(size_bytes "$disk_size")
[ "$disk_bytes" -ge $((64 << 20)) ] || die "--disk-size $disk_size: cairn-local needs at least 64M"
# One server's share of the copies=2 file, twice over (segments not yet
# compacted, a repaired share) must fit on its disk.
[ "$disk_bytes" -ge $((bytes * 4 / nservers + (64 << 20))) ] ||
  die "--disk-size $disk_size is too small for --size $size on $nservers servers (want >= $(((bytes * 4 / nservers + (64 << 20)) >> 20))M)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-ec-bench.XXXXXX")
dir="$work/c"
mnt="$dir/mnt"
results="$work/results.jsonl"
src=""
fstype=$(df --output=fstype "$work" | tail -n 1)
[ "$fstype" != tmpfs ] || say "WARNING: $work is on tmpfs: the chunkservers' disks would live in RAM (set TMPDIR to a disk)"
avail=$(($(df -k --output=avail "$work" | tail -n 1) * 1024))
if [ "$avail" -lt $((bytes * 5 / 2 + (1 << 30))) ]; then
  say "WARNING: $((avail >> 20)) MiB free in $work; a copies=2 file of $size MiB with a repair needs about $(((bytes * 5 / 2 + (1 << 30)) >> 20)) MiB"
elif [ "$avail" -lt $((bytes * 11 * runs / 2)) ]; then
  say "WARNING: $((avail >> 20)) MiB free in $work; if deleted parts' space is not reused, $runs runs write up to $(((bytes * 11 * runs / 2) >> 20)) MiB"
fi

cleanup() {
  local rc=$? f
  set +e
  trap - EXIT INT TERM
  if [ -f "$dir/cluster.env" ]; then
    if [ "$rc" = 130 ] || [ "$rc" = 143 ]; then
      say "interrupted; stopping the cluster"
    elif [ "$rc" != 0 ]; then
      say "failed; last log lines:"
      tail -n 10 "$dir"/master/log "$dir"/cs*/log "$dir"/run/mount.log >&2 2>/dev/null
    fi
    # A mount that does not answer would make a graceful unmount wait.
    timeout 5 stat "$mnt" >/dev/null 2>&1 || umount -l "$mnt" 2>/dev/null
    timeout 90 "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1 ||
      say "cairn-local down --purge failed; killing what is left by its pids"
  fi
  # Whatever survived `down`, by the pids cairn-local recorded for us.
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] && kill -KILL "$(head -n 1 "$f")" 2>/dev/null
  done
  if grep -qF " $mnt " /proc/self/mounts 2>/dev/null; then
    timeout 10 fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
  fi
  rm -rf "$dir"
  [ -z "$src" ] || rm -f "$src"
  [ ! -s "$results" ] || say "raw figures: $results"
  [ -s "$results" ] || rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
# fcalc EXPR: EXPR evaluated by awk, 6 decimals.
fcalc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# T SECS CMD...: CMD bounded by timeout (killed 5 s after SECS if need be).
T() {
  local s=$1
  shift
  timeout -k 5 "$s" "$@"
}
C() { T 30 "$cli" -m "$maddr" "$@"; }
drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# ---- the cluster ------------------------------------------------------------

# Decision 1 (and 2 for CS_GRACE_MS, which grace() changes).
export CAIRN_LOCAL_MASTER_OPTS="TRASH_TIME=0;HEARTBEAT_MS=250ms;CS_TIMEOUT_MS=2s;CS_GRACE_MS=3s;HEALTH_PERIOD_MS=200ms;HEALTH_START_MS=1s;REBALANCE_RATE_MBPS=0"
export CAIRN_LOCAL_CS_OPTS="HEARTBEAT_MS=250"
export CAIRN_LOCAL_TIMEOUT=${CAIRN_LOCAL_TIMEOUT:-120}
for attempt in 1 2 3 4 5; do
  # Decision 6: base .. base+1+11 inside 20000..31999.
  base=$((20000 + (RANDOM * 32768 + RANDOM + $$ + attempt * 997) % 11980))
  say "cairn-local up: $nservers chunkservers, disks of $disk_size, base port $base"
  if out=$("$local_sh" up --dir "$dir" --base-port "$base" --chunkservers "$nservers" \
    --disk-size "$disk_size" --metaloggers 0 2>&1); then
    break
  fi
  echo "$out" | tail -n 20 >&2
  grep -Eq "in use|exited before it was ready|not mounted|did not start" <<<"$out" ||
    die "cairn-local up failed (above)"
  [ ! -f "$dir/cluster.env" ] || timeout 90 "$local_sh" down --dir "$dir" --purge >/dev/null 2>&1 || true
  rm -rf "$dir"
  [ "$attempt" != 5 ] || die "cairn-local up failed 5 times with ports in use"
done
maddr="127.0.0.1:$((base + 1))"
grep -qF " $mnt fuse" /proc/self/mounts || die "$mnt is not mounted after cairn-local up"
mlog="$dir/master/log"
mpid=$(head -n 1 "$dir/run/master.pid")

for c in "${classes[@]}"; do
  C class add "$c" --create "${layout[$c]}" >/dev/null || die "cairn class add $c --create ${layout[$c]} failed"
  mkdir "$mnt/$c"
  C class set "$mnt/$c" "$c" >/dev/null || die "cairn class set $mnt/$c $c failed"
done

# grace DURATION: the master's CS_GRACE_MS, reloaded (decision 2); returns
# once the master logged the reload.
grace() {
  local n i
  n=$(grep -c "configuration reloaded" "$mlog" || true)
  sed -i "s/^CS_GRACE_MS *=.*/CS_GRACE_MS = $1/" "$dir/master/master.cfg"
  grep -q "^CS_GRACE_MS = $1\$" "$dir/master/master.cfg" || die "could not set CS_GRACE_MS in $dir/master/master.cfg"
  kill -HUP "$mpid" || die "SIGHUP to the master (pid $mpid) failed"
  for ((i = 0; i < 100; i++)); do
    [ "$(grep -c "configuration reloaded" "$mlog" || true)" -gt "$n" ] && return 0
    sleep 0.1
  done
  die "the master did not log 'configuration reloaded' within 10 s of SIGHUP (CS_GRACE_MS = $1)"
}

# used: the sum of "used" over every disk, once unchanged for 1 s (15 s at
# most; then the last value, with a warning).
used() {
  local v last="" same=0 i
  for ((i = 0; i < 60; i++)); do
    v=$(C --json disks | jq '[.disks[].used] | add') || die "cairn --json disks failed"
    if [ "$v" = "$last" ]; then
      same=$((same + 1))
      [ "$same" -ge 4 ] && { echo "$v"; return 0; }
    else
      same=0
      last=$v
    fi
    sleep 0.25
  done
  say "WARNING: disk use still changing after 15 s; taking $last"
  echo "$last"
}

# class_state CLASS: "CHUNKS OK" of CLASS in `cairn status` (0 0 before it
# has chunks).
class_state() {
  C --json status | jq -r --arg c "$1" \
    '([.classes[]? | select(.name == $c)][0] // {chunks: 0, ok: 0}) | "\(.chunks) \(.ok)"'
}

# settled: every server online, every chunk ok and nothing queued or running.
settled() {
  C --json status | jq -e --argjson n "$nservers" '
    ([.servers[] | select(.state == "online")] | length) == $n and
    (.chunks.undergoal + .chunks.endangered + .chunks.lost + .chunks.overgoal) == 0 and
    all(.classes[]?; .ok == .chunks) and
    .health.repair_queue == 0 and .health.delete_queue == 0 and .health.inflight == 0' >/dev/null
}

# settle WHAT: waits (5 min at most) until settled() held on 3 polls in a row.
settle() {
  local i ok=0
  for ((i = 0; i < 1200; i++)); do
    if settled; then
      ok=$((ok + 1))
      [ "$ok" -ge 3 ] && return 0
    else
      ok=0
    fi
    sleep 0.25
  done
  C status >&2 || true
  die "the cluster did not settle within 5 min after $1 (status above)"
}

# server_of FILE: the server of part 0 of chunk 0 of FILE (a copy, for copies=N).
server_of() {
  C --json info "$1" | jq -r '[.chunks[0].parts[] | select(.part == 0 and .current)][0].server // empty'
}

# regain CLASS FILE: SIGKILL the server of part 0 of chunk 0, seconds until
# every chunk of CLASS is ok again (from the kill, first poll that shows it);
# the server is started again and the cluster settles. Sets regain_s, victim.
regain() {
  local c=$1 f=$2 t0 t1 chunks ok i st deadline seen=0
  victim=$(server_of "$f")
  [ -n "$victim" ] || die "cairn info: no part 0 of chunk 0 for $f"
  drop_caches
  t0=$(now)
  "$local_sh" kill --dir "$dir" "$victim" >/dev/null || die "cairn-local kill $victim failed"
  # The master must first notice (not ok), then repair (ok again).
  for ((i = 0; i < 150; i++)); do
    st=$(class_state "$c") && read -r chunks ok <<<"$st" && [ "$ok" -lt "$chunks" ] && { seen=1; break; }
    sleep 0.2
  done
  [ "$seen" = 1 ] || die "30 s after killing $victim, $c still counts every chunk ok"
  t1=""
  chunks='?' ok='?'
  deadline=$((SECONDS + 600))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if st=$(class_state "$c") && read -r chunks ok <<<"$st" && [ "$chunks" -gt 0 ] && [ "$ok" = "$chunks" ]; then
      t1=$(now)
      break
    fi
    sleep 0.2
  done
  [ -n "$t1" ] || die "$c did not regain full redundancy within 10 min of killing $victim ($ok of $chunks chunks ok)"
  regain_s=$(fcalc "$t1 - $t0")
  "$local_sh" start --dir "$dir" "$victim" >/dev/null || die "cairn-local start $victim failed"
  settle "restarting $victim"
}

# ---- the source file ----------------------------------------------------------

shm_avail=$(($(df -k --output=avail /dev/shm 2>/dev/null | tail -n 1 || echo 0) * 1024))
if [ "$shm_avail" -gt $((bytes + (512 << 20))) ]; then
  src=$(mktemp /dev/shm/cairn-ec-bench.XXXXXX)
else
  src="$work/src"
  say "/dev/shm has no room for $size MiB: the source lives in $work (read from disk while writing)"
fi
say "generating $size MiB of random bytes in $src"
T $((60 + size)) head -c "$bytes" /dev/urandom >"$src" || die "could not write $src"
drop_caches

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
started=$(date -u '+%Y-%m-%d %H:%M UTC')
jq -n -c --arg date "$started" --arg commit "$commit" --arg build "$build" --argjson runs "$runs" \
  --argjson size_mib "$size" --arg disk_size "$disk_size" --argjson servers "$nservers" \
  --arg master_opts "$CAIRN_LOCAL_MASTER_OPTS" --arg cs_opts "$CAIRN_LOCAL_CS_OPTS" \
  '{type: "config", date: $date, commit: $commit, build: $build, runs: $runs,
    size_mib: $size_mib, disk_size: $disk_size, chunkservers: $servers,
    master_opts: $master_opts, cs_opts: $cs_opts}' >"$results"

# ---- the runs -----------------------------------------------------------------

declare -A vals=() # "CLASS,METRIC" or "ratio,NAME" -> one value per run, space-separated
add() { vals[$1]="${vals[$1]:-}${vals[$1]:+ }$2"; }
last() { echo "${vals[$1]##* }"; }
rows=() # the per-run markdown table
settle "cairn-local up"
t_start=$SECONDS
for ((r = 1; r <= runs; r++)); do
  for c in "${classes[@]}"; do
    f="$mnt/$c/f"
    u0=$(used)
    say "run $r/$runs, $c (${layout[$c]}): write"
    t0=$(now)
    T "$io_tmo" dd if="$src" of="$f" bs=1M conv=fsync status=none || die "write of $f failed or hung (rc $?)"
    t1=$(now)
    w_s=$(fcalc "$t1 - $t0")
    lay=$(C --json info "$f" | jq -r '.chunks[0].layout')
    [ "$lay" = "${layout[$c]}" ] || die "$f is stored as $lay, want ${layout[$c]} (class $c)"
    u1=$(used)
    space=$(fcalc "($u1 - $u0) / $bytes")

    say "run $r/$runs, $c: read"
    drop_caches
    t0=$(now)
    T "$io_tmo" dd if="$f" of=/dev/null bs=1M status=none || die "read of $f failed or hung (rc $?)"
    t1=$(now)
    r_s=$(fcalc "$t1 - $t0")
    T "$io_tmo" cmp "$src" "$f" || die "$f differs from the source after the read (class $c)"

    d_s="" rg_s="" d_victim="" victim=""
    if [ "$c" = e42 ]; then
      say "run $r/$runs, $c: degraded read"
      d_victim=$(server_of "$f")
      [ -n "$d_victim" ] || die "cairn info: no part 0 of chunk 0 for $f"
      grace 1h
      "$local_sh" kill --dir "$dir" "$d_victim" >/dev/null || die "cairn-local kill $d_victim failed"
      drop_caches
      t0=$(now)
      T "$io_tmo" dd if="$f" of=/dev/null bs=1M status=none || die "degraded read of $f ($d_victim down) failed or hung (rc $?)"
      t1=$(now)
      d_s=$(fcalc "$t1 - $t0")
      T "$io_tmo" cmp "$src" "$f" || die "$f differs from the source in the degraded read ($d_victim down)"
      "$local_sh" start --dir "$dir" "$d_victim" >/dev/null || die "cairn-local start $d_victim failed"
      settle "restarting $d_victim"
      grace 3s
    fi
    if [ "$c" = e42 ] || [ "$c" = c2 ]; then
      say "run $r/$runs, $c: regain full redundancy after a SIGKILL"
      regain "$c" "$f"
      rg_s=$regain_s
    fi

    rm -f "$f"
    for ((i = 0; i < 120; i++)); do
      u=$(C --json disks | jq '[.disks[].used] | add') || die "cairn --json disks failed"
      [ "$u" -le $((u0 + bytes / 100 + (1 << 20))) ] && break
      sleep 0.25
    done
    [ "$u" -le $((u0 + bytes / 100 + (1 << 20))) ] ||
      say "WARNING: 30 s after rm, the disks still use $(((u - u0) >> 20)) MiB more than before $c's write"

    w_mbps=$(fcalc "$bytes / 1e6 / $w_s")
    r_mbps=$(fcalc "$bytes / 1e6 / $r_s")
    add "$c,write" "$w_mbps"
    add "$c,read" "$r_mbps"
    add "$c,space" "$space"
    line="run $r $c (${layout[$c]}): write $(printf '%.1f' "$w_mbps") MB/s ($(printf '%.2f' "$w_s") s), read $(printf '%.1f' "$r_mbps") MB/s, disk/file $(printf '%.3f' "$space") (expected ${expect[$c]})"
    d_mbps=null
    if [ -n "$d_s" ]; then
      d_mbps=$(fcalc "$bytes / 1e6 / $d_s")
      add "$c,degraded" "$d_mbps"
      line+=", degraded read $(printf '%.1f' "$d_mbps") MB/s ($d_victim down)"
    fi
    if [ -n "$rg_s" ]; then
      add "$c,regain" "$rg_s"
      line+=", regain $(printf '%.2f' "$rg_s") s ($victim killed)"
    fi
    say "$line"
    rows+=("| $r | ${layout[$c]} | $(printf '%.1f' "$w_mbps") | $(printf '%.1f' "$r_mbps") | $([ -n "$d_s" ] && printf '%.1f' "$d_mbps" || echo —) | $(printf '%.3f' "$space") | $([ -n "$rg_s" ] && printf '%.2f s' "$rg_s" || echo —) |")
    jq -n -c --argjson run "$r" --arg class "$c" --arg layout "${layout[$c]}" --argjson bytes "$bytes" \
      --argjson write_s "$w_s" --argjson read_s "$r_s" --argjson disk_bytes "$((u1 - u0))" \
      --argjson expected "${expect[$c]}" --argjson degraded_read_s "${d_s:-null}" \
      --arg degraded_down "$d_victim" --argjson regain_s "${rg_s:-null}" --arg regain_killed "$victim" \
      '{type: "run", run: $run, class: $class, layout: $layout, bytes: $bytes,
        write_s: $write_s, write_mbps: ($bytes / 1e6 / $write_s),
        read_s: $read_s, read_mbps: ($bytes / 1e6 / $read_s),
        disk_bytes: $disk_bytes, space_ratio: ($disk_bytes / $bytes), space_expected: $expected,
        degraded_read_s: $degraded_read_s,
        degraded_read_mbps: (if $degraded_read_s then $bytes / 1e6 / $degraded_read_s else null end),
        degraded_down: (if $degraded_down == "" then null else $degraded_down end),
        regain_s: $regain_s, regain_killed: (if $regain_killed == "" then null else $regain_killed end)}' \
      >>"$results"
  done
  # The issue's ratios, per run.
  add "ratio,write" "$(fcalc "$(last e42,write) / $(last c2,write)")"
  add "ratio,read" "$(fcalc "$(last e42,read) / $(last c2,read)")"
  add "ratio,degraded" "$(fcalc "$(last e42,degraded) / $(last e42,read)")"
  add "ratio,regain" "$(fcalc "$(last e42,regain) / $(last c2,regain)")"
  for c in "${classes[@]}"; do add "ratio,space_$c" "$(fcalc "$(last "$c,space") / ${expect[$c]}")"; done
done
elapsed=$((SECONDS - t_start))

# ---- the report ---------------------------------------------------------------

# med V...: the median (the lower middle one for an even count).
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# fmt FMT V: V in the printf format FMT (one of ours: %.1f, %.3f, ...).
# shellcheck disable=SC2059 # the format is a constant of this script
fmt() { printf "$1" "$2"; }
# cell KEY FMT: "**median** (run, run, ...)" of vals[KEY], each in FMT.
cell() {
  local v m list="" x
  read -ra v <<<"${vals[$1]}"
  m=$(med "${v[@]}")
  for x in "${v[@]}"; do list+="${list:+, }$(fmt "$2" "$x")"; done
  printf '**%s**' "$(fmt "$2" "$m")"
  [ "${#v[@]}" -lt 2 ] || printf ' (%s)' "$list"
}
# verdict KEY OP LIMIT: "met" or "missed" for the median of vals[KEY].
verdict() {
  local v m
  read -ra v <<<"${vals[$1]}"
  m=$(med "${v[@]}")
  if awk -v m="$m" -v l="$3" -v op="$2" \
    'BEGIN { exit !((op == ">=" && m >= l) || (op == "2%" && m >= 0.98 && m <= 1.02)) }'; then
    echo met
  else
    echo missed
  fi
}

echo
echo "**Command**: \`bash bench/ec_bench.sh $build --runs $runs --size $size --disk-size $disk_size\`"
echo "($started, commit $commit, $((elapsed / 60)) min $((elapsed % 60)) s of runs; $(nproc) CPUs,"
echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), disks on $fstype"
echo "($(df --output=source "$work" | tail -n 1)); $nservers chunkservers of one sparse $disk_size disk each on 127.0.0.1;"
echo "one file of $size MiB per class, \`dd bs=1M\`, writes with \`conv=fsync\`, reads after drop_caches;"
echo "degraded read with the server of part 0 of chunk 0 down; regain: from its SIGKILL until every chunk"
echo "of the class is ok again, CS_GRACE_MS = 3 s included)."
echo
echo "| run | class | write MB/s | read MB/s | degraded read MB/s | disk / file bytes | regain after SIGKILL |"
echo "|---|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Medians over $runs run(s) (every run in parentheses):"
echo
echo "| class | write MB/s | read MB/s | degraded read MB/s | disk / file bytes (expected) | regain after SIGKILL, s |"
echo "|---|---|---|---|---|---|"
for c in "${classes[@]}"; do
  row="| ${layout[$c]} ($c) | $(cell "$c,write" %.1f) | $(cell "$c,read" %.1f) | "
  if [ -n "${vals[$c,degraded]:-}" ]; then row+="$(cell "$c,degraded" %.1f) | "; else row+="— | "; fi
  row+="$(cell "$c,space" %.3f) (${expect[$c]}) | "
  if [ -n "${vals[$c,regain]:-}" ]; then row+="$(cell "$c,regain" %.2f) |"; else row+="— |"; fi
  echo "$row"
done
echo
echo "| ratio (per run; median) | value | target |"
echo "|---|---|---|"
echo "| ec=4+2 write / copies=2 write | $(cell ratio,write %.3f) | ≥ 1.0 $(verdict ratio,write ">=" 1.0) |"
echo "| ec=4+2 read / copies=2 read | $(cell ratio,read %.3f) | ≥ 0.9 $(verdict ratio,read ">=" 0.9) |"
echo "| ec=4+2 degraded read / healthy read | $(cell ratio,degraded %.3f) | ≥ 0.5 $(verdict ratio,degraded ">=" 0.5) |"
echo "| ec=4+2 regain / copies=2 regain | $(cell ratio,regain %.3f) | — |"
echo "| ec=4+2 disk bytes / (1.5 × file) | $(cell ratio,space_e42 %.4f) | within 2% $(verdict ratio,space_e42 2% 0) |"
echo "| ec=8+3 disk bytes / (1.375 × file) | $(cell ratio,space_e83 %.4f) | within 2% $(verdict ratio,space_e83 2% 0) |"
echo "| copies=2 disk bytes / (2 × file) | $(cell ratio,space_c2 %.4f) | — |"
echo
echo "Raw figures (JSON lines): $results"
