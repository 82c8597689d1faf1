/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bench_stats.c - the numbers uwal-bench reports: percentiles, mean
 * and standard deviation from its latency histogram, fio-style number
 * formatting, and the JSON writer's escaping and structure.
 *
 * A percentile is defined as fio and most tools define it: the rank-th
 * smallest sample with rank = ceil(p/100 * N). The histogram reports the
 * highest value of the bucket holding that sample, clamped to the exact
 * minimum and maximum, so it is never below the true percentile and at
 * most 1/64 above it; below 128 ns it is exact.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static struct hist h;

static void fresh(void)
{
	hist_init(&h);
}

TestSuite(hist, .init = fresh);

Test(hist, an_empty_histogram_reports_zero)
{
	cr_assert_eq(hist_percentile(&h, 50), 0);
	cr_assert_float_eq(hist_mean(&h), 0, 1e-12);
	cr_assert_float_eq(hist_stddev(&h), 0, 1e-12);
}

Test(hist, small_values_are_exact)
{
	for (uint64_t v = 1; v <= 100; v++)
		hist_record(&h, v);
	cr_assert_eq(hist_percentile(&h, 1), 1);
	cr_assert_eq(hist_percentile(&h, 50), 50);
	cr_assert_eq(hist_percentile(&h, 90), 90);
	cr_assert_eq(hist_percentile(&h, 99), 99);
	cr_assert_eq(hist_percentile(&h, 99.5), 100, "rank ceil(99.5) = 100");
	cr_assert_eq(hist_percentile(&h, 100), 100);
	cr_assert_float_eq(hist_mean(&h), 50.5, 1e-9);
}

Test(hist, a_single_repeated_value_is_every_percentile)
{
	for (int i = 0; i < 1000; i++)
		hist_record(&h, 1234567);
	for (unsigned i = 0; i < 17; i++)
		cr_assert_eq(hist_percentile(&h, bench_default_percentiles[i]), 1234567,
			     "clamped to the exact min and max");
	cr_assert_float_eq(hist_stddev(&h), 0, 1e-6);
}

Test(hist, a_rare_stall_shows_only_in_the_top_percentiles)
{
	for (int i = 0; i < 999; i++)
		hist_record(&h, 100);
	hist_record(&h, 50000000); /* one 50 ms stall in 1000 calls */
	cr_assert_eq(hist_percentile(&h, 50), 100);
	cr_assert_eq(hist_percentile(&h, 99.9), 100, "rank 999 is still a fast call");
	cr_assert_eq(hist_percentile(&h, 99.95), 50000000);
	cr_assert_eq(hist_percentile(&h, 99.99), 50000000);
	cr_assert_eq(h.max, 50000000);
}

Test(hist, mean_and_population_stddev)
{
	static const uint64_t v[] = {2, 4, 4, 4, 5, 5, 7, 9};
	for (size_t i = 0; i < 8; i++)
		hist_record(&h, v[i]);
	cr_assert_float_eq(hist_mean(&h), 5.0, 1e-12);
	cr_assert_float_eq(hist_stddev(&h), 2.0, 1e-12);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

Test(hist, percentiles_bound_the_exact_ones_within_one_bucket)
{
	enum { N = 20000 };
	static uint64_t v[N];
	uint64_t s = 88172645463325252ull;
	for (int i = 0; i < N; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		/* log-uniform from 1 us to about 100 ms, like latencies */
		v[i] = (uint64_t)(1000.0 * pow(10, (double)(s % 100000) / 20000.0));
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	static const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99, 100};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)ceil(ps[i] * N / 100.0 - 1e-9);
		uint64_t exact = v[rank - 1], got = hist_percentile(&h, ps[i]);
		cr_assert_geq(got, exact, "p%g: %llu < exact %llu", ps[i], (unsigned long long)got,
			      (unsigned long long)exact);
		cr_assert_leq((double)got, (double)exact * (1.0 + 1.0 / HIST_SUB) + 1,
			      "p%g: %llu too far above %llu", ps[i], (unsigned long long)got,
			      (unsigned long long)exact);
	}
}

Test(hist, merging_equals_recording_into_one)
{
	struct hist a, b;
	hist_init(&a);
	hist_init(&b);
	for (uint64_t i = 1; i < 5000; i++) {
		hist_record(i % 3 ? &a : &b, i * 37);
		hist_record(&h, i * 37);
	}
	hist_merge(&a, &b);
	cr_assert_eq(a.count, h.count);
	cr_assert_eq(a.sum, h.sum);
	cr_assert_eq(a.min, h.min);
	cr_assert_eq(a.max, h.max);
	cr_assert_eq(memcmp(a.buckets, h.buckets, sizeof(a.buckets)), 0);
	cr_assert_float_eq(hist_stddev(&a), hist_stddev(&h), 1e-6);
}

Test(hist, buckets_cover_values_in_order)
{
	uint64_t prev_bucket = 0;
	for (uint64_t v = 0; v < 1000000; v += 1 + v / 50) {
		size_t b = hist_bucket_of(v);
		cr_assert_lt(b, HIST_NBUCKETS);
		cr_assert_leq(hist_bucket_low(b), v);
		cr_assert_geq(hist_bucket_high(b), v);
		cr_assert_geq(b, prev_bucket, "buckets grow with the value");
		prev_bucket = b;
	}
	cr_assert_eq(hist_bucket_high(hist_bucket_of(UINT64_MAX)), UINT64_MAX);
}

/* ---- number formatting ----------------------------------------------------- */

Test(format, fio_style_numbers)
{
	char b[32];
	fmt_num(b, sizeof(b), 2907, 1000, "");
	cr_assert_str_eq(b, "2907");
	fmt_num(b, sizeof(b), 79449, 1000, "");
	cr_assert_str_eq(b, "79.4k");
	fmt_num(b, sizeof(b), 699904, 1000, "");
	cr_assert_str_eq(b, "700k");
	fmt_num(b, sizeof(b), 363 * 1024.0, 1024, "B/s");
	cr_assert_str_eq(b, "363KiB/s");
	fmt_num(b, sizeof(b), 91.5e6, 1000, "B/s");
	cr_assert_str_eq(b, "91.5MB/s");
}

/* ---- JSON writer --------------------------------------------------------- */

Test(jsonw, nested_values_and_escapes)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	struct jsonw w;
	jw_init(&w, f);
	jw_object(&w, NULL);
	jw_string(&w, "s", "a\"b\\c\nd\x01");
	jw_u64(&w, "u", UINT64_MAX);
	jw_i64(&w, "i", -5);
	jw_double(&w, "d", 1.5);
	jw_double(&w, "nan", NAN);
	jw_bool(&w, "t", true);
	jw_array(&w, "a");
	jw_u64(&w, NULL, 1);
	jw_object(&w, NULL);
	jw_end_object(&w);
	jw_end_array(&w);
	jw_array(&w, "empty");
	jw_end_array(&w);
	jw_end_object(&w);
	jw_finish(&w);
	fclose(f);
	const char *want = "{\n"
			   "  \"s\" : \"a\\\"b\\\\c\\nd\\u0001\",\n"
			   "  \"u\" : 18446744073709551615,\n"
			   "  \"i\" : -5,\n"
			   "  \"d\" : 1.500000,\n"
			   "  \"nan\" : 0.000000,\n"
			   "  \"t\" : true,\n"
			   "  \"a\" : [\n"
			   "    1,\n"
			   "    {}\n"
			   "  ],\n"
			   "  \"empty\" : []\n"
			   "}\n";
	cr_assert_str_eq(buf, want);
	double x;
	static const char *const path[] = {"u", NULL};
	cr_assert_eq(json_find_number(buf, path, &x), 0, "our reader reads our writer");
	free(buf);
}
