#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/run.sh - run one kernel-tuning experiment of perf/ and keep its
# result: perf/run.sh NAME [extra uwal-bench options]
# Runs perf/NAME.fio with uwal-bench (normal output to the terminal, JSON to
# perf/results/NAME.json), then prints one line per job: records/s (not
# calls/s: a batched job's call carries many), p50 and p99 of a call,
# records per fdatasync. Build first (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: perf/run.sh NAME [uwal-bench options]}
shift
bench=${UWAL_BENCH:-build/bench/uwal-bench}
mkdir -p perf/results
"$bench" --output-format=json --output="perf/results/$name.json" "$@" "perf/$name.fio"
printf '%-22s %12s %9s %9s %10s\n' job rec/s p50us p99us rec/fsync
jq -r '.jobs[] | [.jobname, ((.summary.records_per_s // .write.iops)|floor),
    ((.write.clat_ns.percentile["50.000000"] // 0)/1000|floor),
    ((.write.clat_ns.percentile["99.000000"] // 0)/1000|floor),
    (.uwal.records_per_fsync // "-")] | @tsv' "perf/results/$name.json" |
	awk -F'\t' '{ printf "%-22s %12s %9s %9s %10s\n", $1, $2, $3, $4, $5 }'
