/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api.c - the public API as documented in uwal.h: defaults, argument
 * checks, the write/read round trip, duplicates, size limits, error strings,
 * counters, reopening and the iterator.
 */
#include "helpers.h"

static char *g_tmp;
static char g_dir[4096];

static void setup(void)
{
	g_tmp = th_tmpdir();
	th_join(g_dir, sizeof(g_dir), g_tmp, "log");
}

static void teardown(void)
{
	th_rmrf(g_tmp);
	free(g_tmp);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 60);

static uwal *open_default(void)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	return th_open(&cfg);
}

/* ---- configuration ----------------------------------------------------- */

/* Guards against defaults drifting from the values documented in uwal.h. */
TH_TEST(api, config_init_fills_documented_defaults)
{
	uwal_config cfg;
	memset(&cfg, 0xA5, sizeof(cfg));
	uwal_config_init(&cfg);
	cr_assert_null(cfg.dir);
	cr_assert_not_null(cfg.prefix);
	cr_assert_str_eq(cfg.prefix, "segment_");
	cr_assert_eq(cfg.segment_threshold, 0);
	cr_assert_eq(cfg.segment_size, 64ull << 20);
	cr_assert_eq(cfg.max_segments, 0);
	cr_assert_eq(cfg.sync_mode, UWAL_SYNC_NONE);
	cr_assert_eq(cfg.max_batch_size, 1024);
	cr_assert_eq(cfg.max_batch_delay_us, 0);
	cr_assert_eq(cfg.queue_capacity, 1024);
	cr_assert_eq(cfg.ring_entries, 64);
	cr_assert_eq(cfg.ring_flags, 0);
	cr_assert_eq(cfg.prealloc, UWAL_PREALLOC_AUTO);
	cr_assert_eq(cfg.write_path, UWAL_WRITE_PWRITE);
	cr_assert_eq(cfg.writer_spin_us, 50);
	cr_assert_eq(cfg.wait_spin_us, 200);
	cr_assert_eq(cfg.ring_poll_us, 300);
	cr_assert_null(cfg.log_fn);
	cr_assert_null(cfg.log_ctx);
}

/* Guards against uwal_open failing to create a missing directory tree. */
TH_TEST(api, open_creates_missing_directory_with_parents_and_lock_file)
{
	char deep[4200], lock[4300];
	snprintf(deep, sizeof(deep), "%s/a/b/c", g_dir);
	uwal_config cfg;
	th_config(&cfg, deep);
	uwal *w = th_open(&cfg);
	struct stat st;
	cr_assert_eq(stat(deep, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert(th_exists(th_join(lock, sizeof(lock), deep, "segment_lock")),
		  "lock file segment_lock missing");
	cr_assert_geq(th_segment_count(deep, "segment_"), 1);
	th_close(w);
}

/* Guards against a NULL cfg, dir or out crashing open or touching *out. */
TH_TEST(api, open_rejects_null_arguments)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *sentinel = (uwal *)&cfg;
	uwal *w = sentinel;
	cr_assert_eq(uwal_open(NULL, &w), UWAL_EINVAL);
	cr_assert_eq(w, sentinel);
	cr_assert_eq(uwal_open(&cfg, NULL), UWAL_EINVAL);
	cfg.dir = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
	cr_assert_eq(w, sentinel);
}

/* uwal_open(cfg) must refuse cfg with UWAL_EINVAL and leave *out alone. */
static void expect_bad_config(const uwal_config *cfg, const char *what)
{
	uwal *sentinel = (uwal *)cfg;
	uwal *w = sentinel;
	int rc = uwal_open(cfg, &w);
	if (rc == 0)
		uwal_close(w);
	cr_assert_eq(rc, UWAL_EINVAL, "%s: uwal_open returned %d (%s)", what, rc,
		     uwal_strerror(rc));
	cr_assert_eq(w, sentinel, "%s: *out was modified", what);
}

#define EXPECT_BAD(field, value)                                                                   \
	do {                                                                                       \
		uwal_config c_ = base;                                                             \
		c_.field = value;                                                                  \
		expect_bad_config(&c_, #field " = " #value);                                       \
	} while (0)

/* Guards against out-of-range config fields being accepted. */
TH_TEST(api, open_rejects_out_of_range_config)
{
	char long_prefix[80];
	memset(long_prefix, 'p', 65);
	long_prefix[65] = '\0';
	uwal_config base;
	th_config(&base, g_dir);
	EXPECT_BAD(prefix, "a/b");
	EXPECT_BAD(prefix, "");
	EXPECT_BAD(prefix, ".");
	EXPECT_BAD(prefix, "..");
	EXPECT_BAD(prefix, long_prefix);
	EXPECT_BAD(segment_size, (64u << 10) - 1);
	EXPECT_BAD(segment_size, 4ull << 30);
	EXPECT_BAD(max_batch_size, 0);
	EXPECT_BAD(max_batch_size, 65537);
	EXPECT_BAD(max_batch_delay_us, 1000001);
	EXPECT_BAD(queue_capacity, 1);
	EXPECT_BAD(queue_capacity, (1u << 20) + 1);
	EXPECT_BAD(ring_entries, 7);
	EXPECT_BAD(ring_entries, 4097);
	EXPECT_BAD(sync_mode, (enum uwal_sync_mode)3);
	EXPECT_BAD(prealloc, (enum uwal_prealloc)3);
	EXPECT_BAD(write_path, (enum uwal_write_path)2);
}

/* Guards against the smallest and largest documented sizes being refused. */
TH_TEST(api, open_accepts_boundary_config)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.max_batch_size = 1;
	cfg.queue_capacity = 2;
	cfg.ring_entries = 8;
	cfg.max_batch_delay_us = 0;
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	th_check_std(w, 1);
	th_close(w);
}

/* Guards against a regular file being accepted (or crashing) as a log dir. */
TH_TEST(api, open_on_regular_file_fails_with_errno)
{
	th_mkdir_p(g_dir);
	char file[4200];
	th_join(file, sizeof(file), g_dir, "plain");
	th_create_file(file, "x", 1);
	uwal_config cfg;
	th_config(&cfg, file);
	uwal *sentinel = (uwal *)&cfg;
	uwal *w = sentinel;
	int rc = uwal_open(&cfg, &w);
	if (rc == 0)
		uwal_close(w);
	cr_assert(rc == -ENOTDIR || rc == -EEXIST, "uwal_open on a file returned %d (%s)", rc,
		  uwal_strerror(rc));
	cr_assert_eq(w, sentinel);
}

/* ---- write and read ---------------------------------------------------- */

/* Guards against key/value bytes being altered or not NUL-terminated. */
TH_TEST(api, write_then_get_returns_exact_bytes_nul_terminated)
{
	uwal *w = open_default();
	const char key[] = "hello";
	const unsigned char val[] = {0x00, 0xFF, 'a', 0x00, 0x7F, 0x80, 'z'};
	cr_assert_eq(uwal_write(w, 42, key, 5, val, sizeof(val)), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 42, &r), 0);
	th_check_rec(&r, 42, key, 5, val, sizeof(val));
	cr_assert_eq(((const char *)r.key)[5], '\0', "key not NUL-terminated");
	cr_assert_eq(((const unsigned char *)r.value)[sizeof(val)], 0, "value not NUL-terminated");
	cr_assert_str_eq((const char *)r.key, "hello");
	uwal_record_free(&r);
	cr_assert_null(r.key, "uwal_record_free must zero the record");
	cr_assert_null(r.value);
	cr_assert_eq(r.key_len, 0);
	cr_assert_eq(r.value_len, 0);
	th_close(w);
}

/* Guards against the caller's buffers being referenced after write returns. */
TH_TEST(api, write_copies_caller_buffers)
{
	uwal *w = open_default();
	char key[8] = "key";
	char val[8] = "value";
	cr_assert_eq(uwal_write(w, 1, key, 3, val, 5), 0);
	memset(key, 'X', sizeof(key));
	memset(val, 'Y', sizeof(val));
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 1, &r), 0);
	th_check_rec(&r, 1, "key", 3, "value", 5);
	uwal_record_free(&r);
	th_close(w);
}

/* Guards against uwal_write_sync (sync true and false) losing records. */
TH_TEST(api, write_sync_round_trips_with_and_without_sync)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write_sync(w, 1, "a", 1, "one", 3, true), 0);
	cr_assert_eq(uwal_write_sync(w, 2, "b", 1, "two", 3, false), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 1, &r), 0);
	th_check_rec(&r, 1, "a", 1, "one", 3);
	uwal_record_free(&r);
	cr_assert_eq(uwal_get(w, 2, &r), 0);
	th_check_rec(&r, 2, "b", 1, "two", 3);
	uwal_record_free(&r);
	th_close(w);
}

/* Guards against empty (NULL, 0) keys and values being refused or mangled. */
TH_TEST(api, empty_key_and_value_round_trip)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 7, NULL, 0, NULL, 0), 0);
	cr_assert_eq(uwal_write(w, 8, "", 0, "v", 1), 0);
	cr_assert_eq(uwal_write(w, 9, "k", 1, NULL, 0), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 7, &r), 0);
	cr_assert_eq(r.index, 7);
	cr_assert_eq(r.key_len, 0);
	cr_assert_eq(r.value_len, 0);
	/* uwal.h: each buffer is one byte longer than its length, that byte 0. */
	cr_assert(r.key != NULL && ((const char *)r.key)[0] == '\0',
		  "empty key must be a valid empty C string");
	cr_assert(r.value != NULL && ((const char *)r.value)[0] == '\0',
		  "empty value must be a valid empty C string");
	uwal_record_free(&r);
	cr_assert_eq(uwal_get(w, 8, &r), 0);
	th_check_rec(&r, 8, "", 0, "v", 1);
	uwal_record_free(&r);
	cr_assert_eq(uwal_get(w, 9, &r), 0);
	th_check_rec(&r, 9, "k", 1, "", 0);
	uwal_record_free(&r);
	th_close(w);
}

/* Guards against reads of unknown indexes returning data or touching *out. */
TH_TEST(api, get_missing_index_returns_enotfound_and_leaves_out_untouched)
{
	uwal *w = open_default();
	uwal_record r;
	memset(&r, 0x5A, sizeof(r));
	uwal_record copy = r;
	cr_assert_eq(uwal_get(w, 1, &r), UWAL_ENOTFOUND);
	cr_assert_eq(memcmp(&r, &copy, sizeof(r)), 0, "out modified on failure");
	cr_assert_eq(uwal_write(w, 1, "k", 1, "v", 1), 0);
	cr_assert_eq(uwal_get(w, 2, &r), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_get(w, UINT64_MAX, &r), UWAL_ENOTFOUND);
	cr_assert_eq(memcmp(&r, &copy, sizeof(r)), 0, "out modified on failure");
	th_close(w);
}

/* Guards against index 0 (reserved) being written or read. */
/* Index 0 asks for the next index (see "Assigned indexes" in uwal.h). */
TH_TEST(api, index_zero_is_assigned)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 0, "k", 1, "v", 1), 0);
	cr_assert_eq(uwal_last_index(w), 1);
	cr_assert_eq(uwal_write_sync(w, 0, "k", 1, "v", 1, true), 0);
	cr_assert_eq(uwal_last_index(w), 2);
	uwal_record recs[2] = {{.index = 10, .key = "a", .key_len = 1},
			       {.index = 0, .key = "b", .key_len = 1}};
	cr_assert_eq(uwal_write_batch(w, recs, 2, false), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 11, &r), 0, "the 0 after 10 in a batch is 11");
	cr_assert(r.key_len == 1 && memcmp(r.key, "b", 1) == 0);
	uwal_record_free(&r);
	int rc = uwal_get(w, 0, &r);
	cr_assert(rc == UWAL_EINVAL || rc == UWAL_ENOTFOUND, "uwal_get(0) returned %d", rc);
	cr_assert_eq(uwal_last_index(w), 11);
	th_close(w);
}

/* Guards against a large index range being mishandled (full 64-bit indexes). */
TH_TEST(api, extreme_indexes_round_trip)
{
	uwal *w = open_default();
	cr_assert_eq(th_write_std(w, UINT64_MAX, false), 0);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	cr_assert_eq(th_write_std(w, 1ull << 32, false), 0);
	th_check_std(w, UINT64_MAX);
	th_check_std(w, 1);
	th_check_std(w, 1ull << 32);
	cr_assert_eq(uwal_first_index(w), 1);
	cr_assert_eq(uwal_last_index(w), UINT64_MAX);
	th_close(w);
	w = open_default();
	th_check_std(w, UINT64_MAX);
	th_check_std(w, 1ull << 32);
	cr_assert_eq(uwal_last_index(w), UINT64_MAX);
	th_close(w);
}

/* ---- NULL arguments ---------------------------------------------------- */

/* Guards against NULL handles or buffers crashing the write functions. */
TH_TEST(api, write_functions_reject_null_handle_and_buffers)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(NULL, 1, "k", 1, "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_write(w, 1, NULL, 1, "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_write(w, 1, "k", 1, NULL, 1), UWAL_EINVAL);
	cr_assert_eq(uwal_write_sync(NULL, 1, "k", 1, "v", 1, true), UWAL_EINVAL);
	cr_assert_eq(uwal_write_sync(w, 1, NULL, 3, "v", 1, false), UWAL_EINVAL);
	cr_assert_eq(uwal_write_sync(w, 1, "k", 1, NULL, 3, false), UWAL_EINVAL);
	th_check_absent(w, 1);
	/* the index stays free after the refusals */
	cr_assert_eq(uwal_write(w, 1, "k", 1, "v", 1), 0);
	th_close(w);
}

/* Guards against bad batch arguments crashing or writing part of a batch. */
TH_TEST(api, write_batch_rejects_null_and_empty_arguments)
{
	uwal *w = open_default();
	uwal_record ok = {.index = 1, .key = "k", .key_len = 1, .value = "v", .value_len = 1};
	cr_assert_eq(uwal_write_batch(NULL, &ok, 1, false), UWAL_EINVAL);
	cr_assert_eq(uwal_write_batch(w, NULL, 1, false), UWAL_EINVAL);
	cr_assert_eq(uwal_write_batch(w, &ok, 0, false), UWAL_EINVAL);
	uwal_record bad_key[2] = {
		{.index = 2, .key = "k", .key_len = 1},
		{.index = 3, .key = NULL, .key_len = 4},
	};
	cr_assert_eq(uwal_write_batch(w, bad_key, 2, false), UWAL_EINVAL);
	uwal_record bad_val[2] = {
		{.index = 4, .value = NULL, .value_len = 4},
		{.index = 5, .key = "k", .key_len = 1},
	};
	cr_assert_eq(uwal_write_batch(w, bad_val, 2, true), UWAL_EINVAL);
	for (uint64_t i = 1; i <= 5; i++)
		th_check_absent(w, i);
	cr_assert_eq(uwal_last_index(w), 0);
	th_close(w);
}

/* Guards against NULL handle or out crashing uwal_get. */
TH_TEST(api, get_rejects_null_handle_and_out)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 1, "k", 1, "v", 1), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(NULL, 1, &r), UWAL_EINVAL);
	cr_assert_eq(uwal_get(w, 1, NULL), UWAL_EINVAL);
	cr_assert_null(r.key);
	th_close(w);
}

/* Guards against NULL arguments crashing the iterator functions. */
TH_TEST(api, iterator_functions_reject_null_arguments)
{
	uwal *w = open_default();
	uwal_iter *sentinel = (uwal_iter *)&w;
	uwal_iter *it = sentinel;
	cr_assert_eq(uwal_iter_open(NULL, &it), UWAL_EINVAL);
	cr_assert_eq(it, sentinel);
	cr_assert_eq(uwal_iter_open(w, NULL), UWAL_EINVAL);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(NULL, &r), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	cr_assert_eq(uwal_iter_next(it, NULL), UWAL_EINVAL);
	uwal_iter_close(it);
	uwal_iter_close(NULL);
	th_close(w);
}

/* Guards against NULL arguments crashing stats, close and index queries. */
TH_TEST(api, stats_close_and_index_queries_reject_null)
{
	uwal *w = open_default();
	uwal_stats s;
	cr_assert_eq(uwal_stats_get(NULL, &s), UWAL_EINVAL);
	cr_assert_eq(uwal_stats_get(w, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_first_index(NULL), 0);
	cr_assert_eq(uwal_last_index(NULL), 0);
	cr_assert_eq(uwal_close(NULL), UWAL_EINVAL);
	th_close(w);
}

/* Guards against uwal_record_free / uwal_free_list choking on NULL or reuse. */
TH_TEST(api, record_free_and_free_list_ignore_null_and_freed)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 1, "k", 1, "v", 1), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 1, &r), 0);
	uwal_record_free(&r);
	uwal_record_free(&r); /* already freed (zeroed): ignored */
	uwal_record_free(NULL);
	uwal_free_list(NULL, 0);
	cr_assert_null(r.key);
	cr_assert_null(r.value);
	th_close(w);
}

/* Guards against NULL dir or a bad prefix reaching the filesystem in recover. */
TH_TEST(api, unsafe_recover_rejects_null_dir_and_bad_prefix)
{
	cr_assert_eq(uwal_unsafe_recover(NULL, NULL, NULL, NULL), UWAL_EINVAL);
	th_mkdir_p(g_dir);
	cr_assert_eq(uwal_unsafe_recover(g_dir, "a/b", NULL, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_unsafe_recover(g_dir, "", NULL, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_unsafe_recover(g_dir, "..", NULL, NULL), UWAL_EINVAL);
}

/* ---- first and last index ---------------------------------------------- */

/* Guards against garbage first/last indexes on an empty log. */
TH_TEST(api, first_and_last_index_of_empty_log_are_zero)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_first_index(w), 0);
	cr_assert_eq(uwal_last_index(w), 0);
	th_close(w);
	w = open_default();
	cr_assert_eq(uwal_first_index(w), 0);
	cr_assert_eq(uwal_last_index(w), 0);
	th_close(w);
}

/* Guards against first/last meaning "first/last written" instead of min/max. */
TH_TEST(api, first_and_last_index_are_min_and_max_of_present_indexes)
{
	uwal *w = open_default();
	cr_assert_eq(th_write_std(w, 5, false), 0);
	cr_assert_eq(uwal_first_index(w), 5);
	cr_assert_eq(uwal_last_index(w), 5);
	cr_assert_eq(th_write_std(w, 3, false), 0);
	cr_assert_eq(th_write_std(w, 9, false), 0);
	cr_assert_eq(uwal_first_index(w), 3);
	cr_assert_eq(uwal_last_index(w), 9);
	th_close(w);
	w = open_default();
	cr_assert_eq(uwal_first_index(w), 3);
	cr_assert_eq(uwal_last_index(w), 9);
	th_close(w);
}

/* ---- duplicates ---------------------------------------------------------- */

/* Guards against a duplicate index overwriting the original record. */
TH_TEST(api, duplicate_write_returns_eexist_and_keeps_original)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 10, "k1", 2, "first", 5), 0);
	cr_assert_eq(uwal_write(w, 10, "k2", 2, "second", 6), UWAL_EEXIST);
	cr_assert_eq(uwal_write_sync(w, 10, "k3", 2, "third", 5, true), UWAL_EEXIST);
	uwal_stats s = th_stats(w);
	cr_assert_eq(s.records, 1, "a refused write was counted");
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 10, &r), 0);
	th_check_rec(&r, 10, "k1", 2, "first", 5);
	uwal_record_free(&r);
	th_close(w);
	/* the refused duplicate was not written to disk either */
	w = open_default();
	cr_assert_eq(uwal_get(w, 10, &r), 0);
	th_check_rec(&r, 10, "k1", 2, "first", 5);
	uwal_record_free(&r);
	cr_assert_eq(uwal_write(w, 10, "k4", 2, "fourth", 6), UWAL_EEXIST);
	th_close(w);
}

/* Guards against a batch with an internal duplicate being written in part. */
TH_TEST(api, batch_with_internal_duplicate_is_rejected_whole)
{
	uwal *w = open_default();
	uwal_record recs[3] = {
		{.index = 100, .key = "a", .key_len = 1, .value = "x", .value_len = 1},
		{.index = 101, .key = "b", .key_len = 1, .value = "y", .value_len = 1},
		{.index = 100, .key = "c", .key_len = 1, .value = "z", .value_len = 1},
	};
	cr_assert_eq(uwal_write_batch(w, recs, 3, false), UWAL_EEXIST);
	th_check_absent(w, 100);
	th_check_absent(w, 101);
	cr_assert_eq(uwal_last_index(w), 0);
	/* the indexes stay free */
	cr_assert_eq(uwal_write_batch(w, recs, 2, false), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 100, &r), 0);
	th_check_rec(&r, 100, "a", 1, "x", 1);
	uwal_record_free(&r);
	th_close(w);
}

/* Guards against a batch colliding with the log being written in part. */
TH_TEST(api, batch_with_index_already_in_log_is_rejected_whole)
{
	uwal *w = open_default();
	cr_assert_eq(uwal_write(w, 5, "orig", 4, "value", 5), 0);
	uwal_record recs[4] = {
		{.index = 6, .key = "a", .key_len = 1},
		{.index = 7, .key = "b", .key_len = 1},
		{.index = 5, .key = "c", .key_len = 1, .value = "dup", .value_len = 3},
		{.index = 8, .key = "d", .key_len = 1},
	};
	cr_assert_eq(uwal_write_batch(w, recs, 4, false), UWAL_EEXIST);
	th_check_absent(w, 6);
	th_check_absent(w, 7);
	th_check_absent(w, 8);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 5, &r), 0);
	th_check_rec(&r, 5, "orig", 4, "value", 5);
	uwal_record_free(&r);
	cr_assert_eq(uwal_last_index(w), 5);
	th_close(w);
	w = open_default();
	th_check_absent(w, 6);
	th_check_absent(w, 8);
	th_close(w);
}

/* Guards against a valid batch losing records or reordering them. */
TH_TEST(api, write_batch_writes_every_record)
{
	uwal *w = open_default();
	enum { N = 50 };
	uwal_record recs[N];
	char keys[N][TH_KEY_MAX];
	unsigned char vals[N][TH_VAL_MAX];
	for (int i = 0; i < N; i++) {
		uint64_t idx = 1000 - (uint64_t)i * 3; /* descending, sparse */
		recs[i].index = idx;
		recs[i].key_len = th_key(idx, keys[i]);
		recs[i].key = keys[i];
		recs[i].value_len = th_vlen(idx);
		th_fill(idx, vals[i], recs[i].value_len);
		recs[i].value = recs[i].value_len ? vals[i] : NULL;
	}
	cr_assert_eq(uwal_write_batch(w, recs, N, true), 0);
	uwal_stats s = th_stats(w);
	cr_assert_eq(s.records, N);
	for (int i = 0; i < N; i++)
		th_check_std(w, recs[i].index);
	th_close(w);
	w = open_default();
	for (int i = 0; i < N; i++)
		th_check_std(w, recs[i].index);
	cr_assert_eq(uwal_first_index(w), 1000 - (N - 1) * 3);
	cr_assert_eq(uwal_last_index(w), 1000);
	th_close(w);
}

/* ---- size limits -------------------------------------------------------- */

/* Guards against a record larger than a segment corrupting or wedging the log. */
TH_TEST(api, oversized_record_returns_etoobig_and_log_stays_usable)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	size_t big = (64u << 10) + 1024;
	unsigned char *val = calloc(1, big);
	cr_assert_not_null(val);
	cr_assert_eq(uwal_write(w, 2, "big", 3, val, big), UWAL_ETOOBIG);
	cr_assert_eq(uwal_write_sync(w, 2, "big", 3, val, 64u << 10, true), UWAL_ETOOBIG,
		     "a value of exactly segment_size cannot fit with its headers");
	uwal_record recs[2] = {{.index = 3, .key = "k", .key_len = 1},
			       {.index = 4, .value = val, .value_len = big}};
	cr_assert_eq(uwal_write_batch(w, recs, 2, false), UWAL_ETOOBIG);
	free(val);
	th_check_std(w, 1);
	th_check_absent(w, 2);
	th_check_absent(w, 3);
	th_check_absent(w, 4);
	/* the index stays free and the log keeps working */
	cr_assert_eq(th_write_std(w, 2, false), 0);
	th_check_std(w, 2);
	th_close(w);
	w = th_open(&cfg);
	th_check_std(w, 1);
	th_check_std(w, 2);
	th_check_absent(w, 3);
	th_close(w);
}

/* Guards against a record that fits in a fresh segment being refused. */
TH_TEST(api, record_near_segment_size_is_accepted)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	size_t len = (64u << 10) - 512; /* needs a fresh segment: forces a rotation */
	unsigned char *val = malloc(len);
	cr_assert_not_null(val);
	th_fill(2, val, len);
	cr_assert_eq(uwal_write(w, 2, "k", 1, val, len), 0);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 2, &r), 0);
	th_check_rec(&r, 2, "k", 1, val, len);
	uwal_record_free(&r);
	th_close(w);
	w = th_open(&cfg);
	cr_assert_eq(uwal_get(w, 2, &r), 0);
	th_check_rec(&r, 2, "k", 1, val, len);
	uwal_record_free(&r);
	th_check_std(w, 1);
	th_close(w);
	free(val);
}

/* ---- error strings ------------------------------------------------------ */

/* Guards against missing or shared descriptions of uwal's error codes. */
TH_TEST(api, strerror_describes_every_uwal_code_distinctly)
{
	const int codes[] = {UWAL_EINVAL,    UWAL_EEXIST,  UWAL_ENOTFOUND, UWAL_ETOOBIG,
			     UWAL_ESHUTDOWN, UWAL_ELOCKED, UWAL_ECORRUPT,  UWAL_EPOISONED};
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(codes[i], -30000, "codes lie below -30000");
		const char *s = uwal_strerror(codes[i]);
		cr_assert_not_null(s, "uwal_strerror(%d) is NULL", codes[i]);
		cr_assert_gt(strlen(s), 0, "uwal_strerror(%d) is empty", codes[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(s, uwal_strerror(codes[j]),
					  "codes %d and %d share a description", codes[i],
					  codes[j]);
	}
	cr_assert_not_null(uwal_strerror(0));
	cr_assert_not_null(uwal_strerror(-29999));
	cr_assert_not_null(uwal_strerror(-30999));
	cr_assert_not_null(uwal_strerror(12345));
}

/* Guards against -errno values being described as unknown. */
TH_TEST(api, strerror_describes_system_errors)
{
	const char *s = uwal_strerror(-ENOSPC);
	cr_assert_not_null(s);
	cr_assert_not_null(strcasestr(s, "space"), "uwal_strerror(-ENOSPC) = \"%s\"", s);
	const char *e = uwal_strerror(-EIO);
	cr_assert_not_null(e);
	cr_assert_str_neq(s, e);
	for (int c = UWAL_EPOISONED; c <= UWAL_EINVAL; c++)
		cr_assert_str_neq(s, uwal_strerror(c));
}

/* ---- counters ----------------------------------------------------------- */

/* Guards against counters that do not move with the work done. */
TH_TEST(api, stats_count_records_batches_and_bytes)
{
	uwal *w = open_default();
	uwal_stats s0 = th_stats(w);
	cr_assert_eq(s0.records, 0);
	cr_assert_geq(s0.segments, 1, "an open log has a segment");
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_stats s1 = th_stats(w);
	cr_assert_eq(s1.records, 10);
	cr_assert_geq(s1.batches, 1);
	cr_assert_leq(s1.batches, 10, "one thread, one record per call: at most 10 batches");
	cr_assert_geq(s1.bytes, 10 * TH_FRAME_HEADER, "bytes must cover the frames");
	uwal_record recs[5];
	for (int i = 0; i < 5; i++)
		recs[i] = (uwal_record){.index = 100 + (uint64_t)i, .key = "k", .key_len = 1};
	cr_assert_eq(uwal_write_batch(w, recs, 5, false), 0);
	uwal_stats s2 = th_stats(w);
	cr_assert_eq(s2.records, 15);
	cr_assert_gt(s2.batches, s1.batches);
	cr_assert_gt(s2.bytes, s1.bytes);
	th_close(w);
}

/* Guards against UWAL_SYNC_BATCH acknowledging writes without an fdatasync. */
TH_TEST(api, stats_count_fsyncs_in_batch_mode)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	uwal *w = th_open(&cfg);
	uwal_stats s0 = th_stats(w);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	uwal_stats s1 = th_stats(w);
	cr_assert_gt(s1.fsyncs, s0.fsyncs);
	cr_assert_eq(th_write_std(w, 2, false), 0);
	uwal_stats s2 = th_stats(w);
	cr_assert_gt(s2.fsyncs, s1.fsyncs, "each batch ends with an fdatasync");
	th_close(w);
}

/* Guards against UWAL_SYNC_ALWAYS grouping or skipping fdatasyncs. */
TH_TEST(api, stats_count_one_fsync_per_call_in_always_mode)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_ALWAYS;
	uwal *w = th_open(&cfg);
	uwal_stats s0 = th_stats(w);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_stats s1 = th_stats(w);
	cr_assert_geq(s1.fsyncs - s0.fsyncs, 5);
	cr_assert_geq(s1.batches - s0.batches, 5);
	th_close(w);
}

/* ---- reopen ------------------------------------------------------------- */

/* Guards against records or index bounds lost across close and open. */
TH_TEST(api, reopen_keeps_every_record)
{
	uwal *w = open_default();
	for (uint64_t i = 1; i <= 200; i++)
		cr_assert_eq(th_write_std(w, i * 7, false), 0);
	th_close(w);
	w = open_default();
	for (uint64_t i = 1; i <= 200; i++)
		th_check_std(w, i * 7);
	th_check_absent(w, 8);
	cr_assert_eq(uwal_first_index(w), 7);
	cr_assert_eq(uwal_last_index(w), 1400);
	uwal_stats s = th_stats(w);
	cr_assert_eq(s.records, 0, "counters start at open");
	/* writes continue after reopen, duplicates still refused */
	cr_assert_eq(th_write_std(w, 7, false), UWAL_EEXIST);
	cr_assert_eq(th_write_std(w, 1401, false), 0);
	th_close(w);
	w = open_default();
	th_check_std(w, 1401);
	th_check_std(w, 7);
	th_close(w);
}

/* ---- iterator ----------------------------------------------------------- */

static const uint64_t k_order[] = {7, 2, 9, 1, 5, 100, 3, 50, 4, 8};

/* Guards against iteration in index order (or any order but log order). */
TH_TEST(api, iterator_returns_records_in_write_order)
{
	uwal *w = open_default();
	const size_t n = sizeof(k_order) / sizeof(k_order[0]);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(th_write_std(w, k_order[i], false), 0);
	for (int round = 0; round < 2; round++) {
		uwal_iter *it = NULL;
		cr_assert_eq(uwal_iter_open(w, &it), 0);
		cr_assert_not_null(it);
		uwal_record r;
		size_t i = 0;
		int rc;
		while ((rc = uwal_iter_next(it, &r)) == 1) {
			cr_assert_lt(i, n, "iterator returned too many records");
			/* the buffers are valid now, until the next call */
			th_check_std_rec(&r, k_order[i]);
			i++;
		}
		cr_assert_eq(rc, 0, "uwal_iter_next ended with %d", rc);
		cr_assert_eq(i, n);
		uwal_iter_close(it);
		if (round == 0) { /* and again after a reopen */
			th_close(w);
			w = open_default();
		}
	}
	th_close(w);
}

/* Guards against iterators seeing records acknowledged after they opened. */
TH_TEST(api, iterator_sees_only_records_present_at_open)
{
	uwal *w = open_default();
	for (uint64_t i = 1; i <= 20; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	th_check_std_rec(&r, 1);
	for (uint64_t i = 21; i <= 40; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uint64_t expect = 2;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_leq(expect, 20, "iterator returned record %llu written after it opened",
			      (unsigned long long)r.index);
		th_check_std_rec(&r, expect);
		expect++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(expect, 21);
	uwal_iter_close(it);
	th_close(w);
}

/* Guards against an iterator over an empty log blocking or inventing records. */
TH_TEST(api, iterator_over_empty_log_ends_immediately)
{
	uwal *w = open_default();
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(it, &r), 0);
	uwal_iter_close(it);
	th_close(w);
}

/* Guards against several iterators interfering with one another. */
TH_TEST(api, two_iterators_advance_independently)
{
	uwal *w = open_default();
	for (uint64_t i = 1; i <= 30; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_iter *a = NULL, *b = NULL;
	cr_assert_eq(uwal_iter_open(w, &a), 0);
	cr_assert_eq(uwal_iter_open(w, &b), 0);
	uwal_record ra, rb;
	for (uint64_t i = 1; i <= 10; i++) {
		cr_assert_eq(uwal_iter_next(a, &ra), 1);
		th_check_std_rec(&ra, i);
	}
	for (uint64_t i = 1; i <= 30; i++) {
		cr_assert_eq(uwal_iter_next(b, &rb), 1);
		th_check_std_rec(&rb, i);
	}
	cr_assert_eq(uwal_iter_next(b, &rb), 0);
	for (uint64_t i = 11; i <= 30; i++) {
		cr_assert_eq(uwal_iter_next(a, &ra), 1);
		th_check_std_rec(&ra, i);
	}
	cr_assert_eq(uwal_iter_next(a, &ra), 0);
	uwal_iter_close(a);
	uwal_iter_close(b);
	th_close(w);
}

/* UWAL_PREALLOC_AUTO (the default) zero-fills segments only where every
 * write is made durable: one pwrite (the header) per new segment file in
 * UWAL_SYNC_NONE, the header and the zeros otherwise. */
TH_TEST(api, auto_prealloc_zero_fills_only_durable_logs)
{
	static const enum uwal_sync_mode modes[] = {UWAL_SYNC_NONE, UWAL_SYNC_BATCH,
						    UWAL_SYNC_ALWAYS};
	for (size_t i = 0; i < 3; i++) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/m%zu", g_dir, i);
		uwal_config cfg;
		th_config(&cfg, dir);
		cfg.sync_mode = modes[i];
		cr_assert_eq(cfg.prealloc, UWAL_PREALLOC_AUTO);
		uint64_t before = tio_count(TIO_PWRITE, "*.tmp");
		uwal *w = th_open(&cfg);
		uint64_t writes = tio_count(TIO_PWRITE, "*.tmp") - before;
		th_close(w);
		if (modes[i] == UWAL_SYNC_NONE)
			cr_assert_eq(writes, 1, "sync_mode NONE: %llu pwrites",
				     (unsigned long long)writes);
		else
			cr_assert_gt(writes, 1, "sync_mode %d: no zero-fill", modes[i]);
	}
}

/* A zero-filled segment's zeros are written out 256 KiB at a time, each
 * piece before the next: (1 MiB - header) / 256 KiB = 4 write-outs of the
 * new file at open; none for a fallocated one. */
TH_TEST(api, zero_fill_writes_out_each_piece)
{
	static const enum uwal_prealloc modes[] = {UWAL_PREALLOC_ZERO, UWAL_PREALLOC_FALLOCATE};
	for (size_t i = 0; i < 2; i++) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/z%zu", g_dir, i);
		uwal_config cfg;
		th_config(&cfg, dir);
		cr_assert_eq(cfg.segment_size, 1u << 20);
		cfg.prealloc = modes[i];
		uint64_t before = tio_count(TIO_WRITEBACK, "*.tmp");
		uwal *w = th_open(&cfg);
		uint64_t n = tio_count(TIO_WRITEBACK, "*.tmp") - before;
		cr_assert_eq(uwal_write(w, 1, NULL, 0, "v", 1), 0);
		th_close(w);
		cr_assert_eq(n, modes[i] == UWAL_PREALLOC_ZERO ? 4u : 0u,
			     "prealloc %d: %llu write-outs", modes[i], (unsigned long long)n);
	}
}

/* writeback_kib: unsynced writes have their writeback started every that
 * many KiB (never with 0), and the records are all there after reopen. */
TH_TEST(api, writeback_starts_every_writeback_kib)
{
	static const uint32_t every[] = {0, 64};
	for (size_t k = 0; k < 2; k++) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/w%zu", g_dir, k);
		uwal_config cfg;
		th_config(&cfg, dir);
		cfg.writeback_kib = every[k];
		uint64_t before = tio_count(TIO_WRITEBACK, NULL);
		uwal *w = th_open(&cfg);
		static unsigned char val[1000];
		/* About 1 MiB unsynced: sixteen times 64 KiB. */
		for (uint64_t i = 1; i <= 1000; i++)
			cr_assert_eq(uwal_write(w, i, NULL, 0, val, sizeof(val)), 0);
		uint64_t n = tio_count(TIO_WRITEBACK, NULL) - before;
		th_close(w);
		if (every[k] == 0)
			cr_assert_eq(n, 0);
		else
			cr_assert(n >= 10 && n <= 16, "%llu writebacks for ~1 MiB at 64 KiB",
				  (unsigned long long)n);
		w = th_open(&cfg);
		cr_assert_eq(uwal_last_index(w), 1000);
		th_close(w);
	}
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.writeback_kib = (4u << 20) + 1;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
}

/* rejoin_us: several durable writers make the writer wait for the ones it
 * woke (rejoin_waits counts it), never with 0 and never for a lone writer
 * or asynchronous submissions; every record is there either way. */
struct rj_arg {
	uwal *w;
	uint64_t first;
};

static void *rj_thread(void *p)
{
	struct rj_arg *a = p;
	for (uint64_t i = 0; i < 300; i++)
		cr_assert_eq(th_write_std(a->w, a->first + i, true), 0);
	return NULL;
}

static uwal_stats rejoin_run(uint32_t rejoin_us, unsigned threads, bool async, const char *name)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s", g_dir, name);
	uwal_config cfg;
	th_config(&cfg, dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.rejoin_us = rejoin_us;
	uwal *w = th_open(&cfg);
	uint64_t n = 0;
	if (async) {
		/* One thread, many submissions in flight: no one blocks. */
		uwal_completion c[64];
		uint64_t got = 0;
		for (uint64_t i = 1; i <= 600; i++) {
			uwal_record r = {i, "k", 1, "v", 1};
			int rc;
			while ((rc = uwal_submit(w, &r, 1, 0, i)) == UWAL_EAGAIN) {
				int k = uwal_reap(w, c, 64, -1);
				cr_assert_gt(k, 0);
				got += (uint64_t)k;
			}
			cr_assert_eq(rc, 0);
		}
		while (got < 600) {
			int k = uwal_reap(w, c, 64, -1);
			cr_assert_gt(k, 0);
			for (int j = 0; j < k; j++)
				cr_assert_eq(c[j].result, 0);
			got += (uint64_t)k;
		}
		n = 600;
	} else {
		struct rj_arg a[4];
		for (unsigned t = 0; t < threads; t++)
			a[t] = (struct rj_arg){w, 1 + t * 1000};
		th_run_threads(threads, rj_thread, a, sizeof(a[0]));
		n = threads * 300;
	}
	uwal_stats s = th_stats(w);
	cr_assert_eq(s.records, n, "%s: %llu records", name, (unsigned long long)s.records);
	th_close(w);
	w = th_open(&cfg);
	cr_assert_eq(th_stats(w).records, 0);
	uint64_t count = 0;
	uwal_iter *it;
	uwal_record r;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	while (uwal_iter_next(it, &r) == 1)
		count++;
	uwal_iter_close(it);
	cr_assert_eq(count, n, "%s: %llu records after reopen", name, (unsigned long long)count);
	th_close(w);
	return s;
}

TH_TEST(api, rejoin_waits_only_for_several_blocking_writers)
{
	uwal_stats on = rejoin_run(100, 4, false, "on");
	cr_assert_gt(on.rejoin_waits, 0, "4 durable writers: the writer never waited");
	cr_assert_leq(on.rejoin_timeouts, on.rejoin_waits + 1);
	uwal_stats off = rejoin_run(0, 4, false, "off");
	cr_assert_eq(off.rejoin_waits + off.rejoin_timeouts, 0, "rejoin_us = 0 waited");
	uwal_stats one = rejoin_run(100, 1, false, "one");
	cr_assert_eq(one.rejoin_waits + one.rejoin_timeouts, 0, "a lone writer waited");
	uwal_stats as = rejoin_run(100, 0, true, "async");
	cr_assert_eq(as.rejoin_waits + as.rejoin_timeouts, 0, "asynchronous submissions waited");

	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.rejoin_us = 10001;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
	cr_assert_null(w);
	cfg.rejoin_us = 10000;
	w = th_open(&cfg);
	th_close(w);
}

/* The number of this process's threads named name (/proc/self/task/N/comm). */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], comm[64] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue; /* the thread ended meanwhile */
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			n += strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* uwal's threads carry their names (ps -L, top -H): one writer and one
 * preparer per read-write handle, none once it is closed. */
TH_TEST(api, threads_are_named_per_handle)
{
	int writers = threads_named("uwal-writer"), preps = threads_named("uwal-prep");
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	cr_assert_eq(threads_named("uwal-writer"), writers + 1);
	cr_assert_eq(threads_named("uwal-prep"), preps + 1);
	th_close(w);
	/* Joined, a thread may still be listed for a moment while the kernel
	 * finishes its exit: give it up to 2 s. */
	for (int i = 0; i < 400 && (threads_named("uwal-writer") != writers ||
				    threads_named("uwal-prep") != preps);
	     i++)
		th_sleep_ms(5);
	cr_assert_eq(threads_named("uwal-writer"), writers);
	cr_assert_eq(threads_named("uwal-prep"), preps);
}
