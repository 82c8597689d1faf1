/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_async.c - the server API: uwal_submit() and uwal_reap() (every
 * argument and error, the window, completions in log order across
 * duplicates, poisoning, a failed segment preparation, shutdown and
 * close), the completion eventfd, uwal_sync(), uwal_shutdown(), and
 * assigned indexes (uwal_append(), index 0 in every write call): unique
 * and gap-free from many threads, and kept across reopen, retention and
 * truncation.
 */
#include "helpers.h"

#include <poll.h>
#include <sched.h>
#include <stdatomic.h>

TH_SUITE(async, 240);

static uwal *open_cfg(enum uwal_sync_mode mode, uint32_t window)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = mode;
	if (window)
		cfg.async_window = window;
	return th_open(&cfg);
}

static int submit_std(uwal *w, uint64_t idx, unsigned flags, uint64_t ud)
{
	char key[TH_KEY_MAX];
	unsigned char val[TH_VAL_MAX];
	uwal_record r = {.index = idx, .key = key, .key_len = th_key(idx, key)};
	r.value_len = th_vlen(idx);
	th_fill(idx, val, r.value_len);
	r.value = r.value_len ? val : NULL;
	return uwal_submit(w, &r, 1, flags, ud);
}

/* Reap exactly n completions (waiting for them) into out. */
static void reap_n(uwal *w, uwal_completion *out, size_t n)
{
	size_t got = 0;
	while (got < n) {
		int k = uwal_reap(w, out + got, n - got, 5 * 1000 * 1000);
		cr_assert_gt(k, 0, "uwal_reap: %d (%s) after %zu of %zu", k, uwal_strerror(k), got,
			     n);
		got += (size_t)k;
	}
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, 0);
	cr_assert_geq(r, 0);
	return r == 1 && (p.revents & POLLIN);
}

TH_TEST(async, submit_then_reap_in_log_order)
{
	uwal *w = open_cfg(UWAL_SYNC_BATCH, 0);
	enum { N = 500 };
	for (uint64_t i = 1; i <= N; i++)
		cr_assert_eq(submit_std(w, i, 0, 1000 + i), 0);
	static uwal_completion c[N];
	reap_n(w, c, N);
	for (uint64_t i = 1; i <= N; i++) {
		const uwal_completion *x = &c[i - 1];
		cr_assert_eq(x->user_data, 1000 + i, "completion %llu out of order",
			     (unsigned long long)i);
		cr_assert_eq(x->result, 0);
		cr_assert_eq(x->first_index, i);
		cr_assert_eq(x->count, 1);
	}
	/* The copies were written: the caller's buffers were on the stack. */
	for (uint64_t i = 1; i <= N; i++)
		th_check_std(w, i);
	/* Nothing outstanding: no wait, even with -1. */
	cr_assert_eq(uwal_reap(w, c, 1, -1), 0);
	th_close(w);
}

TH_TEST(async, bad_arguments)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	uwal_record r = {.index = 1, .key = "k", .key_len = 1};
	uwal_record nullkey = {.index = 2, .key = NULL, .key_len = 3};
	uwal_completion c;
	cr_assert_eq(uwal_submit(NULL, &r, 1, 0, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_submit(w, NULL, 1, 0, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_submit(w, NULL, 0, 0, 0), UWAL_EINVAL, "n 0 without SYNC");
	cr_assert_eq(uwal_submit(w, &r, 0, UWAL_SUBMIT_SYNC, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_submit(w, &r, 1, 0x2, 0), UWAL_EINVAL, "unknown flag");
	cr_assert_eq(uwal_submit(w, &nullkey, 1, 0, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_reap(NULL, &c, 1, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_reap(w, NULL, 1, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_reap(w, &c, 0, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_reap(w, &c, 1, -2), UWAL_EINVAL);
	cr_assert_eq(uwal_event_fd(NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_sync(NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_shutdown(NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_append(NULL, "k", 1, "v", 1, false, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_append(w, NULL, 1, "v", 1, false, NULL), UWAL_EINVAL);
	/* None of them was accepted: nothing to reap, nothing written. */
	cr_assert_eq(uwal_reap(w, &c, 1, 0), 0);
	cr_assert_eq(uwal_last_index(w), 0);
	th_close(w);
}

TH_TEST(async, too_big_is_refused_without_a_completion)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64 << 10;
	uwal *w = th_open(&cfg);
	static unsigned char big[64 << 10];
	uwal_record r = {.index = 1, .value = big, .value_len = sizeof(big)};
	cr_assert_eq(uwal_submit(w, &r, 1, 0, 0), UWAL_ETOOBIG);
	uwal_completion c;
	cr_assert_eq(uwal_reap(w, &c, 1, 0), 0);
	th_close(w);
}

TH_TEST(async, full_window_says_eagain_until_reaped)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 4);
	for (uint64_t i = 1; i <= 4; i++)
		cr_assert_eq(submit_std(w, i, 0, i), 0);
	/* Completed or not, unreaped submissions fill the window. */
	cr_assert_eq(submit_std(w, 5, 0, 5), UWAL_EAGAIN);
	cr_assert_eq(uwal_submit(w, NULL, 0, UWAL_SUBMIT_SYNC, 5), UWAL_EAGAIN);
	uwal_completion c[4];
	reap_n(w, c, 1);
	cr_assert_eq(c[0].user_data, 1);
	cr_assert_eq(submit_std(w, 5, 0, 5), 0);
	cr_assert_eq(submit_std(w, 6, 0, 6), UWAL_EAGAIN);
	reap_n(w, c, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(c[i].user_data, (uint64_t)i + 2);
	/* A refused submission wrote nothing. */
	th_check_absent(w, 6);
	th_close(w);
}

TH_TEST(async, duplicate_fails_alone_and_in_order)
{
	uwal *w = open_cfg(UWAL_SYNC_BATCH, 0);
	cr_assert_eq(th_write_std(w, 7, false), 0);
	/* Many rounds, so that some duplicates share a batch with others. */
	for (int round = 0; round < 50; round++) {
		uint64_t base = 100 + (uint64_t)round * 10;
		cr_assert_eq(submit_std(w, base, 0, 1), 0);
		cr_assert_eq(submit_std(w, 7, 0, 2), 0);        /* in the log */
		cr_assert_eq(submit_std(w, base + 1, 0, 3), 0); /* fine */
		cr_assert_eq(submit_std(w, base + 1, 0, 4), 0); /* just submitted */
		cr_assert_eq(submit_std(w, base + 2, 0, 5), 0);
		uwal_completion c[5];
		reap_n(w, c, 5);
		int want[5] = {0, UWAL_EEXIST, 0, UWAL_EEXIST, 0};
		for (int i = 0; i < 5; i++) {
			cr_assert_eq(c[i].user_data, (uint64_t)i + 1, "round %d: out of order",
				     round);
			cr_assert_eq(c[i].result, want[i], "round %d, completion %d: %d", round, i,
				     c[i].result);
		}
		cr_assert_eq(c[1].first_index, 0, "a failed submission has no index");
		th_check_std(w, base + 2);
	}
	th_close(w);
}

TH_TEST(async, batch_submission_is_all_or_nothing)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	cr_assert_eq(th_write_std(w, 3, false), 0);
	uwal_record ok[3] = {{.index = 1, .value = "a", .value_len = 1},
			     {.index = 2, .value = "b", .value_len = 1},
			     {.index = 4, .value = "c", .value_len = 1}};
	uwal_record bad[3] = {{.index = 5, .value = "a", .value_len = 1},
			      {.index = 3, .value = "b", .value_len = 1},
			      {.index = 6, .value = "c", .value_len = 1}};
	cr_assert_eq(uwal_submit(w, ok, 3, 0, 1), 0);
	cr_assert_eq(uwal_submit(w, bad, 3, 0, 2), 0);
	uwal_completion c[2];
	reap_n(w, c, 2);
	cr_assert_eq(c[0].result, 0);
	cr_assert_eq(c[0].count, 3);
	cr_assert_eq(c[0].first_index, 1);
	cr_assert_eq(c[1].result, UWAL_EEXIST);
	cr_assert_eq(c[1].count, 3);
	th_check_absent(w, 5);
	th_check_absent(w, 6);
	th_close(w);
}

TH_TEST(async, eventfd_is_readable_while_completions_wait)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	int fd = uwal_event_fd(w);
	cr_assert_geq(fd, 0);
	cr_assert_eq(uwal_event_fd(w), fd, "one descriptor for the handle's life");
	cr_assert(!readable(fd));
	cr_assert_eq(submit_std(w, 1, 0, 1), 0);
	cr_assert_eq(submit_std(w, 2, 0, 2), 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 5000), 1, "a completion makes it readable");
	uwal_completion c[2];
	/* Wait for both, one at a time: readable until the last is taken. */
	reap_n(w, c, 1);
	if (uwal_reap(w, c + 1, 1, 0) == 0) {
		cr_assert(readable(fd) == false);
		reap_n(w, c + 1, 1);
	}
	cr_assert(!readable(fd), "reaped empty: not readable");
	cr_assert_eq(submit_std(w, 3, 0, 3), 0);
	cr_assert_eq(poll(&p, 1, 5000), 1, "readable again with the next one");
	reap_n(w, c, 1);
	cr_assert(!readable(fd));
	th_close(w);
}

TH_TEST(async, sync_submission_and_uwal_sync)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	uwal_stats s0, s1, s2;
	cr_assert_eq(th_write_std(w, 1, false), 0);
	uwal_stats_get(w, &s0);
	cr_assert_eq(uwal_sync(w), 0);
	uwal_stats_get(w, &s1);
	cr_assert_eq(s1.fsyncs, s0.fsyncs + 1, "an unsynced record: one fdatasync");
	cr_assert_eq(uwal_sync(w), 0);
	uwal_stats_get(w, &s2);
	cr_assert_eq(s2.fsyncs, s1.fsyncs, "nothing new: no fdatasync");
	cr_assert_eq(s2.records, 1, "uwal_sync writes no record");

	cr_assert_eq(submit_std(w, 2, 0, 20), 0);
	cr_assert_eq(uwal_submit(w, NULL, 0, UWAL_SUBMIT_SYNC, 21), 0);
	uwal_completion c[2];
	reap_n(w, c, 2);
	cr_assert_eq(c[0].user_data, 20);
	cr_assert_eq(c[1].user_data, 21);
	cr_assert_eq(c[1].result, 0);
	cr_assert_eq(c[1].count, 0);
	cr_assert_eq(c[1].first_index, 0);
	uwal_stats_get(w, &s1);
	cr_assert_eq(s1.fsyncs, s2.fsyncs + 1, "the sync submission synced record 2");
	cr_assert_eq(uwal_last_index(w), 2);
	th_close(w);
}

TH_TEST(async, failed_fdatasync_poisons_and_every_completion_comes)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.durable_write = UWAL_DURABLE_LINKED; /* a real fdatasync to fail */
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	cr_assert_eq(uwal_health(w), 0);
	tio_arm(TIO_FDATASYNC, NULL, 1, -EIO);
	enum { N = 20 };
	int accepted = 0;
	for (uint64_t i = 2; i < 2 + N; i++) {
		int rc = submit_std(w, i, 0, i);
		cr_assert(rc == 0 || rc == UWAL_EPOISONED, "submit: %d", rc);
		accepted += rc == 0;
	}
	uwal_completion c[N];
	reap_n(w, c, (size_t)accepted);
	cr_assert_eq(c[0].result, -EIO, "the first batch carries the error: %d", c[0].result);
	bool failed = false;
	for (int i = 0; i < accepted; i++) {
		cr_assert(c[i].result == -EIO || c[i].result == UWAL_EPOISONED, "%d: %d", i,
			  c[i].result);
		if (c[i].result == UWAL_EPOISONED)
			failed = true;
		else
			cr_assert(!failed, "an -EIO after an EPOISONED");
	}
	cr_assert_eq(uwal_health(w), -EIO);
	cr_assert_eq(submit_std(w, 100, 0, 100), UWAL_EPOISONED, "no completion follows");
	cr_assert_eq(uwal_reap(w, c, 1, 0), 0);
	cr_assert_eq(uwal_sync(w), UWAL_EPOISONED);
	th_check_std(w, 1);
	uwal_close(w);
}

TH_TEST(async, failed_preparation_fails_only_its_submissions)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 5;
	/* The first segment is made at open; every later one fails. */
	for (int k = 2; k <= 40; k++)
		tio_arm(TIO_FALLOCATE, NULL, (uint64_t)k, -ENOSPC);
	uwal *w = th_open(&cfg);
	int rc = 0;
	uint64_t i = 1;
	for (; i <= 10 && rc == 0; i++) {
		cr_assert_eq(submit_std(w, i, 0, i), 0);
		uwal_completion c;
		reap_n(w, &c, 1);
		rc = c.result;
		cr_assert_eq(c.user_data, i);
	}
	cr_assert_eq(rc, -ENOSPC, "the record that needs the new segment: %d", rc);
	cr_assert_eq(i - 1, 6, "segment 1 took five records");
	cr_assert_eq(uwal_health(w), 0, "not poisoned");
	th_check_absent(w, 6);
	tio_clear();
	/* The preparer tries again when asked: the first asks, later ones get it. */
	for (int k = 0; k < 200; k++) {
		cr_assert_eq(submit_std(w, 6, 0, 0), 0);
		uwal_completion c;
		reap_n(w, &c, 1);
		if ((rc = c.result) == 0)
			break;
		cr_assert_eq(rc, -ENOSPC);
		usleep(1000);
	}
	cr_assert_eq(rc, 0, "after the disk has room again: %d", rc);
	th_check_std(w, 6);
	th_close(w);
}

TH_TEST(async, shutdown_then_reap_everything)
{
	uwal *w = open_cfg(UWAL_SYNC_BATCH, 0);
	enum { N = 300 };
	for (uint64_t i = 1; i <= N; i++)
		cr_assert_eq(submit_std(w, i, 0, i), 0);
	cr_assert_eq(uwal_shutdown(w), 0);
	cr_assert_eq(uwal_shutdown(w), 0, "idempotent");
	cr_assert_eq(submit_std(w, N + 1, 0, 0), UWAL_ESHUTDOWN);
	cr_assert_eq(th_write_std(w, N + 1, false), UWAL_ESHUTDOWN);
	cr_assert_eq(uwal_sync(w), UWAL_ESHUTDOWN);
	static uwal_completion c[N];
	size_t got = 0;
	int k;
	while (got < N && (k = uwal_reap(w, c + got, N - got, -1)) > 0)
		got += (size_t)k;
	cr_assert_eq(got, N, "every accepted submission completes");
	cr_assert_eq(uwal_reap(w, c, 1, -1), 0, "nothing outstanding: no wait");
	for (size_t i = 0; i < N; i++)
		cr_assert(c[i].user_data == i + 1 && c[i].result == 0);
	/* Reads still work after shutdown. */
	th_check_std(w, N);
	cr_assert_eq(uwal_close(w), 0);
}

TH_TEST(async, close_with_unreaped_completions)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	for (uint64_t i = 1; i <= 200; i++)
		cr_assert_eq(submit_std(w, i, 0, i), 0);
	/* Accepted submissions are written before close returns. */
	cr_assert_eq(uwal_close(w), 0);
	w = open_cfg(UWAL_SYNC_NONE, 0);
	cr_assert_eq(uwal_last_index(w), 200);
	for (uint64_t i = 1; i <= 200; i++)
		th_check_std(w, i);
	th_close(w);
	th_leak_check();
}

struct reaper {
	uwal *w;
	_Atomic int *stop;
	uint64_t seen[2048];
	size_t n;
};

static void *reaper_main(void *arg)
{
	struct reaper *r = arg;
	uwal_completion c[16];
	for (;;) {
		int k = uwal_reap(r->w, c, 16, 20 * 1000);
		for (int i = 0; i < k && r->n < 2048; i++)
			r->seen[r->n++] = c[i].user_data;
		if (k == 0 && atomic_load(r->stop))
			return NULL;
	}
}

TH_TEST(async, many_reapers_each_completion_once)
{
	uwal *w = open_cfg(UWAL_SYNC_BATCH, 64);
	_Atomic int stop = 0;
	static struct reaper rs[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		rs[i] = (struct reaper){.w = w, .stop = &stop};
		pthread_create(&t[i], NULL, reaper_main, &rs[i]);
	}
	enum { N = 1500 };
	for (uint64_t i = 1; i <= N; i++) {
		int rc;
		while ((rc = submit_std(w, i, 0, i)) == UWAL_EAGAIN)
			sched_yield();
		cr_assert_eq(rc, 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	static uint8_t count[N + 1];
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		total += rs[i].n;
		uint64_t last = 0;
		for (size_t k = 0; k < rs[i].n; k++) {
			uint64_t u = rs[i].seen[k];
			cr_assert(u >= 1 && u <= N);
			count[u]++;
			cr_assert_gt(u, last, "one reaper sees completions in log order");
			last = u;
		}
	}
	cr_assert_eq(total, N);
	for (uint64_t u = 1; u <= N; u++)
		cr_assert_eq(count[u], 1, "completion %llu reaped %d times", (unsigned long long)u,
			     count[u]);
	th_close(w);
}

TH_TEST(async, readonly_handle_refuses)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	th_close(w);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.open_flags = UWAL_OPEN_READONLY;
	w = th_open(&cfg);
	uwal_completion c;
	cr_assert_eq(submit_std(w, 2, 0, 0), UWAL_EREADONLY);
	cr_assert_eq(uwal_reap(w, &c, 1, 0), UWAL_EREADONLY);
	cr_assert_eq(uwal_event_fd(w), UWAL_EREADONLY);
	cr_assert_eq(uwal_sync(w), UWAL_EREADONLY);
	cr_assert_eq(uwal_shutdown(w), UWAL_EREADONLY);
	cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, NULL), UWAL_EREADONLY);
	th_close(w);
}

/* ---- assigned indexes -------------------------------------------------- */

TH_TEST(async, submissions_get_assigned_indexes)
{
	uwal *w = open_cfg(UWAL_SYNC_NONE, 0);
	uwal_record one = {.index = 0, .value = "x", .value_len = 1};
	uwal_record three[3] = {{.index = 0, .value = "a", .value_len = 1},
				{.index = 0, .value = "b", .value_len = 1},
				{.index = 0, .value = "c", .value_len = 1}};
	cr_assert_eq(uwal_submit(w, &one, 1, 0, 1), 0);
	cr_assert_eq(uwal_submit(w, three, 3, 0, 2), 0);
	cr_assert_eq(uwal_submit(w, &one, 1, UWAL_SUBMIT_SYNC, 3), 0);
	uwal_completion c[3];
	reap_n(w, c, 3);
	cr_assert_eq(c[0].first_index, 1);
	cr_assert_eq(c[1].first_index, 2);
	cr_assert_eq(c[1].count, 3);
	cr_assert_eq(c[2].first_index, 5);
	uwal_record r;
	cr_assert_eq(uwal_get(w, 3, &r), 0);
	cr_assert(r.value_len == 1 && memcmp(r.value, "b", 1) == 0);
	uwal_record_free(&r);
	/* Mixed: an explicit index moves the mark, later ones follow it. */
	cr_assert_eq(th_write_std(w, 100, false), 0);
	uint64_t ix = 0;
	cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, &ix), 0);
	cr_assert_eq(ix, 101);
	cr_assert_eq(th_write_std(w, 50, false), 0, "an explicit index below the mark");
	cr_assert_eq(uwal_append(w, "k", 1, "v", 1, true, &ix), 0);
	cr_assert_eq(ix, 102);
	cr_assert_eq(th_write_std(w, 102, false), UWAL_EEXIST, "explicit duplicates still fail");
	cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, NULL), 0, "index may be NULL");
	cr_assert_eq(uwal_last_index(w), 103);
	th_close(w);
}

struct appender {
	uwal *w;
	uint64_t got[500];
	int err;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	for (int i = 0; i < 500; i++) {
		char v[48];
		int n = snprintf(v, sizeof(v), "%p/%d", arg, i);
		int rc = uwal_append(a->w, NULL, 0, v, (size_t)n, false, &a->got[i]);
		if (rc < 0 && !a->err)
			a->err = rc;
	}
	return NULL;
}

static void check_gap_free(uwal *w, uint64_t n)
{
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t want = 1;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_eq(r.index, want, "log order: %llu where %llu belongs",
			     (unsigned long long)r.index, (unsigned long long)want);
		want++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(want, n + 1, "%llu records, want %llu", (unsigned long long)want - 1,
		     (unsigned long long)n);
	uwal_iter_close(it);
}

TH_TEST(async, appends_from_many_threads_are_unique_and_gap_free)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 300; /* rotations on the way */
	uwal *w = th_open(&cfg);
	static struct appender a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct appender){.w = w};
		pthread_create(&t[i], NULL, appender_main, &a[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	static uint8_t seen[2001];
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(a[i].err, 0);
		for (int k = 0; k < 500; k++) {
			uint64_t ix = a[i].got[k];
			cr_assert(ix >= 1 && ix <= 2000, "index %llu", (unsigned long long)ix);
			cr_assert_eq(seen[ix]++, 0, "index %llu given twice",
				     (unsigned long long)ix);
			if (k)
				cr_assert_gt(ix, a[i].got[k - 1], "one thread's indexes grow");
		}
	}
	check_gap_free(w, 2000);
	th_close(w);
	w = th_open(&cfg);
	check_gap_free(w, 2000);
	uint64_t ix;
	cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, &ix), 0);
	cr_assert_eq(ix, 2001, "the mark survives reopen");
	th_close(w);
}

static uint64_t append_one(uwal *w)
{
	uint64_t ix = 0;
	int rc = uwal_append(w, "k", 1, "v", 1, false, &ix);
	cr_assert_eq(rc, 0, "uwal_append: %d (%s)", rc, uwal_strerror(rc));
	return ix;
}

/* Wait (up to 5 s) until the log has n segments: removals are done in the
 * background. */
static void wait_segments(uwal *w, uint64_t n)
{
	uwal_stats s;
	for (int i = 0; i < 500; i++) {
		uwal_stats_get(w, &s);
		if (s.segments == n)
			return;
		usleep(10000);
	}
	cr_assert_fail("%llu segments, want %llu", (unsigned long long)s.segments,
		       (unsigned long long)n);
}

static uwal *reopen(uwal *w, const uwal_config *cfg)
{
	th_close(w);
	return th_open(cfg);
}

TH_TEST(async, mark_survives_front_truncation_that_empties_the_log)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (int i = 0; i < 35; i++)
		append_one(w);
	cr_assert_eq(uwal_truncate_front(w, 1000), 0);
	cr_assert_eq(uwal_first_index(w), 0, "empty");
	/* The emptied segments go in the background. */
	wait_segments(w, 1);
	w = reopen(w, &cfg);
	cr_assert_eq(uwal_last_index(w), 0);
	cr_assert_eq(append_one(w), 36, "not 1: the records 1..35 existed");
	w = reopen(w, &cfg);
	cr_assert_eq(append_one(w), 37);
	th_close(w);
}

TH_TEST(async, mark_survives_retention)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	cfg.max_segments = 1;
	uwal *w = th_open(&cfg);
	for (int i = 0; i < 30; i++)
		append_one(w);
	/* Rotate into an empty segment: with max_segments 1 the others go. */
	cr_assert_eq(uwal_truncate_front(w, 31), 0);
	wait_segments(w, 1);
	w = reopen(w, &cfg);
	cr_assert_eq(append_one(w), 31);
	for (int i = 0; i < 25; i++)
		append_one(w);
	w = reopen(w, &cfg);
	cr_assert_eq(append_one(w), 57);
	th_close(w);
}

TH_TEST(async, after_truncate_back_the_next_index_is_the_cut_one)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (int i = 0; i < 35; i++)
		append_one(w);
	cr_assert_eq(uwal_truncate_back(w, 31), 0, "in the active segment");
	cr_assert_eq(append_one(w), 31);
	cr_assert_eq(uwal_truncate_back(w, 12), 0, "in a sealed segment");
	cr_assert_eq(append_one(w), 12);
	w = reopen(w, &cfg);
	cr_assert_eq(append_one(w), 13);
	check_gap_free(w, 13);
	cr_assert_eq(uwal_truncate_back(w, 5), 0);
	w = reopen(w, &cfg);
	cr_assert_eq(append_one(w), 5, "a back frame lowers the mark across reopen");
	check_gap_free(w, 5);
	th_close(w);
}

/* ---- power cuts ------------------------------------------------------------ */

#include "crashsim.h"

static void cut_cfg(uwal_config *cfg, const char *dir, bool retention)
{
	th_config(cfg, dir);
	cfg->sync_mode = UWAL_SYNC_BATCH;
	cfg->segment_size = 64 << 10;
	cfg->segment_threshold = 40;
	if (retention)
		cfg->max_segments = 2;
}

/*
 * Submit assigned-index records while the power is cut at one operation
 * after another: every accepted submission has its completion; after the
 * reopen every record acknowledged 0 is there, the log is gap-free, and the
 * next assigned index is above every acknowledged one (with retention too,
 * where the NEXT frames keep the mark).
 */
static void power_cuts(bool retention)
{
	enum { N = 150 };
	bool done = false;
	for (uint64_t cut = 0; !done && cut < 400; cut++) {
		char base[600], log[700], out[700], olog[800];
		snprintf(base, sizeof(base), "%s/sim%llu", g_dir, (unsigned long long)cut);
		snprintf(log, sizeof(log), "%s/log", base);
		snprintf(out, sizeof(out), "%s/out", base);
		cr_assert_eq(th_mkdir_p(base), 0);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));
		uwal_config cfg;
		cut_cfg(&cfg, log, retention);
		uwal *w = th_open(&cfg);
		crashsim_settle(sim);
		crashsim_arm(sim, cut, NULL, NULL);
		static uint8_t acked[N + 1];
		memset(acked, 0, sizeof(acked));
		uint64_t max_acked = 0, n_acked = 0;
		size_t accepted = 0, completed = 0;
		/* In waves of ten, so that the cuts fall between many batches. */
		for (uint64_t i = 1; i <= N; i++) {
			uwal_record r = {.index = 0, .value = "v", .value_len = 1};
			int rc = uwal_submit(w, &r, 1, 0, i);
			cr_assert(rc == 0 || rc == UWAL_EPOISONED, "submit: %d", rc);
			accepted += rc == 0;
			if (i % 10 && i < N)
				continue;
			while (completed < accepted) {
				uwal_completion c[64];
				int k = uwal_reap(w, c, 64, 5 * 1000 * 1000);
				cr_assert_gt(k, 0, "cut at %llu: %zu of %zu completions came",
					     (unsigned long long)cut, completed, accepted);
				for (int j = 0; j < k; j++) {
					if (c[j].result != 0)
						continue;
					cr_assert(c[j].first_index >= 1 && c[j].first_index <= N);
					acked[c[j].first_index] = 1;
					n_acked++;
					if (c[j].first_index > max_acked)
						max_acked = c[j].first_index;
				}
				completed += (size_t)k;
			}
		}
		crashsim_settle(sim);
		done = !crashsim_is_cut(sim);
		crashsim_cut(sim, cut + 1);
		uwal_close(w);
		for (uint64_t seed = 1; seed <= 2; seed++) {
			cr_assert_eq(crashsim_layout_fresh(sim, seed * 7919 + cut, out), 0);
			tio_select(NULL);
			snprintf(olog, sizeof(olog), "%s/log", out);
			uwal_config oc;
			cut_cfg(&oc, olog, retention);
			w = th_open(&oc);
			uint64_t first = uwal_first_index(w), last = uwal_last_index(w);
			cr_assert_geq(last, max_acked, "cut at %llu: acknowledged %llu, last %llu",
				      (unsigned long long)cut, (unsigned long long)max_acked,
				      (unsigned long long)last);
			for (uint64_t i = first ? first : 1; i <= last; i++) {
				uwal_record r;
				int rc = uwal_get(w, i, &r);
				cr_assert_eq(rc, 0, "cut at %llu: record %llu of %llu..%llu: %d",
					     (unsigned long long)cut, (unsigned long long)i,
					     (unsigned long long)first, (unsigned long long)last,
					     rc);
				uwal_record_free(&r);
			}
			if (!retention)
				cr_assert(last == 0 || first == 1, "nothing is ever dropped");
			for (uint64_t i = 1; !retention && i <= N; i++)
				if (acked[i])
					cr_assert_leq(i, last);
			uint64_t ix;
			cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, &ix), 0);
			cr_assert_gt(ix, max_acked, "cut at %llu: index %llu assigned again",
				     (unsigned long long)cut, (unsigned long long)ix);
			cr_assert_gt(ix, last);
			th_close(w);
			tio_select(crashsim_io(sim));
		}
		tio_select(NULL);
		crashsim_free(sim);
		th_rmrf(base);
		(void)n_acked;
		if (done)
			cr_assert_gt(cut, 20, "the run was too short to cut at many steps");
	}
	cr_assert(done, "the submissions never completed without a cut");
}

TH_TEST(async, a_power_cut_at_each_step_keeps_every_acknowledged_submission)
{
	power_cuts(false);
}

TH_TEST(async, a_power_cut_with_retention_never_reassigns_an_acknowledged_index)
{
	power_cuts(true);
}

/* Retention removed durable records, and the power goes before anything in
 * the new segment was synced: the NEXT frame that starts it (synced before
 * the removal) still keeps their indexes from being assigned again. */
TH_TEST(async, mark_survives_retention_and_a_power_cut)
{
	char base[600], log[700], out[700], olog[800];
	snprintf(base, sizeof(base), "%s/sim", g_dir);
	snprintf(log, sizeof(log), "%s/log", base);
	snprintf(out, sizeof(out), "%s/out", base);
	cr_assert_eq(th_mkdir_p(base), 0);
	struct crashsim *sim = crashsim_new(NULL, base);
	cr_assert_not_null(sim);
	tio_select(crashsim_io(sim));
	uwal_config cfg;
	th_config(&cfg, log);
	cfg.segment_size = 64 << 10;
	cfg.segment_threshold = 10;
	cfg.max_segments = 1;
	uwal *w = th_open(&cfg);
	for (int i = 0; i < 13; i++)
		append_one(w);
	/* Segment 1 (records 1..10) sealed and removed in the background. */
	for (int i = 0; i < 500; i++) {
		uwal_stats s;
		uwal_stats_get(w, &s);
		if (s.deleted_segments == 1)
			break;
		usleep(10000);
	}
	crashsim_settle(sim);
	crashsim_cut(sim, 1);
	uwal_close(w);
	for (uint64_t seed = 1; seed <= 8; seed++) {
		cr_assert_eq(crashsim_layout_fresh(sim, seed, out), 0);
		tio_select(NULL);
		snprintf(olog, sizeof(olog), "%s/log", out);
		cfg.dir = olog;
		w = th_open(&cfg);
		uint64_t ix = append_one(w);
		cr_assert_gt(ix, 10, "seed %llu: index %llu of a removed record assigned again",
			     (unsigned long long)seed, (unsigned long long)ix);
		th_close(w);
		tio_select(crashsim_io(sim));
	}
	tio_select(NULL);
	crashsim_free(sim);
}

TH_TEST(async, window_out_of_range_is_refused_by_name)
{
	static const uint32_t bad[] = {0, (1u << 20) + 1};
	for (size_t i = 0; i < 2; i++) {
		uwal_config cfg;
		th_config(&cfg, g_dir);
		th_log lg;
		th_log_init(&lg);
		cfg.log_fn = th_log_fn;
		cfg.log_ctx = &lg;
		cfg.async_window = bad[i];
		uwal *w = NULL;
		cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
		cr_assert_null(w);
		cr_assert(th_log_has(&lg, "async_window"), "log: %s", lg.buf);
		th_log_destroy(&lg);
	}
	/* The bounds themselves are fine. */
	uwal *w = open_cfg(UWAL_SYNC_NONE, 1);
	cr_assert_eq(submit_std(w, 1, 0, 1), 0);
	cr_assert_eq(submit_std(w, 2, 0, 2), UWAL_EAGAIN, "a window of one");
	th_close(w);
	w = open_cfg(UWAL_SYNC_NONE, 1u << 20);
	th_close(w);
}

static bool pin_to(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s) == 0;
}

/* One thread's submissions keep its call order when it moves between
 * CPUs with many in flight (each CPU has its own queue). */
TH_TEST(async, one_thread_moving_between_cpus_keeps_its_order)
{
	cpu_set_t orig;
	cr_assert_eq(sched_getaffinity(0, sizeof(orig), &orig), 0);
	int cpus[2], n = 0;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &orig))
			cpus[n++] = c;
	if (n < 2)
		cr_skip_test("one CPU: no queue to move to");
	uwal *w = open_cfg(UWAL_SYNC_BATCH, 4096);
	enum { N = 4000 };
	uint64_t ud = 0;
	for (int round = 0; ud < N; round++) {
		cr_assert(pin_to(cpus[round & 1]));
		for (int k = 0; k < 50 && ud < N; k++) {
			uwal_record r = {.index = 0, .value = "v", .value_len = 1};
			cr_assert_eq(uwal_submit(w, &r, 1, 0, ++ud), 0);
		}
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(orig), &orig), 0);
	static uwal_completion c[N];
	reap_n(w, c, N);
	for (uint64_t i = 0; i < N; i++) {
		cr_assert_eq(c[i].user_data, i + 1, "completion %llu is submission %llu",
			     (unsigned long long)i, (unsigned long long)c[i].user_data);
		cr_assert_eq(c[i].first_index, i + 1, "submission %llu got index %llu",
			     (unsigned long long)i + 1, (unsigned long long)c[i].first_index);
	}
	th_close(w);
}
