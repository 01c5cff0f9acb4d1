#!/usr/bin/env bash
# `make down`: stop the local cluster `make up` started (data kept in
# local/cluster; `make down PURGE=1` deletes it).
set -euo pipefail
build=${1:-build}
purge=()
[ "${2:-0}" = 1 ] && purge=(--purge)
if [ ! -f local/cluster/cluster.env ]; then
  echo "no local cluster in local/cluster"
  exit 0
fi
exec "$build/bin/cairn-local" down --dir local/cluster "${purge[@]}"
