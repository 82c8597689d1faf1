/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_faultio.c - the tests' fault backend itself (tests/io/faultio.h),
 * driven through its operations table with no handle: a rule fires at
 * exactly the nth matching operation and only once; patterns, negation
 * and the kinds' usual files match as documented; counts are per kind and
 * file; a pause blocks until released, and a rule armed during a pause
 * does not see the paused operation; a short ring write cancels its
 * linked fdatasync; futex sleepers are counted; a timed futex wait runs
 * to its timeout or to a wake, and leaves the caller's timer slack as it
 * found it; descriptors follow renames. Every other fault test relies on
 * these.
 */
#include "helpers.h"

#include <stdatomic.h>
#include <sys/prctl.h>

TH_SUITE(faultio, 60);

static struct uw_io *io;
static int dfd;

static void open_dir(void)
{
	io = tio_fault_io();
	dfd = uw_io_open_dir(io, g_dir);
	cr_assert_geq(dfd, 0);
}

static int create(const char *name)
{
	int fd = uw_io_openat(io, dfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "create %s: %d", name, fd);
	return fd;
}

static int write4(int fd)
{
	return uw_io_pwrite(io, fd, "abcd", 4, 0);
}

/* Guards against a rule that fires early, late, or more than once. */
TH_TEST(faultio, a_rule_fires_at_the_nth_matching_operation_only)
{
	open_dir();
	int fd = create("a");
	tio_arm(TIO_FDATASYNC, "a", 3, -EIO);
	int got[6];
	for (int i = 0; i < 6; i++)
		got[i] = uw_io_fdatasync(io, fd);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(got[i], i == 2 ? -EIO : 0, "fdatasync %d returned %d", i + 1, got[i]);
	/* nth counts from when it was armed, not from the process start */
	tio_arm(TIO_FDATASYNC, "a", 1, -ENOSPC);
	cr_assert_eq(uw_io_fdatasync(io, fd), -ENOSPC);
	cr_assert_eq(uw_io_fdatasync(io, fd), 0);
	/* other kinds on the same file do not count */
	tio_arm(TIO_FDATASYNC, "a", 2, -EIO);
	cr_assert_eq(write4(fd), 0);
	cr_assert_eq(uw_io_fallocate(io, fd, 0, 4096), 0);
	cr_assert_eq(uw_io_fdatasync(io, fd), 0);
	cr_assert_eq(uw_io_fdatasync(io, fd), -EIO);
	uw_io_close(io, fd);
	uw_io_close(io, dfd);
}

/* Guards against a pattern that matches the wrong files. */
TH_TEST(faultio, patterns_and_negation_match_file_names)
{
	open_dir();
	int tmp = create("segment_00000000000000000001.tmp");
	int seg = create("segment_00000000000000000001");
	int lock = create("segment_lock");

	tio_arm(TIO_PWRITE, "*.tmp", 1, -EIO);
	cr_assert_eq(write4(seg), 0);
	cr_assert_eq(write4(lock), 0);
	cr_assert_eq(write4(tmp), -EIO);

	tio_arm(TIO_PWRITE, "!*.tmp", 1, -EIO);
	cr_assert_eq(write4(tmp), 0);
	cr_assert_eq(write4(seg), -EIO);

	tio_arm(TIO_PWRITE, "segment_*[0-9]", 1, -EIO);
	cr_assert_eq(write4(lock), 0);
	cr_assert_eq(write4(tmp), 0);
	cr_assert_eq(write4(seg), -EIO);

	/* NULL: every file but a .tmp for writes and fdatasyncs... */
	tio_arm(TIO_FDATASYNC, NULL, 1, -EIO);
	cr_assert_eq(uw_io_fdatasync(io, tmp), 0);
	cr_assert_eq(uw_io_fdatasync(io, lock), -EIO);
	/* ...every file for the other kinds */
	tio_arm(TIO_FALLOCATE, NULL, 1, -ENOSPC);
	cr_assert_eq(uw_io_fallocate(io, tmp, 0, 4096), -ENOSPC);

	/* a directory goes by its own name */
	tio_arm(TIO_DIRSYNC, "not-this-one", 1, -EIO);
	cr_assert_eq(uw_io_dirsync(io, dfd), 0);
	tio_arm(TIO_DIRSYNC, strrchr(g_dir, '/') + 1, 1, -EIO);
	cr_assert_eq(uw_io_dirsync(io, dfd), -EIO);
	tio_clear();
	uw_io_close(io, tmp);
	uw_io_close(io, seg);
	uw_io_close(io, lock);
	uw_io_close(io, dfd);
}

/* Guards against counts that mix kinds or files (the tests wait on them). */
TH_TEST(faultio, counts_are_per_kind_and_file)
{
	open_dir();
	int a = create("count_a"), b = create("count_b");
	uint64_t wa = tio_count(TIO_PWRITE, "count_a"), wb = tio_count(TIO_PWRITE, "count_b");
	uint64_t wall = tio_count(TIO_PWRITE, "count_*"), sa = tio_count(TIO_FDATASYNC, "count_a");
	uint64_t sb = tio_count(TIO_FDATASYNC, "count_b");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(write4(a), 0);
	cr_assert_eq(write4(b), 0);
	cr_assert_eq(uw_io_fdatasync(io, a), 0);
	/* failed operations count too */
	tio_arm(TIO_PWRITE, "count_b", 1, -EIO);
	cr_assert_eq(write4(b), -EIO);
	cr_assert_eq(tio_count(TIO_PWRITE, "count_a"), wa + 3);
	cr_assert_eq(tio_count(TIO_PWRITE, "count_b"), wb + 2);
	cr_assert_eq(tio_count(TIO_PWRITE, "count_*"), wall + 5);
	cr_assert_eq(tio_count(TIO_FDATASYNC, "count_a"), sa + 1);
	cr_assert_eq(tio_count(TIO_FDATASYNC, "count_b"), sb);
	uw_io_close(io, a);
	uw_io_close(io, b);
	uw_io_close(io, dfd);
}

/* Guards against a renamed file escaping the rules aimed at its new name
 * (a prepared segment is renamed into place and then written). */
TH_TEST(faultio, descriptors_follow_renames)
{
	open_dir();
	int fd = create("x.tmp");
	cr_assert_eq(uw_io_renameat(io, dfd, "x.tmp", "x"), 0);
	tio_arm(TIO_FDATASYNC, "*.tmp", 1, -EIO);
	tio_arm(TIO_FDATASYNC, "x", 1, -EROFS);
	cr_assert_eq(uw_io_fdatasync(io, fd), -EROFS);
	tio_clear();
	uw_io_close(io, fd);
	uw_io_close(io, dfd);
}

/* ---- pausing ------------------------------------------------------------- */

struct op_arg {
	int fd;
	atomic_int done;
	int rc;
};

static void *sync_thread(void *p)
{
	struct op_arg *a = p;
	a->rc = uw_io_fdatasync(io, a->fd);
	atomic_store(&a->done, 1);
	return NULL;
}

/* Guards against a pause that does not hold the operation, or never lets
 * it go. */
TH_TEST(faultio, pause_blocks_the_operation_until_released)
{
	open_dir();
	struct op_arg a = {.fd = create("p")};
	cr_assert_not(tio_wait_paused(10), "paused with no rule armed");
	tio_pause(TIO_FDATASYNC, "p", 1);
	uint64_t n0 = tio_count(TIO_FDATASYNC, "p");
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, sync_thread, &a), 0);
	cr_assert(tio_wait_paused(10000));
	th_sleep_ms(50);
	cr_assert_not(atomic_load(&a.done), "the paused fdatasync returned");
	/* counted when it began, before it runs */
	cr_assert_eq(tio_count(TIO_FDATASYNC, "p"), n0 + 1);
	tio_release();
	pthread_join(t, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_not(tio_wait_paused(10), "still paused after the release");
	/* a pause fires once */
	cr_assert_eq(uw_io_fdatasync(io, a.fd), 0);
	uw_io_close(io, a.fd);
	uw_io_close(io, dfd);
}

/* Guards against a fault armed during a pause hitting the paused operation
 * itself (tests arm the fault for the operations after it). */
TH_TEST(faultio, a_rule_armed_during_a_pause_skips_the_paused_operation)
{
	open_dir();
	struct op_arg a = {.fd = create("q")};
	tio_pause(TIO_FDATASYNC, "q", 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, sync_thread, &a), 0);
	cr_assert(tio_wait_paused(10000));
	/* (the first takes the paused rule's slot, so the second lies after
	 * it in the table: where the paused operation looks next) */
	tio_arm(TIO_FDATASYNC, "not-q", 1, -EIO);
	tio_arm(TIO_FDATASYNC, "q", 1, -EIO);
	tio_release();
	pthread_join(t, NULL);
	cr_assert_eq(a.rc, 0, "the paused fdatasync met a rule armed after it began");
	cr_assert_eq(uw_io_fdatasync(io, a.fd), -EIO);
	uw_io_close(io, a.fd);
	uw_io_close(io, dfd);
}

TH_TEST(faultio, clear_disarms_and_releases)
{
	open_dir();
	struct op_arg a = {.fd = create("c")};
	tio_pause(TIO_FDATASYNC, "c", 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, sync_thread, &a), 0);
	cr_assert(tio_wait_paused(10000));
	tio_arm(TIO_PWRITE, "c", 1, -EIO);
	tio_clear();
	pthread_join(t, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(write4(a.fd), 0);
	uw_io_close(io, a.fd);
	uw_io_close(io, dfd);
}

/* ---- the ring -------------------------------------------------------------- */

struct ring_case {
	struct uw_ring *r;
	int efd, fd;
	char path[4096];
};

static void ring_setup(struct ring_case *c, const char *name)
{
	open_dir();
	c->fd = create(name);
	th_join(c->path, sizeof(c->path), g_dir, name);
	c->efd = uw_io_eventfd(io);
	cr_assert_geq(c->efd, 0);
	struct uw_ring_opts o = {.entries = 8, .wake_fd = c->efd};
	struct uw_ring_info info;
	cr_assert_eq(uw_ring_open(io, &o, &c->r, &info), 0);
}

static void ring_teardown(struct ring_case *c)
{
	uw_ring_close(c->r);
	uw_io_close(io, c->efd);
	uw_io_close(io, c->fd);
	uw_io_close(io, dfd);
}

/* Run a 100-byte write and a linked fdatasync; res gets their results. */
static void run_chain(struct ring_case *c, int res[2])
{
	static char buf[100];
	memset(buf, 'x', sizeof(buf));
	struct uw_io_op ops[2] = {
		{.kind = UW_IO_OP_WRITE, .fd = c->fd, .buf = buf, .len = sizeof(buf), .off = 0},
		{.kind = UW_IO_OP_FDATASYNC, .fd = c->fd},
	};
	res[0] = res[1] = 12345;
	cr_assert_eq(uw_ring_run(c->r, ops, 2, res, 0), 0);
}

/* Guards against a short write whose fdatasync still runs (README,
 * durability rule 5: the batch must come back failed). */
TH_TEST(faultio, a_short_ring_write_cancels_the_linked_fdatasync)
{
	struct ring_case c;
	ring_setup(&c, "ring_short");
	uint64_t s0 = tio_count(TIO_FDATASYNC, "ring_short");
	tio_arm(TIO_PWRITE, "ring_short", 1, TIO_SHORT);
	int res[2];
	run_chain(&c, res);
	cr_assert_eq(res[0], 50, "the short write returned %d", res[0]);
	cr_assert_eq(res[1], -ECANCELED, "the fdatasync after it returned %d", res[1]);
	cr_assert_eq(th_file_size(c.path), 50, "the short write landed %llu bytes",
		     (unsigned long long)th_file_size(c.path));
	cr_assert_eq(tio_count(TIO_FDATASYNC, "ring_short"), s0, "the cancelled fdatasync ran");
	/* the next chain runs whole */
	run_chain(&c, res);
	cr_assert(res[0] == 100 && res[1] == 0, "next chain: %d %d", res[0], res[1]);
	ring_teardown(&c);
}

TH_TEST(faultio, a_failed_ring_write_cancels_the_linked_fdatasync)
{
	struct ring_case c;
	ring_setup(&c, "ring_eio");
	tio_arm(TIO_PWRITE, "ring_eio", 1, -EIO);
	int res[2];
	run_chain(&c, res);
	cr_assert(res[0] == -EIO && res[1] == -ECANCELED, "chain: %d %d", res[0], res[1]);
	cr_assert_eq(th_file_size(c.path), 0, "a failed write landed bytes");
	ring_teardown(&c);
}

TH_TEST(faultio, a_failed_ring_fdatasync_follows_a_whole_write)
{
	struct ring_case c;
	ring_setup(&c, "ring_sync");
	tio_arm(TIO_FDATASYNC, "ring_sync", 1, -EIO);
	int res[2];
	run_chain(&c, res);
	cr_assert(res[0] == 100 && res[1] == -EIO, "chain: %d %d", res[0], res[1]);
	cr_assert_eq(th_file_size(c.path), 100);
	ring_teardown(&c);
}

/* A short pwrite outside the ring lands half and reports -EIO (the
 * backend contract: never a silent short count). */
TH_TEST(faultio, a_short_pwrite_lands_half_and_fails)
{
	open_dir();
	int fd = create("short");
	char buf[100] = {0};
	char path[4096];
	tio_arm(TIO_PWRITE, "short", 1, TIO_SHORT);
	cr_assert_eq(uw_io_pwrite(io, fd, buf, sizeof(buf), 0), -EIO);
	cr_assert_eq(th_file_size(th_join(path, sizeof(path), g_dir, "short")), 50);
	uw_io_close(io, fd);
	uw_io_close(io, dfd);
}

struct close_arg {
	struct ring_case *c;
	atomic_int done;
};

static void *ring_close_thread(void *p)
{
	struct close_arg *a = p;
	uw_ring_close(a->c->r);
	atomic_store(&a->done, 1);
	return NULL;
}

/* Guards against a ring close that cannot be held (the close-race test
 * holds uwal_close() there). */
TH_TEST(faultio, ring_close_can_be_paused)
{
	struct ring_case c;
	ring_setup(&c, "ring_close");
	uint64_t n0 = tio_count(TIO_RING_CLOSE, NULL);
	tio_pause(TIO_RING_CLOSE, NULL, 1);
	struct close_arg a = {.c = &c};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, ring_close_thread, &a), 0);
	cr_assert(tio_wait_paused(10000));
	th_sleep_ms(20);
	cr_assert_not(atomic_load(&a.done));
	tio_release();
	pthread_join(t, NULL);
	cr_assert_eq(tio_count(TIO_RING_CLOSE, NULL), n0 + 1);
	uw_io_close(io, c.efd);
	uw_io_close(io, c.fd);
	uw_io_close(io, dfd);
}

/* ---- futex sleepers ------------------------------------------------------- */

static _Atomic uint32_t word;

static void *sleeper(void *p)
{
	(void)p;
	while (atomic_load(&word) == 0)
		uw_io_futex_wait(io, (uint32_t *)&word, 0);
	return NULL;
}

/* Guards against a sleeper count that misses sleepers or keeps woken ones
 * (the batch tests take it to mean "every request is queued"). */
TH_TEST(faultio, futex_sleepers_are_counted)
{
	io = tio_fault_io();
	cr_assert_eq(tio_sleeping(), 0);
	cr_assert_not(tio_wait_sleeping(1, 10));
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, sleeper, NULL), 0);
	cr_assert(tio_wait_sleeping(3, 10000), "%u sleepers", tio_sleeping());
	th_sleep_ms(20);
	cr_assert_eq(tio_sleeping(), 3);
	atomic_store(&word, 1);
	uw_io_futex_wake(io, (uint32_t *)&word, 3);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(tio_sleeping(), 0);
}

static _Atomic uint32_t timed_word;

static void *waker(void *p)
{
	(void)p;
	th_sleep_ms(20);
	atomic_store(&timed_word, 1);
	uw_io_futex_wake(io, (uint32_t *)&timed_word, 1);
	return NULL;
}

/* Guards against a timed wait (a waiter's nap, wait_nap_pct) that leaves
 * the calling thread's timer slack at the 1 ns it waits with, that ends
 * before its timeout, or that a wake does not end. */
TH_TEST(faultio, a_timed_wait_keeps_the_callers_timer_slack)
{
	io = tio_fault_io();
	/* 0 asks for the thread's default slack (50 us): read it back. */
	unsigned long slacks[] = {77777, 0, 1, 3000000};
	for (size_t i = 0; i < sizeof(slacks) / sizeof(slacks[0]); i++) {
		cr_assert_eq(prctl(PR_SET_TIMERSLACK, slacks[i], 0, 0, 0), 0);
		int before = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
		cr_assert_gt(before, 0);
		uint32_t zero = 0;
		uint64_t t0 = uw_io_now_ns();
		uw_io_futex_wait_for(io, &zero, 0, 300000);
		uint64_t slept = uw_io_now_ns() - t0;
		cr_assert_geq(slept, 300000, "a 300 us wait returned after %llu ns",
			      (unsigned long long)slept);
		cr_assert_eq(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), before,
			     "slack %d before the wait, %d after", before,
			     prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
	}
	prctl(PR_SET_TIMERSLACK, 0UL, 0, 0, 0);
	/* A wake ends a long timed wait. */
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, waker, NULL), 0);
	uint64_t t0 = uw_io_now_ns();
	while (atomic_load(&timed_word) == 0 && uw_io_now_ns() - t0 < 60000000000ull)
		uw_io_futex_wait_for(io, (uint32_t *)&timed_word, 0, 30000000000ull);
	uint64_t waited = uw_io_now_ns() - t0;
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&timed_word), 1);
	cr_assert_lt(waited, 30000000000ull, "the wake did not end the wait (%llu ns)",
		     (unsigned long long)waited);
}
