#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/dump-memory.sh - what `uwal stat`, `uwal dump` and `uwal verify` hold
# in memory on a big log: builds the log with perf/open-time (RECORDS
# 100-byte values in 64 MiB segments, index files written; 85M records is
# about 10 GB), then runs each command once (output to /dev/null) and
# prints its wall time, CPU time and peak resident memory. Point UWAL_BUILD
# at another build directory to measure that build's tool on the same log.
#
#   perf/dump-memory.sh DIR [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: perf/dump-memory.sh DIR [RECORDS]}
records=${2:-85000000}
build=${UWAL_BUILD:-build}
make -s -C perf open-time
[ -e "$dir" ] || perf/open-time "$dir" "$records" 1 >/dev/null
du -sh "$dir"
for cmd in stat dump verify; do
	python3 - "$build" "$cmd" "$dir" <<'PY'
import os, resource, subprocess, sys, time
build, cmd, d = sys.argv[1:]
env = dict(os.environ, LD_LIBRARY_PATH=os.path.abspath(build))
t = time.time()
p = subprocess.run([os.path.join(build, "tool", "uwal"), cmd, d],
                   stdout=subprocess.DEVNULL, env=env)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"uwal {cmd:6s}  exit {p.returncode}  wall {time.time() - t:6.1f} s  "
      f"cpu {r.ru_utime + r.ru_stime:6.1f} s  peak RSS {r.ru_maxrss / 1024:7.1f} MiB")
PY
done
