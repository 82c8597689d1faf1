/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hist.c - the log-linear latency histogram of uwal-bench (see hist.h).
 *
 * Bucket layout, with S = HIST_SUB = 2^b:
 *   v < S:   bucket v (exact).
 *   v >= S:  e = floor(log2 v) >= b, shift = e - b; the top b+1 bits of v,
 *            m = v >> shift, lie in [S, 2S); bucket = (shift + 1) * S + m - S.
 * Each octave thus owns S consecutive buckets and bucket indexes grow with
 * v, so walking the array in order walks the values in order.
 */
#include "hist.h"
#include "bench.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t hist_bucket_of(uint64_t v)
{
	if (v < HIST_SUB)
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = e - HIST_SUB_BITS;
	return (size_t)(shift + 1) * HIST_SUB + (size_t)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_low(size_t idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
	uint64_t m = HIST_SUB + idx % HIST_SUB;
	return m << shift;
}

uint64_t hist_bucket_high(size_t idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
	/* low + 2^shift - 1; written so the last bucket ends at UINT64_MAX
	 * without overflowing. */
	return hist_bucket_low(idx) + ((UINT64_C(1) << shift) - 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (size_t i = 0; i < HIST_NBUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	dst->sumsq += src->sumsq;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_bucket_value(const struct hist *h, size_t idx)
{
	uint64_t v = hist_bucket_high(idx);
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p <= 0.0)
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* rank = ceil(p/100 * count), at least 1: the rank-th smallest sample.
	 * p is a decimal like 99.9 that binary floating point holds only
	 * nearly: a hair of tolerance keeps 99.9 % of 1000 at rank 999. */
	double want = p * (double)h->count / 100.0;
	uint64_t rank = (uint64_t)ceil(want - 1e-9);
	if (rank == 0)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return hist_bucket_value(h, i);
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

double hist_stddev(const struct hist *h)
{
	if (h->count < 2)
		return 0.0;
	double n = (double)h->count;
	double mean = (double)h->sum / n;
	double var = h->sumsq / n - mean * mean;
	return var > 0 ? sqrt(var) : 0.0;
}

uint64_t sync_hist_count(const uwal_stats *st)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < UWAL_HIST_BUCKETS; b++)
		n += st->sync_hist[b];
	return n;
}

uint64_t sync_hist_percentile(const uwal_stats *st, double p)
{
	uint64_t n = sync_hist_count(st);
	if (n == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < UWAL_HIST_BUCKETS; b++) {
		seen += st->sync_hist[b];
		if (seen >= rank)
			return b + 1 < UWAL_HIST_BUCKETS ? uwal_hist_bucket_low(b + 1) - 1
							 : uwal_hist_bucket_low(b);
	}
	return 0;
}
