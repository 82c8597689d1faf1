/*
 * report.c - print uwal-bench results as plain-text tables.
 *
 * The main table has one row per job, printed as soon as the job ends;
 * the details table (engine counters and CPU) follows at the end of the
 * run, and the fio comparison after it. Rates are per second of the
 * measured window; latencies are per call, in microseconds.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAIN_FMT "%-7s %7s %8s %10s %8s %8s %8s %9s %6s\n"
#define DETAIL_FMT "%-7s %7s %8s %9s %9s %9s %9s %6s %5s %5s %8s %8s\n"

static double secs(const struct job_result *res)
{
	return (double)res->runtime_ns / 1e9;
}

static void fmt_us(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%.1f", (double)ns / 1e3);
}

static void fmt_rate(char *buf, size_t len, double count, const struct job_result *res)
{
	double s = secs(res);
	if (s > 0)
		snprintf(buf, len, "%.0f", count / s);
	else
		snprintf(buf, len, "-");
}

static void fmt_ratio(char *buf, size_t len, uint64_t num, uint64_t den)
{
	double r = den ? (double)num / (double)den : 0.0;
	if (den)
		snprintf(buf, len, r < 100 ? "%.1f" : "%.0f", r);
	else
		snprintf(buf, len, "-");
}

void report_header(const char *directory, size_t value_size, size_t key_size)
{
	printf("uwal-bench: uwal %d.%d.%d, directory %s, value %zu B, key %zu B, %ld CPUs\n",
	       UWAL_VERSION_MAJOR, UWAL_VERSION_MINOR, UWAL_VERSION_PATCH, directory,
	       value_size, key_size, sysconf(_SC_NPROCESSORS_ONLN));
	printf("rec/s: records acknowledged per second; p50us/p99us: latency of one "
	       "write call\n\n");
}

void report_table_head(void)
{
	printf(MAIN_FMT, "mode", "threads", "rec/call", "rec/s", "p50us", "p99us", "fsync/s",
	       "rec/fsync", "errors");
	fflush(stdout);
}

void report_row(const struct job *job, const struct job_result *res)
{
	const char *mode = sync_mode_name(job->cfg.sync_mode);
	char thr[16], pc[16];
	snprintf(thr, sizeof(thr), "%u", job->numjobs);
	snprintf(pc, sizeof(pc), "%u", job->per_call);
	if (!res->ran) {
		printf("%-7s %7s %8s  job failed: %s\n", mode, thr, pc,
		       uwal_strerror(res->setup_error));
		fflush(stdout);
		return;
	}
	char rate[32], p50[32], p99[32], fs[32], rpf[32], errs[32];
	snprintf(rate, sizeof(rate), "%.0f", res->records_per_s);
	fmt_us(p50, sizeof(p50), hist_percentile(&res->lat, 50.0));
	fmt_us(p99, sizeof(p99), hist_percentile(&res->lat, 99.0));
	fmt_rate(fs, sizeof(fs), (double)res->stats.fsyncs, res);
	fmt_ratio(rpf, sizeof(rpf), res->stats.records, res->stats.fsyncs);
	snprintf(errs, sizeof(errs), "%llu", (unsigned long long)res->errors);
	printf(MAIN_FMT, mode, thr, pc, rate, p50, p99, fs, rpf, errs);
	if (res->errors)
		printf("        first error: %d (%s)\n", res->first_error,
		       uwal_strerror(res->first_error));
	if (res->close_error)
		printf("        uwal_close: %d (%s)\n", res->close_error,
		       uwal_strerror(res->close_error));
	fflush(stdout);
}

void report_details(const struct job *jobs, const struct job_result *res, size_t n)
{
	const struct job_result *first = NULL;
	for (size_t i = 0; i < n && !first; i++)
		if (res[i].ran)
			first = &res[i];
	if (!first)
		return;
	printf("\nengine counters and CPU (per second of the window; usr%%/sys%% of one CPU, "
	       "whole process)\n");
	printf(DETAIL_FMT, "mode", "threads", "rec/call", "batches/s", "rec/batch", "enters/s",
	       "wakeups/s", "qfull", "usr%", "sys%", "vcsw/s", "ivcsw/s");
	for (size_t i = 0; i < n; i++) {
		const struct job_result *r = &res[i];
		if (!r->ran)
			continue;
		const uwal_stats *st = &r->stats;
		double s = secs(r);
		char thr[16], pc[16], bps[32], rpb[32], eps[32], wps[32], qf[32], usr[16],
			sys[16], vc[32], ivc[32];
		snprintf(thr, sizeof(thr), "%u", jobs[i].numjobs);
		snprintf(pc, sizeof(pc), "%u", jobs[i].per_call);
		fmt_rate(bps, sizeof(bps), (double)st->batches, r);
		fmt_ratio(rpb, sizeof(rpb), st->records, st->batches);
		fmt_rate(eps, sizeof(eps), (double)st->ring_enters, r);
		fmt_rate(wps, sizeof(wps), (double)st->writer_wakeups, r);
		snprintf(qf, sizeof(qf), "%llu", (unsigned long long)st->queue_full);
		snprintf(usr, sizeof(usr), "%.0f", s > 0 ? 100.0 * r->usr_s / s : 0.0);
		snprintf(sys, sizeof(sys), "%.0f", s > 0 ? 100.0 * r->sys_s / s : 0.0);
		fmt_rate(vc, sizeof(vc), (double)r->vcsw, r);
		fmt_rate(ivc, sizeof(ivc), (double)r->ivcsw, r);
		printf(DETAIL_FMT, sync_mode_name(jobs[i].cfg.sync_mode), thr, pc, bps, rpb,
		       eps, wps, qf, usr, sys, vc, ivc);
	}
	printf("io_uring: %s (setup flags 0x%x, features 0x%x)\n",
	       first->stats.uring ? "yes" : "no, pwrite + fdatasync fallback",
	       first->stats.ring_setup_flags, first->stats.ring_features);
	fflush(stdout);
}

void report_fio(const struct fio_result *fio, unsigned runtime_s,
                const struct job_result *sync1)
{
	printf("\nraw device: fio --rw=write --bs=128 --fdatasync=1 --ioengine=io_uring "
	       "--iodepth=1, %u s\n",
	       runtime_s);
	printf("(fio's p50/p99 are of its fdatasync alone; uwal's are of a whole "
	       "durable write call)\n");
	printf("%-16s %10s %8s %8s\n", "", "rec/s", "p50us", "p99us");
	printf("%-16s %10.0f %8.1f %8.1f\n", "fio", fio->iops, fio->sync_p50_ns / 1e3,
	       fio->sync_p99_ns / 1e3);
	if (!sync1 || !sync1->ran) {
		printf("(no uwal sync job with 1 thread in this run to compare with)\n");
		fflush(stdout);
		return;
	}
	uint64_t p50 = hist_percentile(&sync1->lat, 50.0);
	uint64_t p99 = hist_percentile(&sync1->lat, 99.0);
	printf("%-16s %10.0f %8.1f %8.1f\n", "uwal sync 1 thr", sync1->records_per_s,
	       (double)p50 / 1e3, (double)p99 / 1e3);
	char rr[32] = "-", pr[32] = "-";
	if (fio->iops > 0)
		snprintf(rr, sizeof(rr), "%.2fx", sync1->records_per_s / fio->iops);
	if (fio->sync_p50_ns > 0)
		snprintf(pr, sizeof(pr), "%.2fx", (double)p50 / fio->sync_p50_ns);
	printf("%-16s %10s %8s\n", "uwal/fio", rr, pr);
	fflush(stdout);
}
