#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh [SECONDS] - build uwal's libFuzzer targets, replay the inputs
# that once crashed them (tests/fuzz/crashes/<target>-*), then run each for
# SECONDS (default: $UWAL_FUZZ_SECONDS, else 60), starting from the seed
# corpus in tests/fuzz/corpus/<target>/. Fails (exit 1) on any crash,
# sanitizer report, leak or timeout, and saves the input that caused it
# under $UWAL_FUZZ_BUILD/crashes/<target>/ (copy it to tests/fuzz/crashes/
# when reporting). Exit 77 (ctest: skipped) when clang cannot build them.
#
# Environment: UWAL_FUZZ_BUILD (build and work dir; default a temporary
# dir, removed afterwards unless something failed) and CC.
set -uo pipefail
keep=1

secs=${1:-${UWAL_FUZZ_SECONDS:-60}}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -n "${UWAL_FUZZ_BUILD:-}" ]]; then
	out=$UWAL_FUZZ_BUILD
	mkdir -p "$out"
else
	out=$(mktemp -d)
	keep=0
	trap '[[ $keep -eq 1 ]] || rm -rf "$out"' EXIT
fi

bash "$root/tests/fuzz/build.sh" "$out"
rc=$?
if [[ $rc -eq 77 ]]; then
	echo "SKIP: fuzz targets not built"
	exit 77
elif [[ $rc -ne 0 ]]; then
	echo "FAIL: building the fuzz targets"
	exit 1
fi

status=0
for t in fuzz_frame fuzz_scan fuzz_recovery; do
	work="$out/work/$t"
	crashes="$out/crashes/$t"
	rm -rf "$work"
	mkdir -p "$work" "$crashes"
	log="$out/$t.log"
	old=("$root"/tests/fuzz/crashes/"$t"-*)
	if [[ -e "${old[0]}" ]]; then
		echo "== $t: replaying ${#old[@]} past crash input(s)"
		if ! "$out/$t" -runs=1 "${old[@]}" >"$log.replay" 2>&1; then
			echo "FAIL: $t crashes again on a past input; last lines of $log.replay:"
			tail -n 40 "$log.replay"
			status=1
			keep=1
			continue
		fi
	fi
	echo "== $t: ${secs}s"
	# work dir first: new inputs go there, the seed corpus stays untouched
	"$out/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$crashes/" \
		"$work" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1
	r=$?
	grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$log" |
		sed "s/^/   /"
	grep -E "^#[0-9]+ +DONE" "$log" | sed "s/^/   /"
	if [[ $r -ne 0 ]]; then
		echo "FAIL: $t exited $r; last lines of $log:"
		tail -n 40 "$log"
		ls -l "$crashes"
		status=1
		keep=1
	else
		echo "   ok: no crash in ${secs}s"
	fi
done
if [[ $status -ne 0 ]]; then
	echo "crash inputs kept under $out/crashes (reproduce: $out/<target> <file>)"
fi
exit $status
