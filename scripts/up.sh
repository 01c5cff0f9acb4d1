#!/usr/bin/env bash
# `make up`: bring up the local system on this machine.
# Today the storage engine is what exists: format a demo disk in ./local (once)
# and show it. The local cluster with its FUSE mount replaces this when the
# master, chunkservers and cairn-mount land.
set -euo pipefail
build=${1:-build}
mkdir -p local
disk=local/disk0.img
if [ ! -e "$disk" ]; then
  "$build/bin/cairn-disk" format --size 256M --segment-size 16M "$disk"
fi
"$build/bin/cairn-disk" check "$disk"
"$build/bin/cairn-disk" stats "$disk" | head -12
echo
echo "demo disk ready at $disk (the cluster and mount are not built yet; see README)"
