/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.c - results in fio's human layout (--output-format=normal).
 *
 * Each job gets fio's block: the header line, "write: IOPS=..., BW=...",
 * the clat line and clat percentiles (same units, scaling and columns as
 * fio 3.x), the iops samples, "cpu : usr=..., sys=..., ctx=...", and the
 * "Run status group" summary. Before fio's block, one summary line that
 * no stall can hide in: engine, rate, p50, p99.9, max, and the cost per
 * record; after the cpu line, that cost in full:
 *   cost         CPU usec per record (usr + sys of the whole process over
 *                the window / records), context switches per record
 *                (voluntary + involuntary, whole process), and the
 *                machine's steal time (/proc/stat) in ms and % of wall
 * Then, for engine=uwal, uwal's own lines, each naming where its figure
 * comes from:
 *   uwal         records, records per call and per batch (uwal_stats)
 *   uwal sync    fdatasyncs issued by uwal's writer (counted, not timed)
 *   uwal ring    io_uring_enter calls per record, wake-ups, queue-full
 *   uwal segments rotations and waits for the next segment
 *   uwal bytes   frame bytes uwal wrote (uwal_stats.bytes)
 *   system bytes /proc/self/io write_bytes (page-cache memory the process
 *                dirtied: with large folios one small write to a clean
 *                folio counts the whole folio, up to 1 MiB here) and the
 *                block device's stat (what reached the disk, from every
 *                process and the journal)
 *   open loop    offered vs achieved rate, late arrivals, service time
 *
 * IOPS counts write calls (one call = one I/O, as fio counts a bs-sized
 * write); BW counts value bytes (bs x records per call), so IOPS x bs x
 * records_per_call = BW as in fio. Latency is per call.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void fmt_num(char *buf, size_t len, double v, unsigned base, const char *unit)
{
	static const char *const dec[] = {"", "k", "M", "G", "T", "P"};
	static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
	const char *const *pre = base == 1024 ? bin : dec;
	unsigned i = 0;
	if (!isfinite(v) || v < 0)
		v = 0;
	while (v >= 9999.5 && i < 5) {
		v /= base;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f%s", v, unit);
	else if (v >= 99.95)
		snprintf(buf, len, "%.0f%s%s", v, pre[i], unit);
	else if (v >= 9.995)
		snprintf(buf, len, "%.1f%s%s", v, pre[i], unit);
	else
		snprintf(buf, len, "%.2f%s%s", v, pre[i], unit);
}

/* fio's num2str(v, 6 digits): "23766k" */
static void fmt_int6(char *buf, size_t len, uint64_t v)
{
	static const char *const pre[] = {"", "k", "M", "G", "T", "P"};
	unsigned i = 0;
	while (v >= 1000000 && i < 5) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, pre[i]);
}

void fmt_ns(char *buf, size_t len, double ns)
{
	if (!isfinite(ns) || ns < 0)
		ns = 0;
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.*fus", ns < 1e5 ? 1 : 0, ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.*fms", ns < 1e8 ? 1 : 0, ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
}

static double secs(const struct job_result *res)
{
	return (double)res->runtime_ns / 1e9;
}

static uint64_t value_bytes(const struct job *job, const struct job_result *res)
{
	return res->records * (uint64_t)job->bs;
}

void report_job_line(FILE *f, const struct job *job, size_t groupid)
{
	char bs[32], ks[32];
	fmt_num(bs, sizeof(bs), (double)job->bs, 1024, "B");
	fmt_num(ks, sizeof(ks), (double)job->key_size, 1024, "B");
	fprintf(f,
		"%s: (g=%zu): rw=write, bs=(W) %s-%s, key=%s, records_per_call=%u, sync=%s, "
		"ioengine=%s, iodepth=%u",
		job->name, groupid, bs, bs, ks, job->records_per_call, bench_sync_name(job->sync),
		bench_engine_name(job->engine), job->iodepth);
	if (job->contention)
		fprintf(f, ", contention=1");
	if (job->rate_iops)
		fprintf(f, ", rate_iops=%llu", (unsigned long long)job->rate_iops);
	fprintf(f, "\n");
	if (job->numjobs > 1)
		fprintf(f, "...\n");
}

/* fio's display_lat(): nsec, scaled to usec or msec when the figures allow. */
static void lat_line(FILE *f, const char *name, const struct hist *h)
{
	uint64_t min = h->count ? h->min : 0, max = h->max;
	double mean = hist_mean(h), dev = hist_stddev(h);
	const char *base = "(nsec)";
	if (min > 2000000 && max > 99999999ull && dev > 1e6) {
		min /= 1000000;
		max /= 1000000;
		mean /= 1e6;
		dev /= 1e6;
		base = "(msec)";
	} else if (min > 2000 && max > 99999 && dev > 1e3) {
		min /= 1000;
		max /= 1000;
		mean /= 1e3;
		dev /= 1e3;
		base = "(usec)";
	}
	char mn[32], mx[32];
	fmt_int6(mn, sizeof(mn), min);
	fmt_int6(mx, sizeof(mx), max);
	fprintf(f, "    %s %s: min=%s, max=%s, avg=%5.02f, stdev=%5.02f\n", name, base, mn, mx,
		mean, dev);
}

/* Decimals needed to print every percentile exactly (at least 2, as fio). */
static int pct_precision(const struct job *job)
{
	int prec = 2;
	for (unsigned i = 0; i < job->npercentiles; i++) {
		double p = job->percentiles[i];
		for (int d = prec; d <= 4; d++) {
			double scale = pow(10, d);
			if (fabs(p * scale - round(p * scale)) < 1e-6) {
				prec = d;
				break;
			}
			if (d == 4)
				prec = 4;
		}
	}
	return prec;
}

/* fio's show_clat_percentiles(). */
static void percentiles(FILE *f, const char *name, const struct job *job, const struct hist *h)
{
	uint64_t v[BENCH_MAX_PERCENTILES];
	unsigned n = job->npercentiles;
	if (!h->count || !n)
		return;
	uint64_t minv = UINT64_MAX, maxv = 0;
	for (unsigned i = 0; i < n; i++) {
		v[i] = hist_percentile(h, job->percentiles[i]);
		minv = v[i] < minv ? v[i] : minv;
		maxv = v[i] > maxv ? v[i] : maxv;
	}
	int scale = 0;
	uint64_t div = 1;
	const char *unit = "nsec";
	if (minv > 2000000 && maxv > 99999999ull) {
		scale = 2;
		div = 1000000;
		unit = "msec";
	} else if (minv > 2000 && maxv > 99999) {
		scale = 1;
		div = 1000;
		unit = "usec";
	}
	int prec = pct_precision(job);
	int width = (int)log10((double)(maxv / div ? maxv / div : 1)) + 1;
	if (width < 5)
		width = 5;
	int per_line = (80 - 7) / (prec + 10 + width);
	if (per_line < 1)
		per_line = 1;
	fprintf(f, "    %s percentiles (%s):\n     |", name, unit);
	for (unsigned j = 0; j < n; j++) {
		if (j != 0 && j % (unsigned)per_line == 0)
			fprintf(f, "     |");
		uint64_t x = v[j];
		for (int i = 0; i < scale; i++)
			x = (x + 999) / 1000;
		bool last = j == n - 1;
		fprintf(f, " %*.*fth=[%*llu]%c", prec + 3, prec, job->percentiles[j], width,
			(unsigned long long)x, last ? '\n' : ',');
		if (!last && j % (unsigned)per_line == (unsigned)per_line - 1)
			fprintf(f, "\n");
	}
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cpu_line(FILE *f, const struct job_result *res)
{
	const struct rusage *a = &res->io0.ru, *b = &res->io1.ru;
	double s = secs(res);
	double usr = s > 0 ? 100.0 * (tv_s(b->ru_utime) - tv_s(a->ru_utime)) / s : 0;
	double sys = s > 0 ? 100.0 * (tv_s(b->ru_stime) - tv_s(a->ru_stime)) / s : 0;
	long ctx = (b->ru_nvcsw - a->ru_nvcsw) + (b->ru_nivcsw - a->ru_nivcsw);
	fprintf(f, "  cpu          : usr=%.2f%%, sys=%.2f%%, ctx=%ld, majf=%ld, minf=%ld\n", usr,
		sys, ctx, b->ru_majflt - a->ru_majflt, b->ru_minflt - a->ru_minflt);
}

static double per(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

static void cost_line(FILE *f, const struct job_result *res)
{
	struct job_cost c;
	job_cost(res, &c);
	fprintf(f,
		"  cost         : cpu=%.2f usec/record (usr+sys, whole process), ctx=%.3f/record "
		"(%llu voluntary + %llu involuntary), ",
		c.cpu_us_per_record, c.ctx_per_record, (unsigned long long)c.nvcsw,
		(unsigned long long)c.nivcsw);
	if (c.steal_ok)
		fprintf(f, "steal=%.0f ms (%.2f%% of wall, all CPUs)\n", c.steal_ms, c.steal_pct);
	else
		fprintf(f, "steal n/a (/proc/stat unreadable)\n");
}

void report_summary(FILE *f, const struct job *job, const struct job_result *res)
{
	struct job_cost c;
	job_cost(res, &c);
	const struct hist *h = &res->lat;
	char r[32], p50[32], p999[32], mx[32];
	fmt_num(r, sizeof(r), res->records_per_s, 1000, "");
	fmt_ns(p50, sizeof(p50), (double)hist_percentile(h, 50));
	fmt_ns(p999, sizeof(p999), (double)hist_percentile(h, 99.9));
	fmt_ns(mx, sizeof(mx), (double)h->max);
	char qd[32] = "";
	if (job->iodepth > 1)
		snprintf(qd, sizeof(qd), ", iodepth %u", job->iodepth);
	fprintf(f,
		"  summary      : %s sync=%s %u thr x %u rec%s%s: %s records/s, p50=%s, p99.9=%s, "
		"max=%s, cpu=%.2f us/rec, ctx=%.3f/rec",
		bench_engine_name(job->engine), bench_sync_name(job->sync), job->numjobs,
		job->records_per_call, qd, job->contention ? ", contention" : "", r, p50, p999, mx,
		c.cpu_us_per_record, c.ctx_per_record);
	if (c.steal_ok)
		fprintf(f, ", steal=%.0fms", c.steal_ms);
	fprintf(f, "\n");
}

static void uwal_lines(FILE *f, const struct job *job, const struct job_result *res)
{
	const struct devinfo *dev = &res->dev;
	const uwal_stats *st = &res->stats;
	double s = secs(res);
	char r[32], x[32];
	if (job->engine != BENCH_ENGINE_UWAL)
		goto system; /* uwal_stats are uwal's alone */
	fmt_num(r, sizeof(r), res->records_per_s, 1000, "");
	fprintf(f,
		"  uwal         : records=%llu (%s/s), records/call=%u, batches=%llu, "
		"records/batch=%.2f\n",
		(unsigned long long)res->records, r, job->records_per_call,
		(unsigned long long)st->batches, per(st->records, st->batches));
	fmt_num(r, sizeof(r), s > 0 ? (double)st->fsyncs / s : 0, 1000, "");
	fprintf(f, "  uwal sync    : fdatasyncs=%llu (%s/s), records/fdatasync=%.2f",
		(unsigned long long)st->fsyncs, r, per(st->records, st->fsyncs));
	if (sync_hist_count(st))
		fprintf(f, "; write+fdatasync p50=%.1fus p99=%.1fus p99.9=%.1fus",
			(double)sync_hist_percentile(st, 50) / 1e3,
			(double)sync_hist_percentile(st, 99) / 1e3,
			(double)sync_hist_percentile(st, 99.9) / 1e3);
	fputc('\n', f);
	fprintf(f,
		"  uwal waits   : writer sleeps=%llu (%.3f/record), waiter sleeps=%llu "
		"(%.3f/record), waiter wakes=%llu, rejoin waits=%llu (%llu ran out)\n",
		(unsigned long long)st->writer_sleeps, per(st->writer_sleeps, st->records),
		(unsigned long long)st->waiter_sleeps, per(st->waiter_sleeps, st->records),
		(unsigned long long)st->waiter_wakes, (unsigned long long)st->rejoin_waits,
		(unsigned long long)st->rejoin_timeouts);
	fprintf(f,
		"  uwal ring    : io_uring_enter=%llu (%.3f/record), writer wakeups=%llu, "
		"queue_full=%llu, io_uring=%s (setup flags 0x%x)\n",
		(unsigned long long)st->ring_enters, per(st->ring_enters, st->records),
		(unsigned long long)st->writer_wakeups, (unsigned long long)st->queue_full,
		st->uring ? "yes" : "no, pwrite+fdatasync fallback", st->ring_setup_flags);
	fprintf(f,
		"  uwal segments: rotations=%llu, prealloc_waits=%llu, segments=%llu, "
		"deleted=%llu\n",
		(unsigned long long)st->rotations, (unsigned long long)st->prealloc_waits,
		(unsigned long long)st->segments, (unsigned long long)st->deleted_segments);
	fmt_num(r, sizeof(r), (double)st->bytes, 1024, "B");
	fprintf(f, "  uwal bytes   : %s of frames (%.1f B/record; uwal_stats.bytes)\n", r,
		per(st->bytes, st->records));

system:;
	const struct sysio *a = &res->io0, *b = &res->io1;
	fprintf(f, "  system bytes : ");
	if (a->proc_ok && b->proc_ok) {
		fmt_num(r, sizeof(r), (double)(b->proc_write_bytes - a->proc_write_bytes), 1024,
			"B");
		fprintf(f,
			"process write_bytes=%s (/proc/self/io: page-cache memory dirtied, "
			"whole folios, not bytes sent to the disk)",
			r);
	} else {
		fprintf(f, "process write_bytes n/a (/proc/self/io unreadable)");
	}
	if (a->dev_ok && b->dev_ok) {
		const struct devstat *da = &a->dev, *db = &b->dev;
		fmt_num(x, sizeof(x), (double)(db->wr_sectors - da->wr_sectors) * 512, 1024, "B");
		fprintf(f, "\n                 %s: written=%s in %llu writes", dev->name, x,
			(unsigned long long)(db->wr_ios - da->wr_ios));
		if (da->has_flush) {
			uint64_t fl = db->flush_ios - da->flush_ios;
			fprintf(f, ", flushes=%llu", (unsigned long long)fl);
			if (fl)
				fprintf(f, " (avg %.3f ms)",
					(double)(db->flush_ticks - da->flush_ticks) / (double)fl);
		}
		fprintf(f, " (%s, all processes)\n", dev->path);
	} else {
		fprintf(f, "; device n/a (%s)\n", !dev->ok ? dev->why : "unreadable");
	}

	if (job->rate_iops) {
		double offered = (double)job->rate_iops * job->numjobs;
		char o[32], ach[32];
		fmt_num(o, sizeof(o), offered, 1000, "");
		fmt_num(ach, sizeof(ach), res->calls_per_s, 1000, "");
		fprintf(f,
			"  open loop    : offered %s calls/s (%u x %llu, %s), achieved %s/s, "
			"late arrivals %.2f%% (issued >= 1 interval behind schedule)\n",
			o, job->numjobs, (unsigned long long)job->rate_iops,
			job->rate_poisson ? "poisson" : "linear", ach,
			100.0 * per(res->late_calls, res->calls));
		fprintf(f,
			"  (clat above is measured from each call's scheduled time; service time "
			"from its actual issue:)\n");
		lat_line(f, " svc", &res->svc);
	}
	if (res->errors)
		fprintf(f, "  errors       : %llu failed calls, first %d (%s)\n",
			(unsigned long long)res->errors, res->first_error,
			uwal_strerror(res->first_error));
	if (res->close_error)
		fprintf(f, "  close        : %d (%s)\n", res->close_error,
			uwal_strerror(res->close_error));
}

static int err_code(int e)
{
	return e < 0 ? -e : e;
}

void report_job(FILE *f, const struct job *job, const struct job_result *res, size_t groupid)
{
	char when[64];
	struct tm tm;
	localtime_r(&res->start_time, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
	int err = res->ran ? err_code(res->first_error) : err_code(res->setup_error);
	fprintf(f, "%s: (groupid=%zu, jobs=%u): err=%2d: pid=%ld: %s\n", job->name, groupid,
		job->numjobs, err, (long)getpid(), when);
	if (job->description[0])
		fprintf(f, "  Description  : [%s]\n", job->description);
	if (res->ran)
		report_summary(f, job, res);
	if (!res->ran) {
		fprintf(f, "  job failed   : %s: %s\n",
			res->setup_what[0] ? res->setup_what : "setup",
			uwal_strerror(res->setup_error));
		fflush(f);
		return;
	}
	double s = secs(res);
	uint64_t bytes = value_bytes(job, res);
	double bw = s > 0 ? (double)bytes / s : 0;
	char iops[32], bwb[32], bwd[32], io[32];
	fmt_num(iops, sizeof(iops), res->calls_per_s, 1000, "");
	fmt_num(bwb, sizeof(bwb), bw, 1024, "B/s");
	fmt_num(bwd, sizeof(bwd), bw, 1000, "B/s");
	fmt_num(io, sizeof(io), (double)bytes, 1024, "B");
	fprintf(f, "  write: IOPS=%s, BW=%s (%s)(%s/%llumsec)\n", iops, bwb, bwd, io,
		(unsigned long long)(res->runtime_ns / 1000000));
	lat_line(f, "clat", &res->lat);
	percentiles(f, "clat", job, &res->lat);
	if (res->iops_samples) {
		double kib = (double)job->bs * job->records_per_call / 1024.0;
		fprintf(f,
			"   bw (  KiB/s): min=%5.0f, max=%5.0f, avg=%.2f, stdev=%.2f, "
			"samples=%llu\n",
			res->iops_min * kib, res->iops_max * kib, res->iops_mean * kib,
			res->iops_stddev * kib, (unsigned long long)res->iops_samples);
		fprintf(f,
			"   iops        : min=%5.0f, max=%5.0f, avg=%.2f, stdev=%.2f, "
			"samples=%llu\n",
			res->iops_min, res->iops_max, res->iops_mean, res->iops_stddev,
			(unsigned long long)res->iops_samples);
	}
	cpu_line(f, res);
	cost_line(f, res);
	uwal_lines(f, job, res);
	fprintf(f, "\nRun status group %zu (all jobs):\n", groupid);
	char io10[32], bw10[32];
	fmt_num(io10, sizeof(io10), (double)bytes, 1000, "B");
	fmt_num(bw10, sizeof(bw10), bw, 1000, "B/s");
	unsigned long long ms = (unsigned long long)(res->runtime_ns / 1000000);
	fprintf(f, "  WRITE: bw=%s (%s), %s-%s (%s-%s), io=%s (%s), run=%llu-%llumsec\n\n", bwb,
		bw10, bwb, bwb, bw10, bw10, io, io10, ms, ms);
	fflush(f);
}

void report_disk(FILE *f, const struct devinfo *dev, const struct devstat *a,
		 const struct devstat *b, uint64_t elapsed_ns)
{
	if (!dev || !dev->ok)
		return;
	double ms = (double)elapsed_ns / 1e6;
	double util = ms > 0 ? 100.0 * (double)(b->io_ticks - a->io_ticks) / ms : 0;
	if (util > 100)
		util = 100;
	fprintf(f, "Disk stats (read/write):\n");
	fprintf(f,
		"  %s: ios=%llu/%llu, merge=%llu/%llu, ticks=%llu/%llu, in_queue=%llu, "
		"util=%.2f%%",
		dev->name, (unsigned long long)(b->rd_ios - a->rd_ios),
		(unsigned long long)(b->wr_ios - a->wr_ios),
		(unsigned long long)(b->rd_merges - a->rd_merges),
		(unsigned long long)(b->wr_merges - a->wr_merges),
		(unsigned long long)(b->rd_ticks - a->rd_ticks),
		(unsigned long long)(b->wr_ticks - a->wr_ticks),
		(unsigned long long)(b->time_in_queue - a->time_in_queue), util);
	if (a->has_flush)
		fprintf(f, ", flush=%llu", (unsigned long long)(b->flush_ios - a->flush_ios));
	fprintf(f, "\n");
	fflush(f);
}
