#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx.sh - every source file carries its licence line, so that a new file
# cannot miss it: C sources, headers and the linker map start with
# "/* SPDX-License-Identifier: Apache-2.0 */"; shell, Python, CMake files,
# templates and Makefiles with "# SPDX-License-Identifier: Apache-2.0"
# (after the shebang, if there is one); fio job files with "; ...".
# The files are the ones git tracks or would track (untracked, not ignored)
# under src/ uring/ include/ tool/ bench/ tests/ examples/ perf/ scripts/
# cmake/, and CMakeLists.txt.
set -euo pipefail

src=${UWAL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 ||
	{ echo "spdx: $src is not a git checkout: skipped"; exit 0; }

id="SPDX-License-Identifier: Apache-2.0"
bad=0
checked=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	case "$f" in
	*.c | *.h | *.map) want="/* $id */" ;;
	*.sh | *.py | *.cmake | *.in | */CMakeLists.txt | CMakeLists.txt | */Makefile) want="# $id" ;;
	*.fio) want="; $id" ;;
	*) continue ;;
	esac
	first=$(head -n 1 "$f")
	if [[ $first == '#!'* ]]; then
		first=$(sed -n 2p "$f")
	fi
	checked=$((checked + 1))
	if [ "$first" != "$want" ]; then
		echo "spdx: $f: the first line (after a shebang) is not '$want'" >&2
		bad=$((bad + 1))
	fi
done < <(git ls-files -z --cached --others --exclude-standard -- \
	src uring include tool bench tests examples perf scripts cmake CMakeLists.txt)

[ "$checked" -gt 100 ] || { echo "spdx: only $checked files found under $src" >&2; exit 1; }
[ "$bad" -eq 0 ] || { echo "spdx: $bad of $checked files lack the licence line" >&2; exit 1; }
echo "spdx: all $checked source files carry '$id'"
