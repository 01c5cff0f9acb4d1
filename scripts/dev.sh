#!/usr/bin/env bash
# The README's two commands, usable on a fresh Debian 12 machine where even
# `make` may be missing: installs the Debian packages first (idempotent), then
# hands over to the Makefile.
#   bash scripts/dev.sh up     build, bring up the local system
#   bash scripts/dev.sh test   every test: normal build, ASan+UBSan, fuzzers, format
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  up|test) ;;
  *) echo "usage: bash scripts/dev.sh up|test" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
exec make "$1"
