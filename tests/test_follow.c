/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_follow.c - uwal_iter_open_at() and followers (UWAL_ITER_FOLLOW,
 * uwal_iter_wait()): where an iterator starts, across segments; a follower
 * sees what is written after it opened, in log order, exactly the
 * acknowledged sequence when it races with writers; across rotations;
 * with retention (keeping up, and falling behind); with back and front
 * truncations; the waits (timeout, wake-up, shutdown); argument errors.
 *
 * Nothing asserts on time: every wait is bounded and only its result is
 * checked.
 */
#include "helpers.h"

#include <stdatomic.h>

TH_SUITE(follow, 240);

/* Ten records per segment. */
static void cfg_small(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_threshold = 10;
	cfg->sync_mode = UWAL_SYNC_BATCH;
}

/* The iterator returns the standard records from..to, in that order. */
static void expect_range(uwal_iter *it, uint64_t from, uint64_t to)
{
	uwal_record r;
	for (uint64_t i = from; i <= to; i++) {
		int rc = uwal_iter_next(it, &r);
		cr_assert_eq(rc, 1, "want record %llu, got %d (%s)", (unsigned long long)i, rc,
			     rc < 0 ? uwal_strerror(rc) : "end");
		th_check_std_rec(&r, i);
	}
}

static void expect_end(uwal_iter *it)
{
	uwal_record r;
	int rc = uwal_iter_next(it, &r);
	cr_assert_eq(rc, 0, "want the end, got %d (%s), record %llu", rc, uwal_strerror(rc),
		     rc == 1 ? (unsigned long long)r.index : 0ull);
}

static void expect_err(uwal_iter *it, int err)
{
	uwal_record r;
	int rc = uwal_iter_next(it, &r);
	cr_assert_eq(rc, err, "want %s, got %d (%s), record %llu", uwal_strerror(err), rc,
		     uwal_strerror(rc), rc == 1 ? (unsigned long long)r.index : 0ull);
}

static uwal_iter *open_at(uwal *w, uint64_t index, unsigned flags)
{
	uwal_iter *it = NULL;
	int rc = uwal_iter_open_at(w, index, flags, &it);
	cr_assert_eq(rc, 0, "open_at(%llu, %u): %s", (unsigned long long)index, flags,
		     uwal_strerror(rc));
	cr_assert_not_null(it);
	return it;
}

/* ---- where an iterator starts ------------------------------------------- */

/* Indexes written out of order: the iterator follows log order from the
 * record's position, not index order. */
static const uint64_t SCRAMBLED[] = {7, 3, 12, 1, 9, 20, 15, 2, 11, 4};
#define NSCR (sizeof(SCRAMBLED) / sizeof(SCRAMBLED[0]))

TH_TEST(follow, open_at_first_middle_last_and_missing)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (size_t i = 0; i < NSCR; i++)
		cr_assert_eq(th_write_std(w, SCRAMBLED[i], false), 0);
	for (size_t k = 0; k < NSCR; k++) {
		uwal_iter *it = open_at(w, SCRAMBLED[k], 0);
		uwal_record r;
		for (size_t i = k; i < NSCR; i++) {
			cr_assert_eq(uwal_iter_next(it, &r), 1);
			th_check_std_rec(&r, SCRAMBLED[i]);
		}
		expect_end(it);
		uwal_iter_close(it);
	}
	/* 0: the whole log, as uwal_iter_open(). */
	uwal_iter *it = open_at(w, 0, 0);
	uwal_record r;
	for (size_t i = 0; i < NSCR; i++) {
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		th_check_std_rec(&r, SCRAMBLED[i]);
	}
	expect_end(it);
	uwal_iter_close(it);
	uwal_iter *none = (uwal_iter *)&cfg; /* must stay untouched */
	cr_assert_eq(uwal_iter_open_at(w, 5, 0, &none), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_iter_open_at(w, 21, UWAL_ITER_FOLLOW, &none), UWAL_ENOTFOUND);
	cr_assert_eq(none, (uwal_iter *)&cfg);
	th_close(w);
}

TH_TEST(follow, open_at_on_an_empty_log)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(w, 1, 0, &it), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_iter_open_at(w, 1, UWAL_ITER_FOLLOW, &it), UWAL_ENOTFOUND);
	uwal_iter *snap = open_at(w, 0, 0);
	uwal_iter *fol = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_end(snap);
	expect_end(fol);
	th_write_range(w, 1, 3);
	expect_end(snap); /* a snapshot: nothing was there */
	expect_range(fol, 1, 3);
	expect_end(fol);
	uwal_iter_close(snap);
	uwal_iter_close(fol);
	th_close(w);
}

TH_TEST(follow, open_at_across_segments)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	const uint64_t n = 3000;
	th_write_range(w, 1, n);
	cr_assert_geq(th_stats(w).rotations, 4, "want several segments");
	for (uint64_t k = 1; k <= n; k += 193) {
		uwal_iter *it = open_at(w, k, 0);
		expect_range(it, k, n);
		expect_end(it);
		uwal_iter_close(it);
	}
	uwal_iter *it = open_at(w, n, UWAL_ITER_FOLLOW);
	expect_range(it, n, n);
	expect_end(it);
	th_write_range(w, n + 1, n + 400); /* rotates at least once more */
	expect_range(it, n + 1, n + 400);
	expect_end(it);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- following ------------------------------------------------------------ */

TH_TEST(follow, follower_sees_later_records_in_order_across_rotations)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 5);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	uwal_iter *at = open_at(w, 4, UWAL_ITER_FOLLOW);
	expect_range(it, 1, 5);
	expect_end(it);
	expect_range(at, 4, 5);
	th_write_range(w, 6, 10);
	expect_range(it, 6, 10);
	expect_end(it);
	/* Ten segments' worth while it does not read: it goes on from where
	 * it was, through every rotation. */
	th_write_range(w, 11, 105);
	expect_range(it, 11, 105);
	expect_end(it);
	for (uint64_t i = 106; i <= 140; i++) {
		th_write_range(w, i, i);
		expect_range(it, i, i);
		expect_end(it);
	}
	expect_range(at, 6, 140);
	expect_end(at);
	uint64_t seq = 0, off = 0;
	cr_assert_eq(uwal_iter_position(at, &seq, &off), UWAL_ENOTFOUND);
	uwal_iter_close(it);
	uwal_iter_close(at);
	th_close(w);
}

#define RACE_WRITERS 3
#define RACE_PER 1000
#define RACE_N (RACE_WRITERS * RACE_PER)

struct race_writer {
	uwal *w;
	unsigned id;
	int err;
};

static void *race_write(void *arg)
{
	struct race_writer *a = arg;
	for (uint64_t k = 0; k < RACE_PER && a->err == 0; k++) {
		uint64_t idx = 1 + k * RACE_WRITERS + a->id;
		int rc = th_write_std(a->w, idx, k % 50 == 0);
		if (rc < 0)
			a->err = rc;
	}
	return NULL;
}

struct race_follower {
	uwal_iter *it;
	uint64_t got[RACE_N];
	size_t n;
	int err;
	bool bad_rec;
};

static void *race_follow(void *arg)
{
	struct race_follower *f = arg;
	/* Bounded: 600 waits of at most 100 ms with nothing new. */
	for (unsigned idle = 0; f->n < RACE_N && idle < 600;) {
		uwal_record r;
		int rc = uwal_iter_next(f->it, &r);
		if (rc == 1) {
			char key[TH_KEY_MAX];
			size_t kl = th_key(r.index, key);
			if (r.key_len != kl || memcmp(r.key, key, kl) != 0 ||
			    r.value_len != th_vlen(r.index))
				f->bad_rec = true;
			f->got[f->n++] = r.index;
			idle = 0;
			continue;
		}
		if (rc < 0) {
			f->err = rc;
			return NULL;
		}
		rc = uwal_iter_wait(f->it, 100000);
		if (rc < 0) {
			f->err = rc;
			return NULL;
		}
		idle += rc == 0;
	}
	return NULL;
}

TH_TEST(follow, a_follower_racing_writers_sees_exactly_the_acknowledged_sequence)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10; /* many rotations */
	uwal *w = th_open(&cfg);
	struct race_follower *f = calloc(1, sizeof(*f));
	cr_assert_not_null(f);
	f->it = open_at(w, 0, UWAL_ITER_FOLLOW);
	pthread_t ft;
	cr_assert_eq(pthread_create(&ft, NULL, race_follow, f), 0);
	struct race_writer a[RACE_WRITERS];
	for (unsigned i = 0; i < RACE_WRITERS; i++)
		a[i] = (struct race_writer){w, i, 0};
	th_run_threads(RACE_WRITERS, race_write, a, sizeof(a[0]));
	pthread_join(ft, NULL);
	for (unsigned i = 0; i < RACE_WRITERS; i++)
		cr_assert_eq(a[i].err, 0, "writer %u: %s", i, uwal_strerror(a[i].err));
	cr_assert_eq(f->err, 0, "follower: %s", uwal_strerror(f->err));
	cr_assert(!f->bad_rec, "a record's contents differ");
	cr_assert_eq(f->n, RACE_N, "the follower saw %zu records, want %d", f->n, RACE_N);
	expect_end(f->it);
	uwal_iter_close(f->it);
	cr_assert_geq(th_stats(w).rotations, 4);

	uwal_iter *it = open_at(w, 0, 0);
	uwal_record r;
	for (size_t i = 0; i < RACE_N; i++) {
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		cr_assert_eq(r.index, f->got[i],
			     "record %zu: the follower saw %llu, the log has %llu", i,
			     (unsigned long long)f->got[i], (unsigned long long)r.index);
	}
	expect_end(it);
	uwal_iter_close(it);
	free(f);
	th_close(w);
}

/* ---- retention -------------------------------------------------------------- */

/* Descriptors of this process open on deleted files of dir. */
static unsigned deleted_open(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[320], target[4096];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "(deleted)"))
			n++;
	}
	closedir(d);
	return n;
}

TH_TEST(follow, a_follower_that_keeps_up_with_retention_sees_everything)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	cfg.max_segments = 2;
	uwal *w = th_open(&cfg);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	uint64_t next = 1;
	for (int round = 0; round < 40; round++) {
		th_write_range(w, next, next + 6);
		expect_range(it, next, next + 6);
		expect_end(it);
		next += 7;
	}
	th_wait_deleted(w, 20);
	/* It let go of what it read: retention's files are closed, not kept
	 * open by the follower. */
	unsigned open_deleted = deleted_open(g_dir);
	cr_assert_leq(open_deleted, 3, "%u deleted segments still open", open_deleted);
	uwal_iter_close(it);
	th_close(w);
}

TH_TEST(follow, a_follower_that_falls_behind_retention_gets_etruncated)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	cfg.max_segments = 3;
	uwal *w = th_open(&cfg);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW); /* pins the first segment */
	th_write_range(w, 1, 100);                       /* ten segments */
	th_wait_deleted(w, 7);
	/* What it holds, then the error, never a silent jump. */
	expect_range(it, 1, 10);
	expect_err(it, UWAL_ETRUNCATED);
	cr_assert_eq(uwal_iter_wait(it, 0), 1);
	expect_err(it, UWAL_ETRUNCATED);
	uwal_iter_close(it);
	/* A follower opened now starts at the front that is left. */
	uint64_t first = uwal_first_index(w);
	cr_assert_geq(first, 71);
	it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, first, 100);
	expect_end(it);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- truncations ------------------------------------------------------------ */

static void back_unread(uint64_t cut)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 28);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, 1, 5);
	cr_assert_eq(uwal_truncate_back(w, cut), 0);
	th_write_range(w, cut, cut + 10); /* the indexes again, after the cut */
	expect_range(it, 6, cut - 1);
	expect_err(it, UWAL_ETRUNCATED);
	expect_err(it, UWAL_ETRUNCATED);
	uwal_iter_close(it);
	th_close(w);
}

TH_TEST(follow, truncate_back_of_unread_records_in_a_sealed_segment)
{
	back_unread(15);
}

TH_TEST(follow, truncate_back_of_unread_records_in_the_active_segment)
{
	back_unread(25);
}

/* A cut of records it already returned: a fork of the history. */
static void back_returned(uint64_t cut)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 28);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, 1, 28);
	expect_end(it);
	cr_assert_eq(uwal_truncate_back(w, cut), 0);
	/* Waiting at the end, it sees it at once. */
	cr_assert_eq(uwal_iter_wait(it, 0), 1);
	th_write_range(w, cut, cut + 10);
	expect_err(it, UWAL_ETRUNCATED);
	uwal_iter_close(it);
	th_close(w);
}

TH_TEST(follow, truncate_back_of_returned_records_in_a_sealed_segment)
{
	back_returned(15);
}

TH_TEST(follow, truncate_back_of_returned_records_in_the_active_segment)
{
	back_returned(25);
}

TH_TEST(follow, truncate_front_hides_nothing_it_holds)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 30);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, 1, 5);
	cr_assert_eq(uwal_truncate_front(w, 20), 0);
	expect_range(it, 6, 30);
	expect_end(it);
	th_write_range(w, 31, 45);
	expect_range(it, 31, 45);
	expect_end(it);
	uwal_iter_close(it);
	/* A follower opened after it starts at the new front. */
	it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, 20, 45);
	expect_end(it);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- waiting -------------------------------------------------------------- */

TH_TEST(follow, wait_times_out_with_0)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 2);
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	cr_assert_eq(uwal_iter_wait(it, 0), 1);
	cr_assert_eq(uwal_iter_wait(it, 20000), 1); /* the same record, still there */
	expect_range(it, 1, 2);
	cr_assert_eq(uwal_iter_wait(it, 0), 0);
	cr_assert_eq(uwal_iter_wait(it, 1), 0);
	cr_assert_eq(uwal_iter_wait(it, 20000), 0);
	expect_end(it);
	uwal_iter_close(it);
	th_close(w);
}

TH_TEST(follow, wait_on_a_snapshot_iterator_never_sleeps)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 2);
	uwal_iter *it = open_at(w, 0, 0);
	cr_assert_eq(uwal_iter_wait(it, -1), 1);
	expect_range(it, 1, 1);
	cr_assert_eq(uwal_iter_wait(it, -1), 1);
	uint64_t seq = 0, off = 0;
	expect_range(it, 2, 2);
	cr_assert_eq(uwal_iter_position(it, &seq, &off), 0);
	cr_assert_gt(off, 0);
	th_write_range(w, 3, 3);
	cr_assert_eq(uwal_iter_wait(it, -1), 0); /* at its end: at once */
	expect_end(it);
	uwal_iter_close(it);
	th_close(w);
}

struct waiter {
	uwal_iter *it;
	int64_t timeout_us;
	_Atomic int started;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct waiter *a = arg;
	atomic_store(&a->started, 1);
	a->rc = uwal_iter_wait(a->it, a->timeout_us);
	return NULL;
}

static void start_waiter(pthread_t *t, struct waiter *a)
{
	cr_assert_eq(pthread_create(t, NULL, wait_thread, a), 0);
	while (!atomic_load(&a->started))
		th_sleep_ms(1);
	th_sleep_ms(30); /* most likely asleep in the wait by now */
}

TH_TEST(follow, a_write_from_another_thread_wakes_the_waiters)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_NONE;
	uwal *w = th_open(&cfg);
	struct waiter a[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		/* Bounded: 20 s, far more than a wake-up takes. The last one
		 * waits without a limit; the write wakes it too. */
		a[i] = (struct waiter){.it = open_at(w, 0, UWAL_ITER_FOLLOW),
				       .timeout_us = i == 2 ? -1 : 20000000};
		start_waiter(&t[i], &a[i]);
	}
	th_write_range(w, 1, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(a[i].rc, 1, "waiter %d: %d", i, a[i].rc);
		expect_range(a[i].it, 1, 1);
		uint64_t seq = 0, off = 0;
		cr_assert_eq(uwal_iter_position(a[i].it, &seq, &off), 0);
		cr_assert_eq(off, TH_SEG_HEADER);
		expect_end(a[i].it);
		uwal_iter_close(a[i].it);
	}
	th_close(w);
}

/* UWAL_ESHUTDOWN: uwal_shutdown() while a follower waits. */
TH_TEST(follow, a_handle_that_stops_taking_writes_ends_the_wait)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 1);
	struct waiter a = {.it = open_at(w, 0, UWAL_ITER_FOLLOW), .timeout_us = 20000000};
	expect_range(a.it, 1, 1);
	pthread_t t;
	start_waiter(&t, &a);
	cr_assert_eq(uwal_shutdown(w), 0);
	pthread_join(t, NULL);
	cr_assert_eq(a.rc, UWAL_ESHUTDOWN);
	uwal_iter_close(a.it);
	/* With records left, those come first. */
	uwal_iter *it = open_at(w, 0, UWAL_ITER_FOLLOW);
	cr_assert_eq(uwal_iter_wait(it, -1), 1);
	expect_range(it, 1, 1);
	cr_assert_eq(uwal_iter_wait(it, -1), UWAL_ESHUTDOWN);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- errors ---------------------------------------------------------------- */

TH_TEST(follow, bad_arguments_are_refused)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 1);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open_at(NULL, 0, 0, &it), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open_at(w, 0, 0, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open_at(w, 0, 2, &it), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open_at(w, 1, UWAL_ITER_FOLLOW | 0x80u, &it), UWAL_EINVAL);
	cr_assert_null(it);
	cr_assert_eq(uwal_iter_wait(NULL, 0), UWAL_EINVAL);
	it = open_at(w, 1, UWAL_ITER_FOLLOW);
	cr_assert_eq(uwal_iter_wait(it, -2), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_wait(it, INT64_MIN), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_next(it, NULL), UWAL_EINVAL);
	expect_range(it, 1, 1);
	uwal_iter_close(it);
	uwal_iter_close(NULL);
	th_close(w);
}

TH_TEST(follow, a_read_only_follower_sees_only_refreshes)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 3);
	th_close(w);
	cfg.open_flags = UWAL_OPEN_READONLY;
	w = th_open(&cfg);
	uwal_iter *it = NULL;
	/* Without uwal_refresh() (test_refresh.c) nothing comes after the
	 * snapshot. */
	it = open_at(w, 0, UWAL_ITER_FOLLOW);
	expect_range(it, 1, 3);
	expect_end(it);
	cr_assert_eq(uwal_iter_wait(it, 1000), 0);
	uwal_iter_close(it);
	it = open_at(w, 2, 0);
	expect_range(it, 2, 3);
	expect_end(it);
	cr_assert_eq(uwal_iter_wait(it, 1000), 0);
	uwal_iter_close(it);
	th_close(w);
}
