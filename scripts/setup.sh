#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# setup.sh - install the Debian packages that uwal's build, tests and
# benchmarks need. Does nothing (and touches no network) when all are present.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	liburing-dev libmsgpack-dev libisal-dev libcriterion-dev
	fio jq gnuplot-nox xfsprogs e2fsprogs util-linux
	libleveldb-dev librocksdb-dev
	libuv1-dev libraft-dev
	clang clang-format
	groff-base
)

missing=()
for pkg in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$pkg")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup: all ${#packages[@]} packages already installed"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "setup: not root and no sudo; cannot install: ${missing[*]}" >&2
		exit 1
	fi
fi

"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
