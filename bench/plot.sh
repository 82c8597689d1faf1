#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# plot.sh - turn uwal-bench JSON results into one PNG with gnuplot.
#
#   bench/plot.sh [-o out.png] [-t title] result.json [more.json ...]
#
# Left:  each job's clat percentiles (--output-format=json's
#        write.clat_ns.percentile), latency against "nines" (50, 90, 99,
#        99.9, 99.99 %), both axes logarithmic: a tail shows as a rising
#        line on the right.
# Right: durable or unsynced records per second against the number of
#        submitter threads (uwal.records_per_s, uwal.numjobs), one line per
#        file and sync mode, with records per fdatasync on the right axis
#        (dashed) - what group commit shares.
#
# Needs jq and gnuplot (Debian: jq, gnuplot-nox); uses the pngcairo
# terminal, or png where cairo is missing. Example, the committed plot:
#
#   build/bench/uwal-bench --output-format=json --output=bench/results/group-commit.json \
#       bench/jobs/group-commit.fio
#   bench/plot.sh -o bench/results/group-commit.png \
#       -t "uwal group commit: bench/jobs/group-commit.fio (2 cores, ext4 on virtio)" \
#       bench/results/group-commit.json
set -euo pipefail

out=uwal-bench.png
title=""
usage() {
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}
while getopts "o:t:h" opt; do
	case $opt in
	o) out=$OPTARG ;;
	t) title=$OPTARG ;;
	h) usage 0 ;;
	*) usage 2 >&2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage 2 >&2
for tool in jq gnuplot; do
	command -v "$tool" >/dev/null || {
		echo "plot.sh: $tool is not installed (scripts/setup.sh installs it)" >&2
		exit 1
	}
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# One data file per job (percentiles) and per file+sync mode (threads).
lat_plots=()
rate_plots=()
fsync_plots=()
n=0
for f in "$@"; do
	jq -e '.jobs | length > 0' "$f" >/dev/null 2>&1 || {
		echo "plot.sh: $f is not a uwal-bench JSON result (no jobs)" >&2
		exit 1
	}
	base="$(basename "$f" .json)"
	prefix=""
	[ $# -gt 1 ] && prefix="$base: "
	njobs="$(jq '.jobs | length' "$f")"
	for ((j = 0; j < njobs; j++)); do
		n=$((n + 1))
		name="$(jq -r ".jobs[$j].jobname" "$f")"
		# x = -log10(1 - p/100): 50 % -> 0.3, 99 % -> 2, 99.99 % -> 4
		jq -r ".jobs[$j].write.clat_ns.percentile // {} | to_entries[]
			| select((.key | tonumber) < 100)
			| \"\(-((1 - (.key | tonumber) / 100) | log10)) \(.value / 1000)\"" \
			"$f" | sort -g >"$tmp/lat$n.dat"
		[ -s "$tmp/lat$n.dat" ] &&
			lat_plots+=("'$tmp/lat$n.dat' using 1:2 with linespoints title '${prefix//\'/}${name//\'/}'")
	done
	for mode in $(jq -r '[.jobs[].uwal.sync] | unique | .[]' "$f"); do
		n=$((n + 1))
		jq -r --arg m "$mode" '.jobs[] | select(.uwal.sync == $m)
			| "\(.uwal.numjobs) \(.uwal.records_per_s) \(.uwal.records_per_fsync) \(.jobname)"' \
			"$f" | sort -g >"$tmp/rate$n.dat"
		label="${prefix}sync=$mode"
		rate_plots+=("'$tmp/rate$n.dat' using 1:2 axes x1y1 with linespoints lw 2 pt 7 title '${label//\'/} records/s'")
		if [ "$mode" != none ]; then
			fsync_plots+=("'$tmp/rate$n.dat' using 1:3 axes x1y2 with linespoints dt 2 pt 6 title '${label//\'/} records/fdatasync'")
		fi
	done
done

join() {
	local IFS=$'\x1f'
	local s="$*"
	echo "${s//$'\x1f'/, \\
     }"
}

term="pngcairo size 1400,560 font 'DejaVu Sans,10'"
if ! gnuplot -e "set terminal pngcairo" >/dev/null 2>&1; then
	term="png size 1400,560"
fi
[ -n "$title" ] || title="uwal-bench: $(for f in "$@"; do basename "$f" .json; done | paste -sd, -)"

{
	cat <<EOF
set terminal $term
set output '$out'
set multiplot layout 1,2 title '${title//\'/}'
set grid
set key bottom right
set title 'clat percentiles per job (whole write call)'
set xlabel 'percentile'
set ylabel 'latency'
set logscale y
set ytics ('1us' 1, '2us' 2, '5us' 5, '10us' 10, '20us' 20, '50us' 50, '100us' 100, \
           '200us' 200, '500us' 500, '1ms' 1000, '2ms' 2000, '5ms' 5000, '10ms' 10000, \
           '20ms' 20000, '50ms' 50000, '100ms' 100000, '200ms' 200000, '500ms' 500000, \
           '1s' 1000000, '2s' 2000000, '5s' 5000000, '10s' 10000000)
set xtics ('50' -log10(0.5), '90' 1, '99' 2, '99.9' 3, '99.99' 4, '99.999' 5)
set xrange [0:*]
EOF
	if [ ${#lat_plots[@]} -gt 0 ]; then
		echo "plot $(join "${lat_plots[@]}")"
	else
		echo "set label 'no percentiles in the input' at graph 0.3, graph 0.5"
		echo "plot NaN notitle"
	fi
	cat <<EOF
unset label
set title 'records/s against submitter threads'
set xlabel 'submitter threads (numjobs)'
set ylabel 'records/s'
set logscale x 2
set xtics auto
set mxtics default
set autoscale x
set logscale y
set ytics auto
set yrange [*:*]
set format y '%.0s%c'
set key top left
EOF
	if [ ${#fsync_plots[@]} -gt 0 ]; then
		echo "set y2label 'records per fdatasync'"
		echo "set y2tics"
		echo "set logscale y2"
		echo "plot $(join "${rate_plots[@]}" "${fsync_plots[@]}")"
	else
		echo "plot $(join "${rate_plots[@]}")"
	fi
	echo "unset multiplot"
} >"$tmp/plot.gp"

gnuplot "$tmp/plot.gp"
echo "plot.sh: wrote $out"
