#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/filesystem.sh [REPS] - perf/filesystem.fio on an ext4 and an xfs
# image (1 GiB each, loop devices over the root disk), alternated REPS
# times (default 2); one line per job. Needs root. Build first.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-2}
bench=${UWAL_BENCH:-build/bench/uwal-bench}
work=${UWAL_PERF_DIR:-/var/tmp/uwal-fs}
mkdir -p "$work" perf/results
devs=()
cleanup() {
	for fs in ext4 xfs; do
		mountpoint -q "$work/$fs" 2>/dev/null && umount "$work/$fs"
	done
	for d in "${devs[@]}"; do losetup -d "$d" 2>/dev/null || true; done
	rm -f "$work"/*.img
}
trap cleanup EXIT
for fs in ext4 xfs; do
	truncate -s 1G "$work/$fs.img"
	if [ "$fs" = ext4 ]; then mkfs.ext4 -q -F "$work/$fs.img"; else mkfs.xfs -q -f "$work/$fs.img"; fi
	d=$(losetup --find --show "$work/$fs.img")
	devs+=("$d")
	mkdir -p "$work/$fs"
	mount "$d" "$work/$fs"
done
printf '%-4s %-3s %-18s %10s %8s %9s %9s\n' fs rep job rec/s p50us p99.9us cpuus/rec
for r in $(seq 1 "$reps"); do
	for fs in ext4 xfs; do
		out="perf/results/filesystem-$fs-$r.json"
		"$bench" --output-format=json --output="$out" --no-fio --directory="$work/$fs" perf/filesystem.fio >/dev/null
		jq -r --arg fs "$fs" --arg r "$r" '.jobs[] | [$fs, $r, .jobname, (.write.iops|floor),
			((.write.clat_ns.percentile["50.000000"] // 0)/1000|floor),
			((.write.clat_ns.percentile["99.900000"] // 0)/1000|floor),
			(.summary.cpu_us_per_record*10|floor/10)] | @tsv' "$out" |
			awk -F'\t' '{ printf "%-4s %-3s %-18s %10s %8s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7 }'
	done
done
