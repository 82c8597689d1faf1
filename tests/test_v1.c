/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_v1.c - a log written by the last uwal before format version 2
 * (tests/fixtures/v1-log/, made by tests/fixtures/v1-log.c) opens, reads
 * and iterates as it was written; new segments are of the current version (a one-way
 * upgrade, said through log_fn); truncation works on it (a version 1
 * segment takes no truncation frame: the log rotates first); a read-only
 * open changes no byte of it.
 */
#include "helpers.h"

TH_SUITE(v1, 120);

/* The value tests/fixtures/v1-log.c wrote for record i. */
static size_t v1_value(uint64_t i, char *v, size_t cap)
{
	if (i >= 41 && i <= 43) {
		memcpy(v, "batch", 5);
		return 5;
	}
	size_t vl = 0;
	while (vl + 16 < (size_t)(i * 5 % 390))
		vl += (size_t)snprintf(v + vl, cap - vl, "v1-%llu.", (unsigned long long)i);
	return vl;
}

static void check_v1_record(const uwal_record *r, uint64_t i)
{
	char k[32], v[400];
	int kl = snprintf(k, sizeof(k), "key-%llu", (unsigned long long)i);
	size_t vl = v1_value(i, v, sizeof(v));
	th_check_rec(r, i, k, (size_t)kl, v, vl);
}

/* Copy the fixture into dir. */
static void copy_fixture(const char *dir)
{
	const char *src = getenv("UWAL_SOURCE_DIR");
	cr_assert_not_null(src, "UWAL_SOURCE_DIR is not set (run through ctest)");
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cp '%s'/tests/fixtures/v1-log/segment_* '%s'/",
		 dir, src, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void cfg_v1(uwal_config *cfg, const char *dir, th_log *lg)
{
	th_config(cfg, dir);
	cfg->segment_size = 64 << 10;
	cfg->segment_threshold = 10;
	cfg->sync_mode = UWAL_SYNC_BATCH;
	cfg->log_fn = th_log_fn;
	cfg->log_ctx = lg;
}

static void check_range(uwal *w, uint64_t from, uint64_t to)
{
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t want = from;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_eq(r.index, want, "record %llu where %llu belongs",
			     (unsigned long long)r.index, (unsigned long long)want);
		if (want <= 60)
			check_v1_record(&r, want);
		want++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(want, to + 1, "records %llu..%llu, want ..%llu", (unsigned long long)from,
		     (unsigned long long)want - 1, (unsigned long long)to);
	uwal_iter_close(it);
	cr_assert_eq(uwal_first_index(w), from);
	cr_assert_eq(uwal_last_index(w), to);
}

static size_t count_version(uwal *w, uint32_t version)
{
	uwal_segment_info *v;
	size_t n, k = 0;
	cr_assert_eq(uwal_segments(w, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		k += v[i].version == version;
	uwal_segments_free(v);
	return k;
}

TH_TEST(v1, a_version_1_log_opens_reads_and_takes_writes_in_the_current_version)
{
	copy_fixture(g_dir);
	th_log lg;
	th_log_init(&lg);
	uwal_config cfg;
	cfg_v1(&cfg, g_dir, &lg);
	uwal *w = th_open(&cfg);
	check_range(w, 1, 60);
	for (uint64_t i = 1; i <= 60; i++) {
		uwal_record r;
		cr_assert_eq(uwal_get(w, i, &r), 0);
		check_v1_record(&r, i);
		uwal_record_free(&r);
	}
	cr_assert_gt(count_version(w, 1), 5);
	cr_assert(th_log_has(&lg, "older format version"), "log_fn: %s", lg.buf);
	cr_assert(th_log_has(&lg, "one-way"), "log_fn says the upgrade is one-way: %s", lg.buf);
	/* New records, rotations into segments of the current version. */
	for (uint64_t i = 61; i <= 85; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	cr_assert_geq(count_version(w, 3), 2);
	/* Truncation: the front inside the version 1 segments, the back in
	 * the new ones. */
	cr_assert_eq(uwal_truncate_front(w, 5), 0);
	cr_assert_eq(uwal_truncate_back(w, 81), 0);
	check_range(w, 5, 80);
	th_close(w);
	w = th_open(&cfg);
	check_range(w, 5, 80);
	for (uint64_t i = 61; i <= 80; i++)
		th_check_std(w, i);
	cr_assert_gt(count_version(w, 1), 0, "version 1 segments stay as they are");
	th_close(w);
	th_log_destroy(&lg);
}

TH_TEST(v1, a_truncation_while_the_active_segment_is_version_1_rotates_first)
{
	copy_fixture(g_dir);
	th_log lg;
	th_log_init(&lg);
	uwal_config cfg;
	cfg_v1(&cfg, g_dir, &lg);
	uwal *w = th_open(&cfg);
	size_t v2 = count_version(w, 3);
	cr_assert_eq(uwal_truncate_back(w, 58), 0);
	cr_assert_gt(count_version(w, 3), v2, "the truncation frame went into a new segment");
	check_range(w, 1, 57);
	th_close(w);
	w = th_open(&cfg);
	check_range(w, 1, 57);
	th_close(w);
	th_log_destroy(&lg);
}

TH_TEST(v1, a_read_only_open_of_a_version_1_log_changes_nothing)
{
	copy_fixture(g_dir);
	char cmd[9000], before[64], after[64];
	snprintf(cmd, sizeof(cmd), "cd '%s' && ls -lA --time-style=+%%s && cat segment_* | md5sum",
		 g_dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	static char lb[8192], la[8192];
	size_t nb = fread(lb, 1, sizeof(lb) - 1, p);
	pclose(p);
	th_log lg;
	th_log_init(&lg);
	uwal_config cfg;
	cfg_v1(&cfg, g_dir, &lg);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *w = th_open(&cfg);
	check_range(w, 1, 60);
	th_close(w);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t na = fread(la, 1, sizeof(la) - 1, p);
	pclose(p);
	lb[nb] = la[na] = '\0';
	(void)before;
	(void)after;
	cr_assert_str_eq(la, lb, "the directory changed");
	th_log_destroy(&lg);
}
