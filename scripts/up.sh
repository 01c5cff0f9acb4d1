#!/usr/bin/env bash
# `make up` (and `bash scripts/dev.sh up`): bring up the local cluster on this
# machine with cairn-local: a master, 3 chunkservers with sparse 1G disk files,
# copies=2, all on 127.0.0.1 (ports 9420-9424), mounted at local/cluster/mnt.
# Stop it with `make down` (or build/bin/cairn-local down --dir local/cluster).
set -euo pipefail
build=${1:-build}
args=(up --dir local/cluster --chunkservers 3 --copies 2)
if [ ! -x "$build/bin/cairn-mount" ]; then
  # The FUSE mount (cairn-mount) is not built yet: run the daemons only.
  echo "note: $build/bin/cairn-mount is not built yet; starting the cluster without the mount"
  args+=(--no-mount)
fi
mkdir -p local
exec "$build/bin/cairn-local" "${args[@]}"
