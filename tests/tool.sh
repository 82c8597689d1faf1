#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tool.sh - uwal(1) does what its manual says, against real logs made by
# tests/tool/testlog.c: a healthy log, a torn tail, a corrupt sealed
# segment, a missing segment, an empty directory, a missing one, and a log
# another process holds open. Every --json output is checked with jq;
# verify and recover --dry-run change no byte of the directory; exit
# statuses are 0 ok, 1 damage or failure, 2 usage.
set -euo pipefail

build=${UWAL_BUILD_DIR:-$PWD}
uwal=$build/tool/uwal
testlog=$build/tests/testlog
for b in "$uwal" "$testlog"; do
	[ -x "$b" ] || { echo "tool: $b is not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "tool: jq is not installed (scripts/setup.sh installs it)" >&2; exit 1; }

tmp=$(mktemp -d "${UWAL_TEST_DIR:-/tmp}/tool.XXXXXX")
holder=
tailer=
cleanup() {
	[ -n "$tailer" ] && kill "$tailer" 2>/dev/null && wait "$tailer" 2>/dev/null
	[ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "tool: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# status WANT NAME CMD...: run CMD, its stdout into $out, check its status.
status() {
	local want=$1 name=$2
	shift 2
	local rc=0
	out=$("$@" 2>"$tmp/stderr") || rc=$?
	[ "$rc" -eq "$want" ] || fail "$name: exit status $rc, expected $want; stderr: $(cat "$tmp/stderr")"
}
# jqt NAME FILTER: the JSON in $out passes the jq test FILTER.
jqt() {
	echo "$out" | jq -e "$2" >/dev/null || fail "$1: jq '$2' on: $out"
}
fingerprint() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
seg() { printf '%s/segment_%020d' "$1" "$2"; }

# A healthy log: 35 records, 10 per segment, and record 36 with bytes that
# are not text: segments 0..2 sealed, 3 active.
log=$tmp/healthy
"$testlog" write "$log" 35 10

status 0 "stat" "$uwal" stat "$log"
grep -q "total: 4 segments, 36 records, index 1..36" <<<"$out" || fail "stat totals: $out"
grep -q "lock: free" <<<"$out" || fail "stat lock: $out"
status 0 "stat --json" "$uwal" stat --json "$log"
jqt "stat --json" '.ok and (.locked | not) and (.segments | length) == 4 and .totals.records == 36
	and .totals.first_index == 1 and .totals.last_index == 36 and .gaps == []'
jqt "stat --json segments" '[.segments[] | .sealed] == [true, true, true, false]
	and [.segments[] | .records] == [10, 10, 10, 6] and .segments[1].first_index == 11
	and .segments[1].last_index == 20 and all(.segments[]; .version == 3 and .frame_bytes > 0)
	and .segments[3].state == "active" and .segments[0].name == "segment_00000000000000000000"'
ok "stat describes every segment"

status 0 "dump" "$uwal" dump "$log" --from 10 --to 11
[ "$out" = $'10\t0\t'"$(echo "$out" | sed -n 1p | cut -f3)"$'\tk10\tvalue 10\n11\t1\t32\tk11\tvalue 11' ] ||
	fail "dump --from --to: [$out]"
status 0 "dump --keys-only" "$uwal" dump "$log" --keys-only --from 36
[ "$out" = $'36\t3\t'"$(cut -f3 <<<"$out")"$'\t\\x00\\xffb\\x09' ] || fail "dump --keys-only: [$out]"
status 0 "dump --format=hex" "$uwal" dump "$log" --format=hex --from 36
[ "$(cut -f4,5 <<<"$out")" = $'00ff6209\tc328015c78' ] || fail "dump hex: [$out]"
status 0 "dump --json" "$uwal" dump --json "$log"
[ "$(echo "$out" | jq -s 'length')" = 36 ] || fail "dump --json: not 36 records"
echo "$out" | jq -se '[.[].index] == [range(1; 37)] and .[0].key == "k1" and .[0].value == "value 1"
	and .[35].key_hex == "00ff6209" and .[35].value_hex == "c328015c78"
	and .[10].segment == 1 and .[10].offset == 32' >/dev/null || fail "dump --json contents"
ok "dump prints every record in log order, as text, hex and JSON"

before=$(fingerprint "$log")
status 0 "verify" "$uwal" verify "$log"
grep -q "^ok: .*36 records" <<<"$out" || fail "verify: $out"
status 0 "verify --json" "$uwal" verify --json "$log"
jqt "verify --json" '.ok and .records == 36 and .segments == 4 and .diagnostics == []'
status 0 "recover --dry-run" "$uwal" recover --dry-run "$log"
status 0 "recover --dry-run --json" "$uwal" recover --dry-run --json "$log"
jqt "recover --dry-run --json" '.ok and .dry_run and .actions == [] and .records_lost == 0'
[ "$before" = "$(fingerprint "$log")" ] || fail "verify or recover --dry-run changed the healthy log"
ok "verify passes a healthy log and changes nothing"

# A torn tail: the active segment cut in the middle of its last frame.
torn=$tmp/torn
cp -r "$log" "$torn"
off=$(jq -r 'select(.index == 36) | .offset' <<<"$("$uwal" dump --json "$torn")")
truncate -s $((off + 7)) "$(seg "$torn" 3)"
before=$(fingerprint "$torn")
status 1 "verify of a torn tail" "$uwal" verify "$torn"
grep -q "segment_00000000000000000003 at offset $off" "$tmp/stderr" || fail "verify torn: $(cat "$tmp/stderr")"
grep -q "only the tail is torn" "$tmp/stderr" || fail "verify torn hint: $(cat "$tmp/stderr")"
status 1 "verify --json of a torn tail" "$uwal" verify --json "$torn"
jqt "verify --json torn" '(.ok | not) and .error == "UWAL_ECORRUPT"
	and .diagnostics[0].file == "segment_00000000000000000003" and .diagnostics[0].offset == '"$off"
[ "$before" = "$(fingerprint "$torn")" ] || fail "verify changed the log with a torn tail"
status 0 "stat of a torn tail" "$uwal" stat --json "$torn"
jqt "stat torn" '.totals.records == 35 and .segments[3].tail_bytes > 0 and .segments[3].tail_bytes <= 7'
status 0 "dump of a torn tail" "$uwal" dump "$torn" --keys-only
[ "$(wc -l <<<"$out")" = 35 ] || fail "dump torn: $(wc -l <<<"$out") records"
grep -q "segment_00000000000000000003 has [1-7] bytes after its last whole frame" "$tmp/stderr" || fail "dump torn note: $(cat "$tmp/stderr")"
[ "$before" = "$(fingerprint "$torn")" ] || fail "stat or dump changed the log with a torn tail"
ok "a torn tail: verify names it (status 1), stat and dump show the whole records"

# A corrupt sealed segment: one byte of segment 1's third record flipped.
bad=$tmp/bad
cp -r "$log" "$bad"
off=$(jq -r 'select(.index == 13) | .offset' <<<"$("$uwal" dump --json "$bad")")
printf '\xa5' | dd of="$(seg "$bad" 1)" bs=1 seek=$((off + 20)) conv=notrunc status=none
# stat below opens the log as uwal_open() does: segment 1's index file
# would spare it reading the damaged frames (verify reads every frame).
rm -f "$bad"/*.idx
before=$(fingerprint "$bad")
status 1 "verify of a corrupt segment" "$uwal" verify "$bad"
grep -q "segment_00000000000000000001 at offset $off" "$tmp/stderr" || fail "verify bad: $(cat "$tmp/stderr")"
status 1 "verify --json of a corrupt segment" "$uwal" verify --json "$bad"
jqt "verify --json bad" '.error == "UWAL_ECORRUPT" and .diagnostics[0].file == "segment_00000000000000000001"
	and .diagnostics[0].offset == '"$off"
status 1 "stat of a corrupt segment" "$uwal" stat --json "$bad"
jqt "stat bad" '(.ok | not) and .recover_would[0].name == "segment_00000000000000000001"'
status 1 "dump of a corrupt segment" "$uwal" dump "$bad"
status 1 "recover --dry-run of a corrupt segment" "$uwal" recover --dry-run --json "$bad"
jqt "recover --dry-run bad" '.dry_run and .removed == 0 and .cut == 1 and .records_lost == 8
	and (.actions | length) == 1 and .actions[0].action == "cut"
	and .actions[0].name == "segment_00000000000000000001" and .actions[0].bad_offset == '"$off"'
	and .actions[0].cut_offset == '"$off"' and .actions[0].records_kept == 2
	and .actions[0].records_lost == 8 and .actions[0].last_index == 12'
status 1 "recover --dry-run (text) of a corrupt segment" "$uwal" recover --dry-run "$bad"
grep -q "would cut segment_00000000000000000001 at offset $off: 2 whole records kept (index 11..12), 8 records after it lost" <<<"$out" ||
	fail "recover --dry-run text: $out"
[ "$before" = "$(fingerprint "$bad")" ] || fail "verify, stat, dump or recover --dry-run changed the damaged log"
status 0 "recover of a corrupt segment" "$uwal" recover "$bad"
grep -q "^cut segment_00000000000000000001 at offset $off: 2 whole records kept (index 11..12), 8 records after it lost" <<<"$out" ||
	fail "recover: $out"
grep -q "0 files removed, 1 cut, 8 records lost" <<<"$out" || fail "recover totals: $out"
grep -q "the log opens: 4 segments, 28 records" <<<"$out" || fail "recover after: $out"
[ ! -e "$(seg "$bad" 1).idx" ] || fail "recover left the cut segment's index file"
status 0 "verify after recover" "$uwal" verify "$bad"
status 0 "stat after recover" "$uwal" stat --json "$bad"
jqt "stat after recover" '.gaps == [] and .segments[1].sealed and .segments[1].records == 2
	and .segments[1].last_index == 12 and (.segments[1].after_gap | not)'
status 0 "recover again" "$uwal" recover --dry-run "$bad"
ok "a corrupt sealed segment: verify names file and offset, recover cuts it at the damage"

# A missing segment in the middle.
gap=$tmp/gap
cp -r "$log" "$gap"
rm "$(seg "$gap" 2)"
status 1 "verify of a missing segment" "$uwal" verify "$gap"
grep -q "segment before it is missing" "$tmp/stderr" || fail "verify gap: $(cat "$tmp/stderr")"
status 1 "recover --dry-run of a missing segment" "$uwal" recover --dry-run --json "$gap"
jqt "recover --dry-run gap" '.removed == 0 and .actions[0].action == "flag_after_gap"
	and .actions[0].name == "segment_00000000000000000003"'
status 0 "recover of a missing segment" "$uwal" recover --json "$gap"
jqt "recover gap" '.after.opens and .after.records == 26'
ok "a missing segment: verify names it, recover flags the next one"

# Not a log: an empty directory, a missing one.
mkdir "$tmp/empty"
for cmd in stat dump verify recover tail "truncate --front 1"; do
	# shellcheck disable=SC2086 # the command and its options
	status 1 "$cmd of an empty directory" "$uwal" $cmd "$tmp/empty"
	grep -q "not a uwal log" "$tmp/stderr" || fail "$cmd empty: $(cat "$tmp/stderr")"
	# shellcheck disable=SC2086
	status 1 "$cmd of a missing directory" "$uwal" $cmd "$tmp/missing"
	grep -q "no such directory" "$tmp/stderr" || fail "$cmd missing: $(cat "$tmp/stderr")"
done
status 1 "stat --json of an empty directory" "$uwal" stat --json "$tmp/empty"
jqt "stat --json empty" '.error == "not_a_log"'
[ -z "$(ls -A "$tmp/empty")" ] || fail "a command wrote into the empty directory: $(ls -A "$tmp/empty")"
[ ! -e "$tmp/missing" ] || fail "a command created the missing directory"
ok "an empty or missing directory is refused with status 1"

# A log another process holds open.
held=$tmp/held
cp -r "$log" "$held"
mkfifo "$tmp/ready"
"$testlog" hold "$held" >"$tmp/ready" &
holder=$!
read -r line <"$tmp/ready"
[ "$line" = ready ] || fail "the holder did not start"
status 0 "stat of a held log" "$uwal" stat --json "$held"
jqt "stat held" '.locked and .totals.records == 36'
status 0 "verify of a held log" "$uwal" verify "$held"
status 0 "dump of a held log" "$uwal" dump --keys-only "$held"
status 1 "recover of a held log" "$uwal" recover "$held"
grep -q "the log is locked: it is open in another process (UWAL_ELOCKED)" "$tmp/stderr" || fail "recover held: $(cat "$tmp/stderr")"
status 1 "truncate of a held log" "$uwal" truncate --front 5 "$held"
grep -q "locked.*UWAL_ELOCKED" "$tmp/stderr" || fail "truncate held: $(cat "$tmp/stderr")"
status 1 "truncate --json of a held log" "$uwal" truncate --json --back 5 "$held"
jqt "truncate --json held" '.ok == false and .error == "UWAL_ELOCKED" and (.message | test("locked"))'
status 0 "tail of a held log" "$uwal" tail --keys-only "$held"
[ "$(wc -l <<<"$out")" = 36 ] || fail "tail held: $out"
status 1 "recover --dry-run of a held log" "$uwal" recover --dry-run --json "$held"
jqt "recover --dry-run held" '.error == "UWAL_ELOCKED"'
kill "$holder"
wait "$holder" || fail "the holder failed to close the log"
holder=
status 0 "stat after the holder closed" "$uwal" stat --json "$held"
jqt "stat released" '(.locked | not)'
ok "a held log: stat says so, verify, dump and tail work, recover and truncate refuse"

# truncate: the front, the back, an index not in the log.
tl=$tmp/trunc
"$testlog" write "$tl" 35 10
status 0 "truncate --front" "$uwal" truncate "$tl" --front 12
grep -q "^before: 36 records, index 1\.\.36$" <<<"$out" || fail "truncate --front before: $out"
grep -q "^after:  25 records, index 12\.\.36$" <<<"$out" || fail "truncate --front after: $out"
status 0 "truncate --back --json" "$uwal" truncate --json --back 30 "$tl"
jqt "truncate --back --json" '.ok and .truncate == "back" and .index == 30 and .records_before == 25
	and .records_after == 18 and .records_removed == 7 and .first_index_before == 12
	and .last_index_before == 36 and .first_index == 12 and .last_index == 29'
status 0 "dump after truncate" "$uwal" dump --keys-only "$tl"
[ "$(cut -f1 <<<"$out" | tr '\n' ' ')" = "$(seq -s ' ' 12 29) " ] || fail "dump after truncate: $out"
status 1 "truncate --back of a missing index" "$uwal" truncate --back 99 "$tl"
grep -q "no record 99 in the log (index 12\.\.29)" "$tmp/stderr" || fail "truncate missing: $(cat "$tmp/stderr")"
status 1 "truncate --json of a missing index" "$uwal" truncate --json --front 5 "$tl"
jqt "truncate --json missing" '.ok == false and .error == "UWAL_ENOTFOUND"'
status 0 "stat after truncate" "$uwal" stat --json "$tl"
jqt "stat after truncate" '.totals.records == 18 and .totals.first_index == 12 and .totals.last_index == 29'
status 2 "truncate without --front or --back" "$uwal" truncate "$tl"
status 2 "truncate with both" "$uwal" truncate --front 12 --back 20 "$tl"
status 2 "truncate --front 0" "$uwal" truncate --front 0 "$tl"
ok "truncate removes the front and the back, refuses an index not in the log"

# tail: the whole log, from an index; -f beside a writer in another process.
status 0 "tail" "$uwal" tail --keys-only "$log"
[ "$(cut -f1 <<<"$out" | tr '\n' ' ')" = "$(seq -s ' ' 1 36) " ] || fail "tail: $out"
status 0 "tail --from --json" "$uwal" tail --from 30 --json "$log"
echo "$out" | jq -se '[.[].index] == [range(30; 37)] and .[0].key == "k30" and .[0].value == "value 30"' \
	>/dev/null || fail "tail --from --json: $out"
status 0 "tail --format=hex" "$uwal" tail --from 36 --format=hex "$log"
[ "$(cut -f4,5 <<<"$out")" = $'00ff6209\tc328015c78' ] || fail "tail hex: [$out]"
status 1 "tail --from a missing index" "$uwal" tail --from 99 "$log"
grep -q "no record 99" "$tmp/stderr" || fail "tail --from missing: $(cat "$tmp/stderr")"
status 2 "tail --interval 0" "$uwal" tail -f --interval 0 "$log"

# A writer in another process appends 7..2000 (about one segment more than
# the first holds: a rotation) one by one while tail -f prints them; the
# tail is stopped once it printed all 2000, or after 30 seconds.
fl=$tmp/follow
"$testlog" write "$fl" 5
"$uwal" tail -f --interval 200 --keys-only "$fl" >"$tmp/tail.out" 2>"$tmp/tail.err" &
tailer=$!
mkfifo "$tmp/ready2"
"$testlog" slow "$fl" 7 2000 1 >"$tmp/ready2" &
holder=$!
read -r line <"$tmp/ready2"
[ "$line" = ready ] || fail "the slow writer did not start"
for _ in $(seq 300); do
	[ "$(wc -l <"$tmp/tail.out")" -ge 2000 ] && break
	sleep 0.1
done
kill "$tailer"
wait "$tailer" 2>/dev/null || true
tailer=
kill "$holder"
wait "$holder" || fail "the slow writer failed"
holder=
[ "$(cut -f1 "$tmp/tail.out" | tr '\n' ' ')" = "$(seq -s ' ' 1 2000) " ] ||
	fail "tail -f printed $(wc -l <"$tmp/tail.out") lines, not 1..2000 in order: $(tail -3 "$tmp/tail.out"); stderr: $(cat "$tmp/tail.err")"
[ "$(cut -f4 "$tmp/tail.out" | sed -n 7p)" = k7 ] || fail "tail -f contents: $(sed -n 7p "$tmp/tail.out")"
segs=$(find "$fl" -name 'segment_*' | wc -l)
[ "$segs" -ge 2 ] || fail "the writer did not rotate ($segs segments)"
ok "tail prints the log; tail -f follows a writer in another process across a rotation"

# Usage.
status 2 "no command" "$uwal"
status 2 "an unknown command" "$uwal" frobnicate "$log"
status 2 "an unknown option" "$uwal" stat --bogus "$log"
status 2 "no directory" "$uwal" verify
status 2 "a bad --from" "$uwal" dump --from x "$log"
status 2 "a bad --format" "$uwal" dump --format=xml "$log"
for cmd in stat dump verify recover truncate tail; do
	status 0 "$cmd --help" "$uwal" "$cmd" --help
	grep -q "^usage: uwal $cmd" <<<"$out" || fail "$cmd --help: $out"
done
status 0 "--help" "$uwal" --help
ok "usage errors exit 2; every command has --help"
echo "tool: all passed"
