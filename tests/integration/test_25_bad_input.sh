#!/usr/bin/env bash
# Garbage on every daemon port of a mounted cluster (master chunkserver port
# BASE, master client port BASE+1, chunkserver cs1 data port BASE+2): random
# bytes, an HTTP request, a header with a bad CRC, a frame with a huge length,
# a truncated frame, a valid HELLO followed by garbage. Each connection the
# protocol says to drop is closed by the daemon (EOF within 5 s); afterwards
# every daemon still runs and serves: `cairn status` lists the 3 servers and
# the mount creates and reads back a file (copies=3, so every chunkserver is
# in the write chain). Bash /dev/tcp only (no python, no extra tools).
#   bash test_25_bad_input.sh BIN_DIR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/mount_lib.sh"
ml_init test_25_bad_input "${1:-}"

ml_up --chunkservers 3 --copies 3 --disk-size 256M
wait_online 3

# ---- frames in bash ---------------------------------------------------------

# crc32c BYTE...: CRC32C (Castagnoli, reflected 0x82F63B78) of the bytes.
crc32c() {
  local crc=0xFFFFFFFF b k
  for b in "$@"; do
    crc=$((crc ^ b))
    for ((k = 0; k < 8; k++)); do
      if ((crc & 1)); then crc=$(((crc >> 1) ^ 0x82F63B78)); else crc=$((crc >> 1)); fi
    done
  done
  echo $((crc ^ 0xFFFFFFFF))
}
# le N WIDTH: N as WIDTH little-endian bytes, "0x.." words.
le() {
  local n=$1 w=$2 i
  for ((i = 0; i < w; i++)); do
    printf '0x%02x ' $(((n >> (8 * i)) & 255))
  done
}
# hdr TYPE LEN [CRC_XOR]: a 24-byte frame header as hex (CRC xored with CRC_XOR).
hdr() {
  local bytes c
  # shellcheck disable=SC2207  # word splitting of le output is the point
  bytes=(0x43 0x41 0x52 0x4e 0x03 0x00 $(le "$1" 2) $(le 7 8) $(le "$2" 4)) # protocol version 3
  c=$(($(crc32c "${bytes[@]}") ^ ${3:-0}))
  # shellcheck disable=SC2207
  bytes+=($(le "$c" 4))
  printf '%02x' "${bytes[@]}"
}
# The check value of the CRC: "123456789" -> 0xE3069283.
[ "$(crc32c 0x31 0x32 0x33 0x34 0x35 0x36 0x37 0x38 0x39)" = $((0xE3069283)) ] ||
  fail "crc32c helper is wrong"

# HELLO: role 1 (client), versions 3..3, name "x", nonce and auth empty.
hello_payload=01030003000100780000000000000000
hello_frame=$(hdr 1 16)$hello_payload

# send PORT HEX [EXPECT]: connect, send the bytes, then read until the daemon
# closes. EXPECT "close": EOF must come within 5 s; "any": we close after 1 s
# (a truncated frame: the daemon waits for the rest). Prints the first bytes
# of the reply (hex).
send() {
  local port=$1 hex=$2 expect=${3:-close} rc=0 reply
  # (run in $(...) or (...): the daemon may close before all is sent: EPIPE)
  trap '' PIPE
  exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to port $port"
  printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" >&3 2>/dev/null || true
  if [ "$expect" = close ]; then
    reply=$(timeout 5 cat <&3 2>/dev/null | head -c 64 | od -An -v -tx1 | tr -d ' \n') || rc=$?
    # rc of the pipeline is head/od's; a timeout shows as no EOF: check it.
    timeout 5 cat <&3 >/dev/null 2>&1 || rc=$?
  else
    reply=$(timeout 1 cat <&3 2>/dev/null | head -c 64 | od -An -v -tx1 | tr -d ' \n') || true
  fi
  exec 3<&- 3>&-
  [ "$rc" != 124 ] || fail "port $port did not close the connection within 5 s"
  echo "${reply:0:48}"
}

random_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }
http_hex=$(printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')

alive_all() {
  local st n
  st=$("$local_sh" status --dir "$dir") || fail "cairn-local status"
  for n in master cs1 cs2 cs3 mount; do
    grep -Eq "^$n +[0-9]+ +running" <<<"$st" || { echo "$st" >&2; fail "$n died ($1)"; }
  done
}

# ---- each daemon -------------------------------------------------------------

for port in $base $((base + 1)) $((base + 2)); do
  case $port in
    "$base") who="master (chunkserver port)" ;;
    $((base + 1))) who="master (client port)" ;;
    *) who="cs1 (data port)" ;;
  esac
  step "$who, port $port"
  echo "random bytes: $(send "$port" "$(random_hex 4096)")"
  alive_all "random bytes to $who"
  echo "HTTP request: $(send "$port" "$http_hex")"
  alive_all "HTTP to $who"
  echo "bad header CRC: $(send "$port" "$(hdr 1 16 0x1)$hello_payload")"
  alive_all "bad CRC to $who"
  echo "huge length: $(send "$port" "$(hdr 1 $((0xFFFFFFF0)))$(random_hex 64)")"
  alive_all "huge length to $who"
  echo "over the 4 MiB limit by one: $(send "$port" "$(hdr 1 $((4 * 1048576 + 1)))")"
  alive_all "4 MiB + 1 to $who"
  echo "flags set: $(send "$port" "$(hdr 1 16 0 | sed 's/^\(..........\)00/\1ff/')$hello_payload")"
  alive_all "flags to $who"
  echo "truncated header: $(send "$port" "${hello_frame:0:20}" any)"
  alive_all "truncated header to $who"
  echo "truncated payload: $(send "$port" "$(hdr 1 100)$(random_hex 10)" any)"
  alive_all "truncated payload to $who"
  echo "HELLO with a malformed payload: $(send "$port" "$(hdr 1 16)$(random_hex 16)")"
  alive_all "malformed HELLO to $who"
  # A valid client HELLO is answered (HELLO_R) on the client and data ports
  # (the master's chunkserver port may just close); the garbage after it
  # closes the connection.
  r=$(send "$port" "$hello_frame$(random_hex 512)")
  echo "client HELLO, then garbage: $r"
  if [ "$port" != "$base" ]; then
    [ "${r:0:8}" = 4341524e ] || fail "$who did not answer a valid HELLO with a frame (got '$r')"
    [ "${r:12:4}" = 0180 ] || fail "$who did not answer HELLO with HELLO_R (got '$r')"
  fi
  alive_all "garbage after HELLO to $who"
  # A flood: many connections of garbage at once.
  for ((k = 0; k < 20; k++)); do
    (send "$port" "$(random_hex 1000)" >/dev/null) &
  done
  wait
  alive_all "20 garbage connections at once to $who"
done

step "every daemon still serves"
T 30 "$cli" -m "$maddr" status || fail "cairn status after the garbage"
wait_online 3
head -c 3000000 /dev/urandom >"$work/after"
T 60 dd if="$work/after" of="$mnt/after" bs=64k conv=fsync status=none || fail "write through the mount"
drop_caches
[ "$(msha "$mnt/after")" = "$(sha "$work/after")" ] || fail "read back through the mount: wrong data"
info=$(T 30 "$cli" -m "$maddr" info /after)
echo "$info"
T 30 ls -l "$mnt" >/dev/null || fail "ls"
echo "PASS"
