/*
 * test_bench_jobfile.c - uwal-bench's job files and option values.
 *
 * The parser is what turns a storage engineer's fio-style job file into
 * jobs: a wrong default, a misread suffix or an error without a file and
 * line would make a benchmark measure something else than it says. These
 * tests pin the INI rules ([global] scoping, flags, comments), fio's size
 * and time suffixes, and the error messages for bad files. The shipped
 * job files must parse too.
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
static char err[1024];

static void setup(void)
{
	job_init(&base, "/nonexistent/bench-test");
	memset(&jobs, 0, sizeof(jobs));
	memset(&globals, 0, sizeof(globals));
	err[0] = '\0';
}

static void teardown(void)
{
	joblist_free(&jobs);
}

/* Start over within a test. */
static void reset(void)
{
	teardown();
	setup();
}

static int parse(const char *text)
{
	return jobfile_parse_text(text, "t.fio", &base, &jobs, &globals, err, sizeof(err));
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
		"[j]\nnumjobs=0\n",        "[j]\nnumjobs=5000\n",       "[j]\nbs=12q\n",
		"[j]\nruntime=5x\n",       "[j]\nsegment_size=4k\n",    "[j]\nmax_batch_size=0\n",
		"[j]\nsync=sometimes\n",   "[j]\nrw=randread\n",        "[j]\niodepth=8\n",
		"[j]\ncpus_allowed=3-1\n", "[j]\npercentile_list=0\n",  "[j]\nring_flags=turbo\n",
		"[j]\ntime_based=maybe\n", "[j]\nmax_batch_delay=2s\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		cr_assert_neq(parse(bad[i]), 0, "accepted: %s", bad[i]);
		cr_assert(strstr(err, "t.fio:2: bad value") != NULL, "%s -> %s", bad[i], err);
	}
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
	cr_assert_neq(
		jobfile_parse_file("/nonexistent/x.fio", &base, &jobs, NULL, err, sizeof(err)), 0);
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
		cr_assert_eq(jobfile_parse_file(path, &base, &jobs, NULL, err, sizeof(err)), 0,
			     "%s", err);
		cr_assert_gt(jobs.n, before);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 7,
		      "default, latency-sync-1, group-commit, ingest-nosync, open-loop, "
		      "rotation, contention");
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
