#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_json.sh - uwal-bench's JSON output, read back with jq the way fio
# tooling reads fio's: tiny count-based jobs (no timing is asserted), then
# the fields a tool relies on. Also: json+ bins, a job file with [global],
# the normal layout's key lines, and exit status 2 with file:line for a bad
# job file. Exits 77 (skipped) when uwal-bench was not built
# (-DUWAL_BUILD_BENCH=OFF) or jq is missing.
set -euo pipefail

bin="${UWAL_BUILD_DIR:?}/bench/uwal-bench"
if [ ! -x "$bin" ]; then
	echo "skip: $bin not built (UWAL_BUILD_BENCH=OFF)"
	exit 77
fi
if ! command -v jq >/dev/null; then
	echo "skip: jq not installed"
	exit 77
fi

work="$(mktemp -d "${UWAL_TEST_DIR:-/tmp}/bench-json.XXXXXX")"
trap 'rm -rf "$work"' EXIT
dir="$work/data"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# check FILE JQ-EXPR: the expression must print true
check() {
	local got
	got="$(jq -e "$2" "$1")" || fail "$2 on $1 gave: $got"
}

# ---- two command-line jobs, json -------------------------------------------
"$bin" --output-format=json --quiet --directory="$dir" \
	--name=tiny --sync=batch --number_ios=200 \
	--name=tiny2 --sync=none --numjobs=2 --number_ios=300 --records_per_call=4 \
	>"$work/out.json" 2>"$work/err.txt" || fail "uwal-bench exited $? ($(cat "$work/err.txt"))"

j="$work/out.json"
check "$j" '.["uwal-bench version"] | startswith("uwal-bench-")'
check "$j" '.timestamp | type == "number"'
check "$j" '.jobs | length == 2'
check "$j" '[.jobs[].jobname] == ["tiny", "tiny2"]'
check "$j" '[.jobs[].write.iops | type == "number" and . > 0] | all'
check "$j" '.jobs[0].write.total_ios == 200'
check "$j" '.jobs[0].write.clat_ns.N == 200'
check "$j" '.jobs[0].write.clat_ns.percentile["99.000000"] | type == "number" and . > 0'
check "$j" '.jobs[0].write.clat_ns.percentile["50.000000"] <= .jobs[0].write.clat_ns.percentile["99.990000"]'
check "$j" '.jobs[0].write.clat_ns | .min <= .mean and .mean <= .max'
check "$j" '.jobs[0].write.runtime | type == "number"'
check "$j" '.jobs[0].write.io_bytes == 200 * 100'
check "$j" '.jobs[0]["job options"].sync == "batch"'
check "$j" '.jobs[0].sync.total_ios >= 1 and .jobs[0].sync.lat_ns.timed == true'
# uwal times each durable batch's write + fdatasync (uwal_stats.sync_hist)
check "$j" '.jobs[0].sync.lat_ns | .N >= 1 and .percentile["50.000000"] > 0 and .percentile["50.000000"] <= .percentile["99.900000"]'
check "$j" '.jobs[0].sync.lat_ns.N <= .jobs[0].sync.total_ios'
check "$j" '.jobs[1].sync.lat_ns.timed == false'
check "$j" '.jobs[0].uwal.errors == 0 and .jobs[0].error == 0'
check "$j" '.jobs[0].uwal.records == 200'
check "$j" '.jobs[0].uwal.bytes_per_record > 100'
check "$j" '.jobs[0] | has("usr_cpu") and has("sys_cpu") and has("ctx")'
check "$j" '.jobs[1].uwal.records == 2 * 300 * 4'
check "$j" '.jobs[1].write.total_ios == 600'
check "$j" '.jobs[1].uwal.records_per_call == 4 and .jobs[1].uwal.numjobs == 2'
check "$j" '.jobs[1].read.iops == 0'
check "$j" 'has("compare") | not'
[ ! -e "$dir/tiny" ] || fail "the job's log directory was not removed"

# ---- json+: the histogram's bins add up to N ----------------------------------
"$bin" --output-format=json+ --quiet --directory="$dir" --name=bins --number_ios=500 \
	>"$work/plus.json" || fail "json+ run"
check "$work/plus.json" '.jobs[0].write.clat_ns | (.bins | add) == .N'
check "$work/plus.json" '.jobs[0].write.clat_ns.bins | keys | map(tonumber) | all(. > 0)'

# ---- a job file with [global]; command-line options override it ----------------
cat >"$work/two.fio" <<'EOF'
; two jobs, one after another
[global]
number_ios=100
bs=64
sync=none

[first]
numjobs=2

[second]
sync=always
percentile_list=50:99
EOF
"$bin" --output-format=json --quiet --directory="$dir" --bs=32 "$work/two.fio" \
	>"$work/file.json" || fail "job file run"
f="$work/file.json"
check "$f" '[.jobs[].jobname] == ["first", "second"]'
check "$f" '[.jobs[].uwal.bs] == [32, 32]'
check "$f" '.jobs[0].uwal.records == 200'
check "$f" '.jobs[1].uwal.sync == "always"'
check "$f" '.jobs[1].write.clat_ns.percentile | keys == ["50.000000", "99.000000"]'
check "$f" '.["global options"].number_ios == "100"'

# ---- normal output: fio's lines ------------------------------------------------
"$bin" --quiet --directory="$dir" --name=human --number_ios=50 >"$work/normal.txt" ||
	fail "normal run"
for want in 'human: (groupid=0, jobs=1)' 'write: IOPS=' 'clat percentiles' '99.00th=\[' \
	'cpu          : usr=' 'uwal sync    : fdatasyncs=' 'io_uring_enter=' \
	'Run status group 0'; do
	grep -q -- "$want" "$work/normal.txt" || fail "normal output lacks '$want'"
done

# ---- errors: exit 2, with file and line -----------------------------------------
printf '[j]\nnumjobs=abc\n' >"$work/bad.fio"
set +e
"$bin" --quiet "$work/bad.fio" >/dev/null 2>"$work/bad.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad job file: exit $rc, want 2"
grep -q "bad.fio:2: bad value 'abc' for option 'numjobs'" "$work/bad.txt" ||
	fail "bad job file message: $(cat "$work/bad.txt")"
set +e
"$bin" --output-format=xml >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--output-format=xml: exit $rc, want 2"

echo "bench_json: all checks passed"
