#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""perf/summarize.py KIND FILE - min/median/max per variant of the key=value
lines that perf/stall.sh (KIND=stall) or perf/handoff.sh (KIND=handoff)
collect, as a Markdown table; cells are "median (min–max)"."""
import statistics
import sys

COLS = {
    'stall': ['rate', 'p50_us', 'p999_us', 'max_us', 'stalls', 'gap_ms', 'R', 'steal_st', 'steal_ot',
              'idle_st', 'idle_ot', 'kb_st', 'kb_ot', 'delay_st_us', 'delay_ot_us', 'probe_gaps_in_stall', 'cpu_us_call', 'cs_call', 'foreign_cpu_pct', 'load1'],
    'handoff': ['rt_s', 'p50_us', 'p99_us', 'cpu_us_rt', 'cs_rt', 'fsync_s', 'foreign_cpu_pct', 'load1'],
}


def num(x):
    try:
        return float(x)
    except ValueError:
        return float('nan')


def fmt(v):
    if v != v:
        return '–'
    if abs(v) >= 100:
        return f'{v:,.0f}'
    if abs(v) >= 10:
        return f'{v:.1f}'
    return f'{v:.2f}'


def main():
    kind, path = sys.argv[1], sys.argv[2]
    groups, order = {}, []
    for line in open(path):
        line = line.replace("RESULT ", "")
        kv = dict(f.split('=', 1) for f in line.split() if '=' in f)
        if 'variant' not in kv:
            continue
        v = kv['variant']
        if v not in groups:
            groups[v] = []
            order.append(v)
        groups[v].append(kv)
    cols = [c for c in COLS[kind] if any(c in kv for g in groups.values() for kv in g)]
    print('| variant | n | ' + ' | '.join(cols) + ' |')
    print('|---|---:|' + '---:|' * len(cols))
    for v in order:
        cells = []
        for c in cols:
            vals = [num(kv[c]) for kv in groups[v] if c in kv]
            vals = [x for x in vals if x == x]
            if not vals:
                cells.append('–')
                continue
            med = statistics.median(vals)
            if len(vals) == 1:
                cells.append(fmt(med))
            else:
                cells.append(f'{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})')
        print(f'| {v} | {len(groups[v])} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
