/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonout.c - results in fio's JSON layout (--output-format=json, json+).
 *
 * The document has fio 3.x's shape, so that tools that read fio's JSON
 * read ours: "uwal-bench version" (for "fio version"), "timestamp",
 * "timestamp_ms", "time", "global options", jobs[] and "disk_util". Each
 * job has "jobname", "groupid", "error", "job options", empty "read" and
 * "trim" objects, and "write" with io_bytes, io_kbytes, bw_bytes, bw
 * (KiB/s), iops, runtime (ms), total_ios, clat_ns {min, max, mean,
 * stddev, N, percentile {"1.000000": ...}}, lat_ns, the iops and bw
 * samples; then "sync", "job_runtime", "usr_cpu", "sys_cpu", "ctx",
 * "majf", "minf", fio's latency_ns/us/ms distributions, and "uwal": the
 * engine's own counters and the system's byte counts. json+ adds
 * clat_ns.bins {"<ns>": count} as fio's json+ does.
 *
 * Meanings that differ from fio, by necessity:
 *  - one I/O is one write call (records_per_call records of bs bytes of
 *    value); io_bytes counts value bytes only;
 *  - clat_ns is the whole call (uwal has no submission stage to split
 *    off; slat_ns is empty and lat_ns equals clat_ns). With rate_iops it
 *    is measured from the call's scheduled arrival, and uwal.open_loop
 *    holds the service time from the actual issue;
 *  - sync.total_ios is the number of fdatasyncs uwal issued
 *    (uwal_stats.fsyncs). uwal does not time them, so sync.lat_ns holds
 *    only "N" (the same count) and "timed": false, never made-up times;
 *  - usr_cpu and sys_cpu are of the whole process over the window, in %
 *    of one CPU (so up to 100 x CPUs).
 * Every job, whatever its engine, also has "engine" and "summary": records,
 * records/s, p50/p99.9/max latency and the cost per record (CPU usec,
 * context switches, steal); "uwal" is there for engine=uwal only.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static double secs(const struct job_result *res)
{
	return (double)res->runtime_ns / 1e9;
}

static double per(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

static void empty_lat(struct jsonw *w, const char *key)
{
	jw_object(w, key);
	jw_u64(w, "min", 0);
	jw_u64(w, "max", 0);
	jw_double(w, "mean", 0);
	jw_double(w, "stddev", 0);
	jw_u64(w, "N", 0);
	jw_end_object(w);
}

static void empty_dir(struct jsonw *w, const char *key)
{
	jw_object(w, key);
	jw_u64(w, "io_bytes", 0);
	jw_u64(w, "io_kbytes", 0);
	jw_u64(w, "bw_bytes", 0);
	jw_u64(w, "bw", 0);
	jw_double(w, "iops", 0);
	jw_u64(w, "runtime", 0);
	jw_u64(w, "total_ios", 0);
	jw_u64(w, "short_ios", 0);
	jw_u64(w, "drop_ios", 0);
	empty_lat(w, "slat_ns");
	empty_lat(w, "clat_ns");
	empty_lat(w, "lat_ns");
	jw_end_object(w);
}

static void pct_key(char *buf, size_t len, double p)
{
	snprintf(buf, len, "%f", p);
}

static void lat_obj(struct jsonw *w, const char *key, const struct hist *h, const struct job *job,
		    bool pcts, bool bins)
{
	jw_object(w, key);
	jw_u64(w, "min", h->count ? h->min : 0);
	jw_u64(w, "max", h->max);
	jw_double(w, "mean", hist_mean(h));
	jw_double(w, "stddev", hist_stddev(h));
	jw_u64(w, "N", h->count);
	if (pcts && h->count) {
		jw_object(w, "percentile");
		for (unsigned i = 0; i < job->npercentiles; i++) {
			char k[32];
			pct_key(k, sizeof(k), job->percentiles[i]);
			jw_u64(w, k, hist_percentile(h, job->percentiles[i]));
		}
		jw_end_object(w);
	}
	if (bins && h->count) {
		jw_object(w, "bins");
		for (size_t i = 0; i < HIST_NBUCKETS; i++) {
			if (!h->buckets[i])
				continue;
			char k[32];
			snprintf(k, sizeof(k), "%llu", (unsigned long long)hist_bucket_value(h, i));
			jw_u64(w, k, h->buckets[i]);
		}
		jw_end_object(w);
	}
	jw_end_object(w);
}

static void write_obj(struct jsonw *w, const struct job *job, const struct job_result *res,
		      bool plus)
{
	double s = secs(res);
	uint64_t bytes = res->records * (uint64_t)job->bs;
	double bw_bytes = s > 0 ? (double)bytes / s : 0;
	double kib_per_call = (double)job->bs * job->records_per_call / 1024.0;
	jw_object(w, "write");
	jw_u64(w, "io_bytes", bytes);
	jw_u64(w, "io_kbytes", bytes / 1024);
	jw_u64(w, "bw_bytes", (uint64_t)bw_bytes);
	jw_u64(w, "bw", (uint64_t)(bw_bytes / 1024));
	jw_double(w, "iops", res->calls_per_s);
	jw_u64(w, "runtime", res->runtime_ns / 1000000);
	jw_u64(w, "total_ios", res->calls);
	jw_u64(w, "short_ios", 0);
	jw_u64(w, "drop_ios", 0);
	empty_lat(w, "slat_ns");
	lat_obj(w, "clat_ns", &res->lat, job, true, plus);
	lat_obj(w, "lat_ns", &res->lat, job, false, false);
	jw_double(w, "bw_min", res->iops_min * kib_per_call);
	jw_double(w, "bw_max", res->iops_max * kib_per_call);
	jw_double(w, "bw_agg", 100.0);
	jw_double(w, "bw_mean", res->iops_mean * kib_per_call);
	jw_double(w, "bw_dev", res->iops_stddev * kib_per_call);
	jw_u64(w, "bw_samples", res->iops_samples);
	jw_double(w, "iops_min", res->iops_min);
	jw_double(w, "iops_max", res->iops_max);
	jw_double(w, "iops_mean", res->iops_mean);
	jw_double(w, "iops_stddev", res->iops_stddev);
	jw_u64(w, "iops_samples", res->iops_samples);
	jw_end_object(w);
}

/* fio's latency_ns/us/ms: % of calls in each range (upper bounds). */
static void lat_dist(struct jsonw *w, const struct hist *h)
{
	static const uint64_t ns[] = {2, 4, 10, 20, 50, 100, 250, 500, 750, 1000};
	static const uint64_t ms[] = {2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000};
	struct {
		const char *key;
		const uint64_t *b;
		size_t n;
		uint64_t unit;
	} groups[] = {
		{"latency_ns", ns, 10, 1},
		{"latency_us", ns, 10, 1000},
		{"latency_ms", ms, 11, 1000000},
	};
	uint64_t lo = 0;
	for (size_t g = 0; g < 3; g++) {
		jw_object(w, groups[g].key);
		for (size_t i = 0; i < groups[g].n; i++) {
			uint64_t hi = groups[g].b[i] * groups[g].unit, c = 0;
			for (size_t k = 0; k < HIST_NBUCKETS && h->count; k++) {
				uint64_t v = hist_bucket_value(h, k);
				if (h->buckets[k] && v >= lo && v < hi)
					c += h->buckets[k];
			}
			char key[32];
			snprintf(key, sizeof(key), "%llu", (unsigned long long)groups[g].b[i]);
			jw_double(w, key, 100.0 * per(c, h->count));
			lo = hi;
		}
		if (g == 2) {
			uint64_t c = 0;
			for (size_t k = 0; k < HIST_NBUCKETS && h->count; k++)
				if (h->buckets[k] && hist_bucket_value(h, k) >= lo)
					c += h->buckets[k];
			jw_double(w, ">=2000", 100.0 * per(c, h->count));
		}
		jw_end_object(w);
	}
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void device_obj(struct jsonw *w, const struct job_result *res)
{
	const struct devinfo *dev = &res->dev;
	const struct sysio *a = &res->io0, *b = &res->io1;
	jw_object(w, "device");
	if (a->dev_ok && b->dev_ok) {
		jw_string(w, "name", dev->name);
		jw_string(w, "source", dev->path);
		jw_string(w, "scope", "whole device, every process and the filesystem journal");
		jw_u64(w, "write_ios", b->dev.wr_ios - a->dev.wr_ios);
		jw_u64(w, "write_bytes", (b->dev.wr_sectors - a->dev.wr_sectors) * 512);
		jw_u64(w, "write_ticks_ms", b->dev.wr_ticks - a->dev.wr_ticks);
		if (a->dev.has_flush) {
			jw_u64(w, "flush_ios", b->dev.flush_ios - a->dev.flush_ios);
			jw_u64(w, "flush_ticks_ms", b->dev.flush_ticks - a->dev.flush_ticks);
		}
	} else {
		jw_string(w, "error", !dev->ok ? dev->why : "unreadable");
	}
	jw_end_object(w);
}

static void uwal_obj(struct jsonw *w, const struct job *job, const struct job_result *res)
{
	const uwal_stats *st = &res->stats;
	double s = secs(res);
	jw_object(w, "uwal");
	jw_u64(w, "numjobs", job->numjobs);
	jw_string(w, "sync", bench_sync_name(job->sync));
	jw_u64(w, "bs", job->bs);
	jw_u64(w, "key_size", job->key_size);
	jw_u64(w, "records_per_call", job->records_per_call);
	jw_u64(w, "records", res->records);
	jw_double(w, "records_per_s", res->records_per_s);
	jw_u64(w, "calls", res->calls);
	jw_double(w, "calls_per_s", res->calls_per_s);
	jw_u64(w, "batches", st->batches);
	jw_double(w, "records_per_batch", per(st->records, st->batches));
	jw_u64(w, "fsyncs", st->fsyncs);
	jw_double(w, "fsyncs_per_s", s > 0 ? (double)st->fsyncs / s : 0);
	jw_double(w, "records_per_fsync", per(st->records, st->fsyncs));
	jw_u64(w, "ring_enters", st->ring_enters);
	jw_double(w, "ring_enters_per_record", per(st->ring_enters, st->records));
	jw_u64(w, "writer_wakeups", st->writer_wakeups);
	jw_u64(w, "writer_sleeps", st->writer_sleeps);
	jw_u64(w, "waiter_sleeps", st->waiter_sleeps);
	jw_u64(w, "waiter_wakes", st->waiter_wakes);
	jw_double(w, "waiter_sleeps_per_record", per(st->waiter_sleeps, st->records));
	jw_u64(w, "rejoin_waits", st->rejoin_waits);
	jw_u64(w, "rejoin_timeouts", st->rejoin_timeouts);
	jw_u64(w, "queue_full", st->queue_full);
	jw_u64(w, "rotations", st->rotations);
	jw_u64(w, "prealloc_waits", st->prealloc_waits);
	jw_u64(w, "segments", st->segments);
	jw_u64(w, "deleted_segments", st->deleted_segments);
	jw_u64(w, "bytes", st->bytes);
	jw_double(w, "bytes_per_record", per(st->bytes, st->records));
	jw_bool(w, "uring", st->uring);
	jw_u64(w, "ring_setup_flags", st->ring_setup_flags);
	jw_u64(w, "ring_features", st->ring_features);
	jw_u64(w, "errors", res->errors);
	jw_i64(w, "first_error", res->first_error);
	jw_string(w, "first_error_str", res->errors ? uwal_strerror(res->first_error) : "");
	jw_i64(w, "close_error", res->close_error);
	if (res->io0.proc_ok && res->io1.proc_ok) {
		jw_u64(w, "process_write_bytes",
		       res->io1.proc_write_bytes - res->io0.proc_write_bytes);
		jw_string(
			w, "process_write_bytes_source",
			"/proc/self/io write_bytes: page-cache memory dirtied (a small write to "
			"a clean large folio counts the whole folio), not bytes sent to the disk");
	}
	device_obj(w, res);
	if (job->rate_iops) {
		jw_object(w, "open_loop");
		jw_u64(w, "rate_iops_per_thread", job->rate_iops);
		jw_string(w, "rate_process", job->rate_poisson ? "poisson" : "linear");
		jw_double(w, "offered_iops", (double)job->rate_iops * job->numjobs);
		jw_double(w, "achieved_iops", res->calls_per_s);
		jw_u64(w, "late_calls", res->late_calls);
		jw_double(w, "late_pct", 100.0 * per(res->late_calls, res->calls));
		lat_obj(w, "service_lat_ns", &res->svc, job, true, false);
		jw_end_object(w);
	}
	jw_end_object(w);
}

static void summary_obj(struct jsonw *w, const struct job *job, const struct job_result *res)
{
	struct job_cost c;
	job_cost(res, &c);
	const struct hist *h = &res->lat;
	jw_object(w, "summary");
	jw_string(w, "engine", bench_engine_name(job->engine));
	jw_string(w, "sync", bench_sync_name(job->sync));
	jw_bool(w, "durable", bench_sync_durable(job->sync));
	jw_u64(w, "numjobs", job->numjobs);
	jw_u64(w, "records_per_call", job->records_per_call);
	jw_u64(w, "iodepth", job->iodepth);
	jw_bool(w, "contention", job->contention);
	jw_u64(w, "records", res->records);
	jw_double(w, "records_per_s", res->records_per_s);
	jw_u64(w, "lat_p50_ns", hist_percentile(h, 50));
	jw_u64(w, "lat_p99_9_ns", hist_percentile(h, 99.9));
	jw_u64(w, "lat_max_ns", h->max);
	jw_double(w, "cpu_s", c.cpu_s);
	jw_double(w, "cpu_us_per_record", c.cpu_us_per_record);
	jw_u64(w, "ctx_voluntary", c.nvcsw);
	jw_u64(w, "ctx_involuntary", c.nivcsw);
	jw_double(w, "ctx_per_record", c.ctx_per_record);
	if (c.steal_ok) {
		jw_double(w, "steal_ms", c.steal_ms);
		jw_double(w, "steal_pct", c.steal_pct);
	}
	jw_end_object(w);
}

static void options_obj(struct jsonw *w, const char *key, const struct optlist *l)
{
	jw_object(w, key);
	for (unsigned i = 0; l && i < l->n; i++)
		jw_string(w, l->v[i].key, l->v[i].value);
	jw_end_object(w);
}

static void job_obj(struct jsonw *w, const struct json_doc *d, size_t i)
{
	const struct job *job = &d->jobs[i];
	const struct job_result *res = &d->res[i];
	int err = res->ran ? res->first_error : res->setup_error;
	jw_object(w, NULL);
	jw_string(w, "jobname", job->name);
	jw_string(w, "engine", bench_engine_name(job->engine));
	jw_u64(w, "groupid", i);
	jw_i64(w, "error", err < 0 ? -err : err);
	jw_u64(w, "eta", 0);
	jw_u64(w, "elapsed", (res->elapsed_ns + 500000000) / 1000000000);
	if (!res->ran) {
		jw_string(w, "error_str", uwal_strerror(res->setup_error));
		jw_string(w, "error_what", res->setup_what);
	}
	options_obj(w, "job options", &job->opts);
	if (job->description[0])
		jw_string(w, "desc", job->description);
	empty_dir(w, "read");
	write_obj(w, job, res, d->plus);
	empty_dir(w, "trim");
	jw_object(w, "sync");
	jw_u64(w, "total_ios", res->stats.fsyncs);
	jw_object(w, "lat_ns");
	{
		/* uwal times each durable batch's write + fdatasync chain
		 * (uwal_stats.sync_hist): fio's sync latency is the fdatasync
		 * alone, this one includes the batch's write. */
		const uwal_stats *st = &res->stats;
		uint64_t n = sync_hist_count(st);
		jw_u64(w, "N", n);
		jw_bool(w, "timed", n > 0);
		jw_bool(w, "includes_write", true);
		if (n) {
			jw_double(w, "mean", (double)st->sync_ns / (double)n);
			jw_object(w, "percentile");
			static const double ps[] = {1, 5, 10, 50, 90, 99, 99.9, 99.99};
			for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
				char k[32];
				snprintf(k, sizeof(k), "%f", ps[i]);
				jw_u64(w, k, sync_hist_percentile(st, ps[i]));
			}
			jw_end_object(w);
		}
	}
	jw_end_object(w);
	jw_end_object(w);
	double s = secs(res);
	const struct rusage *a = &res->io0.ru, *b = &res->io1.ru;
	jw_u64(w, "job_runtime", res->runtime_ns / 1000000);
	jw_double(w, "usr_cpu", s > 0 ? 100.0 * (tv_s(b->ru_utime) - tv_s(a->ru_utime)) / s : 0);
	jw_double(w, "sys_cpu", s > 0 ? 100.0 * (tv_s(b->ru_stime) - tv_s(a->ru_stime)) / s : 0);
	jw_i64(w, "ctx", (b->ru_nvcsw - a->ru_nvcsw) + (b->ru_nivcsw - a->ru_nivcsw));
	jw_i64(w, "majf", b->ru_majflt - a->ru_majflt);
	jw_i64(w, "minf", b->ru_minflt - a->ru_minflt);
	lat_dist(w, &res->lat);
	summary_obj(w, job, res);
	if (job->engine == BENCH_ENGINE_UWAL)
		uwal_obj(w, job, res);
	else
		device_obj(w, res);
	jw_end_object(w);
}

static void disk_util(struct jsonw *w, const struct json_doc *d)
{
	jw_array(w, "disk_util");
	if (d->dev && d->dev->ok && d->dev0 && d->dev1) {
		const struct devstat *a = d->dev0, *b = d->dev1;
		double ms = (double)d->elapsed_ns / 1e6;
		double util = ms > 0 ? 100.0 * (double)(b->io_ticks - a->io_ticks) / ms : 0;
		jw_object(w, NULL);
		jw_string(w, "name", d->dev->name);
		jw_u64(w, "read_ios", b->rd_ios - a->rd_ios);
		jw_u64(w, "write_ios", b->wr_ios - a->wr_ios);
		jw_u64(w, "read_merges", b->rd_merges - a->rd_merges);
		jw_u64(w, "write_merges", b->wr_merges - a->wr_merges);
		jw_u64(w, "read_ticks", b->rd_ticks - a->rd_ticks);
		jw_u64(w, "write_ticks", b->wr_ticks - a->wr_ticks);
		jw_u64(w, "in_queue", b->time_in_queue - a->time_in_queue);
		jw_double(w, "util", util > 100 ? 100 : util);
		if (a->has_flush)
			jw_u64(w, "flush_ios", b->flush_ios - a->flush_ios);
		jw_end_object(w);
	}
	jw_end_array(w);
}

void json_write(FILE *f, const struct json_doc *d)
{
	struct jsonw w;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char when[64];
	struct tm tm;
	time_t now = tv.tv_sec;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
	char ver[32];
	snprintf(ver, sizeof(ver), "%d.%d.%d", UWAL_VERSION_MAJOR, UWAL_VERSION_MINOR,
		 UWAL_VERSION_PATCH);

	jw_init(&w, f);
	jw_object(&w, NULL);
	jw_string(&w, "uwal-bench version", BENCH_VERSION);
	jw_string(&w, "uwal version", ver);
	jw_u64(&w, "timestamp", (uint64_t)tv.tv_sec);
	jw_u64(&w, "timestamp_ms", (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
	jw_string(&w, "time", when);
	options_obj(&w, "global options", d->globals);
	jw_array(&w, "jobs");
	for (size_t i = 0; i < d->n; i++)
		job_obj(&w, d, i);
	jw_end_array(&w);
	disk_util(&w, d);
	if (d->cmp)
		compare_json(&w, d->cmp, d->jobs, d->res, d->n);
	jw_end_object(&w);
	jw_finish(&w);
}
