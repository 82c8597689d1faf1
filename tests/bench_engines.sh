#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_engines.sh - every engine uwal-bench was built with writes and is
# reported the same way: a 300 ms run of each (uwal, raw-pwrite, raw-group,
# leveldb, rocksdb; durable and not; one under contention=1), read back with
# jq. It checks that records were written and that the cost fields are
# there and sane (records > 0, CPU usec per record > 0, context switches
# per record >= 0); no figure is compared with a speed. A peer that was not
# built must fail its job with a message naming the package. Exits 77
# (skipped) when uwal-bench was not built or jq is missing.
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

work="$(mktemp -d "${UWAL_TEST_DIR:-/tmp}/bench-engines.XXXXXX")"
trap 'rm -rf "$work"' EXIT
dir="$work/data"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

check() {
	local got
	got="$(jq -e "$2" "$1")" || fail "$2 on $1 gave: $got"
}

# ---- the parser refuses a raw job with several threads, naming file:line ----
printf '[global]\nnumjobs=4\n[r]\nengine=raw-pwrite\n' >"$work/bad.fio"
set +e
"$bin" --quiet --parse-only "$work/bad.fio" >/dev/null 2>"$work/bad.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "raw with numjobs=4: exit $rc, want 2"
grep -q "bad.fio:3: \[r\]: engine=raw-pwrite is one thread: numjobs must be 1" "$work/bad.txt" ||
	fail "raw numjobs message: $(cat "$work/bad.txt")"
set +e
"$bin" --quiet --parse-only --name=x --engine=bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--engine=bogus: exit $rc, want 2"
"$bin" --quiet --parse-only --name=x --engine=leveldb --contention=1 >"$work/parsed.txt" ||
	fail "--engine=leveldb --contention=1 does not parse"
grep -q "engine=leveldb .*contention=1" "$work/parsed.txt" || fail "parsed: $(cat "$work/parsed.txt")"
"$bin" --cmdhelp >"$work/cmdhelp.txt"
grep -q "^  engine " "$work/cmdhelp.txt" || fail "--cmdhelp lacks engine"
grep -q "^  contention " "$work/cmdhelp.txt" || fail "--cmdhelp lacks contention"

# ---- one short run per engine -------------------------------------------------
# run NAME ARGS...: one time-based job; the JSON is in $work/NAME.json
run() {
	local name="$1"
	shift
	set +e
	"$bin" --output-format=json --quiet --directory="$dir" --runtime=300ms \
		--segment_size=1m --name="$name" "$@" >"$work/$name.json" 2>"$work/$name.err"
	echo $? >"$work/$name.rc"
	set -e
}

# ok NAME ENGINE: the job ran and its cost fields are there
ok() {
	local j="$work/$1.json"
	[ "$(cat "$work/$1.rc")" -eq 0 ] || fail "$1 exited $(cat "$work/$1.rc"): $(cat "$work/$1.err")"
	check "$j" ".jobs[0].engine == \"$2\" and .jobs[0].summary.engine == \"$2\""
	check "$j" '.jobs[0].error == 0'
	check "$j" '.jobs[0].summary.records > 0'
	check "$j" '.jobs[0].summary.records_per_s > 0'
	check "$j" '.jobs[0].summary.cpu_us_per_record > 0'
	check "$j" '.jobs[0].summary.ctx_per_record >= 0'
	check "$j" '.jobs[0].summary | (.ctx_voluntary >= 0 and .ctx_involuntary >= 0)'
	check "$j" '.jobs[0].summary | .lat_p50_ns <= .lat_p99_9_ns and .lat_p99_9_ns <= .lat_max_ns'
	check "$j" '.jobs[0].summary | (has("steal_ms") | not) or (.steal_ms >= 0 and .steal_pct >= 0)'
	check "$j" '.jobs[0].write.total_ios > 0'
}

run uwal-sync --sync=batch
ok uwal-sync uwal
check "$work/uwal-sync.json" '.jobs[0].uwal.records == .jobs[0].summary.records'

# iodepth > 1: uwal_submit + uwal_reap; a count-based job completes exactly
# its quota inside the window, also with two threads sharing the handle's
# completions
run uwal-async-sync --sync=batch --iodepth=64
ok uwal-async-sync uwal
check "$work/uwal-async-sync.json" '.jobs[0].summary.iodepth == 64'
check "$work/uwal-async-sync.json" '.jobs[0].summary.records == .jobs[0].write.total_ios'
run uwal-async-flag --sync=per-write --iodepth=16
ok uwal-async-flag uwal
run uwal-async-b16 --sync=none --iodepth=8 --records_per_call=16
ok uwal-async-b16 uwal
check "$work/uwal-async-b16.json" '.jobs[0].summary.records == 16 * .jobs[0].write.total_ios'
run uwal-async-count --sync=none --iodepth=32 --number_ios=5000 --time_based=0 --runtime=0
ok uwal-async-count uwal
check "$work/uwal-async-count.json" '.jobs[0].summary.records == 5000'
run uwal-async-2thr --sync=batch --iodepth=16 --numjobs=2 --number_ios=2000 --time_based=0 \
	--runtime=0
ok uwal-async-2thr uwal
check "$work/uwal-async-2thr.json" '.jobs[0].summary.records == 4000'
set +e
"$bin" --quiet --parse-only --name=x --engine=leveldb --iodepth=4 >/dev/null 2>"$work/qd.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--engine=leveldb --iodepth=4: exit $rc, want 2"
grep -q "iodepth=4 needs engine=uwal" "$work/qd.txt" || fail "iodepth message: $(cat "$work/qd.txt")"

run raw-pwrite --engine=raw-pwrite --sync=always
ok raw-pwrite raw-pwrite
check "$work/raw-pwrite.json" '.jobs[0] | has("uwal") | not'

run raw-group --engine=raw-group --records_per_call=64 --sync=always
ok raw-group raw-group
check "$work/raw-group.json" '.jobs[0].summary.records == 64 * .jobs[0].write.total_ios'

run raw-nosync-busy --engine=raw-pwrite --sync=none --contention=1
ok raw-nosync-busy raw-pwrite
check "$work/raw-nosync-busy.json" '.jobs[0].summary.contention == true'

for peer in leveldb rocksdb; do
	run "$peer-sync" --engine="$peer" --sync=batch --numjobs=2
	if grep -q "was not built" "$work/$peer-sync.json"; then
		check "$work/$peer-sync.json" ".jobs[0].error_what | contains(\"lib$peer-dev\")"
		echo "note: engine=$peer not built; checked its message"
		continue
	fi
	ok "$peer-sync" "$peer"
	run "$peer-batch" --engine="$peer" --sync=none --records_per_call=16
	ok "$peer-batch" "$peer"
	check "$work/$peer-batch.json" '.jobs[0].summary.records == 16 * .jobs[0].write.total_ios'
done

# ---- the side by side lists every job, and says which peers are missing --------
set +e
"$bin" --output-format=json --quiet --directory="$dir" --runtime=300ms --segment_size=1m \
	--no-fio --compare \
	--name=dev --engine=raw-pwrite --sync=always \
	--name=u --sync=batch \
	--name=l --engine=leveldb --sync=batch \
	--name=r --engine=rocksdb --sync=batch >"$work/cmp.json" 2>/dev/null
set -e
c="$work/cmp.json"
check "$c" '.compare.jobs | length == 4'
check "$c" '.compare.jobs[1] | .engine == "uwal" and .device_job == "dev" and .vs_device > 0'
check "$c" '.compare.jobs[1] | has("vs_leveldb") or .vs_leveldb_why == "not built"'
check "$c" '.compare.jobs[1] | has("vs_rocksdb") or .vs_rocksdb_why == "not built"'

echo "bench_engines: all checks passed"
