/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bench_jobfile.c - uwal-bench's job files and option values.
 *
 * The parser is what turns a storage engineer's fio-style job file into
 * jobs: a wrong default, a misread suffix or an error without a file and
 * line would make a benchmark measure something else than it says. These
 * tests pin the INI rules ([global] scoping, flags, comments), fio's size
 * and time suffixes, and the error messages for bad files. The shipped
 * job files must parse too. A job file written for fio must load as it is,
 * each fio option that does not apply with its own warning and fio's
 * fdatasync=1 read as sync=always (a wrong mapping would measure a weaker
 * durability than the file asks for); every error of a file is reported at
 * once; the terse output keeps fio's field layout, which scripts index by
 * position.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static struct job base;
static struct joblist jobs;
static struct optlist globals;
static struct jobmsgs msgs;
static char err[16384]; /* every message of the last parse, one per line */

static void setup(void)
{
	job_init(&base, "/nonexistent/bench-test");
	memset(&jobs, 0, sizeof(jobs));
	memset(&globals, 0, sizeof(globals));
	memset(&msgs, 0, sizeof(msgs));
	err[0] = '\0';
}

static void teardown(void)
{
	joblist_free(&jobs);
	jobmsgs_free(&msgs);
}

/* Start over within a test. */
static void reset(void)
{
	teardown();
	setup();
}

/* Join the messages into err, for strstr() and for failure reports. */
static void collect(void)
{
	size_t k = 0;
	err[0] = '\0';
	for (size_t i = 0; i < msgs.n && k < sizeof(err); i++) {
		char line[1200];
		jobmsg_format(&msgs.v[i], line, sizeof(line));
		k += (size_t)snprintf(err + k, sizeof(err) - k, "%s\n", line);
	}
}

static int parse(const char *text)
{
	int rc = jobfile_parse_text(text, "t.fio", &base, &jobs, &globals, &msgs);
	collect();
	return rc;
}

static int parse_file(const char *path)
{
	int rc = jobfile_parse_file(path, &base, &jobs, NULL, &msgs);
	collect();
	return rc;
}

/* The message of kind at line, or NULL. */
static const struct jobmsg *msg_at(enum jobmsg_kind kind, unsigned line)
{
	for (size_t i = 0; i < msgs.n; i++)
		if (msgs.v[i].kind == kind && msgs.v[i].line == line)
			return &msgs.v[i];
	return NULL;
}

static size_t count_kind(enum jobmsg_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < msgs.n; i++)
		n += msgs.v[i].kind == kind;
	return n;
}

TestSuite(jobfile, .init = setup, .fini = teardown);

Test(jobfile, global_section_sets_defaults_and_sections_override_them)
{
	cr_assert_eq(parse("[global]\n"
			   "bs=4k\n"
			   "sync=batch\n"
			   "[one]\n"
			   "numjobs=4\n"
			   "[two]\n"
			   "bs=100\n"
			   "sync=none\n"),
		     0, "%s", err);
	cr_assert_eq(jobs.n, 2);
	cr_assert_str_eq(jobs.v[0].name, "one");
	cr_assert_eq(jobs.v[0].bs, 4096);
	cr_assert_eq(jobs.v[0].numjobs, 4);
	cr_assert_eq(jobs.v[0].sync, BENCH_SYNC_BATCH);
	cr_assert_str_eq(jobs.v[1].name, "two");
	cr_assert_eq(jobs.v[1].bs, 100);
	cr_assert_eq(jobs.v[1].numjobs, 1, "a section's options must not leak into the next");
	cr_assert_eq(jobs.v[1].sync, BENCH_SYNC_NONE);
	cr_assert_eq(globals.n, 2);
}

Test(jobfile, a_later_global_section_applies_only_to_later_jobs)
{
	cr_assert_eq(parse("[a]\n[global]\nnumjobs=8\n[b]\n"), 0, "%s", err);
	cr_assert_eq(jobs.v[0].numjobs, 1);
	cr_assert_eq(jobs.v[1].numjobs, 8);
}

Test(jobfile, comments_blank_lines_flags_and_spaces)
{
	cr_assert_eq(parse("; a comment\n"
			   "# another\n"
			   "\n"
			   "  [ job 1 ]  \n"
			   "  time_based   ; trailing comment\n"
			   "runtime = 500ms # and another\n"
			   "description=keep a;semicolon\n"),
		     0, "%s", err);
	cr_assert_eq(jobs.n, 1);
	cr_assert_str_eq(jobs.v[0].name, "job 1");
	cr_assert(jobs.v[0].time_based);
	cr_assert_float_eq(jobs.v[0].runtime_s, 0.5, 1e-9);
	cr_assert_str_eq(jobs.v[0].description, "keep a;semicolon",
			 "';' inside a value is not a comment");
}

Test(jobfile, every_uwal_knob_reaches_the_config)
{
	cr_assert_eq(parse("[k]\n"
			   "segment_size=1m\n"
			   "segment_threshold=1000\n"
			   "max_segments=4\n"
			   "max_batch_size=64\n"
			   "max_batch_delay=2ms\n"
			   "queue_capacity=4096\n"
			   "ring_entries=128\n"
			   "ring_flags=sqpoll\n"
			   "prealloc=fallocate\n"
			   "write_path=uring\n"
			   "writer_spin=10\n"
			   "wait_spin_us=0\n"
			   "async_window=4096\n"
			   "records_per_call=64\n"
			   "key_size=16\n"),
		     0, "%s", err);
	const uwal_config *c = &jobs.v[0].cfg;
	cr_assert_eq(c->segment_size, 1u << 20);
	cr_assert_eq(c->segment_threshold, 1000);
	cr_assert_eq(c->max_segments, 4);
	cr_assert_eq(c->max_batch_size, 64);
	cr_assert_eq(c->max_batch_delay_us, 2000);
	cr_assert_eq(c->queue_capacity, 4096);
	cr_assert_eq(c->ring_entries, 128);
	cr_assert_eq(c->ring_flags, 2u /* IORING_SETUP_SQPOLL */);
	cr_assert_eq(c->prealloc, UWAL_PREALLOC_FALLOCATE);
	cr_assert_eq(c->write_path, UWAL_WRITE_URING);
	cr_assert_eq(c->writer_spin_us, 10);
	cr_assert_eq(c->wait_spin_us, 0);
	cr_assert_eq(c->async_window, 4096);
	cr_assert_eq(jobs.v[0].records_per_call, 64);
	cr_assert_eq(jobs.v[0].key_size, 16);
}

Test(jobfile, open_loop_pinning_and_percentiles)
{
	cr_assert_eq(parse("[o]\n"
			   "rate_iops=1000\n"
			   "rate_process=poisson\n"
			   "cpus_allowed=0-1,3\n"
			   "cpus_allowed_policy=split\n"
			   "percentile_list=50:99:99.9\n"
			   "sync=per-write\n"),
		     0, "%s", err);
	const struct job *j = &jobs.v[0];
	cr_assert_eq(j->rate_iops, 1000);
	cr_assert(j->rate_poisson);
	cr_assert(j->cpus_set && j->cpus_split);
	cr_assert_eq(CPU_COUNT(&j->cpus), 3);
	cr_assert(CPU_ISSET(3, &j->cpus) && !CPU_ISSET(2, &j->cpus));
	cr_assert_eq(j->npercentiles, 3);
	cr_assert_float_eq(j->percentiles[2], 99.9, 1e-9);
	cr_assert_eq(j->sync, BENCH_SYNC_PER_WRITE);
}

Test(jobfile, options_are_recorded_for_the_report_under_their_fio_names)
{
	cr_assert_eq(parse("[global]\nvalue_size=200\n[r]\nthreads=2\nbs=300\n"), 0, "%s", err);
	const struct optlist *o = &jobs.v[0].opts;
	cr_assert_eq(o->n, 2, "bs given twice is recorded once, with the last value");
	cr_assert_str_eq(o->v[0].key, "bs");
	cr_assert_str_eq(o->v[0].value, "300");
	cr_assert_str_eq(o->v[1].key, "numjobs");
	cr_assert_str_eq(globals.v[0].key, "bs");
}

Test(jobfile, unknown_option_names_file_and_line)
{
	cr_assert_neq(parse("[global]\nbs=100\n[j]\nfoo=1\n"), 0);
	cr_assert(strstr(err, "t.fio:4:") != NULL, "%s", err);
	cr_assert(strstr(err, "unknown option 'foo'") != NULL, "%s", err);
	cr_assert_eq(jobs.n, 0, "a file that fails adds no job");
}

Test(jobfile, bad_number_names_file_line_option_and_value)
{
	cr_assert_neq(parse("[j]\nnumjobs=abc\n"), 0);
	cr_assert(strstr(err, "t.fio:2:") != NULL, "%s", err);
	cr_assert(strstr(err, "'abc'") && strstr(err, "'numjobs'"), "%s", err);
}

Test(jobfile, out_of_range_values_are_refused)
{
	static const char *const bad[] = {
		"[j]\nnumjobs=0\n",        "[j]\nnumjobs=5000\n",     "[j]\nbs=12q\n",
		"[j]\nruntime=5x\n",       "[j]\nsegment_size=4k\n",  "[j]\nmax_batch_size=0\n",
		"[j]\nsync=sometimes\n",   "[j]\ncpus_allowed=3-1\n", "[j]\npercentile_list=0\n",
		"[j]\nring_flags=turbo\n", "[j]\ntime_based=maybe\n", "[j]\nmax_batch_delay=2s\n",
		"[j]\niodepth=0\n",        "[j]\niodepth=100000\n",   "[j]\nasync_window=0\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		cr_assert_neq(parse(bad[i]), 0, "accepted: %s", bad[i]);
		cr_assert(strstr(err, "t.fio:2: bad value") != NULL, "%s -> %s", bad[i], err);
	}
}

Test(jobfile, iodepth_is_one_by_default_and_more_needs_engine_uwal_and_a_closed_loop)
{
	cr_assert_eq(parse("[a]\n[b]\niodepth=64\nrecords_per_call=64\n"), 0, "%s", err);
	cr_assert_eq(jobs.v[0].iodepth, 1, "blocking calls unless asked");
	cr_assert_eq(jobs.v[1].iodepth, 64);
	cr_assert_eq(jobs.v[1].engine, BENCH_ENGINE_UWAL);

	reset();
	cr_assert_neq(parse("[l]\nengine=leveldb\niodepth=4\n"), 0);
	cr_assert(strstr(err, "t.fio:") && strstr(err, "iodepth=4 needs engine=uwal") &&
			  strstr(err, "engine=leveldb"),
		  "%s", err);
	reset();
	cr_assert_neq(parse("[r]\nengine=raw-group\nrecords_per_call=8\niodepth=2\n"), 0);
	cr_assert(strstr(err, "iodepth=2 needs engine=uwal"), "%s", err);
	reset();
	cr_assert_eq(parse("[l]\nengine=leveldb\niodepth=1\n"), 0, "iodepth=1 is any engine's: %s",
		     err);
	reset();
	cr_assert_neq(parse("[o]\niodepth=8\nrate_iops=1000\n"), 0);
	cr_assert(strstr(err, "rate_iops with iodepth=8 is not supported"), "%s", err);
}

Test(jobfile, option_outside_any_section_is_an_error)
{
	cr_assert_neq(parse("; header\nbs=100\n[j]\n"), 0);
	cr_assert(strstr(err, "t.fio:2:") != NULL, "%s", err);
	cr_assert(strstr(err, "outside any section") != NULL, "%s", err);
}

Test(jobfile, malformed_section_header_is_an_error)
{
	cr_assert_neq(parse("[j]\nbs=1\n[broken\n"), 0);
	cr_assert(strstr(err, "t.fio:3:") != NULL, "%s", err);
	reset();
	cr_assert_neq(parse("[]\n"), 0);
	cr_assert(strstr(err, "t.fio:1: empty section name") != NULL, "%s", err);
}

Test(jobfile, a_value_option_without_value_is_an_error)
{
	cr_assert_neq(parse("[j]\nbs\n"), 0);
	cr_assert(strstr(err, "t.fio:2:") && strstr(err, "needs a value"), "%s", err);
}

Test(jobfile, a_file_without_jobs_is_an_error)
{
	cr_assert_neq(parse("[global]\nbs=1\n"), 0);
	cr_assert(strstr(err, "t.fio: no job sections") != NULL, "%s", err);
	reset();
	cr_assert_neq(parse(""), 0);
}

Test(jobfile, a_missing_file_is_an_error_naming_it)
{
	cr_assert_neq(parse_file("/nonexistent/x.fio"), 0);
	cr_assert(strstr(err, "/nonexistent/x.fio: cannot open") != NULL, "%s", err);
}

Test(jobfile, every_shipped_job_file_parses)
{
	const char *src = getenv("UWAL_SOURCE_DIR");
	if (!src)
		cr_skip_test("UWAL_SOURCE_DIR is not set (ctest sets it)");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/bench/jobs", src);
	DIR *d = opendir(dir);
	cr_assert(d, "%s", dir);
	unsigned files = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".fio"))
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		size_t before = jobs.n;
		cr_assert_eq(parse_file(path), 0, "%s", err);
		cr_assert_gt(jobs.n, before);
		cr_assert_eq(msgs.n, 0, "a shipped job file needs no warning: %s", err);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 8,
		      "default, latency-sync-1, group-commit, ingest-nosync, open-loop, "
		      "rotation, contention, async");
}

/* ---- fio's job files as they are ----------------------------------------- */

TestSuite(fio, .init = setup, .fini = teardown);

/* A job file written for fio, not for uwal-bench. */
static const char fio_job[] = "[global]\n"        /* 1 */
			      "ioengine=libaio\n" /* 2 */
			      "iodepth=4\n"       /* 3 */
			      "direct=1\n"        /* 4 */
			      "rw=write\n"        /* 5 */
			      "bs=4k\n"           /* 6 */
			      "fdatasync=1\n"     /* 7 */
			      "filename=/tmp/x\n" /* 8 */
			      "group_reporting\n" /* 9 */
			      "\n"                /* 10 */
			      "[seq-write]\n"     /* 11 */
			      "size=1m\n"         /* 12 */
			      "numjobs=4\n"       /* 13 */
			      "thread\n"          /* 14 */
			      "stonewall\n";      /* 15 */

Test(fio, a_standard_fio_job_file_loads_with_one_warning_per_option_that_does_not_apply)
{
	cr_assert_eq(parse(fio_job), 0, "%s", err);
	cr_assert_eq(jobs.n, 1);
	const struct job *j = &jobs.v[0];
	cr_assert_str_eq(j->name, "seq-write");
	cr_assert_eq(j->bs, 4096, "bs applies: each record's value");
	cr_assert_eq(j->size, 1u << 20);
	cr_assert_eq(j->numjobs, 4);
	cr_assert_eq(j->sync, BENCH_SYNC_ALWAYS, "fdatasync=1 is uwal's sync=always");
	cr_assert_eq(j->iodepth, 4, "iodepth applies: submissions in flight per thread");

	static const struct {
		unsigned line;
		const char *says;
	} warned[] = {
		{2, "ioengine=libaio ignored: uwal writes through its own io_uring ring"},
		{4, "direct=1 ignored: uwal writes through the page cache"},
		{5, "rw=write accepted: uwal-bench only appends records"},
		{8, "filename=/tmp/x ignored: each job writes a fresh log"},
		{9, "group_reporting ignored: a job's numjobs threads are always reported "
		    "together"},
		{14, "thread ignored: submitters are always threads"},
		{15, "stonewall ignored: jobs always run one after another"},
	};
	for (size_t i = 0; i < sizeof(warned) / sizeof(warned[0]); i++) {
		const struct jobmsg *m = msg_at(JOBMSG_WARNING, warned[i].line);
		cr_assert(m, "no warning at line %u: %s", warned[i].line, err);
		cr_assert(strstr(m->text, warned[i].says), "line %u: %s", warned[i].line, m->text);
		cr_assert_str_eq(m->file, "t.fio");
	}
	cr_assert_eq(count_kind(JOBMSG_WARNING), sizeof(warned) / sizeof(warned[0]),
		     "one warning per option, no more: %s", err);

	const struct jobmsg *m = msg_at(JOBMSG_NOTE, 7);
	cr_assert(m, "the fdatasync=1 mapping is reported: %s", err);
	cr_assert(strstr(m->text, "fdatasync=1 -> sync=always"), "%s", m->text);
	cr_assert_eq(count_kind(JOBMSG_NOTE), 1);
	cr_assert_eq(count_kind(JOBMSG_ERROR), 0);
	cr_assert(strstr(err, "t.fio:2: warning: ioengine=libaio"), "%s", err);
	cr_assert(strstr(err, "t.fio:7: note: fdatasync=1"), "%s", err);
}

Test(fio, sync_1_and_fsync_1_are_sync_always_and_values_true_of_uwal_pass_quietly)
{
	static const char *const always[] = {"[j]\nsync=1\n", "[j]\nsync=dsync\n", "[j]\nfsync=1\n",
					     "[j]\nfdatasync=1\n"};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
		reset();
		cr_assert_eq(parse(always[i]), 0, "%s: %s", always[i], err);
		cr_assert_eq(jobs.v[0].sync, BENCH_SYNC_ALWAYS, "%s", always[i]);
		cr_assert(msg_at(JOBMSG_NOTE, 2), "%s: the mapping is reported", always[i]);
	}
	reset();
	cr_assert_eq(parse("[j]\nsync=batch\nioengine=uwal\niodepth=1\ndirect=0\n"), 0, "%s", err);
	cr_assert_eq(jobs.v[0].sync, BENCH_SYNC_BATCH, "uwal's own sync= values still work");
	cr_assert_eq(msgs.n, 0, "nothing to say about values true of uwal: %s", err);
}

Test(fio, fsync_every_4_writes_is_refused_with_a_hint)
{
	cr_assert_neq(parse("[j]\nfsync=4\n"), 0);
	const struct jobmsg *m = msg_at(JOBMSG_ERROR, 2);
	cr_assert(m, "%s", err);
	cr_assert(strstr(m->text, "fsync=4 is not supported"), "%s", m->text);
	cr_assert(strstr(m->hint, "records_per_call=4 with sync=always"), "%s", m->hint);
	cr_assert(strstr(err, "t.fio:2: fsync=4") && strstr(err, "\n  hint: "), "%s", err);
	reset();
	cr_assert_neq(parse("[j]\nfdatasync=16\n"), 0);
	cr_assert(strstr(err, "fdatasync=16 is not supported"), "%s", err);
	reset();
	cr_assert_eq(parse("[j]\nfsync=0\n"), 0, "fsync=0 is fio's default: %s", err);
	cr_assert_eq(jobs.v[0].sync, BENCH_SYNC_NONE);
}

Test(fio, every_error_of_a_file_is_reported_at_once_each_with_line_and_hint)
{
	cr_assert_neq(parse("[global]\n"        /* 1 */
			    "numjobs=abc\n"     /* 2: bad value */
			    "fsync=4\n"         /* 3: refused */
			    "[j]\n"             /* 4 */
			    "rw=randread\n"     /* 5: refused */
			    "bsz=4k\n"          /* 6: unknown, a typo */
			    "verify=crc32c\n"   /* 7: fio's, no equivalent */
			    "ioengine=libaio\n" /* 8: a warning, not an error */
			    "[broken\n"         /* 9: bad header */
			    "foo=1\n"           /* 10: skipped with its section */
			    "[ok]\n"            /* 11 */
			    "runtime=5x\n"),    /* 12: bad value */
		      0);
	static const unsigned lines[] = {2, 3, 5, 6, 7, 9, 12};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct jobmsg *m = msg_at(JOBMSG_ERROR, lines[i]);
		cr_assert(m, "no error at line %u: %s", lines[i], err);
		cr_assert(m->hint[0], "line %u has no hint: %s", lines[i], m->text);
	}
	cr_assert_eq(count_kind(JOBMSG_ERROR), sizeof(lines) / sizeof(lines[0]), "%s", err);
	cr_assert_eq(msgs.errors, sizeof(lines) / sizeof(lines[0]));
	cr_assert(msg_at(JOBMSG_WARNING, 8), "%s", err);
	cr_assert(strstr(msg_at(JOBMSG_ERROR, 6)->hint, "did you mean 'bs'"), "%s", err);
	cr_assert(strstr(msg_at(JOBMSG_ERROR, 7)->text, "fio option 'verify' does not apply"), "%s",
		  err);
	cr_assert_eq(jobs.n, 0, "a file with errors adds no job");
}

/* ---- terse output --------------------------------------------------------- */

static size_t fields(const char *line)
{
	size_t n = 1;
	for (; *line && *line != '\n'; line++)
		n += *line == ';';
	return n;
}

static char *terse_of(const struct job *job, const struct job_result *res)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	terse_write(f, job, res, 0);
	fclose(f);
	return buf;
}

Test(terse, has_fio_terse_version_3_field_layout)
{
	static struct job_result res; /* static: the histograms are large */
	struct job job;
	job_init(&job, ".");
	snprintf(job.name, sizeof(job.name), "tj");
	memset(&res, 0, sizeof(res));
	res.ran = true;
	hist_init(&res.lat);
	hist_init(&res.svc);
	for (uint64_t v = 1; v <= 100; v++)
		hist_record(&res.lat, v * 10000); /* 10 us .. 1 ms */
	res.calls = res.records = 100;
	res.runtime_ns = 1000000000;
	res.calls_per_s = res.records_per_s = 100;

	char *line = terse_of(&job, &res);
	cr_assert_eq(fields(line), TERSE_FIELDS, "%s", line);
	cr_assert_eq(strncmp(line, "3;uwal-bench-", 13), 0, "terse version 3 first: %s", line);
	char *copy = strdup(line), *save = NULL;
	char *f[TERSE_FIELDS + 1];
	size_t n = 0;
	for (char *t = strtok_r(copy, ";\n", &save); t && n <= TERSE_FIELDS;
	     t = strtok_r(NULL, ";\n", &save))
		f[n++] = t;
	cr_assert_eq(n, TERSE_FIELDS);
	cr_assert_str_eq(f[2], "tj", "field 3: the job name");
	cr_assert_str_eq(f[5], "0", "field 6: read KiB");
	cr_assert_str_eq(f[48], "100", "field 49: write IOPS");
	cr_assert_str_eq(f[50], "0", "field 51: write slat min (uwal has no submission stage)");
	cr_assert_str_eq(f[54], "10", "field 55: write clat min, us");
	cr_assert_str_eq(f[55], "1000", "field 56: write clat max, us");
	cr_assert_eq(strncmp(f[58], "1.000000%=", 10), 0, "field 59: first percentile: %s", f[58]);
	cr_assert_str_eq(f[78], "10", "field 79: write lat min, us (lat = clat)");
	cr_assert_str_eq(f[92], "100.0%", "field 93: IO depth 1");
	cr_assert_str_eq(f[98], "0.0%", "field 99: IO depth >= 64");
	free(copy);
	free(line);

	job.iodepth = 64;
	line = terse_of(&job, &res);
	copy = strdup(line);
	n = 0;
	for (char *t = strtok_r(copy, ";\n", &save); t && n <= TERSE_FIELDS;
	     t = strtok_r(NULL, ";\n", &save))
		f[n++] = t;
	cr_assert_str_eq(f[92], "0.0%", "iodepth=64: field 93, IO depth 1");
	cr_assert_str_eq(f[98], "100.0%", "iodepth=64: field 99, IO depth >= 64");
	free(copy);
	free(line);
	job.iodepth = 1;

	res.dev.ok = res.io0.dev_ok = res.io1.dev_ok = true;
	snprintf(res.dev.name, sizeof(res.dev.name), "vda");
	snprintf(job.description, sizeof(job.description), "a description");
	line = terse_of(&job, &res);
	cr_assert_eq(fields(line), TERSE_FIELDS + TERSE_DISK_FIELDS + 1, "%s", line);
	cr_assert(strstr(line, ";vda;") && strstr(line, ";a description\n"), "%s", line);
	free(line);
}

/* ---- values ------------------------------------------------------------- */

Test(values, sizes_take_fio_suffixes_with_base_1024)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{"0", 0},         {"100", 100},       {"4k", 4096},    {"4K", 4096},
		{"4KiB", 4096},   {"4kb", 4096},      {"1m", 1 << 20}, {"64MiB", 64u << 20},
		{"1g", 1u << 30}, {"2t", 2ull << 40}, {"0x10", 16},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1;
		cr_assert_eq(parse_size(ok[i].s, &v), 0, "%s", ok[i].s);
		cr_assert_eq(v, ok[i].v, "%s", ok[i].s);
	}
	static const char *const bad[] = {
		"", "k", "-1", "4x", "4kx", " 4", "1.5m", "99999999999999999999", "16777216t"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		cr_assert_neq(parse_size(bad[i], &v), 0, "accepted '%s'", bad[i]);
	}
}

Test(values, times_take_suffixes_and_a_default_unit)
{
	static const struct {
		const char *s;
		uint64_t unit, ns;
	} ok[] = {
		{"5", 1000000000u, 5000000000u},
		{"500ms", 1000000000u, 500000000u},
		{"250us", 1000000000u, 250000u},
		{"2m", 1000000000u, 120000000000u},
		{"1.5s", 1000000000u, 1500000000u},
		{"1h", 1000000000u, 3600000000000u},
		{"100", 1000u, 100000u},
		{"2msec", 1000u, 2000000u},
		{"7ns", 1000u, 7u},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1;
		cr_assert_eq(parse_time_ns(ok[i].s, ok[i].unit, &v), 0, "%s", ok[i].s);
		cr_assert_eq(v, ok[i].ns, "%s: %llu", ok[i].s, (unsigned long long)v);
	}
	static const char *const bad[] = {"", "s", "-1s", "5q", "1e400", "nan"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		cr_assert_neq(parse_time_ns(bad[i], 1000000000u, &v), 0, "accepted '%s'", bad[i]);
	}
}

Test(values, cpu_lists)
{
	cpu_set_t s;
	cr_assert_eq(parse_cpus("0-2,5", &s), 0);
	cr_assert_eq(CPU_COUNT(&s), 4);
	cr_assert(CPU_ISSET(5, &s));
	static const char *const bad[] = {"", "a", "1,", "2-1", "-1", "0-", "99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_neq(parse_cpus(bad[i], &s), 0, "accepted '%s'", bad[i]);
}

Test(values, calls_per_thread_from_number_ios_or_size)
{
	struct job j;
	job_init(&j, ".");
	cr_assert(job_is_timed(&j), "no size, no number_ios: time based");
	j.size = 1 << 20;
	cr_assert(!job_is_timed(&j));
	cr_assert_eq(job_calls_per_thread(&j), (1u << 20) / 100);
	j.records_per_call = 64;
	cr_assert_eq(job_calls_per_thread(&j), (1u << 20) / 6400);
	j.number_ios = 7;
	cr_assert_eq(job_calls_per_thread(&j), 7, "number_ios wins over size");
	j.time_based = true;
	cr_assert(job_is_timed(&j));
	cr_assert_float_eq(job_runtime(&j), 2.0, 1e-9, "default runtime");
}
