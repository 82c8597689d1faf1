#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# man_render.sh - the manual pages in man/ are complete and clean:
#  - every UWAL_API function declared in include/uwal.h has a page
#    man/<function>.3 (its own, or a one-line ".so man3/<page>.3" link to
#    the page it shares), and uwal(7) names it: a function added to the
#    header without a page fails here;
#  - a .so link points at a page that exists and names the function;
#  - every page renders with groff -ww -man (all warnings on) without a
#    single warning, and has the sections a page of its kind must have.
set -euo pipefail

src=${UWAL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
man=$src/man
header=$src/include/uwal.h
failures=0
fail() {
	echo "man_render: FAIL: $*" >&2
	failures=$((failures + 1))
}

# ---- every public function has a page --------------------------------------
# "UWAL_API int uwal_open(" -> uwal_open; one declaration may span lines,
# but its name is on the UWAL_API line.
mapfile -t functions < <(sed -n 's/^UWAL_API[^(]*[^a-z_0-9]\(uwal_[a-z_0-9]*\)(.*/\1/p' "$header")
[ "${#functions[@]}" -ge 10 ] || fail "found only ${#functions[@]} UWAL_API functions in $header"
for fn in "${functions[@]}"; do
	page=$man/$fn.3
	if [ ! -f "$page" ]; then
		fail "$fn (include/uwal.h) has no man page: add man/$fn.3 (or a .so link to the page it shares)"
		continue
	fi
	first=$(head -n 1 "$page")
	if [[ $first == .so\ * ]]; then
		target=$man/$(basename "${first#.so }")
		[ -f "$target" ] || { fail "$fn.3 links to a missing page: $first"; continue; }
		page=$target
	fi
	grep -q "^\.SH NAME" "$page" && sed -n '/^\.SH NAME/{n;p}' "$page" | grep -qw "$fn" ||
		fail "$(basename "$page"): its NAME line does not name $fn"
	grep -q "^\.BI \"[^\"]*[ *]$fn(" "$page" || fail "$(basename "$page"): no SYNOPSIS prototype of $fn"
	grep -q "^\.BR $fn (3)" "$man/uwal.7" || fail "uwal.7 does not name $fn in SEE ALSO"
done

# ---- every page renders without warnings ------------------------------------
if ! command -v groff >/dev/null 2>&1; then
	fail "groff is not installed (scripts/setup.sh installs groff-base)"
	exit 1
fi
# .so requests name man3/<page>.3, relative to a manual's root: give groff one.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for s in 1 3 7; do ln -s "$man" "$root/man$s"; done

shopt -s nullglob
pages=("$man"/*.[137])
[ "${#pages[@]}" -gt 0 ] || fail "no pages in $man"
for page in "${pages[@]}"; do
	name=$(basename "$page")
	warnings=$(groff -ww -man -Tutf8 -I "$root" -z "$page" 2>&1) ||
		fail "$name: groff failed"
	[ -z "$warnings" ] || fail "$name: groff warns:"$'\n'"$warnings"
	[[ $(head -n 1 "$page") == .so\ * ]] && continue
	case $name in
	*.3) sections="NAME SYNOPSIS DESCRIPTION RETURN.VALUE THREAD.SAFETY SEE.ALSO" ;;
	*) sections="NAME SYNOPSIS DESCRIPTION SEE.ALSO" ;;
	esac
	for sec in $sections; do
		grep -q "^\.SH \"\?${sec}" "$page" || fail "$name: no ${sec/./ } section"
	done
	grep -q '^\.TH ' "$page" || fail "$name: no .TH line"
done

# Every UWAL_E* code the header's comment on a function names is on the
# function's page. The comment is the block just above the declaration.
while read -r fn codes; do
	page=$man/$fn.3
	[ -f "$page" ] || continue
	first=$(head -n 1 "$page")
	[[ $first == .so\ * ]] && page=$man/$(basename "${first#.so }")
	for code in $codes; do
		grep -q "$code" "$page" || fail "$(basename "$page"): $fn's error $code (include/uwal.h) is not on its page"
	done
done < <(awk '
	/^\/\*/ { comment = ""; inside = 1 }
	inside { comment = comment " " $0 }
	/\*\// { inside = 0 }
	/^UWAL_API/ {
		match($0, /uwal_[a-z_0-9]*\(/)
		fn = substr($0, RSTART, RLENGTH - 1)
		codes = ""
		rest = comment
		while (match(rest, /UWAL_E[A-Z]+/)) {
			codes = codes " " substr(rest, RSTART, RLENGTH)
			rest = substr(rest, RSTART + RLENGTH)
		}
		print fn codes
	}
	/^$/ { comment = "" }' "$header")

# A page whose functions return errors has an ERRORS section.
for page in "$man"/uwal_*.3; do
	[[ $(head -n 1 "$page") == .so\ * ]] && continue
	if grep -q "^\.SH RETURN VALUE" "$page" && grep -q 'negative error code' "$page"; then
		grep -q '^\.SH ERRORS' "$page" || fail "$(basename "$page"): returns errors but has no ERRORS section"
	fi
done

if [ "$failures" -gt 0 ]; then
	echo "man_render: $failures failure(s)" >&2
	exit 1
fi
echo "man_render: ${#functions[@]} functions, ${#pages[@]} pages, no warnings"
