/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bench_engines.c - uwal-bench's engines, contention and cost figures.
 *
 * A job that names an engine must run that engine and no other: a
 * misread engine= would put LevelDB's numbers under uwal's name. The raw
 * loops are one thread by definition, so a job file that asks for more
 * must be refused with its file and line, not quietly run with one. A peer
 * that was not built must say which package is missing. And the cost per
 * record is plain arithmetic over two snapshots: it is pinned here on
 * made-up snapshots, so no test depends on how fast this machine is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static struct job base;
static struct joblist jobs;
static char err[1024];

static void setup(void)
{
	job_init(&base, "/nonexistent/bench-test");
	memset(&jobs, 0, sizeof(jobs));
	err[0] = '\0';
}

static void teardown(void)
{
	joblist_free(&jobs);
}

static int parse(const char *text)
{
	joblist_free(&jobs);
	struct jobmsgs msgs = {0};
	int rc = jobfile_parse_text(text, "e.fio", &base, &jobs, NULL, &msgs);
	size_t used = 0;
	err[0] = '\0';
	for (size_t i = 0; i < msgs.n && used + 1 < sizeof(err); i++) {
		char line[512];
		jobmsg_format(&msgs.v[i], line, sizeof(line));
		used += (size_t)snprintf(err + used, sizeof(err) - used, "%s\n", line);
	}
	jobmsgs_free(&msgs);
	return rc;
}

TestSuite(engines, .init = setup, .fini = teardown);

Test(engines, uwal_is_the_default_engine_and_contention_is_off)
{
	cr_assert_eq(parse("[j]\n"), 0, "%s", err);
	cr_assert_eq(jobs.v[0].engine, BENCH_ENGINE_UWAL);
	cr_assert_not(jobs.v[0].contention);
}

Test(engines, every_engine_name_is_accepted)
{
	static const struct {
		const char *text;
		enum bench_engine e;
	} cases[] = {
		{"[j]\nengine=uwal\n", BENCH_ENGINE_UWAL},
		{"[j]\nengine=leveldb\n", BENCH_ENGINE_LEVELDB},
		{"[j]\nengine=rocksdb\n", BENCH_ENGINE_ROCKSDB},
		{"[j]\nengine=raw-pwrite\n", BENCH_ENGINE_RAW_PWRITE},
		{"[j]\nengine=raw-group\nrecords_per_call=64\n", BENCH_ENGINE_RAW_GROUP},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse(cases[i].text), 0, "%s: %s", cases[i].text, err);
		cr_assert_eq(jobs.v[0].engine, cases[i].e, "%s", cases[i].text);
	}
}

Test(engines, an_unknown_engine_is_refused_with_file_and_line)
{
	cr_assert_neq(parse("[j]\nbs=100\nengine=sqlite\n"), 0);
	cr_assert(strstr(err, "e.fio:3: bad value 'sqlite' for option 'engine'"), "%s", err);
	cr_assert(strstr(err, "raw-pwrite"), "the message lists the engines: %s", err);
}

Test(engines, contention_is_a_flag_or_a_boolean)
{
	cr_assert_eq(parse("[a]\ncontention=1\n[b]\ncontention\n[c]\ncontention=0\n"), 0, "%s",
		     err);
	cr_assert(jobs.v[0].contention);
	cr_assert(jobs.v[1].contention);
	cr_assert_not(jobs.v[2].contention);
	cr_assert_neq(parse("[a]\ncontention=maybe\n"), 0);
	cr_assert(strstr(err, "e.fio:2: bad value 'maybe' for option 'contention'"), "%s", err);
}

Test(engines, a_raw_job_with_more_than_one_thread_is_refused_with_file_and_line)
{
	cr_assert_neq(parse("[raw]\nengine=raw-pwrite\nnumjobs=2\n"), 0);
	cr_assert(strstr(err, "e.fio:1: [raw]: engine=raw-pwrite is one thread: numjobs must be 1"),
		  "%s", err);
	/* numjobs from [global] counts too; the error names the section's line */
	cr_assert_neq(parse("[global]\nnumjobs=64\n[g]\nengine=raw-group\n[next]\n"), 0);
	cr_assert(strstr(err, "e.fio:3: [g]: engine=raw-group is one thread"), "%s", err);
	/* and a raw job that sets numjobs=1 itself is fine */
	cr_assert_eq(parse("[global]\nnumjobs=64\n[g]\nengine=raw-group\nnumjobs=1\n"), 0, "%s",
		     err);
}

Test(engines, raw_pwrite_refuses_several_records_per_call)
{
	cr_assert_neq(parse("[raw]\nengine=raw-pwrite\nrecords_per_call=64\n"), 0);
	cr_assert(strstr(err, "records_per_call must be 1"), "%s", err);
	cr_assert(strstr(err, "raw-group"), "the message points to raw-group: %s", err);
}

Test(engines, the_command_line_refuses_raw_with_several_threads)
{
	struct job job = base;
	cr_assert_eq(job_set_option(&job, "engine", "raw-pwrite", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(job_set_option(&job, "numjobs", "4", err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(job_check(&job, err, sizeof(err)), 0);
	cr_assert(strstr(err, "numjobs must be 1 (got 4)"), "%s", err);
}

Test(engines, uwal_and_the_raw_loops_are_always_built)
{
	char why[256];
	cr_assert(engine_built(BENCH_ENGINE_UWAL));
	cr_assert(engine_built(BENCH_ENGINE_RAW_PWRITE));
	cr_assert(engine_built(BENCH_ENGINE_RAW_GROUP));
	cr_assert_not_null(engine_get(BENCH_ENGINE_RAW_GROUP, why, sizeof(why)));
}

Test(engines, a_peer_that_was_not_built_names_its_package)
{
	static const enum bench_engine peers[] = {BENCH_ENGINE_LEVELDB, BENCH_ENGINE_ROCKSDB};
	for (size_t i = 0; i < 2; i++) {
		char why[256] = "";
		const struct engine_ops *ops = engine_get(peers[i], why, sizeof(why));
		cr_assert_eq(ops != NULL, engine_built(peers[i]));
		if (ops)
			continue;
		cr_assert(strstr(why, engine_package(peers[i])), "%s", why);
		cr_assert(strstr(why, "not built"), "%s", why);
	}
	cr_assert_str_eq(engine_package(BENCH_ENGINE_LEVELDB), "libleveldb-dev");
	cr_assert_str_eq(engine_package(BENCH_ENGINE_ROCKSDB), "librocksdb-dev");
}

Test(engines, the_raw_frame_is_as_big_as_uwals_default_record)
{
	/* 8-byte key + 100-byte value: uwal writes 132 bytes (NOTES.md, and
	 * compare.c measures it); the raw loops write the same. */
	cr_assert_eq(8 + 100 + BENCH_RAW_RECORD_OVERHEAD, 132);
}

/* ---- cost per record ------------------------------------------------------ */

Test(cost, cpu_and_context_switches_per_record_come_from_the_snapshots)
{
	static struct job_result res;
	memset(&res, 0, sizeof(res));
	res.records = 1000;
	res.io0.ru.ru_utime.tv_usec = 100000;
	res.io0.ru.ru_stime.tv_usec = 50000;
	res.io1.ru.ru_utime.tv_sec = 1;
	res.io1.ru.ru_utime.tv_usec = 100000; /* +1 s user */
	res.io1.ru.ru_stime.tv_usec = 550000; /* +0.5 s system */
	res.io0.ru.ru_nvcsw = 10;
	res.io1.ru.ru_nvcsw = 1510; /* +1500 */
	res.io0.ru.ru_nivcsw = 5;
	res.io1.ru.ru_nivcsw = 505; /* +500 */
	res.io0.stat_ok = res.io1.stat_ok = true;
	res.io0.steal_ticks = 100;
	res.io1.steal_ticks = 100;
	res.io0.t_ns = 0;
	res.io1.t_ns = 2000000000ull;
	struct job_cost c;
	job_cost(&res, &c);
	cr_assert_float_eq(c.cpu_s, 1.5, 1e-9);
	cr_assert_float_eq(c.cpu_us_per_record, 1500.0, 1e-6);
	cr_assert_eq(c.nvcsw, 1500);
	cr_assert_eq(c.nivcsw, 500);
	cr_assert_float_eq(c.ctx_per_record, 2.0, 1e-9);
	cr_assert(c.steal_ok);
	cr_assert_float_eq(c.steal_ms, 0.0, 1e-9);
	cr_assert_float_eq(c.steal_pct, 0.0, 1e-9);
}

Test(cost, steal_is_in_ms_and_in_percent_of_wall)
{
	static struct job_result res;
	memset(&res, 0, sizeof(res));
	res.records = 1;
	res.io0.stat_ok = res.io1.stat_ok = true;
	long hz = sysconf(_SC_CLK_TCK);
	res.io0.steal_ticks = 0;
	res.io1.steal_ticks = (uint64_t)hz / 10; /* 100 ms */
	res.io1.t_ns = 1000000000ull;            /* over 1 s */
	struct job_cost c;
	job_cost(&res, &c);
	cr_assert_float_eq(c.steal_ms, 100.0, 1e-6);
	cr_assert_float_eq(c.steal_pct, 10.0, 1e-6);
}

Test(cost, no_records_means_no_cost_per_record_and_no_steal_without_proc_stat)
{
	static struct job_result res;
	memset(&res, 0, sizeof(res));
	res.io1.ru.ru_utime.tv_sec = 1;
	struct job_cost c;
	job_cost(&res, &c);
	cr_assert_float_eq(c.cpu_us_per_record, 0.0, 1e-9);
	cr_assert_float_eq(c.ctx_per_record, 0.0, 1e-9);
	cr_assert_not(c.steal_ok);
}
