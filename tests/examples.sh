#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples.sh - the programs in examples/ do what their comments say:
# kvstore keeps values across restarts (it replays its log at start, last
# write per key winning) and takes commands from argv and stdin; tailer
# prints what was written, in log order, with each record's index, and
# --from leaves out the records below an index; evloop appends records
# from a libuv loop with uwal_submit (assigned indexes) and reaps their
# completions in order, and a second run goes on after the first's last
# index.
set -euo pipefail

build=${UWAL_BUILD_DIR:-$PWD}
kv=$build/examples/kvstore
tail=$build/examples/tailer
ev=$build/examples/evloop
for b in "$kv" "$tail"; do
	[ -x "$b" ] || { echo "examples: $b is not built" >&2; exit 1; }
done
[ -x "$ev" ] || {
	echo "examples: $ev is not built: cmake did not find libuv (pkg-config libuv);" \
		"install libuv1-dev (scripts/setup.sh) and run cmake again" >&2
	exit 1
}

tmp=$(mktemp -d "${UWAL_TEST_DIR:-/tmp}/examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/kv
fail() { echo "examples: FAIL: $*" >&2; exit 1; }

# expect NAME WANT GOT
expect() {
	[ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"
	echo "ok: $1"
}

expect "set then get in one run" $'OK\nOK\n1' "$("$kv" "$log" set a 1 set b 2 get a)"
expect "a restart sees earlier values" "2" "$("$kv" "$log" get b)"
expect "the last write of a key wins" $'OK\nnew' "$("$kv" "$log" set a new get a)"
expect "a restart sees the latest value" "new" "$("$kv" "$log" get a)"
expect "commands from stdin, a value with spaces" $'OK\nhello world\n2' \
	"$(printf 'set c hello world\nget c\nget b\n' | "$kv" "$log")"
status=0
got=$("$kv" "$log" get missing) || status=$?
expect "a missing key" "(not found)" "$got"
[ "$status" -eq 1 ] || fail "a missing key: exit status $status, expected 1"

want=$'1\ta\t1\n2\tb\t2\n3\ta\tnew\n4\tc\thello world'
expect "tailer prints every record in log order" "$want" "$("$tail" "$log")"
expect "tailer --from 3" $'3\ta\tnew\n4\tc\thello world' "$("$tail" "$log" --from 3)"
expect "tailer --from past the end" "" "$("$tail" "$log" --from 99)"
expect "tailer escapes bytes that are not printable" $'5\tk\ta\\x09b' \
	"$("$kv" "$log" set k "$(printf 'a\tb')" >/dev/null && "$tail" "$log" --from 5)"
"$tail" "$log" --from >/dev/null 2>&1 && fail "tailer --from without an index succeeded"
expect "evloop: 10000 records from a libuv loop, in order" \
	"submitted 10000, completed 10000, first index 1, last index 10000, errors 0" \
	"$("$ev" "$tmp/ev")"
expect "evloop: a second run goes on after the first's last index" \
	"submitted 300, completed 300, first index 10001, last index 10300, errors 0" \
	"$("$ev" "$tmp/ev" 300)"
expect "evloop: the records are in the log, keys in submission order" \
	$'10300\tk299\trecord 299 of 300' "$("$tail" "$tmp/ev" --from 10300)"
"$ev" "$tmp/ev" 12x >/dev/null 2>&1 && fail "evloop with a bad N succeeded"
: >"$tmp/file"
"$ev" "$tmp/file" 1 >/dev/null 2>&1 && fail "evloop on a file, not a directory, succeeded"
echo "examples: all passed"
