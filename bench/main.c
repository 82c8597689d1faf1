/*
 * main.c - uwal-bench's command line: build the list of jobs of a run, run
 * them one after the other, print the tables, then fio's raw device figure.
 *
 * The default run is the README's main job: durable (group commit) and
 * unsynced writers with 1, 4, 16 and 64 threads, one unsynced batch writer,
 * and fio's single durable writer on the same directory, in under a minute
 * on a 2-core machine.
 *
 * Exit status: 0 if every uwal job ran without a failed call, 1 if not, 2 on
 * a usage error. fio's part never changes it.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREAD_COUNTS 32

struct options {
	const char *directory;
	double runtime_s;              /* 0 = the per-mode defaults */
	unsigned threads[MAX_THREAD_COUNTS];
	unsigned nthreads;
	bool sync, nosync, always, batch;
	size_t value_size, key_size;
	unsigned batch_size;
	bool fio;
	bool quick;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: uwal-bench [options]\n"
	        "Measure uwal's write throughput and latency, then fio's raw durable write.\n"
	        "\n"
	        "  --directory DIR   where the logs go (default ./uwal-bench-data); each job\n"
	        "                    uses a fresh subdirectory and removes it afterwards\n"
	        "  --runtime SEC     measured seconds per job (default: 3 for sync, 2 for\n"
	        "                    nosync and always; 0.25 s of warm-up comes first)\n"
	        "  --threads LIST    submitter thread counts, e.g. 1,4,16,64 (the default)\n"
	        "  --mode MODE       sync (group commit), nosync, always (fdatasync per call),\n"
	        "                    or all; default: sync and nosync\n"
	        "  --value-size N    bytes per value (default 100)\n"
	        "  --key-size N      bytes per key, holding the index (default 8)\n"
	        "  --batch N         records per uwal_write_batch call of the nosync batch\n"
	        "                    job, 1 thread (default 64; 0 = no batch job)\n"
	        "  --no-fio          skip fio's raw device figure\n"
	        "  --quick           1 s jobs and a 1 s fio run (smoke test)\n"
	        "  --help            this text\n"
	        "\n"
	        "fio's figure (128-byte writes, fdatasync each, io_uring, depth 1) runs when\n"
	        "a durable mode is measured and fio is installed.\n");
}

static int parse_threads(const char *s, struct options *o)
{
	o->nthreads = 0;
	while (*s) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || errno || v < 1 || v > BENCH_MAX_THREADS ||
		    o->nthreads == MAX_THREAD_COUNTS || (*end && *end != ','))
			return -1;
		o->threads[o->nthreads++] = (unsigned)v;
		s = *end ? end + 1 : end;
	}
	return o->nthreads ? 0 : -1;
}

static int parse_size(const char *s, size_t max, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end || errno || v > max || *s == '-')
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_mode(const char *s, struct options *o)
{
	o->sync = o->nosync = o->always = false;
	if (strcmp(s, "sync") == 0)
		o->sync = true;
	else if (strcmp(s, "nosync") == 0)
		o->nosync = true;
	else if (strcmp(s, "always") == 0)
		o->always = true;
	else if (strcmp(s, "all") == 0)
		o->sync = o->nosync = o->always = true;
	else
		return -1;
	return 0;
}

/* Returns 0, 1 to exit successfully (--help) or -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "key-size", required_argument, NULL, 'k' },
		{ "batch", required_argument, NULL, 'b' },
		{ "no-fio", no_argument, NULL, 'F' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	size_t sz;
	char *end;
	while ((c = getopt_long(argc, argv, "d:r:t:m:v:k:b:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->directory = optarg;
			break;
		case 'r':
			o->runtime_s = strtod(optarg, &end);
			if (end == optarg || *end || !(o->runtime_s > 0 && o->runtime_s <= 86400))
				goto bad;
			break;
		case 't':
			if (parse_threads(optarg, o))
				goto bad;
			break;
		case 'm':
			if (parse_mode(optarg, o))
				goto bad;
			break;
		case 'v':
			if (parse_size(optarg, 64u << 20, &o->value_size))
				goto bad;
			break;
		case 'k':
			if (parse_size(optarg, 1u << 20, &o->key_size))
				goto bad;
			break;
		case 'b':
			if (parse_size(optarg, 65536, &sz))
				goto bad;
			o->batch_size = (unsigned)sz;
			break;
		case 'F':
			o->fio = false;
			break;
		case 'q':
			o->quick = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uwal-bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!*o->directory) {
		fprintf(stderr, "uwal-bench: empty --directory\n");
		return -1;
	}
	o->batch = o->nosync && o->batch_size > 0;
	return 0;
bad:
	fprintf(stderr, "uwal-bench: bad value for --%s: '%s'\n",
	        c == 'd' ? "directory" : c == 'r' ? "runtime" : c == 't' ? "threads"
	        : c == 'm' ? "mode" : c == 'v' ? "value-size" : c == 'k' ? "key-size"
	        : "batch", optarg);
	return -1;
}

/* Runtime of one job: --quick, then --runtime, then the mode's default. */
static void set_times(struct job *job, const struct options *o, double dflt)
{
	job->ramp_s = o->quick ? 0.1 : 0.25;
	job->runtime_s = o->quick ? 1.0 : o->runtime_s > 0 ? o->runtime_s : dflt;
}

static struct job *add_job(struct job *jobs, size_t *n, const struct options *o,
                           enum uwal_sync_mode mode, unsigned threads, unsigned per_call)
{
	struct job *job = &jobs[(*n)++];
	job_init(job);
	job->directory = o->directory;
	job->numjobs = threads;
	job->value_size = o->value_size;
	job->key_size = o->key_size;
	job->per_call = per_call;
	job->cfg.sync_mode = mode;
	set_times(job, o, mode == UWAL_SYNC_BATCH ? 3.0 : 2.0);
	if (per_call > 1)
		snprintf(job->name, sizeof(job->name), "%s-t%u-b%u", sync_mode_name(mode),
		         threads, per_call);
	else
		snprintf(job->name, sizeof(job->name), "%s-t%u", sync_mode_name(mode), threads);
	return job;
}

static size_t build_jobs(const struct options *o, struct job *jobs)
{
	size_t n = 0;
	for (unsigned i = 0; o->sync && i < o->nthreads; i++)
		add_job(jobs, &n, o, UWAL_SYNC_BATCH, o->threads[i], 1);
	for (unsigned i = 0; o->nosync && i < o->nthreads; i++)
		add_job(jobs, &n, o, UWAL_SYNC_NONE, o->threads[i], 1);
	if (o->batch)
		add_job(jobs, &n, o, UWAL_SYNC_NONE, 1, o->batch_size);
	for (unsigned i = 0; o->always && i < o->nthreads; i++)
		add_job(jobs, &n, o, UWAL_SYNC_ALWAYS, o->threads[i], 1);
	return n;
}

/* mkdir -p; *created tells whether the last component was made here. */
static int make_dirs(const char *path, bool *created)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	*created = false;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0755) == 0) {
			*created = saved == '\0';
		} else if (errno != EEXIST) {
			return -errno;
		}
		if (saved == '\0')
			break;
		*p = saved;
	}
	return 0;
}

static void run_fio(const struct options *o, const struct job *jobs,
                    const struct job_result *res, size_t n)
{
	if (!fio_available()) {
		printf("\nfio is not installed (no 'fio' on PATH): skipping the raw device "
		       "comparison.\n");
		return;
	}
	unsigned secs = 5;
	if (o->quick)
		secs = 1;
	else if (o->runtime_s > 0)
		secs = o->runtime_s < 1 ? 1 : (unsigned)(o->runtime_s + 0.5);
	const struct job_result *sync1 = NULL;
	for (size_t i = 0; i < n && !sync1; i++)
		if (jobs[i].cfg.sync_mode == UWAL_SYNC_BATCH && jobs[i].numjobs == 1 &&
		    jobs[i].per_call == 1)
			sync1 = &res[i];
	struct fio_result fio;
	if (fio_run_raw(o->directory, secs, &fio) != 0) {
		printf("\nfio's raw device run failed (see above): no comparison.\n");
		return;
	}
	report_fio(&fio, secs, sync1);
}

int main(int argc, char **argv)
{
	struct options o = {
		.directory = "uwal-bench-data",
		.threads = { 1, 4, 16, 64 },
		.nthreads = 4,
		.sync = true,
		.nosync = true,
		.value_size = 100,
		.key_size = 8,
		.batch_size = 64,
		.fio = true,
	};
	int rc = parse_options(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;

	bool created;
	rc = make_dirs(o.directory, &created);
	if (rc) {
		fprintf(stderr, "uwal-bench: cannot create %s: %s\n", o.directory, strerror(-rc));
		return 1;
	}

	static struct job jobs[3 * MAX_THREAD_COUNTS + 1];
	size_t n = build_jobs(&o, jobs);
	struct job_result *res = calloc(n, sizeof(*res));
	if (!res) {
		fprintf(stderr, "uwal-bench: out of memory\n");
		return 1;
	}

	report_header(o.directory, o.value_size, o.key_size);
	report_table_head();
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		run_job(&jobs[i], &res[i]);
		report_row(&jobs[i], &res[i]);
		if (!res[i].ran || res[i].errors || res[i].close_error)
			status = 1;
	}
	report_details(jobs, res, n);

	if (o.fio && (o.sync || o.always))
		run_fio(&o, jobs, res, n);
	free(res);
	if (created)
		rmdir(o.directory); /* only if empty: never remove what we did not make */
	return status;
}
