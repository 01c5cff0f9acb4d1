#!/usr/bin/env bash
# run.sh - run every benchmark binary built in BUILD_DIR/bench and print the
# JSON each prints (one array per benchmark, in a fixed order). `make bench`
# calls it.
#
# Each benchmark runs with no arguments but --json, in its own empty temporary
# folder inside BUILD_DIR: the logstore bench needs O_DIRECT, which tmpfs
# (often /tmp) refuses, and BUILD_DIR is on the project's disk. The folder is
# removed afterwards, also on failure or interrupt.
#
# usage: bash bench/run.sh BUILD_DIR
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: bash bench/run.sh BUILD_DIR (a CMake build folder, e.g. build)" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
benches=(ls_bench ec_bench)

work=""
cleanup() { [ -n "$work" ] && rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

found=0
status=0
for name in "${benches[@]}"; do
    bin="$build/bench/$name"
    [ -x "$bin" ] || continue
    found=1
    work=$(mktemp -d "$build/bench-run.XXXXXX")
    echo "run.sh: $name (in $work)" >&2
    if ! (cd "$work" && "$bin" --json); then
        echo "run.sh: $name failed" >&2
        status=1
    fi
    cleanup
    work=""
done

if [ "$found" -eq 0 ]; then
    echo "run.sh: no benchmark binaries in $build/bench (build first: make build)" >&2
    exit 1
fi
exit "$status"
