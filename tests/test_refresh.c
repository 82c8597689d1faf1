/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_refresh.c - uwal_refresh(): a read-only handle beside a writer
 * handle of the same process (a read-only open takes no lock) takes in
 * what the writer acknowledged since: new records, across rotations, with
 * retention removing segments, truncations of the front and of the back
 * (a cut of the active segment written over); a torn frame or an
 * unfinished batch stays hidden until it is whole; followers of the
 * read-only handle; argument errors.
 */
#include "helpers.h"

TH_SUITE(refresh, 120);

/* Ten records per segment. */
static void cfg_small(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_threshold = 10;
	cfg->sync_mode = UWAL_SYNC_BATCH;
}

static uwal *open_ro(const uwal_config *wcfg)
{
	uwal_config cfg = *wcfg;
	cfg.open_flags = UWAL_OPEN_READONLY;
	return th_open(&cfg);
}

static void check_range(uwal *r, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++)
		th_check_std(r, i);
	cr_assert_eq(uwal_first_index(r), from);
	cr_assert_eq(uwal_last_index(r), to);
}

static void expect_next(uwal_iter *it, uint64_t from, uint64_t to)
{
	uwal_record rec;
	for (uint64_t i = from; i <= to; i++) {
		int rc = uwal_iter_next(it, &rec);
		cr_assert_eq(rc, 1, "want record %llu, got %d (%s)", (unsigned long long)i, rc,
			     rc < 0 ? uwal_strerror(rc) : "end");
		th_check_std_rec(&rec, i);
	}
	cr_assert_eq(uwal_iter_next(it, &rec), 0);
}

TH_TEST(refresh, sees_records_written_after_the_open)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 3);
	uwal *r = open_ro(&cfg);
	check_range(r, 1, 3);
	cr_assert_eq(uwal_refresh(r), 0, "nothing new");
	th_write_range(w, 4, 9);
	th_check_absent(r, 4);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 1, 9);
	cr_assert_eq(uwal_refresh(r), 0);
	/* A snapshot iterator opened now sees them all. */
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(r, &it), 0);
	expect_next(it, 1, 9);
	uwal_iter_close(it);
	th_close(r);
	th_close(w);
}

TH_TEST(refresh, an_empty_log_fills)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	uwal *r = open_ro(&cfg);
	cr_assert_eq(uwal_last_index(r), 0);
	th_write_range(w, 1, 2);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 1, 2);
	th_close(r);
	th_close(w);
}

TH_TEST(refresh, across_rotations_with_a_follower)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 5);
	uwal *r = open_ro(&cfg);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(r, 0, UWAL_ITER_FOLLOW, &it), 0);
	expect_next(it, 1, 5);
	th_write_range(w, 6, 37); /* three rotations */
	cr_assert_eq(uwal_iter_wait(it, 0), 0, "nothing before a refresh");
	cr_assert_eq(uwal_refresh(r), 1);
	cr_assert_eq(uwal_iter_wait(it, 0), 1);
	expect_next(it, 6, 37);
	check_range(r, 1, 37);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_segments(r, &v, &n), 0);
	cr_assert_geq(n, 4);
	for (size_t i = 0; i + 1 < n; i++)
		cr_assert(v[i].sealed, "segment %zu of %zu sealed", i, n);
	cr_assert_not(v[n - 1].sealed);
	uwal_segments_free(v);
	/* One rotation more, in two refreshes. */
	th_write_range(w, 38, 40);
	cr_assert_eq(uwal_refresh(r), 1);
	th_write_range(w, 41, 44);
	cr_assert_eq(uwal_refresh(r), 1);
	expect_next(it, 38, 44);
	uwal_iter_close(it);
	th_close(r);
	th_close(w);
}

struct waiter {
	uwal_iter *it;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct waiter *a = arg;
	a->rc = uwal_iter_wait(a->it, 20 * 1000 * 1000);
	return NULL;
}

TH_TEST(refresh, wakes_a_waiting_follower)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 2);
	uwal *r = open_ro(&cfg);
	struct waiter a = {.rc = -1};
	cr_assert_eq(uwal_iter_open_at(r, 0, UWAL_ITER_FOLLOW, &a.it), 0);
	expect_next(a.it, 1, 2);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, wait_thread, &a), 0);
	th_write_range(w, 3, 3);
	cr_assert_eq(uwal_refresh(r), 1);
	pthread_join(t, NULL);
	cr_assert_eq(a.rc, 1);
	expect_next(a.it, 3, 3);
	uwal_iter_close(a.it);
	th_close(r);
	th_close(w);
}

TH_TEST(refresh, drops_the_segments_retention_removed)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	cfg.max_segments = 2;
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 5);
	uwal *r = open_ro(&cfg);
	th_write_range(w, 6, 60);
	th_wait_deleted(w, 3);
	cr_assert_eq(uwal_refresh(r), 1);
	uint64_t first = uwal_first_index(r);
	cr_assert_gt(first, 1);
	cr_assert_eq(first, uwal_first_index(w));
	check_range(r, first, 60);
	th_check_absent(r, 1);
	/* A follower that missed the removed segments ends with a gap, one
	 * opened now sees what is left. */
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(r, 0, UWAL_ITER_FOLLOW, &it), 0);
	expect_next(it, first, 60);
	uwal_iter_close(it);
	th_close(r);
	th_close(w);
}

TH_TEST(refresh, sees_truncations)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 25);
	uwal *r = open_ro(&cfg);
	cr_assert_eq(uwal_truncate_front(w, 14), 0);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 14, 25);
	/* A back cut in a sealed segment: a BACK frame. */
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(r, 14, UWAL_ITER_FOLLOW, &it), 0);
	expect_next(it, 14, 25);
	cr_assert_eq(uwal_truncate_back(w, 18), 0);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 14, 17);
	th_check_absent(r, 20);
	uwal_record rec;
	cr_assert_eq(uwal_iter_next(it, &rec), UWAL_ETRUNCATED);
	uwal_iter_close(it);
	th_write_range(w, 18, 19);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 14, 19);
	th_close(r);
	th_close(w);
}

TH_TEST(refresh, sees_a_back_cut_of_the_active_segment_written_over)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 8);
	uwal *r = open_ro(&cfg);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(r, 0, UWAL_ITER_FOLLOW, &it), 0);
	expect_next(it, 1, 8);
	/* The active segment is cut at 5 and written over with other records:
	 * the frame at 8's offset is no longer 8's. */
	cr_assert_eq(uwal_truncate_back(w, 5), 0);
	static const char big[300] = "a longer value";
	for (uint64_t i = 5; i <= 6; i++)
		cr_assert_eq(uwal_write(w, i, "k", 1, big, sizeof(big)), 0);
	cr_assert_eq(uwal_refresh(r), 1);
	cr_assert_eq(uwal_last_index(r), 6);
	th_check_std(r, 4);
	uwal_record rec;
	cr_assert_eq(uwal_get(r, 5, &rec), 0);
	cr_assert_eq(rec.value_len, sizeof(big));
	uwal_record_free(&rec);
	th_check_absent(r, 7);
	cr_assert_eq(uwal_iter_next(it, &rec), UWAL_ETRUNCATED);
	uwal_iter_close(it);
	/* And it reads on from there. */
	cr_assert_eq(uwal_write(w, 7, "k", 1, "v", 1), 0);
	cr_assert_eq(uwal_refresh(r), 1);
	cr_assert_eq(uwal_last_index(r), 7);
	th_close(r);
	th_close(w);
}

/* The frames of the last data segment, and its path. */
static size_t frames_of(const char *dir, char *path, size_t n, th_frame *f, size_t max)
{
	th_last_data_segment(dir, "segment_", path, n);
	return th_scan(path, f, max, NULL);
}

TH_TEST(refresh, hides_a_torn_frame_and_an_unfinished_batch)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 3);
	uwal_record b[3];
	char keys[3][TH_KEY_MAX];
	unsigned char vals[3][TH_VAL_MAX];
	for (unsigned i = 0; i < 3; i++) {
		uint64_t idx = 4 + i;
		b[i] = (uwal_record){.index = idx,
				     .key = keys[i],
				     .key_len = th_key(idx, keys[i]),
				     .value = vals[i],
				     .value_len = th_vlen(idx)};
		th_fill(idx, vals[i], b[i].value_len);
	}
	cr_assert_eq(uwal_write_batch(w, b, 3, true), 0);
	th_close(w);

	char path[512];
	th_frame f[16];
	size_t nf = frames_of(g_dir, path, sizeof(path), f, 16);
	/* As a writer still at work would leave it: no mark frame after the
	 * records vouches for them (the close wrote one). */
	th_unvouch_tail(path);
	cr_assert_geq(nf, 6);
	cr_assert_eq(f[5].index, 6);
	size_t size;
	unsigned char *orig = th_read_file(path, &size);
	uint64_t b0 = f[3].off, b2 = f[5].off, bend = f[5].off + TH_FRAME_HEADER + f[5].len;
	unsigned char zeros[4096] = {0};
	cr_assert_leq(bend - b0, sizeof(zeros));
	/* Only records 1..3: the batch is not there yet. */
	th_write_at(path, b0, zeros, bend - b0);
	uwal *r = open_ro(&cfg);
	check_range(r, 1, 3);
	/* A torn frame: half of the batch's first one. */
	th_write_at(path, b0, orig + b0, (f[3].len + TH_FRAME_HEADER) / 2);
	cr_assert_eq(uwal_refresh(r), 0);
	check_range(r, 1, 3);
	/* Two whole frames of the batch of three: still hidden. */
	th_write_at(path, b0, orig + b0, b2 - b0);
	cr_assert_eq(uwal_refresh(r), 0);
	check_range(r, 1, 3);
	th_check_absent(r, 4);
	/* The last one: all three at once. */
	th_write_at(path, b2, orig + b2, bend - b2);
	cr_assert_eq(uwal_refresh(r), 1);
	check_range(r, 1, 6);
	free(orig);
	th_close(r);
}

TH_TEST(refresh, refuses_a_null_or_writing_handle)
{
	cr_assert_eq(uwal_refresh(NULL), UWAL_EINVAL);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_refresh(w), UWAL_EINVAL);
	th_close(w);
}
