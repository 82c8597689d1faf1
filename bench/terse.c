/* SPDX-License-Identifier: Apache-2.0 */
/*
 * terse.c - results in fio's terse layout, version 3
 * (--output-format=terse): one line per job, fields separated by ';', in
 * the order fio 3.x prints them, so that scripts written for fio's terse
 * output read ours:
 *
 *   1-5     terse version (3); version (uwal-bench-x.y.z); job name;
 *           group id; error
 *   6-46    read: KiB; KiB/s; IOPS; runtime ms; slat min;max;mean;stdev;
 *           clat min;max;mean;stdev; 20 clat percentiles "p%=value";
 *           lat min;max;mean;stdev; bw min;max;agg %;mean;stdev
 *   47-87   write: the same fields
 *   88-92   CPU: user %; system %; context switches; major; minor faults
 *   93-99   IO depths 1, 2, 4, 8, 16, 32, >= 64 (%)
 *   100-109 latency distribution (% of calls) up to 2, 4, 10, 20, 50,
 *           100, 250, 500, 750, 1000 us
 *   110-121 and up to 2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000,
 *           over 2000 ms
 *   122-130 the block device, when known: name; read ios; write ios; read
 *           merges; write merges; read ticks; write ticks; time in queue;
 *           utilisation %
 *   then    the job's description, when it has one
 *
 * Latencies are in microseconds, as fio's terse output has them. What the
 * fields mean for uwal follows jsonout.c: one I/O is one write call, KiB
 * count value bytes, clat is the whole call (slat is zero and lat equals
 * clat), read is empty, every call is counted at the job's iodepth (1: one
 * call in flight per thread), and the device figures are of the job's
 * measured window.
 */
#include "bench.h"

#include <stdio.h>
#include <sys/time.h>

static double us(double ns)
{
	return ns / 1000.0;
}

static void empty_lat(FILE *f)
{
	fprintf(f, ";0;0;%f;%f", 0.0, 0.0);
}

static void lat(FILE *f, const struct hist *h)
{
	if (!h->count) {
		empty_lat(f);
		return;
	}
	fprintf(f, ";%llu;%llu;%f;%f", (unsigned long long)(h->min / 1000),
		(unsigned long long)(h->max / 1000), us(hist_mean(h)), us(hist_stddev(h)));
}

/* fio prints 20 percentiles, padding the list with "0%=0". */
static void percentiles(FILE *f, const struct job *job, const struct hist *h)
{
	unsigned i = 0;
	for (; i < job->npercentiles && i < 20; i++)
		fprintf(f, ";%f%%=%llu", job->percentiles[i],
			(unsigned long long)(h->count ? hist_percentile(h, job->percentiles[i]) /
								1000
						      : 0));
	for (; i < 20; i++)
		fprintf(f, ";0%%=0");
}

/* A direction with no I/O (read): zeros, and the percentile list with 0s,
 * as fio prints it. */
static void empty_dir(FILE *f, const struct job *job)
{
	struct hist none = {.count = 0};
	fprintf(f, ";0;0;0;0");
	empty_lat(f); /* slat */
	empty_lat(f); /* clat */
	percentiles(f, job, &none);
	empty_lat(f); /* lat */
	fprintf(f, ";0;0;%f%%;%f;%f", 0.0, 0.0, 0.0);
}

static void write_dir(FILE *f, const struct job *job, const struct job_result *res)
{
	double s = (double)res->runtime_ns / 1e9;
	uint64_t bytes = res->records * (uint64_t)job->bs;
	double kib_per_call = (double)job->bs * job->records_per_call / 1024.0;
	fprintf(f, ";%llu;%llu;%llu;%llu", (unsigned long long)(bytes / 1024),
		(unsigned long long)(s > 0 ? (double)bytes / 1024.0 / s : 0),
		(unsigned long long)(res->calls_per_s + 0.5),
		(unsigned long long)(res->runtime_ns / 1000000));
	empty_lat(f); /* slat: uwal has no submission stage */
	lat(f, &res->lat);
	percentiles(f, job, &res->lat);
	lat(f, &res->lat); /* lat = clat */
	fprintf(f, ";%llu;%llu;%f%%;%f;%f", (unsigned long long)(res->iops_min * kib_per_call),
		(unsigned long long)(res->iops_max * kib_per_call), res->calls ? 100.0 : 0.0,
		res->iops_mean * kib_per_call, res->iops_stddev * kib_per_call);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cpu(FILE *f, const struct job_result *res)
{
	double s = (double)res->runtime_ns / 1e9;
	const struct rusage *a = &res->io0.ru, *b = &res->io1.ru;
	double usr = s > 0 ? 100.0 * (tv_s(b->ru_utime) - tv_s(a->ru_utime)) / s : 0;
	double sys = s > 0 ? 100.0 * (tv_s(b->ru_stime) - tv_s(a->ru_stime)) / s : 0;
	fprintf(f, ";%f%%;%f%%;%lld;%lld;%lld", usr, sys,
		(long long)((b->ru_nvcsw - a->ru_nvcsw) + (b->ru_nivcsw - a->ru_nivcsw)),
		(long long)(b->ru_majflt - a->ru_majflt), (long long)(b->ru_minflt - a->ru_minflt));
}

/* % of calls with a latency in [lo, hi) nanoseconds. */
static double share(const struct hist *h, uint64_t lo, uint64_t hi)
{
	if (!h->count)
		return 0;
	uint64_t c = 0;
	for (size_t k = 0; k < HIST_NBUCKETS; k++) {
		uint64_t v = hist_bucket_value(h, k);
		if (h->buckets[k] && v >= lo && v < hi)
			c += h->buckets[k];
	}
	return 100.0 * (double)c / (double)h->count;
}

static void distribution(FILE *f, const struct hist *h)
{
	static const uint64_t up[] = {2, 4, 10, 20, 50, 100, 250, 500, 750, 1000};
	static const uint64_t up_ms[] = {2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000};
	uint64_t lo = 1000; /* fio's microsecond buckets start at 1 us */
	for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
		fprintf(f, ";%3.2f%%", share(h, lo, up[i] * 1000));
		lo = up[i] * 1000;
	}
	for (size_t i = 0; i < sizeof(up_ms) / sizeof(up_ms[0]); i++) {
		fprintf(f, ";%3.2f%%", share(h, lo, up_ms[i] * 1000000));
		lo = up_ms[i] * 1000000;
	}
	fprintf(f, ";%3.2f%%", share(h, lo, UINT64_MAX));
}

static void disk(FILE *f, const struct job_result *res)
{
	const struct sysio *a = &res->io0, *b = &res->io1;
	if (!res->dev.ok || !a->dev_ok || !b->dev_ok)
		return;
	double ms = (double)res->runtime_ns / 1e6;
	double util = ms > 0 ? 100.0 * (double)(b->dev.io_ticks - a->dev.io_ticks) / ms : 0;
	fprintf(f, ";%s;%llu;%llu;%llu;%llu;%llu;%llu;%llu;%3.2f%%", res->dev.name,
		(unsigned long long)(b->dev.rd_ios - a->dev.rd_ios),
		(unsigned long long)(b->dev.wr_ios - a->dev.wr_ios),
		(unsigned long long)(b->dev.rd_merges - a->dev.rd_merges),
		(unsigned long long)(b->dev.wr_merges - a->dev.wr_merges),
		(unsigned long long)(b->dev.rd_ticks - a->dev.rd_ticks),
		(unsigned long long)(b->dev.wr_ticks - a->dev.wr_ticks),
		(unsigned long long)(b->dev.time_in_queue - a->dev.time_in_queue),
		util > 100 ? 100 : util);
}

void terse_write(FILE *f, const struct job *job, const struct job_result *res, size_t groupid)
{
	int error = !res->ran ? -res->setup_error : res->errors ? -res->first_error : 0;
	fprintf(f, "%d;%s;%s;%zu;%d", TERSE_VERSION, BENCH_VERSION, job->name, groupid, error);
	empty_dir(f, job); /* read */
	write_dir(f, job, res);
	cpu(f, res);
	/* IO depths 1, 2, 4, ..., >= 64: every call at the job's iodepth (the
	 * bucket of the largest power of two not above it) */
	unsigned bucket = 0;
	while (bucket < 6 && (2u << bucket) <= job->iodepth)
		bucket++;
	for (unsigned i = 0; i < 7; i++)
		fprintf(f, ";%3.1f%%", res->calls && i == bucket ? 100.0 : 0.0);
	distribution(f, &res->lat);
	disk(f, res);
	if (job->description[0])
		fprintf(f, ";%s", job->description);
	fputc('\n', f);
}
