/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compare.c - the side by side at the end of a run: every job's rate,
 * latency and cost per record in one table, each held against the
 * device's limit, and uwal's jobs against LevelDB's and RocksDB's.
 *
 * The device's limit is the run's own raw loop (raw.c) of the same
 * durability and contention: raw-pwrite for jobs of one record per call,
 * raw-group for batched ones (the same records_per_call preferred) and for
 * iodepth > 1 ones, whose submissions uwal batches (the raw-group job of
 * the most records per call). A uwal job's peers are the leveldb and
 * rocksdb jobs of the same numjobs, records_per_call, iodepth (so an
 * asynchronous job has none), durability (sync=none against sync=false, every
 * durable mode against sync=true) and contention. A peer that was not
 * built into this binary shows as "not built"; one the run did not have
 * as "-".
 *
 * Two fio jobs, run after the others on the same directory, stand for what
 * the disk can do without any of them:
 *   fio-1rec   one uwal record's bytes per write, fdatasync after each:
 *              the floor for one durable record at a time;
 *   fio-Nrec   N records' bytes per write (N = 64 by default), fdatasync
 *              after each: one thread doing group commit by hand, the
 *              ceiling of durable records per second at N per fdatasync.
 * A record's bytes are what uwal wrote per record in the first durable job
 * (uwal_stats.bytes / records: frame header + msgpack payload), so both
 * sides put the same bytes on the disk per record.
 *
 * Ratios are of durable records per second. Latency means compare only
 * like with like: one thread writing one record per call against fio-1rec,
 * one thread writing N per call against fio-Nrec. fio's mean is 1/IOPS
 * (one write + fdatasync at a time, so that is its mean per durable
 * write); its p50/p99 are of the fdatasync alone, since fio times the
 * write and the fdatasync separately.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#include "uwal.h"

static bool durable_ran(const struct job *job, const struct job_result *res)
{
	return res->ran && job->engine == BENCH_ENGINE_UWAL && bench_sync_durable(job->sync) &&
	       res->records > 0;
}

void compare_run(const struct job *jobs, const struct job_result *res, size_t n,
		 unsigned batch_records, bool run_fio, double runtime_s, double ramp_s,
		 struct compare *out)
{
	memset(out, 0, sizeof(*out));
	out->batch_records = batch_records;
	snprintf(out->directory, sizeof(out->directory), "%s", n ? jobs[0].directory : "");
	if (!run_fio) {
		snprintf(out->why, sizeof(out->why), "--no-fio");
		return;
	}
	if (!fio_available()) {
		snprintf(out->why, sizeof(out->why), "fio is not installed (no 'fio' on PATH)");
		return;
	}
	if (n == 0) {
		snprintf(out->why, sizeof(out->why), "no job ran");
		return;
	}
	fio_version(out->fio_version, sizeof(out->fio_version));
	for (size_t i = 0; i < n && !out->record_bytes; i++) {
		if (!durable_ran(&jobs[i], &res[i]) || !res[i].stats.records)
			continue;
		out->record_bytes =
			(res[i].stats.bytes + res[i].stats.records / 2) / res[i].stats.records;
		snprintf(out->record_source, sizeof(out->record_source),
			 "uwal_stats.bytes / records of job %s", jobs[i].name);
	}
	if (!out->record_bytes) {
		out->record_bytes = uwal_record_size(1, jobs[0].key_size, jobs[0].bs);
		snprintf(out->record_source, sizeof(out->record_source),
			 "uwal_record_size() of a %zu-byte key and %zu-byte value",
			 jobs[0].key_size, jobs[0].bs);
	}
	char name[32];
	snprintf(name, sizeof(name), "fio-%urec", batch_records);
	int a = fio_run_raw(out->directory, "fio-1rec", out->record_bytes, 1, runtime_s, ramp_s,
			    &out->fio[0]);
	int b = fio_run_raw(out->directory, name, out->record_bytes * batch_records, batch_records,
			    runtime_s, ramp_s, &out->fio[1]);
	if (a && b) {
		snprintf(out->why, sizeof(out->why), "fio's runs failed (see above)");
		return;
	}
	out->ran = true;
}

static double fio_rate(const struct fio_result *f)
{
	return f->ok ? f->iops * f->records : 0;
}

static bool same_class(const struct job *a, const struct job *b)
{
	return bench_sync_durable(a->sync) == bench_sync_durable(b->sync) &&
	       a->contention == b->contention;
}

static bool usable(const struct job_result *r)
{
	return r->ran && r->records > 0;
}

/* The raw loop job i is held against, or -1. */
static long device_ref(const struct job *jobs, const struct job_result *res, size_t n, size_t i)
{
	const struct job *j = &jobs[i];
	bool batched = j->records_per_call > 1 || j->iodepth > 1;
	enum bench_engine want = batched ? BENCH_ENGINE_RAW_GROUP : BENCH_ENGINE_RAW_PWRITE;
	long best = -1;
	for (size_t k = 0; k < n; k++) {
		if (jobs[k].engine != want || !usable(&res[k]) || !same_class(&jobs[k], j))
			continue;
		if (j->iodepth > 1) {
			if (best < 0 || jobs[k].records_per_call > jobs[best].records_per_call)
				best = (long)k;
			continue;
		}
		if (jobs[k].records_per_call == j->records_per_call)
			return (long)k;
		if (best < 0)
			best = (long)k;
	}
	return best;
}

/* The job of engine e with job i's shape, or -1. */
static long peer_ref(const struct job *jobs, size_t n, size_t i, enum bench_engine e)
{
	const struct job *j = &jobs[i];
	for (size_t k = 0; k < n; k++)
		if (jobs[k].engine == e && jobs[k].numjobs == j->numjobs &&
		    jobs[k].records_per_call == j->records_per_call &&
		    jobs[k].iodepth == j->iodepth && same_class(&jobs[k], j))
			return (long)k;
	return -1;
}

/* fio's job for a durable job: one record per write, or the batched one. */
static const struct fio_result *fio_ref(const struct compare *c, const struct job *job)
{
	if (!c->ran || !bench_sync_durable(job->sync))
		return NULL;
	bool batched = job->records_per_call > 1 || job->iodepth > 1;
	const struct fio_result *f = batched ? &c->fio[1] : &c->fio[0];
	return f->ok ? f : NULL;
}

static void ratio(char *buf, size_t len, double num, double den)
{
	if (den > 0 && num > 0)
		snprintf(buf, len, "%.2fx", num / den);
	else
		snprintf(buf, len, "-");
}

/* A uwal job against its peer of engine e: a ratio, or why there is none. */
static const char *peer_cell(char *buf, size_t len, const struct job *jobs,
			     const struct job_result *res, size_t n, size_t i, enum bench_engine e,
			     double *value)
{
	*value = 0;
	if (jobs[i].engine != BENCH_ENGINE_UWAL)
		return "-";
	if (!engine_built(e))
		return "not built";
	long k = peer_ref(jobs, n, i, e);
	if (k < 0)
		return "-";
	if (!usable(&res[k]))
		return "failed";
	*value = res[i].records_per_s / res[k].records_per_s;
	ratio(buf, len, res[i].records_per_s, res[k].records_per_s);
	return buf;
}

/* "1.87k-5.83k": the spread of a rate over 0.5 s samples. */
static void range(char *buf, size_t len, double lo, double hi)
{
	char a[16], b[16];
	if (!(hi > 0)) {
		snprintf(buf, len, "-");
		return;
	}
	fmt_num(a, sizeof(a), lo, 1000, "");
	fmt_num(b, sizeof(b), hi, 1000, "");
	snprintf(buf, len, "%s-%s", a, b);
}

static void job_label(char *buf, size_t len, const struct job *job)
{
	char rec[48] = "";
	if (job->records_per_call > 1)
		snprintf(rec, sizeof(rec), " x %u rec", job->records_per_call);
	if (job->iodepth > 1)
		snprintf(rec + strlen(rec), sizeof(rec) - strlen(rec), ", qd %u", job->iodepth);
	/* "uwal sync-1", but "leveldb-sync-1", not "leveldb leveldb-sync-1" */
	const char *eng = bench_engine_name(job->engine);
	bool named = strstr(job->name, eng) != NULL;
	snprintf(buf, len, "%s%s%.40s (%s, %u thr%s%s)", named ? "" : eng, named ? "" : " ",
		 job->name, bench_sync_name(job->sync), job->numjobs, rec,
		 job->contention ? ", busy CPU" : "");
}

#define ROW "  %-*s %9s %12s %9s %9s %8s %7s | %8s %7s %9s %9s\n"

static void fio_rows(FILE *f, const struct compare *c, int wd)
{
	if (!c->ran) {
		fprintf(f, "  %-*s not run: %s\n", wd, "fio", c->why);
		return;
	}
	for (int i = 0; i < 2; i++) {
		const struct fio_result *x = &c->fio[i];
		char label[64], r[32], p50[32], p999[32], rg[48];
		snprintf(label, sizeof(label), "fio %s (write+fdatasync)", x->name);
		if (!x->ok) {
			fprintf(f, "  %-*s failed\n", wd, label);
			continue;
		}
		snprintf(r, sizeof(r), "%.0f", fio_rate(x));
		snprintf(p50, sizeof(p50), "*%.1f", x->sync_p50_ns / 1e3);
		snprintf(p999, sizeof(p999), "*%.1f", x->sync_p999_ns / 1e3);
		range(rg, sizeof(rg), x->iops_min * x->records, x->iops_max * x->records);
		fprintf(f, ROW, wd, label, r, rg, p50, p999, "-", "-", "", "", "", "");
	}
}

static void job_row(FILE *f, const struct compare *c, const struct job *jobs,
		    const struct job_result *res, size_t n, size_t i, int wd)
{
	const struct job *job = &jobs[i];
	char label[112];
	job_label(label, sizeof(label), job);
	if (!engine_built(job->engine)) {
		fprintf(f, "  %-*s not built (install %s, run cmake again)\n", wd, label,
			engine_package(job->engine));
		return;
	}
	if (!usable(&res[i])) {
		fprintf(f, "  %-*s did not run (%s)\n", wd, label,
			res[i].setup_what[0] ? res[i].setup_what : "no record written");
		return;
	}
	struct job_cost cost;
	job_cost(&res[i], &cost);
	const struct hist *h = &res[i].lat;
	char r[32], rg[48], p50[32], p999[32], cpu[32], ctx[32], dev[32], fio[32], lv[32], rk[32];
	double v;
	unsigned rpc = job->records_per_call;
	snprintf(r, sizeof(r), "%.0f", res[i].records_per_s);
	range(rg, sizeof(rg), res[i].iops_min * rpc, res[i].iops_max * rpc);
	snprintf(p50, sizeof(p50), "%.1f", (double)hist_percentile(h, 50) / 1e3);
	snprintf(p999, sizeof(p999), "%.1f", (double)hist_percentile(h, 99.9) / 1e3);
	snprintf(cpu, sizeof(cpu), "%.2f", cost.cpu_us_per_record);
	snprintf(ctx, sizeof(ctx), "%.3f", cost.ctx_per_record);
	long d = device_ref(jobs, res, n, i);
	ratio(dev, sizeof(dev), res[i].records_per_s, d >= 0 ? res[d].records_per_s : 0);
	const struct fio_result *fr = fio_ref(c, job);
	ratio(fio, sizeof(fio), res[i].records_per_s, fr ? fio_rate(fr) : 0);
	fprintf(f, ROW, wd, label, r, rg, p50, p999, cpu, ctx, dev, fio,
		peer_cell(lv, sizeof(lv), jobs, res, n, i, BENCH_ENGINE_LEVELDB, &v),
		peer_cell(rk, sizeof(rk), jobs, res, n, i, BENCH_ENGINE_ROCKSDB, &v));
}

void compare_print(FILE *f, const struct compare *c, const struct job *jobs,
		   const struct job_result *res, size_t n)
{
	fprintf(f, "\nSide by side: every job on the same directory (%s)\n", c->directory);
	if (c->ran) {
		fprintf(f, "  %s; one uwal record = %llu bytes on disk (%s)\n", c->fio_version,
			(unsigned long long)c->record_bytes, c->record_source);
		for (int i = 0; i < 2; i++)
			fprintf(f, "  %-9s: %s%s\n", c->fio[i].name, c->fio[i].cmd,
				c->fio[i].ok ? "" : "  [failed]");
	}
	int wd = 36;
	for (size_t i = 0; i < n; i++) {
		char label[112];
		job_label(label, sizeof(label), &jobs[i]);
		if ((int)strlen(label) > wd)
			wd = (int)strlen(label);
	}
	fprintf(f, "\n" ROW, wd, "", "records", "0.5 s samples", "p50", "p99.9", "cpu usec", "ctx",
		"x device", "x fio", "x leveldb", "x rocksdb");
	fprintf(f, ROW, wd, "", "/s", "min-max", "(usec)", "(usec)", "/record", "/record", "(raw)",
		"", "", "");
	fio_rows(f, c, wd);
	for (size_t i = 0; i < n; i++)
		job_row(f, c, jobs, res, n, i, wd);
	fprintf(f,
		"  x device: records/s over the run's raw loop of the same durability (raw-pwrite "
		"for one record\n"
		"    per call, raw-group for batches and for qd jobs). x fio: over fio-1rec or "
		"fio-%urec (durable\n"
		"    jobs). x leveldb, x rocksdb: a uwal job over the peer job of the same "
		"threads, "
		"records per call,\n"
		"    iodepth (qd) and durability.\n"
		"    cpu and ctx are the whole process's (getrusage) over the window, per record. "
		"* fio's p50/p99.9\n"
		"    are of its fdatasync alone. On a shared disk the min-max column shows how far "
		"each rate moved.\n",
		c->batch_records);
	fflush(f);
}

static void fio_obj(struct jsonw *w, const struct fio_result *x)
{
	jw_object(w, NULL);
	jw_string(w, "name", x->name);
	jw_bool(w, "ok", x->ok);
	jw_string(w, "command", x->cmd);
	jw_u64(w, "bs", x->bs);
	jw_u64(w, "records_per_io", x->records);
	jw_double(w, "iops", x->iops);
	jw_double(w, "records_per_s", fio_rate(x));
	jw_double(w, "mean_io_ns", x->ok && x->iops > 0 ? 1e9 / x->iops : 0);
	jw_double(w, "write_clat_p50_ns", x->clat_p50_ns);
	jw_double(w, "sync_mean_ns", x->sync_mean_ns);
	jw_double(w, "sync_p50_ns", x->sync_p50_ns);
	jw_double(w, "sync_p99_ns", x->sync_p99_ns);
	jw_double(w, "sync_p99_9_ns", x->sync_p999_ns);
	jw_double(w, "iops_min", x->iops_min);
	jw_double(w, "iops_max", x->iops_max);
	jw_end_object(w);
}

static void peer_json(struct jsonw *w, const char *key, const struct job *jobs,
		      const struct job_result *res, size_t n, size_t i, enum bench_engine e)
{
	char buf[32], why[64];
	double v;
	const char *cell = peer_cell(buf, sizeof(buf), jobs, res, n, i, e, &v);
	if (v > 0) {
		jw_double(w, key, v);
		return;
	}
	snprintf(why, sizeof(why), "%s_why", key);
	jw_string(w, why, !strcmp(cell, "-") ? "no such job in this run" : cell);
}

static void job_json(struct jsonw *w, const struct compare *c, const struct job *jobs,
		     const struct job_result *res, size_t n, size_t i)
{
	const struct job *job = &jobs[i];
	struct job_cost cost;
	job_cost(&res[i], &cost);
	const struct hist *h = &res[i].lat;
	jw_object(w, NULL);
	jw_string(w, "jobname", job->name);
	jw_string(w, "engine", bench_engine_name(job->engine));
	jw_bool(w, "built", engine_built(job->engine));
	jw_bool(w, "ran", usable(&res[i]));
	jw_bool(w, "durable", bench_sync_durable(job->sync));
	jw_u64(w, "numjobs", job->numjobs);
	jw_u64(w, "records_per_call", job->records_per_call);
	jw_bool(w, "contention", job->contention);
	if (!usable(&res[i])) {
		jw_end_object(w);
		return;
	}
	jw_double(w, "records_per_s", res[i].records_per_s);
	jw_u64(w, "p50_lat_ns", hist_percentile(h, 50));
	jw_u64(w, "p99_9_lat_ns", hist_percentile(h, 99.9));
	jw_double(w, "cpu_us_per_record", cost.cpu_us_per_record);
	jw_double(w, "ctx_per_record", cost.ctx_per_record);
	long d = device_ref(jobs, res, n, i);
	if (d >= 0) {
		jw_string(w, "device_job", jobs[d].name);
		jw_double(w, "vs_device", res[i].records_per_s / res[d].records_per_s);
	}
	const struct fio_result *fr = fio_ref(c, job);
	if (fr && fio_rate(fr) > 0) {
		jw_string(w, "fio_job", fr->name);
		jw_double(w, "vs_fio", res[i].records_per_s / fio_rate(fr));
	}
	if (job->engine == BENCH_ENGINE_UWAL) {
		peer_json(w, "vs_leveldb", jobs, res, n, i, BENCH_ENGINE_LEVELDB);
		peer_json(w, "vs_rocksdb", jobs, res, n, i, BENCH_ENGINE_ROCKSDB);
	}
	jw_end_object(w);
}

void compare_json(struct jsonw *w, const struct compare *c, const struct job *jobs,
		  const struct job_result *res, size_t n)
{
	jw_object(w, "compare");
	jw_bool(w, "ran", c->ran);
	jw_string(w, "directory", c->directory);
	if (c->ran) {
		jw_string(w, "fio version", c->fio_version);
		jw_u64(w, "record_bytes", c->record_bytes);
		jw_string(w, "record_bytes_source", c->record_source);
		jw_array(w, "fio");
		fio_obj(w, &c->fio[0]);
		fio_obj(w, &c->fio[1]);
		jw_end_array(w);
	} else {
		jw_string(w, "why", c->why);
	}
	jw_array(w, "jobs");
	for (size_t i = 0; i < n; i++)
		job_json(w, c, jobs, res, n, i);
	jw_end_array(w);
	jw_end_object(w);
}
