#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# compare.sh - the side by side: every job (uwal, its peers, the raw loops)
# in one table, and fio's raw numbers on the same directory.
#
#   bench/compare.sh [uwal-bench options] [job file ...]
#
# Runs the jobs (the embedded default job when none is given) and then fio
# itself on the same directory: rw=write, fdatasync=1, ioengine=io_uring,
# iodepth=1, a file written in full beforehand, with bs = the bytes uwal
# wrote per record (fio-1rec) and bs = 64 records' worth (fio-64rec;
# --compare-records=N changes 64), and prints uwal and fio side by side
# with ratios of durable records per second. It is `uwal-bench --compare`;
# the binary is $UWAL_BENCH, or build/bench/uwal-bench under the
# repository root. Examples:
#
#   bench/compare.sh bench/jobs/latency-sync-1.fio
#   bench/compare.sh --runtime=5s --name=lat --sync=batch
#   bench/compare.sh --output-format=json bench/jobs/group-commit.fio | jq .compare
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${UWAL_BENCH:-$root/build/bench/uwal-bench}"
if [ ! -x "$bin" ]; then
	echo "compare.sh: $bin not found: build first (cmake -S . -B build &&" \
		"cmake --build build -j2) or set UWAL_BENCH" >&2
	exit 2
fi
command -v fio >/dev/null || {
	echo "compare.sh: fio is not installed (scripts/setup.sh installs it)" >&2
	exit 2
}
exec "$bin" --compare "$@"
