/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hist.h - a log-linear latency histogram for uwal-bench.
 *
 * Values are unsigned 64-bit (the benchmark records nanoseconds). Values
 * below HIST_SUB are counted exactly; above, every power of two [2^e,
 * 2^(e+1)) is cut into HIST_SUB equal sub-buckets, so a bucket's width is
 * at most 1/HIST_SUB of its value (1.6 % with HIST_SUB_BITS 6) over the
 * whole 64-bit range, in a fixed array of HIST_NBUCKETS counters.
 *
 * Recording is a few instructions and no allocation: each thread records
 * into its own histogram and the histograms are merged once at the end, so
 * the hot path takes no lock and shares no cache line.
 *
 * Percentiles: hist_percentile(h, p) returns the smallest bucket value v
 * such that at least p % of the samples are <= v, reported as the highest
 * value of that bucket and clamped to the exact minimum and maximum seen.
 * The bucket accessors let an exporter (fio-style json+) walk every
 * non-empty bucket. A percentile is thus never below the true one and at
 * most 1/HIST_SUB above it.
 */
#ifndef UWAL_BENCH_HIST_H
#define UWAL_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Exact buckets [0, HIST_SUB), then one group of HIST_SUB per octave
 * 2^HIST_SUB_BITS .. 2^63. */
#define HIST_NBUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count; /* samples recorded */
	uint64_t sum;   /* sum of the samples (for the mean) */
	double sumsq;   /* sum of their squares (for the standard deviation) */
	uint64_t min;   /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t buckets[HIST_NBUCKETS];
};

/* Empty h. */
void hist_init(struct hist *h);

/* Index of the bucket that counts v; always < HIST_NBUCKETS. */
size_t hist_bucket_of(uint64_t v);

/* Smallest and largest value that bucket idx counts. */
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx);

/* Count one sample. Not thread safe: one writer per histogram. */
static inline void hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_bucket_of(v)]++;
	h->count++;
	h->sum += v;
	h->sumsq += (double)v * (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Add every sample of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The p-th percentile (0 < p <= 100) as described above; 0 if empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/* Mean of the samples; 0 if empty. */
double hist_mean(const struct hist *h);

/* Population standard deviation of the samples (as fio reports it);
 * 0 with fewer than two samples. */
double hist_stddev(const struct hist *h);

/* The value a bucket stands for in reports (fio's json+ "bins" keys): its
 * highest value, clamped to the minimum and maximum seen, so that it agrees
 * with hist_percentile(). */
uint64_t hist_bucket_value(const struct hist *h, size_t idx);

#endif /* UWAL_BENCH_HIST_H */
