#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh OUTDIR - build uwal's libFuzzer targets (fuzz_frame, fuzz_scan,
# fuzz_recovery) and the seed-corpus generator into OUTDIR with clang,
# compiling src/*.c and uring/*.c directly (not through CMake's build).
#
# Environment: CC (default clang, else clang-14), FUZZ_CFLAGS (extra flags).
# Exit 0 and print "SKIP" when clang cannot link a libFuzzer binary here.
set -euo pipefail

out=${1:?usage: build.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out/obj"

cc=${CC:-}
if [[ -z "$cc" || "$cc" != *clang* ]]; then
	cc=$(command -v clang || command -v clang-14 || true)
fi
if [[ -z "$cc" ]]; then
	echo "SKIP: clang not found" >&2
	exit 77
fi

# Does this clang have the libFuzzer runtime?
probe="$out/obj/probe.c"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/obj/probe" 2>/dev/null; then
	echo "SKIP: $cc cannot build libFuzzer targets (-fsanitize=fuzzer)" >&2
	exit 77
fi

deps=$(pkg-config --cflags --libs liburing msgpack libisal)
common=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
	-I"$root/include" -I"$root/src" -I"$root/uring" -I"$root/tests/fuzz"
	${FUZZ_CFLAGS:-})
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)

# The engine, instrumented for coverage, once.
objs=()
for src in "$root"/src/*.c "$root"/uring/*.c; do
	obj="$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.c}").o"
	"$cc" "${common[@]}" "${san[@]}" -fsanitize=fuzzer-no-link $(pkg-config --cflags liburing msgpack libisal) \
		-c "$src" -o "$obj"
	objs+=("$obj")
done

for t in fuzz_frame fuzz_scan fuzz_recovery; do
	"$cc" "${common[@]}" "${san[@]}" -fsanitize=fuzzer "$root/tests/fuzz/$t.c" "${objs[@]}" \
		$deps -lpthread -o "$out/$t"
done
"$cc" "${common[@]}" "${san[@]}" "$root/tests/fuzz/gen_corpus.c" "${objs[@]}" $deps -lpthread \
	-o "$out/gen_corpus"
echo "built fuzz_frame fuzz_scan fuzz_recovery gen_corpus in $out"
