#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""perf/blocktrace.py - where does a stalled fdatasync spend its time?

blocktrace.py PERF_SCRIPT_TXT CALLS_CSV T0_NS IRQ
PERF_SCRIPT_TXT: `perf script -F tid,cpu,time,event,trace` of a
`perf record -k CLOCK_MONOTONIC -a -e block:block_rq_issue
-e irq:irq_handler_entry -e sched:sched_switch` taken around one stall
run (CALLS_CSV and T0_NS from that run; IRQ: the disk's virtio request
interrupt, or -). Neither block:block_rq_complete nor irq:irq_handler_entry
is reliable in this VM: most completions (taken while the CPU idles) never
show in the trace although /proc/interrupts counts them. So a request's
"device time" runs from its issue to the next switch-in of a thread of the
loop's process (its waiter, woken by the completion: an iou-wrk worker or
the loop itself) or the next disk interrupt seen, whichever comes first:
the time outside the guest (virtio, host, disk) plus the wake-up. Requests
here are serial (data write, then the cache flush). Prints it per request
type, and for the
calls over 5 ms: how much of their time a request was outstanding at the
device, the longest request inside them, and how idle each guest CPU was
during them compared with the whole run.
"""
import re
import sys
from collections import defaultdict

STALL_NS = 5_000_000

ev_re = re.compile(r'^\s*(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
issue_re = re.compile(r'^(\d+,\d+)\s+(\S+)\s+(\d+)\s+\(.*?\)\s+(\d+)\s+\+\s+(\d+)')
sw_re = re.compile(r'next_pid=(\d+)')


def pct(v, p):
    if not v:
        return float('nan')
    v = sorted(v)
    return v[int((len(v) - 1) * p)]


def main():
    txt, calls_csv, t0, irq = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    irq_re = re.compile(r'irq=' + irq + r'\b')
    comm_re = re.compile(r'next_comm=(\S+)')
    pending = []          # (rwbs, sector, t_issue)
    reqs = []             # (rwbs, t_issue, t_complete)
    cur = {}              # cpu -> (pid, since)
    idle = defaultdict(list)   # cpu -> [(a, b)] intervals running pid 0
    t_first = t_last = None
    big = []              # (t, bytes) of data requests not issued by the loop's threads
    for line in open(txt, errors='replace'):
        m = ev_re.match(line)
        if not m:
            continue
        cpu, t, ev, rest = int(m.group(2)), int(round(float(m.group(3)) * 1e9)), m.group(4), m.group(5)
        t_first = t if t_first is None else t_first
        t_last = t
        if ev == 'block:block_rq_issue':
            mi = issue_re.match(rest)
            if mi:
                pending.append((mi.group(2), mi.group(4), t))
                nbytes = int(mi.group(3))
                issuer = rest.rsplit('[', 1)[-1]
                if nbytes and not issuer.startswith(('iou-wrk', 'stall')):
                    big.append((t, nbytes))
        elif ev == 'irq:irq_handler_entry':
            if irq_re.match(rest):
                for r, _, ti in pending:
                    reqs.append((r, ti, t))
                pending = []
        elif ev == 'sched:sched_switch':
            ms = sw_re.search(rest)
            if not ms:
                continue
            nxt = int(ms.group(1))
            mc = comm_re.search(rest)
            if mc and (mc.group(1).startswith('iou-wrk') or mc.group(1) == 'stall') and pending:
                for r, _, ti in pending:
                    reqs.append((r, ti, t))
                pending = []
            if cpu in cur and cur[cpu][0] == 0:
                idle[cpu].append((cur[cpu][1], t))
            cur[cpu] = (nxt, t)
    for cpu, (pid, since) in cur.items():
        if pid == 0:
            idle[cpu].append((since, t_last))

    by = defaultdict(list)
    for r, a, b in reqs:
        by[r].append((b - a) / 1e3)
    print('device time per request (issue -> waiter switched in), us:')
    for r in sorted(by):
        v = by[r]
        print(f'  {r:5s} n={len(v):6d} p50={pct(v, .5):8.0f} p99={pct(v, .99):8.0f} max={max(v):8.0f}')

    stalls, normal = [], []
    for line in open(calls_csv):
        if line.startswith('t_ns'):
            continue
        a, lat = map(int, line.split(','))
        (stalls if lat > STALL_NS else normal).append((t0 + a, t0 + a + lat))
    if not stalls:
        print('no call over 5 ms in this run')
        return

    def covered(intervals, a, b):
        """length of [a, b] covered by the union of intervals"""
        segs = sorted((max(x, a), min(y, b)) for x, y in intervals if y > a and x < b)
        tot, end = 0, a
        for x, y in segs:
            if y <= end:
                continue
            tot += y - max(x, end)
            end = y
        return tot

    ivs = [(a, b) for _, a, b in reqs]
    stall_ns = sum(b - a for a, b in stalls)
    dev = sum(covered(ivs, a, b) for a, b in stalls)
    longest = []
    for a, b in stalls:
        inside = [(r, y - x) for r, x, y in reqs if y > a and x < b]
        if inside:
            longest.append(max(inside, key=lambda z: z[1]))
    kinds = defaultdict(int)
    for r, d in longest:
        kinds[r] += 1
    print(f'{len(stalls)} calls over 5 ms, {stall_ns / 1e6:.1f} ms in all; a request was outstanding at the device '
          f'{100 * dev / stall_ns:.1f}% of that time')
    print('  longest device request inside each stall: ' +
          ', '.join(f'{k} {n}x' for k, n in sorted(kinds.items())) +
          f'; its length / the stall: median {pct([d / (b - a) for (r, d), (a, b) in zip(longest, stalls)], .5):.2f}')
    span = (t_last - t_first) if t_last and t_first else 1
    b_st = sum(nb for t, nb in big if any(a <= t <= b for a, b in stalls))
    b_all = sum(nb for _, nb in big)
    print(f'  data requests issued by other tasks: {b_st / 1e6:.1f} MB during the stalls '
          f'({b_st / 1e3 / (stall_ns / 1e6):.0f} KB/ms), {b_all / 1e6:.1f} MB in the whole trace '
          f'({b_all / 1e3 / (span / 1e6):.0f} KB/ms)')
    print(f'  stalls with such a request issued in them or in the 20 ms before: '
          f'{sum(1 for a, b in stalls if any(a - 20e6 <= t <= b for t, _ in big))} of {len(stalls)}')
    import bisect
    bt = sorted(t for t, _ in big)
    def near(a, b):
        i = bisect.bisect_left(bt, a - 20e6)
        return i < len(bt) and bt[i] <= b
    samp = normal[::max(1, len(normal) // 2000)]
    if samp:
        print(f'  baseline: calls of 5 ms or less with such a request in them or the 20 ms before: '
              f'{100 * sum(1 for a, b in samp if near(a, b)) / len(samp):.0f}%')
    for cpu in sorted(idle):
        i_st = sum(covered(idle[cpu], a, b) for a, b in stalls) / stall_ns
        i_all = covered(idle[cpu], t_first, t_last) / span
        print(f'  cpu{cpu} idle {100 * i_st:.1f}% during stalls, {100 * i_all:.1f}% over the whole trace')


if __name__ == '__main__':
    main()
