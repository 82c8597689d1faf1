/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - uwal-bench's command line and the run.
 *
 *   uwal-bench [program options] [--job-option=value ...] [job files ...]
 *
 * Jobs come from fio-style job files, from the command line (--name=x
 * starts a job, the options after it are its own), or, when neither is
 * given, from the embedded default job (bench/jobs/default.fio, compiled
 * in). Job options given before any --name apply to every job and
 * override the job files' values, so "--runtime=1s group-commit.fio" or
 * "--directory=/mnt/wal" change a whole run. Jobs run one after another,
 * each on a fresh log (fio's stonewall).
 *
 * The default run, and any run with --compare, ends with the side by side
 * of fio's raw numbers on the same directory (compare.c).
 *
 * Output formats are fio's and may be combined as fio's are
 * (--output-format=json,normal): the normal report as the jobs run, then
 * one terse line per job, then the JSON document.
 *
 * Exit status: 0 if every job ran without a failed call, 1 if not, 2 on a
 * usage or job file error, 3 if the engine hung (watchdog).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef UWAL_BENCH_DEFAULT_DIR
#define UWAL_BENCH_DEFAULT_DIR "uwal-bench-data"
#endif

/* bench/jobs/default.fio, embedded by CMake (default_job.c in the build). */
extern const char bench_default_job[];

#define MAX_FILES 64
#define DEFAULT_COMPARE_RECORDS 64

/* --output-format: any of these, as a comma-separated list (as fio). */
enum out_format { OUT_NORMAL = 1, OUT_TERSE = 2, OUT_JSON = 4, OUT_JSONPLUS = 8 };

struct prog {
	unsigned fmt; /* enum out_format bits */
	const char *output;
	bool quiet;
	int compare; /* -1: only for the default job; 0 off; 1 on */
	bool no_fio; /* the side by side without fio's runs */
	bool quick;
	bool parse_only;
	unsigned compare_records;
	const char *files[MAX_FILES];
	unsigned nfiles;
	struct optlist globals;  /* job options before any --name */
	struct joblist cmd_jobs; /* --name= jobs */
	struct job base;         /* defaults every job starts from */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uwal-bench [options] [--job-option=value ...] [job file ...]\n"
		"Measure uwal the way fio measures storage, then fio itself on the same disk.\n"
		"\n"
		"With no job file and no --name, runs the embedded default job\n"
		"(--show-default-job prints it) in %s,\n"
		"then fio's raw device figures beside it.\n"
		"\n"
		"Program options:\n"
		"  --output-format=F   normal (fio's human layout, default), terse (fio's\n"
		"                      terse version 3), json or json+ (json with the latency\n"
		"                      histogram's bins), or a list: json,normal\n"
		"  --output=FILE       write the results to FILE instead of stdout\n"
		"  --compare           end with the side by side: every job against the raw\n"
		"                      loops and fio's raw numbers, uwal against LevelDB and\n"
		"                      RocksDB (default run: on); --no-compare turns it off,\n"
		"                      --no-fio keeps the table but does not run fio\n"
		"  --compare-records=N records per write of fio's batched job (default %u)\n"
		"  --quick             every time-based job 1 s (ramp 0.1 s), fio 1 s: a smoke "
		"test\n"
		"  --quiet             no progress line on stderr (it is only drawn on a "
		"terminal)\n"
		"  --parse-only        parse the jobs, print them, run nothing\n"
		"  --show-default-job  print the embedded default job file\n"
		"  --cmdhelp           list every job option\n"
		"  --version, --help\n"
		"\n"
		"Job options (fio's names; uwal's knobs by their uwal_config names):\n"
		"  --name=NAME starts a command-line job; options before the first --name\n"
		"  apply to every job and override job files. Examples:\n"
		"    uwal-bench bench/jobs/group-commit.fio\n"
		"    uwal-bench --name=lat --sync=batch --numjobs=1 --runtime=5s --bs=100\n"
		"    uwal-bench --runtime=1s --output-format=json bench/jobs/ingest-nosync.fio\n"
		"Old spellings still work: --directory DIR, --runtime SEC, --threads N,\n"
		"--mode sync|nosync|always, --value-size N, --key-size N, --batch N.\n",
		UWAL_BENCH_DEFAULT_DIR, DEFAULT_COMPARE_RECORDS);
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "uwal-bench: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n(uwal-bench --help for usage, --cmdhelp for job options)\n");
	return 2;
}

/* A program option's value: after '=' or the next argument. */
static const char *take_value(int argc, char **argv, int *i, const char *value)
{
	if (value)
		return value;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static bool is(const char *key, const char *name)
{
	for (; *key && *name; key++, name++) {
		char k = *key == '_' ? '-' : *key;
		if (k != *name)
			return false;
	}
	return *key == *name;
}

/* "normal", "json,normal", ...: fio's list of formats. json+ wins over json. */
static int parse_formats(const char *v, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{"normal", OUT_NORMAL},
		{"terse", OUT_TERSE},
		{"json", OUT_JSON},
		{"json+", OUT_JSONPLUS},
	};
	char buf[128];
	if (!v || !*v || snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf))
		return -1;
	unsigned fmt = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t k = 0;
		while (k < sizeof(names) / sizeof(names[0]) && strcmp(tok, names[k].name))
			k++;
		if (k == sizeof(names) / sizeof(names[0]))
			return -1;
		fmt |= names[k].bit;
	}
	if (!fmt)
		return -1;
	if (fmt & OUT_JSONPLUS)
		fmt &= ~(unsigned)OUT_JSON;
	*out = fmt;
	return 0;
}

/* Print what became of a fio option given on the command line. */
static void option_note(const char *key, const char *value, int rc, const struct opt_note *n)
{
	if (rc == BENCH_OPT_MAPPED)
		fprintf(stderr, "uwal-bench: --%s: note: %s\n", key, n->text);
	else if (rc == BENCH_OPT_IGNORED && n->text[0])
		fprintf(stderr, "uwal-bench: --%s%s%s: warning: %s\n", key, value ? "=" : "",
			value ? value : "", n->text);
}

/* Program options. Returns 1 if key is one (handled), 0 if not, or an
 * exit status + 100 to stop. */
static int program_option(struct prog *p, const char *key, const char *value, int argc, char **argv,
			  int *i)
{
	if (is(key, "help")) {
		usage(stdout);
		return 100;
	}
	if (is(key, "cmdhelp")) {
		job_options_help(stdout);
		fio_options_help(stdout);
		return 100;
	}
	if (is(key, "version")) {
		printf("%s (uwal %d.%d.%d)\n", BENCH_VERSION, UWAL_VERSION_MAJOR,
		       UWAL_VERSION_MINOR, UWAL_VERSION_PATCH);
		return 100;
	}
	if (is(key, "show-default-job")) {
		fputs(bench_default_job, stdout);
		return 100;
	}
	if (is(key, "output-format")) {
		const char *v = take_value(argc, argv, i, value);
		if (parse_formats(v, &p->fmt))
			return 100 + usage_error("bad --output-format '%s'%s: normal, terse, json "
						 "or json+, or a list of them (json,normal)",
						 v ? v : "", "");
		return 1;
	}
	if (is(key, "output")) {
		p->output = take_value(argc, argv, i, value);
		if (!p->output || !*p->output)
			return 100 + usage_error("--output needs a file name%s%s", "", "");
		return 1;
	}
	if (is(key, "compare-records")) {
		const char *v = take_value(argc, argv, i, value);
		char *end;
		unsigned long n = v ? strtoul(v, &end, 10) : 0;
		if (!v || *end || n < 1 || n > 65536)
			return 100 + usage_error("bad --compare-records '%s'%s: 1 to 65536",
						 v ? v : "", "");
		p->compare_records = (unsigned)n;
		return 1;
	}
	static const char *const flags[] = {"quiet",      "compare", "no-fio",
					    "no-compare", "quick",   "parse-only"};
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		if (!is(key, flags[k]))
			continue;
		if (value)
			return 100 + usage_error("--%s takes no value (got '%s')", flags[k], value);
		switch (k) {
		case 0:
			p->quiet = true;
			break;
		case 1:
			p->compare = 1;
			break;
		case 2:
			p->no_fio = true;
			break;
		case 3:
			p->compare = 0;
			break;
		case 4:
			p->quick = true;
			break;
		case 5:
			p->parse_only = true;
			break;
		}
		return 1;
	}
	return 0;
}

static int job_option(struct prog *p, const char *key, const char *value, int argc, char **argv,
		      int *i)
{
	struct opt_note note;
	int rc;
	if (!value && !bench_option_is_flag(key)) {
		value = take_value(argc, argv, i, NULL);
		if (!value)
			return usage_error("--%s needs a value%s", key, "");
	}
	if (!strcmp(job_option_name(key), "name")) {
		struct job job = p->base;
		for (unsigned k = 0; k < p->globals.n; k++)
			bench_set_option(&job, p->globals.v[k].key, p->globals.v[k].value, NULL);
		if (bench_set_option(&job, key, value, &note) == BENCH_OPT_ERROR)
			return usage_error("--%s: %s", key, note.text);
		if (!joblist_add(&p->cmd_jobs, &job))
			return usage_error("out of memory%s%s", "", "");
		return 0;
	}
	if (p->cmd_jobs.n) {
		struct job *job = &p->cmd_jobs.v[p->cmd_jobs.n - 1];
		rc = bench_set_option(job, key, value, &note);
		if (rc == BENCH_OPT_ERROR)
			return usage_error("--%s: %s", key, note.text);
		option_note(key, value, rc, &note);
		return 0;
	}
	struct job scratch = p->base; /* check the value once, here */
	rc = bench_set_option(&scratch, key, value, &note);
	if (rc == BENCH_OPT_ERROR)
		return usage_error("--%s: %s", key, note.text);
	option_note(key, value, rc, &note);
	if (rc == BENCH_OPT_MAPPED)
		optlist_set(&p->globals, note.key, note.value);
	else if (rc == BENCH_OPT_SET)
		optlist_set(&p->globals, job_option_name(key), value);
	return 0;
}

/* Returns 0 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct prog *p)
{
	bool files_only = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (files_only || a[0] != '-' || !strcmp(a, "-")) {
			if (p->nfiles == MAX_FILES)
				return usage_error("more than %s job files%s", "64", "");
			p->files[p->nfiles++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			files_only = true;
			continue;
		}
		if (!strcmp(a, "-h")) {
			usage(stdout);
			return 0 + 100;
		}
		if (a[1] != '-')
			return usage_error("unknown option '%s'%s", a, "");
		char key[64];
		const char *eq = strchr(a + 2, '=');
		size_t klen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		if (klen == 0 || klen >= sizeof(key))
			return usage_error("bad option '%s'%s", a, "");
		memcpy(key, a + 2, klen);
		key[klen] = '\0';
		const char *value = eq ? eq + 1 : NULL;
		int rc = program_option(p, key, value, argc, argv, &i);
		if (rc >= 100)
			return rc;
		if (rc == 1)
			continue;
		if (!bench_option_known(key))
			return usage_error("unknown option '--%s'%s", key, "");
		rc = job_option(p, key, value, argc, argv, &i);
		if (rc)
			return rc;
	}
	return 0;
}

/* Build the run's jobs. Returns 0 or an exit status. */
static int build_jobs(struct prog *p, struct joblist *jobs, struct optlist *globals,
		      bool *is_default)
{
	char err[1024];
	struct jobmsgs msgs = {0};
	*is_default = p->nfiles == 0 && p->cmd_jobs.n == 0;
	/* every file is read, so that all their errors are reported at once */
	for (unsigned i = 0; i < p->nfiles; i++)
		jobfile_parse_file(p->files[i], &p->base, jobs, globals, &msgs);
	if (*is_default)
		jobfile_parse_text(bench_default_job, "<default job>", &p->base, jobs, globals,
				   &msgs);
	jobmsgs_print(stderr, &msgs, "uwal-bench: ");
	size_t errors = msgs.errors;
	jobmsgs_free(&msgs);
	if (errors) {
		fprintf(stderr, "uwal-bench: %zu error%s in the job files; nothing was run\n",
			errors, errors == 1 ? "" : "s");
		return 2;
	}
	/* command-line globals override what the files said */
	for (size_t j = 0; j < jobs->n; j++)
		for (unsigned k = 0; k < p->globals.n; k++)
			bench_set_option(&jobs->v[j], p->globals.v[k].key, p->globals.v[k].value,
					 NULL);
	for (unsigned k = 0; k < p->globals.n; k++)
		optlist_set(globals, p->globals.v[k].key, p->globals.v[k].value);
	for (size_t j = 0; j < p->cmd_jobs.n; j++)
		if (!joblist_add(jobs, &p->cmd_jobs.v[j])) {
			fprintf(stderr, "uwal-bench: out of memory\n");
			return 1;
		}
	for (size_t j = 0; j < jobs->n; j++) {
		struct job *job = &jobs->v[j];
		if (p->quick && job_is_timed(job)) {
			job->runtime_s = 1.0;
			optlist_set(&job->opts, "runtime", "1s");
			if (job->ramp_s > 0.1) {
				job->ramp_s = 0.1;
				optlist_set(&job->opts, "ramp_time", "100ms");
			}
		}
		if (job_check(job, err, sizeof(err))) {
			fprintf(stderr, "uwal-bench: job %s: %s\n", job->name, err);
			return 2;
		}
	}
	return 0;
}

static double job_estimate(const struct job *job)
{
	return job_is_timed(job) ? job->ramp_s + job_runtime(job) : 0;
}

static void print_parsed(const struct joblist *jobs)
{
	for (size_t j = 0; j < jobs->n; j++) {
		const struct job *job = &jobs->v[j];
		printf("[%s]\n", job->name);
		for (unsigned k = 0; k < job->opts.n; k++)
			if (strcmp(job->opts.v[k].key, "name"))
				printf("%s=%s\n", job->opts.v[k].key, job->opts.v[k].value);
		printf("; directory=%s engine=%s numjobs=%u bs=%zu key_size=%zu "
		       "records_per_call=%u sync=%s contention=%d %s\n",
		       job->directory, bench_engine_name(job->engine), job->numjobs, job->bs,
		       job->key_size, job->records_per_call, bench_sync_name(job->sync),
		       job->contention, job_is_timed(job) ? "time based" : "count based");
	}
}

/* The reference for fio's run length: the first durable job's times. */
static void compare_times(const struct joblist *jobs, bool quick, double *runtime, double *ramp)
{
	*runtime = 3.0;
	*ramp = 0.5;
	for (size_t j = 0; j < jobs->n; j++) {
		if (bench_sync_durable(jobs->v[j].sync) && job_is_timed(&jobs->v[j])) {
			*runtime = job_runtime(&jobs->v[j]);
			*ramp = jobs->v[j].ramp_s;
			break;
		}
	}
	if (quick) {
		*runtime = 1.0;
		*ramp = *ramp > 0.1 ? 0.1 : *ramp;
	}
}

static int run(struct prog *p, struct joblist *jobs, const struct optlist *globals, bool is_default)
{
	FILE *out = stdout;
	if (p->output) {
		out = fopen(p->output, "w");
		if (!out) {
			fprintf(stderr, "uwal-bench: cannot write %s: %s\n", p->output,
				strerror(errno));
			return 1;
		}
	}
	const bool normal = p->fmt & OUT_NORMAL;
	const bool compare = p->compare == 1 || (p->compare == -1 && is_default);
	double cmp_runtime, cmp_ramp;
	compare_times(jobs, p->quick, &cmp_runtime, &cmp_ramp);

	struct job_result *res = calloc(jobs->n, sizeof(*res));
	if (!res) {
		fprintf(stderr, "uwal-bench: out of memory\n");
		if (out != stdout)
			fclose(out);
		return 1;
	}
	if (normal) {
		for (size_t j = 0; j < jobs->n; j++)
			report_job_line(out, &jobs->v[j], j);
		fprintf(out, "%s\nStarting %zu job%s, one after another, each on a fresh log\n",
			BENCH_VERSION, jobs->n, jobs->n == 1 ? "" : "s");
		fflush(out);
	}

	/* the whole run's disk stats, on the first job's device */
	struct devinfo dev;
	struct devstat d0, d1;
	make_dirs(jobs->v[0].directory);
	devinfo_find(jobs->v[0].directory, &dev);
	bool have_d = dev.ok && devstat_read(dev.path, &d0) == 0;
	uint64_t t_start = now_ns();

	int status = 0;
	for (size_t j = 0; j < jobs->n; j++) {
		double later = compare && !p->no_fio ? 2 * (cmp_runtime + cmp_ramp) + 2 : 0;
		for (size_t k = j + 1; k < jobs->n; k++)
			later += job_estimate(&jobs->v[k]) + 0.2;
		struct run_ctx ctx = {
			.progress = !p->quiet && isatty(STDERR_FILENO),
			.job_no = j + 1,
			.njobs = jobs->n,
			.later_s = later,
		};
		run_job(&jobs->v[j], &ctx, &res[j]);
		if (!res[j].ran || res[j].errors || res[j].close_error)
			status = 1;
		if (normal)
			report_job(out, &jobs->v[j], &res[j], j);
	}
	have_d = have_d && devstat_read(dev.path, &d1) == 0;
	uint64_t elapsed = now_ns() - t_start;
	if (normal && have_d)
		report_disk(out, &dev, &d0, &d1, elapsed);

	struct compare *cmp = NULL;
	if (compare) {
		cmp = calloc(1, sizeof(*cmp));
		if (cmp) {
			if (normal && !p->no_fio) {
				fprintf(out,
					"\nRunning fio on the same directory for the side by "
					"side (2 x %.1f s)...\n",
					cmp_runtime + cmp_ramp);
				fflush(out);
			}
			compare_run(jobs->v, res, jobs->n, p->compare_records, !p->no_fio,
				    cmp_runtime, cmp_ramp, cmp);
			if (normal)
				compare_print(out, cmp, jobs->v, res, jobs->n);
		}
	}
	if (p->fmt & OUT_TERSE)
		for (size_t j = 0; j < jobs->n; j++)
			terse_write(out, &jobs->v[j], &res[j], j);
	if (p->fmt & (OUT_JSON | OUT_JSONPLUS)) {
		struct json_doc doc = {
			.jobs = jobs->v,
			.res = res,
			.n = jobs->n,
			.globals = globals,
			.plus = p->fmt & OUT_JSONPLUS,
			.dev = have_d ? &dev : NULL,
			.dev0 = &d0,
			.dev1 = &d1,
			.elapsed_ns = elapsed,
			.cmp = cmp,
		};
		json_write(out, &doc);
	}
	free(cmp);
	free(res);
	if (out != stdout && fclose(out) != 0) {
		fprintf(stderr, "uwal-bench: writing %s: %s\n", p->output, strerror(errno));
		status = 1;
	}
	return status;
}

int main(int argc, char **argv)
{
	static struct prog p;
	p.fmt = OUT_NORMAL;
	p.compare = -1;
	p.compare_records = DEFAULT_COMPARE_RECORDS;
	job_init(&p.base, UWAL_BENCH_DEFAULT_DIR);

	int rc = parse_args(argc, argv, &p);
	if (rc) {
		joblist_free(&p.cmd_jobs);
		return rc >= 100 ? rc - 100 : rc;
	}
	struct joblist jobs = {0};
	static struct optlist globals;
	bool is_default;
	rc = build_jobs(&p, &jobs, &globals, &is_default);
	joblist_free(&p.cmd_jobs);
	if (rc == 0 && p.parse_only)
		print_parsed(&jobs);
	else if (rc == 0)
		rc = run(&p, &jobs, &globals, is_default);
	joblist_free(&jobs);
	return rc;
}
