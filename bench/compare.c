/*
 * compare.c - uwal beside fio's raw numbers on the same directory.
 *
 * Two fio jobs stand for what the disk can do without uwal:
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

#include "format.h"

static bool durable_ran(const struct job *job, const struct job_result *res)
{
	return res->ran && bench_sync_durable(job->sync) && res->records > 0;
}

void compare_run(const struct job *jobs, const struct job_result *res, size_t n,
		 unsigned batch_records, double runtime_s, double ramp_s, struct compare *out)
{
	memset(out, 0, sizeof(*out));
	out->batch_records = batch_records;
	if (!fio_available()) {
		snprintf(out->why, sizeof(out->why), "fio is not installed (no 'fio' on PATH)");
		return;
	}
	if (n == 0) {
		snprintf(out->why, sizeof(out->why), "no job ran");
		return;
	}
	fio_version(out->fio_version, sizeof(out->fio_version));
	snprintf(out->directory, sizeof(out->directory), "%s", jobs[0].directory);
	for (size_t i = 0; i < n && !out->record_bytes; i++) {
		if (!durable_ran(&jobs[i], &res[i]) || !res[i].stats.records)
			continue;
		out->record_bytes =
			(res[i].stats.bytes + res[i].stats.records / 2) / res[i].stats.records;
		snprintf(out->record_source, sizeof(out->record_source),
			 "uwal_stats.bytes / records of job %s", jobs[i].name);
	}
	if (!out->record_bytes) {
		out->record_bytes = uw_fmt_record_frame_size(1, jobs[0].key_size, jobs[0].bs);
		snprintf(out->record_source, sizeof(out->record_source),
			 "frame size of a %zu-byte key and %zu-byte value", jobs[0].key_size,
			 jobs[0].bs);
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

static double fio_mean_ns(const struct fio_result *f)
{
	return f->ok && f->iops > 0 ? 1e9 / f->iops : 0;
}

/* The fio job whose shape matches this uwal job, for latency; or NULL. */
static const struct fio_result *lat_match(const struct compare *c, const struct job *job)
{
	if (job->numjobs != 1 || !bench_sync_durable(job->sync))
		return NULL;
	if (job->records_per_call == 1 && c->fio[0].ok)
		return &c->fio[0];
	if (job->records_per_call == c->batch_records && c->fio[1].ok)
		return &c->fio[1];
	return NULL;
}

static void ratio(char *buf, size_t len, double num, double den)
{
	if (den > 0 && num > 0)
		snprintf(buf, len, "%.2fx", num / den);
	else
		snprintf(buf, len, "-");
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
	if (job->records_per_call > 1)
		snprintf(buf, len, "uwal %.40s (%s, %u thr x %u rec)", job->name,
			 bench_sync_name(job->sync), job->numjobs, job->records_per_call);
	else
		snprintf(buf, len, "uwal %.40s (%s, %u thr)", job->name, bench_sync_name(job->sync),
			 job->numjobs);
}

#define ROW "  %-*s %10s %13s %9s %9s %9s | %9s %9s %8s\n"

void compare_print(FILE *f, const struct compare *c, const struct job *jobs,
		   const struct job_result *res, size_t n)
{
	if (!c->ran) {
		fprintf(f, "\nNo side by side with fio: %s.\n", c->why);
		return;
	}
	const struct fio_result *f1 = &c->fio[0], *fb = &c->fio[1];
	char bname[48];
	snprintf(bname, sizeof(bname), "x %s", fb->name);
	fprintf(f, "\nuwal vs fio: raw device, same directory (%s), %s\n", c->directory,
		c->fio_version);
	fprintf(f, "  one uwal record = %llu bytes on disk (%s)\n",
		(unsigned long long)c->record_bytes, c->record_source);
	for (int i = 0; i < 2; i++)
		fprintf(f, "  %-9s: %s%s\n", c->fio[i].name, c->fio[i].cmd,
			c->fio[i].ok ? "" : "  [failed]");
	int wd = 28;
	for (size_t i = 0; i < n; i++) {
		char label[96];
		job_label(label, sizeof(label), &jobs[i]);
		if ((int)strlen(label) > wd)
			wd = (int)strlen(label);
	}
	fprintf(f, "\n" ROW, wd, "", "durable", "0.5 s samples", "mean lat", "p50 lat", "p99 lat",
		"x fio-1rec", bname, "lat/fio");
	fprintf(f, ROW, wd, "", "rec/s", "min-max", "(usec)", "(usec)", "(usec)", "rec/s", "rec/s",
		"mean");
	for (int i = 0; i < 2; i++) {
		const struct fio_result *x = &c->fio[i];
		char label[64], r[32], m[32], p50[32], p99[32], rg[48];
		snprintf(label, sizeof(label), "%s (write+fdatasync)", x->name);
		if (!x->ok) {
			fprintf(f, "  %-*s failed\n", wd, label);
			continue;
		}
		snprintf(r, sizeof(r), "%.0f", fio_rate(x));
		snprintf(m, sizeof(m), "%.1f", fio_mean_ns(x) / 1e3);
		snprintf(p50, sizeof(p50), "*%.1f", x->sync_p50_ns / 1e3);
		snprintf(p99, sizeof(p99), "*%.1f", x->sync_p99_ns / 1e3);
		range(rg, sizeof(rg), x->iops_min * x->records, x->iops_max * x->records);
		fprintf(f, ROW, wd, label, r, rg, m, p50, p99, "", "", "");
	}
	for (size_t i = 0; i < n; i++) {
		const struct job *job = &jobs[i];
		char label[96];
		job_label(label, sizeof(label), job);
		if (!res[i].ran) {
			fprintf(f, "  %-*s did not run\n", wd, label);
			continue;
		}
		if (!bench_sync_durable(job->sync)) {
			fprintf(f, "  %-*s %10.0f  not durable: no raw-device equivalent\n", wd,
				label, res[i].records_per_s);
			continue;
		}
		const struct hist *h = &res[i].lat;
		char r[32], m[32], p50[32], p99[32], r1[32], rb[32], lr[32], rg[48];
		unsigned rpc = job->records_per_call;
		range(rg, sizeof(rg), res[i].iops_min * rpc, res[i].iops_max * rpc);
		snprintf(r, sizeof(r), "%.0f", res[i].records_per_s);
		snprintf(m, sizeof(m), "%.1f", hist_mean(h) / 1e3);
		snprintf(p50, sizeof(p50), "%.1f", (double)hist_percentile(h, 50) / 1e3);
		snprintf(p99, sizeof(p99), "%.1f", (double)hist_percentile(h, 99) / 1e3);
		ratio(r1, sizeof(r1), res[i].records_per_s, fio_rate(f1));
		ratio(rb, sizeof(rb), res[i].records_per_s, fio_rate(fb));
		const struct fio_result *lm = lat_match(c, job);
		ratio(lr, sizeof(lr), hist_mean(h), lm ? fio_mean_ns(lm) : 0);
		fprintf(f, ROW, wd, label, r, rg, m, p50, p99, r1, rb, lr);
	}
	fprintf(f,
		"  * fio's p50/p99 are of its fdatasync alone (its write adds p50 %.1f usec); "
		"fio's mean is 1/IOPS,\n"
		"    one write + fdatasync at a time. uwal's latencies are of the whole write "
		"call. lat/fio compares\n"
		"    means only for one thread writing 1 or %u records per call. fio ran after "
		"uwal: on a shared\n"
		"    disk the min-max columns show how far each rate moved within its own "
		"run.\n",
		f1->ok ? f1->clat_p50_ns / 1e3 : 0.0, c->batch_records);
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
	jw_double(w, "mean_io_ns", fio_mean_ns(x));
	jw_double(w, "write_clat_p50_ns", x->clat_p50_ns);
	jw_double(w, "sync_mean_ns", x->sync_mean_ns);
	jw_double(w, "sync_p50_ns", x->sync_p50_ns);
	jw_double(w, "sync_p99_ns", x->sync_p99_ns);
	jw_double(w, "iops_min", x->iops_min);
	jw_double(w, "iops_max", x->iops_max);
	jw_end_object(w);
}

void compare_json(struct jsonw *w, const struct compare *c, const struct job *jobs,
		  const struct job_result *res, size_t n)
{
	jw_object(w, "compare");
	jw_bool(w, "ran", c->ran);
	if (!c->ran) {
		jw_string(w, "why", c->why);
		jw_end_object(w);
		return;
	}
	jw_string(w, "fio version", c->fio_version);
	jw_string(w, "directory", c->directory);
	jw_u64(w, "record_bytes", c->record_bytes);
	jw_string(w, "record_bytes_source", c->record_source);
	jw_array(w, "fio");
	fio_obj(w, &c->fio[0]);
	fio_obj(w, &c->fio[1]);
	jw_end_array(w);
	jw_array(w, "uwal");
	for (size_t i = 0; i < n; i++) {
		const struct job *job = &jobs[i];
		if (!res[i].ran)
			continue;
		const struct hist *h = &res[i].lat;
		jw_object(w, NULL);
		jw_string(w, "jobname", job->name);
		jw_bool(w, "durable", bench_sync_durable(job->sync));
		jw_double(w, "records_per_s", res[i].records_per_s);
		jw_double(w, "mean_lat_ns", hist_mean(h));
		jw_u64(w, "p50_lat_ns", hist_percentile(h, 50));
		jw_u64(w, "p99_lat_ns", hist_percentile(h, 99));
		if (bench_sync_durable(job->sync)) {
			double f1 = fio_rate(&c->fio[0]), fb = fio_rate(&c->fio[1]);
			jw_double(w, "records_vs_fio_1rec", f1 > 0 ? res[i].records_per_s / f1 : 0);
			jw_double(w, "records_vs_fio_batch",
				  fb > 0 ? res[i].records_per_s / fb : 0);
			const struct fio_result *lm = lat_match(c, job);
			if (lm && fio_mean_ns(lm) > 0) {
				jw_string(w, "mean_lat_vs", lm->name);
				jw_double(w, "mean_lat_ratio", hist_mean(h) / fio_mean_ns(lm));
			}
		}
		jw_end_object(w);
	}
	jw_end_array(w);
	jw_end_object(w);
}
