/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pipeline.c - the append pipeline under concurrency and failure:
 * close draining writers, racing duplicates, poisoning after injected write
 * and fdatasync failures, segment preparation failures that must not
 * poison, and multi-threaded stress in every sync mode.
 */
#include "helpers.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

TH_SUITE(pipeline, 120);

/* ---- close while writers run ------------------------------------------------ */

enum { DRAIN_THREADS = 8, DRAIN_MAX = 2000 };

struct drain_arg {
	uwal *w;
	atomic_int *stop;
	pthread_barrier_t *start;
	int id;
	int rc[DRAIN_MAX]; /* result of each attempted index; 1 = not attempted */
	atomic_int done;   /* successful writes so far */
	atomic_int exited; /* the thread has stopped writing */
};

static uint64_t drain_index(int t, int i)
{
	return (uint64_t)(t + 1) * 100000 + (uint64_t)i + 1;
}

static void *drain_thread(void *p)
{
	struct drain_arg *a = p;
	for (int i = 0; i < DRAIN_MAX; i++)
		a->rc[i] = 1;
	pthread_barrier_wait(a->start);
	for (int i = 0; i < DRAIN_MAX; i++) {
		/*
		 * Calling into a handle after uwal_close() returned is undefined,
		 * so stop once the main thread announced the close; calls already
		 * inside the library when the close begins are what is tested.
		 * (A thread preempted between this check and its call for the
		 * whole of the close would break the rule; that window is a few
		 * instructions wide, and the API offers no way to close it.)
		 */
		if (atomic_load(a->stop))
			break;
		int rc = th_write_std(a->w, drain_index(a->id, i), false);
		a->rc[i] = rc;
		if (rc != 0)
			break;
		atomic_fetch_add(&a->done, 1);
	}
	atomic_store(&a->exited, 1);
	return NULL;
}

static void close_while_writing(enum uwal_sync_mode mode, uint32_t delay_us)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = mode;
	cfg.segment_size = 64u << 10;
	cfg.max_batch_delay_us = delay_us;
	uwal *w = th_open(&cfg);
	atomic_int stop = 0;
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, DRAIN_THREADS + 1);
	struct drain_arg *args = calloc(DRAIN_THREADS, sizeof(*args));
	cr_assert_not_null(args);
	pthread_t t[DRAIN_THREADS];
	for (int i = 0; i < DRAIN_THREADS; i++) {
		args[i].w = w;
		args[i].stop = &stop;
		args[i].start = &start;
		args[i].id = i;
		cr_assert_eq(pthread_create(&t[i], NULL, drain_thread, &args[i]), 0);
	}
	pthread_barrier_wait(&start);
	/* let every thread get going (no timing is asserted) */
	for (int i = 0; i < DRAIN_THREADS; i++)
		while (atomic_load(&args[i].done) < 20 && !atomic_load(&args[i].exited))
			th_sleep_ms(1);
	atomic_store(&stop, 1);
	int crc = uwal_close(w);
	for (int i = 0; i < DRAIN_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	cr_assert_eq(crc, 0, "uwal_close: %d (%s)", crc, uwal_strerror(crc));

	size_t ok = 0;
	for (int i = 0; i < DRAIN_THREADS; i++)
		for (int j = 0; j < DRAIN_MAX; j++) {
			int rc = args[i].rc[j];
			cr_assert(rc == 0 || rc == UWAL_ESHUTDOWN || rc == 1,
				  "thread %d write %d returned %d (%s)", i, j, rc,
				  uwal_strerror(rc));
			ok += rc == 0;
		}
	cr_assert_geq(ok, DRAIN_THREADS * 20);

	w = th_open(&cfg);
	for (int i = 0; i < DRAIN_THREADS; i++)
		for (int j = 0; j < DRAIN_MAX; j++) {
			if (args[i].rc[j] == 0)
				th_check_std(w, drain_index(i, j));
			else
				th_check_absent(w, drain_index(i, j));
		}
	th_close(w);
	free(args);
}

/* Guards against close dropping acknowledged writes or taking refused ones. */
TH_TEST(pipeline, close_drains_writes_in_flight_none_mode)
{
	close_while_writing(UWAL_SYNC_NONE, 0);
}

/* Guards against close dropping queued records of a batch still filling. */
TH_TEST(pipeline, close_drains_writes_in_flight_batch_mode_with_delay)
{
	close_while_writing(UWAL_SYNC_BATCH, 2000);
}

/* ---- racing duplicates ----------------------------------------------------- */

enum { DUP_THREADS = 8, DUP_N = 100 };

struct dup_arg {
	uwal *w;
	pthread_barrier_t *start;
	int id;
	int rc[DUP_N];
};

static void *dup_thread(void *p)
{
	struct dup_arg *a = p;
	unsigned char v = (unsigned char)('A' + a->id);
	pthread_barrier_wait(a->start);
	for (int i = 0; i < DUP_N; i++)
		a->rc[i] = uwal_write(a->w, (uint64_t)i + 1, "dup", 3, &v, 1);
	return NULL;
}

/* Guards against two racing writers both winning (or both losing) one index. */
TH_TEST(pipeline, racing_duplicates_have_exactly_one_winner_per_index)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, DUP_THREADS);
	struct dup_arg args[DUP_THREADS];
	for (int i = 0; i < DUP_THREADS; i++)
		args[i] = (struct dup_arg){.w = w, .start = &start, .id = i};
	th_run_threads(DUP_THREADS, dup_thread, args, sizeof(args[0]));
	pthread_barrier_destroy(&start);

	int winner[DUP_N];
	for (int i = 0; i < DUP_N; i++) {
		int wins = 0;
		winner[i] = -1;
		for (int t = 0; t < DUP_THREADS; t++) {
			int rc = args[t].rc[i];
			cr_assert(rc == 0 || rc == UWAL_EEXIST, "thread %d index %d: %d (%s)", t,
				  i + 1, rc, uwal_strerror(rc));
			if (rc == 0) {
				wins++;
				winner[i] = t;
			}
		}
		cr_assert_eq(wins, 1, "index %d written %d times", i + 1, wins);
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < DUP_N; i++) {
			uwal_record r;
			memset(&r, 0, sizeof(r));
			cr_assert_eq(uwal_get(w, (uint64_t)i + 1, &r), 0);
			unsigned char v = (unsigned char)('A' + winner[i]);
			th_check_rec(&r, (uint64_t)i + 1, "dup", 3, &v, 1);
			uwal_record_free(&r);
		}
		cr_assert_eq(th_stats(w).records, round == 0 ? DUP_N : 0);
		th_close(w);
		if (round == 0)
			w = th_open(&cfg);
	}
	/* exactly DUP_N records on disk */
	w = th_open(&cfg);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	int n = 0, rc;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		n++;
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, DUP_N);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- poisoning ------------------------------------------------------------- */

enum { ACKED = 10 };

/*
 * Write ACKED records, inject one fault, write record ACKED+1 (must fail
 * with an error that is not UWAL_EPOISONED), then check the poisoned
 * handle and what a reopen finds. failed_may_survive: the failed record's
 * bytes reached the file (only its fdatasync failed), so a reopen may find
 * it, intact.
 */
static void poison_case(enum uwal_sync_mode mode, enum uwal_write_path path, enum tio_kind op,
			int err, int want_rc, bool failed_may_survive)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = mode;
	cfg.write_path = path;
	/* A failed fdatasync needs one to fail: the linked chain (a failed
	 * RWF_DSYNC write is a failed write, covered in test_faults.c). */
	if (op == TIO_FDATASYNC)
		cfg.durable_write = UWAL_DURABLE_LINKED;
	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);

	/* Its idle mark frame written: the fault is the next write's (armed
	 * sooner, the mark's pwrite could take it and poison the handle). */
	th_wait_writer_idle(w);
	tio_arm(op, NULL, 1, err);
	int rc = th_write_std(w, ACKED + 1, false);
	tio_clear();
	if (want_rc != 0)
		cr_assert_eq(rc, want_rc, "failing write returned %d (%s), want %d", rc,
			     uwal_strerror(rc), want_rc);
	else
		cr_assert(rc < 0 && rc != UWAL_EPOISONED && rc != UWAL_ESHUTDOWN,
			  "failing write returned %d (%s)", rc, uwal_strerror(rc));

	/* poisoned: every later write fails, whatever its kind */
	cr_assert_eq(th_write_std(w, ACKED + 2, false), UWAL_EPOISONED);
	cr_assert_eq(th_write_std(w, ACKED + 3, true), UWAL_EPOISONED);
	uwal_record b = {.index = ACKED + 4, .key = "b", .key_len = 1};
	cr_assert_eq(uwal_write_batch(w, &b, 1, false), UWAL_EPOISONED);
	cr_assert_eq(th_write_std(w, ACKED + 1, false), UWAL_EPOISONED);

	/* reads of acknowledged records keep working; the index never saw the
	 * failed one */
	for (uint64_t i = 1; i <= ACKED; i++)
		th_check_std(w, i);
	for (uint64_t i = ACKED + 1; i <= ACKED + 4; i++)
		th_check_absent(w, i);
	cr_assert_eq(uwal_last_index(w), ACKED);
	cr_assert_eq(th_stats(w).records, ACKED);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t n = 0;
	while (uwal_iter_next(it, &r) == 1)
		th_check_std_rec(&r, ++n);
	cr_assert_eq(n, ACKED);
	uwal_iter_close(it);

	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);

	w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		th_check_std(w, i);
	if (failed_may_survive) {
		memset(&r, 0, sizeof(r));
		int g = uwal_get(w, ACKED + 1, &r);
		cr_assert(g == 0 || g == UWAL_ENOTFOUND, "get of the failed record: %d", g);
		if (g == 0) {
			th_check_std_rec(&r, ACKED + 1);
			uwal_record_free(&r);
		}
	} else {
		th_check_absent(w, ACKED + 1);
	}
	for (uint64_t i = ACKED + 2; i <= ACKED + 4; i++)
		th_check_absent(w, i);
	/* the reopened handle is healthy */
	for (uint64_t i = ACKED + 2; i <= ACKED + 20; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = ACKED + 2; i <= ACKED + 20; i++)
		th_check_std(w, i);
	th_close(w);
	th_log_destroy(&log);
}

/* Guards against a failed pwrite in UWAL_SYNC_NONE being ignored. */
TH_TEST(pipeline, failed_write_poisons_the_handle_none_mode)
{
	poison_case(UWAL_SYNC_NONE, UWAL_WRITE_PWRITE, TIO_PWRITE, -EIO, -EIO, false);
}

/* Guards against a failed io_uring write in UWAL_SYNC_NONE being ignored. */
TH_TEST(pipeline, failed_write_poisons_the_handle_none_mode_uring_path)
{
	poison_case(UWAL_SYNC_NONE, UWAL_WRITE_URING, TIO_PWRITE, -EIO, -EIO, false);
}

/* Guards against a failed write of a durable batch being ignored. */
TH_TEST(pipeline, failed_write_poisons_the_handle_batch_mode)
{
	poison_case(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE, TIO_PWRITE, -EIO, -EIO, false);
}

/* Guards against a failed fdatasync being ignored or retried. */
TH_TEST(pipeline, failed_fdatasync_poisons_the_handle_batch_mode)
{
	poison_case(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE, TIO_FDATASYNC, -EIO, -EIO, true);
}

/* Guards against a failed fdatasync in UWAL_SYNC_ALWAYS being ignored. */
TH_TEST(pipeline, failed_fdatasync_poisons_the_handle_always_mode)
{
	poison_case(UWAL_SYNC_ALWAYS, UWAL_WRITE_PWRITE, TIO_FDATASYNC, -EIO, -EIO, true);
}

/* Guards against a short pwrite being taken for a complete one. */
TH_TEST(pipeline, short_write_poisons_the_handle_none_mode)
{
	poison_case(UWAL_SYNC_NONE, UWAL_WRITE_PWRITE, TIO_PWRITE, TIO_SHORT, 0, false);
}

/* Guards against a short io_uring write in a linked chain being taken as complete. */
TH_TEST(pipeline, short_write_poisons_the_handle_batch_mode)
{
	poison_case(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE, TIO_PWRITE, TIO_SHORT, 0, false);
}

/* Guards against a failed explicit sync (write_sync true) in NONE mode being ignored. */
TH_TEST(pipeline, failed_fdatasync_of_write_sync_poisons_the_handle_none_mode)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	tio_arm(TIO_FDATASYNC, NULL, 1, -EIO);
	int rc = th_write_std(w, ACKED + 1, true);
	tio_clear();
	cr_assert_eq(rc, -EIO, "write_sync with failed fdatasync returned %d (%s)", rc,
		     uwal_strerror(rc));
	cr_assert_eq(th_write_std(w, ACKED + 2, false), UWAL_EPOISONED);
	th_check_absent(w, ACKED + 1);
	for (uint64_t i = 1; i <= ACKED; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		th_check_std(w, i);
	th_close(w);
}

/* ---- a worker that writes a range of indexes ---------------------------- */

struct range_arg {
	uwal *w;
	pthread_barrier_t *start;
	uint64_t base; /* writes base+1 .. base+n, standard contents */
	int n;
	bool sync;
	int *rc; /* n results */
};

static void *range_thread(void *p)
{
	struct range_arg *a = p;
	if (a->start)
		pthread_barrier_wait(a->start);
	for (int i = 0; i < a->n; i++)
		a->rc[i] = th_write_std(a->w, a->base + (uint64_t)i + 1, a->sync);
	return NULL;
}

/* Start `threads` range writers on w, thread t writing base (t+1)*1000000. */
static struct range_arg *run_ranges(uwal *w, int threads, int per, bool sync)
{
	struct range_arg *a = calloc((size_t)threads, sizeof(*a));
	cr_assert_not_null(a);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		a[t] = (struct range_arg){.w = w,
					  .start = &start,
					  .n = per,
					  .sync = sync,
					  .base = (uint64_t)(t + 1) * 1000000};
		a[t].rc = calloc((size_t)per, sizeof(int));
		cr_assert_not_null(a[t].rc);
	}
	th_run_threads((unsigned)threads, range_thread, a, sizeof(*a));
	pthread_barrier_destroy(&start);
	return a;
}

static void free_ranges(struct range_arg *a, int threads)
{
	for (int t = 0; t < threads; t++)
		free(a[t].rc);
	free(a);
}

/* Guards against requests batched with (or queued behind) a failed write
 * being acknowledged. */
TH_TEST(pipeline, failed_write_fails_every_concurrent_request_it_covers)
{
	enum { T = 8, PER = 40 };
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	uwal *w = th_open(&cfg);
	tio_arm(TIO_PWRITE, NULL, 10, -EIO); /* the 10th batch's write fails */
	struct range_arg *a = run_ranges(w, T, PER, false);
	tio_clear();
	int eio = 0, acked = 0;
	for (int t = 0; t < T; t++) {
		bool failed = false;
		for (int i = 0; i < PER; i++) {
			int rc = a[t].rc[i];
			cr_assert(rc == 0 || rc == -EIO || rc == UWAL_EPOISONED,
				  "thread %d write %d: %d (%s)", t, i, rc, uwal_strerror(rc));
			if (rc == 0) {
				cr_assert_not(failed,
					      "thread %d: write %d acknowledged after a failure", t,
					      i);
				acked++;
				th_check_std(w, a[t].base + (uint64_t)i + 1);
			} else {
				failed = true;
				eio += rc == -EIO;
				th_check_absent(w, a[t].base + (uint64_t)i + 1);
			}
		}
	}
	/* The fault may hit a write no request waits for (the mark frame the
	 * writer writes when it goes idle): then the handle says it. */
	cr_assert(eio >= 1 || uwal_health(w) == -EIO,
		  "no request reported the injected -EIO, and the handle says %d", uwal_health(w));
	cr_assert_eq((uint64_t)acked, th_stats(w).records);
	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
	w = th_open(&cfg);
	for (int t = 0; t < T; t++)
		for (int i = 0; i < PER; i++) {
			if (a[t].rc[i] == 0)
				th_check_std(w, a[t].base + (uint64_t)i + 1);
			else
				th_check_absent(w, a[t].base + (uint64_t)i + 1);
		}
	th_close(w);
	free_ranges(a, T);
}

/* ---- segment preparation failures ------------------------------------------ */

/*
 * Keep op failing (re-armed before every write, so every preparation
 * attempt meets it) until a write fails for want of a new segment; check
 * that failure, then that the handle is not poisoned once the fault is gone.
 */
static void prepare_failure_case(enum tio_kind op, int err)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	unsigned char val[1024];
	uint64_t failed = 0, next = 1;
	for (; next <= 200 && failed == 0; next++) {
		tio_arm(op, NULL, 1, err);
		th_fill(next, val, sizeof(val));
		int rc = uwal_write(w, next, "k", 1, val, sizeof(val));
		if (rc != 0) {
			cr_assert_eq(rc, err, "write %llu returned %d (%s), want %d (%s)",
				     (unsigned long long)next, rc, uwal_strerror(rc), err,
				     uwal_strerror(err));
			failed = next;
		}
	}
	tio_clear();
	cr_assert_neq(failed, 0, "no write failed although no segment could be prepared");
	cr_assert_gt(failed, 1, "the first segment had room");
	cr_assert_eq(th_count_suffix(g_dir, ".tmp"), 0, "failed preparation left a .tmp file");
	th_check_absent(w, failed);
	/* not poisoned: the same index and more, across more rotations */
	for (uint64_t i = failed; i <= failed + 150; i++) {
		th_fill(i, val, sizeof(val));
		int rc = uwal_write(w, i, "k", 1, val, sizeof(val));
		cr_assert_eq(rc, 0, "write %llu after the fault cleared: %d (%s)",
			     (unsigned long long)i, rc, uwal_strerror(rc));
	}
	cr_assert_geq(th_stats(w).rotations, 2);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= failed + 150; i++) {
		uwal_record r;
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, i, &r), 0, "record %llu", (unsigned long long)i);
		th_fill(i, val, sizeof(val));
		th_check_rec(&r, i, "k", 1, val, sizeof(val));
		uwal_record_free(&r);
	}
	th_close(w);
}

/* Guards against ENOSPC while preallocating a segment poisoning the handle. */
TH_TEST(pipeline, failed_segment_fallocate_fails_the_write_without_poisoning)
{
	prepare_failure_case(TIO_FALLOCATE, -ENOSPC);
}

/* Guards against a failed segment file creation poisoning the handle. */
TH_TEST(pipeline, failed_segment_create_fails_the_write_without_poisoning)
{
	prepare_failure_case(TIO_OPEN, -EMFILE);
}

/* ---- fdatasync accounting ----------------------------------------------------- */

/* Guards against UWAL_SYNC_NONE syncing plain writes or ignoring sync=true. */
TH_TEST(pipeline, write_sync_true_fdatasyncs_in_none_mode)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	uwal_stats s0 = th_stats(w);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_stats s1 = th_stats(w);
	cr_assert_eq(s1.fsyncs, s0.fsyncs, "UWAL_SYNC_NONE synced a plain write");
	cr_assert_eq(th_write_std(w, 6, true), 0);
	uwal_stats s2 = th_stats(w);
	cr_assert_gt(s2.fsyncs, s1.fsyncs, "write_sync(true) did not fdatasync");
	uwal_record b = {.index = 7, .key = "b", .key_len = 1};
	cr_assert_eq(uwal_write_batch(w, &b, 1, true), 0);
	cr_assert_gt(th_stats(w).fsyncs, s2.fsyncs, "write_batch(sync=true) did not fdatasync");
	th_close(w);
}

/* ---- stress ----------------------------------------------------------------- */

/* Write per records from each of threads threads, then check them all. */
static void stress_cfg(uwal_config cfg, int threads, int per)
{
	uwal *w = th_open(&cfg);
	struct range_arg *a = run_ranges(w, threads, per, false);
	for (int t = 0; t < threads; t++)
		for (int i = 0; i < per; i++)
			cr_assert_eq(a[t].rc[i], 0, "thread %d write %d: %d (%s)", t, i, a[t].rc[i],
				     uwal_strerror(a[t].rc[i]));
	uwal_stats s = th_stats(w);
	uint64_t total = (uint64_t)threads * (uint64_t)per;
	cr_assert_eq(s.records, total);
	if (s.bytes > cfg.segment_size)
		cr_assert_geq(s.rotations, 1, "%llu bytes fit in one 64 KiB segment?",
			      (unsigned long long)s.bytes);
	if (cfg.sync_mode != UWAL_SYNC_NONE)
		cr_assert_geq(s.fsyncs, s.batches, "every durable batch ends with an fdatasync");
	th_close(w);

	w = th_open(&cfg);
	for (int t = 0; t < threads; t++)
		for (int i = 0; i < per; i++)
			th_check_std(w, a[t].base + (uint64_t)i + 1);
	/* the log holds exactly these records, each thread's in its call order */
	int *next = calloc((size_t)threads, sizeof(int));
	cr_assert_not_null(next);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t seen = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		uint64_t t = r.index / 1000000 - 1;
		cr_assert_lt(t, (uint64_t)threads, "unexpected index %llu",
			     (unsigned long long)r.index);
		cr_assert_eq(r.index, a[t].base + (uint64_t)next[t] + 1,
			     "thread %llu's records out of order at %llu", (unsigned long long)t,
			     (unsigned long long)r.index);
		th_check_std_rec(&r, r.index);
		next[t]++;
		seen++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(seen, total);
	uwal_iter_close(it);
	free(next);
	th_close(w);
	free_ranges(a, threads);
}

static void stress(enum uwal_sync_mode mode, enum uwal_write_path path, int threads, int per)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = mode;
	cfg.write_path = path;
	cfg.segment_size = 64u << 10;
	stress_cfg(cfg, threads, per);
}

/* Guards against lost, duplicated or reordered records under concurrent writers. */
TH_TEST(pipeline, stress_16_threads_sync_none)
{
	stress(UWAL_SYNC_NONE, UWAL_WRITE_PWRITE, 16, 500);
}

/* Guards against the io_uring write path losing records under concurrency. */
TH_TEST(pipeline, stress_8_threads_sync_none_uring_path)
{
	stress(UWAL_SYNC_NONE, UWAL_WRITE_URING, 8, 200);
}

/* Guards against group commit losing or misacknowledging records. */
TH_TEST(pipeline, stress_16_threads_sync_batch)
{
	stress(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE, 16, 200);
}

/* Guards against UWAL_SYNC_ALWAYS losing records under concurrency. */
TH_TEST(pipeline, stress_4_threads_sync_always)
{
	stress(UWAL_SYNC_ALWAYS, UWAL_WRITE_PWRITE, 4, 150);
}

/* Guards against lost wake-ups when neither the writer nor the waiters spin. */
TH_TEST(pipeline, stress_8_threads_without_spinning)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.writer_spin_us = 0;
	cfg.wait_spin_us = 0;
	stress_cfg(cfg, 8, 200);
}

/* Guards against the polling writer (ring_poll_us) missing a completion or
 * acknowledging before it: with a lone writer it does not poll, with more
 * waiters than CPUs it does. */
TH_TEST(pipeline, stress_ring_poll_durable)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.ring_poll_us = 300;
	stress_cfg(cfg, 1, 300);
	th_rmrf(g_dir);
	cfg.sync_mode = UWAL_SYNC_ALWAYS;
	stress_cfg(cfg, 8, 100);
}

/* Guards against records lost or stuck when the submission queues are full. */
TH_TEST(pipeline, stress_8_threads_tiny_queues_and_batches)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.queue_capacity = 2;
	cfg.max_batch_size = 3;
	cfg.ring_entries = 8;
	stress_cfg(cfg, 8, 200);
}

/* Guards against the fallocate-only preparation path losing records. */
TH_TEST(pipeline, stress_8_threads_fallocate_only_prealloc)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.prealloc = UWAL_PREALLOC_FALLOCATE;
	stress_cfg(cfg, 8, 200);
}

/* Guards against a batch delay stranding records that never fill a batch. */
TH_TEST(pipeline, stress_4_threads_with_batch_delay)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.max_batch_delay_us = 200;
	stress_cfg(cfg, 4, 100);
}

/* ---- readers alongside writers and retention ------------------------------ */

enum { RW_WRITERS = 4, RW_PER = 300, RW_READERS = 2 };

struct reader_arg {
	uwal *w;
	atomic_int *writers_done;
	uint64_t max_base; /* writers use bases 1000000 .. max_base */
	bool iterate;      /* also run iterators */
	long gets, found, bad, iters, iter_bad;
	int bad_rc;
};

/* true if r is exactly the standard record of its index */
static bool is_std(const uwal_record *r)
{
	char key[TH_KEY_MAX];
	unsigned char val[TH_VAL_MAX];
	size_t kl = th_key(r->index, key);
	size_t vl = th_vlen(r->index);
	th_fill(r->index, val, vl);
	return r->key_len == kl && r->value_len == vl && memcmp(r->key, key, kl) == 0 &&
	       (vl == 0 || memcmp(r->value, val, vl) == 0);
}

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	uint64_t x = 88172645463325252ull;
	while (!atomic_load(a->writers_done)) {
		for (int k = 0; k < 50; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t base = (x % (a->max_base / 1000000)) * 1000000 + 1000000;
			uint64_t idx = base + 1 + (x >> 32) % RW_PER;
			uwal_record r;
			memset(&r, 0, sizeof(r));
			int rc = uwal_get(a->w, idx, &r);
			a->gets++;
			if (rc == 0) {
				a->found++;
				if (r.index != idx || !is_std(&r))
					a->bad++;
				uwal_record_free(&r);
			} else if (rc != UWAL_ENOTFOUND) {
				a->bad++;
				a->bad_rc = rc;
			}
		}
		if (!a->iterate)
			continue;
		uwal_iter *it = NULL;
		int rc = uwal_iter_open(a->w, &it);
		if (rc != 0) {
			a->iter_bad++;
			a->bad_rc = rc;
			continue;
		}
		uwal_record r;
		while ((rc = uwal_iter_next(it, &r)) == 1)
			if (!is_std(&r))
				a->iter_bad++;
		if (rc != 0) {
			a->iter_bad++;
			a->bad_rc = rc;
		}
		uwal_iter_close(it);
		a->iters++;
	}
	return NULL;
}

struct rw_writer_arg {
	struct range_arg range;
	atomic_int *left;
	atomic_int *writers_done;
};

static void *rw_writer_thread(void *p)
{
	struct rw_writer_arg *a = p;
	range_thread(&a->range);
	if (atomic_fetch_sub(a->left, 1) == 1)
		atomic_store(a->writers_done, 1);
	return NULL;
}

static void readers_during_writes(uint32_t max_segments)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.max_segments = max_segments;
	uwal *w = th_open(&cfg);
	atomic_int writers_done = 0, left = RW_WRITERS;
	struct rw_writer_arg wa[RW_WRITERS];
	struct reader_arg ra[RW_READERS];
	pthread_t wt[RW_WRITERS], rt[RW_READERS];
	for (int i = 0; i < RW_READERS; i++) {
		ra[i] = (struct reader_arg){.w = w,
					    .writers_done = &writers_done,
					    .max_base = RW_WRITERS * 1000000ull,
					    .iterate = i == 0};
		cr_assert_eq(pthread_create(&rt[i], NULL, reader_thread, &ra[i]), 0);
	}
	for (int t = 0; t < RW_WRITERS; t++) {
		wa[t] = (struct rw_writer_arg){.left = &left, .writers_done = &writers_done};
		wa[t].range = (struct range_arg){
			.w = w, .n = RW_PER, .base = (uint64_t)(t + 1) * 1000000};
		wa[t].range.rc = calloc(RW_PER, sizeof(int));
		cr_assert_not_null(wa[t].range.rc);
		cr_assert_eq(pthread_create(&wt[t], NULL, rw_writer_thread, &wa[t]), 0);
	}
	for (int t = 0; t < RW_WRITERS; t++)
		pthread_join(wt[t], NULL);
	for (int i = 0; i < RW_READERS; i++)
		pthread_join(rt[i], NULL);
	for (int t = 0; t < RW_WRITERS; t++) {
		for (int i = 0; i < RW_PER; i++)
			cr_assert_eq(wa[t].range.rc[i], 0, "writer %d write %d: %d (%s)", t, i,
				     wa[t].range.rc[i], uwal_strerror(wa[t].range.rc[i]));
		free(wa[t].range.rc);
	}
	for (int i = 0; i < RW_READERS; i++) {
		cr_assert_eq(ra[i].bad, 0, "reader %d: %ld bad gets of %ld (last rc %d %s)", i,
			     ra[i].bad, ra[i].gets, ra[i].bad_rc, uwal_strerror(ra[i].bad_rc));
		cr_assert_eq(ra[i].iter_bad, 0, "reader %d: %ld bad iterations (last rc %d %s)", i,
			     ra[i].iter_bad, ra[i].bad_rc, uwal_strerror(ra[i].bad_rc));
	}
	/* Retention removes segments in the background (a segment counts as
	 * deleted once its removal is durable): wait for it, bounded. */
	for (int i = 0; max_segments && i < 10000 && th_stats(w).deleted_segments == 0; i++)
		th_sleep_ms(1);
	if (max_segments)
		cr_assert_gt(th_stats(w).deleted_segments, 0, "retention never ran");
	th_close(w);
}

/* Guards against reads racing appends returning partial or foreign records. */
TH_TEST(pipeline, gets_and_iterators_during_writes_see_only_whole_records)
{
	readers_during_writes(0);
}

/* Guards against reads racing retention crashing or reading deleted files. */
TH_TEST(pipeline, gets_and_iterators_during_retention_see_only_whole_records)
{
	readers_during_writes(2);
}

enum { CB_THREADS = 6, CB_BATCHES = 15, CB_N = 12 };

struct cb_arg {
	uwal *w;
	pthread_barrier_t *start;
	int id;
	int rc[CB_BATCHES];
};

static uint64_t cb_index(int t, int b, int j)
{
	return (uint64_t)(t + 1) * 1000000 + (uint64_t)(b * CB_N + j) + 1;
}

static void *cb_thread(void *p)
{
	struct cb_arg *a = p;
	pthread_barrier_wait(a->start);
	for (int b = 0; b < CB_BATCHES; b++) {
		uwal_record recs[CB_N];
		char keys[CB_N][TH_KEY_MAX];
		unsigned char vals[CB_N][TH_VAL_MAX];
		for (int j = 0; j < CB_N; j++) {
			uint64_t idx = cb_index(a->id, b, j);
			recs[j].index = idx;
			recs[j].key_len = th_key(idx, keys[j]);
			recs[j].key = keys[j];
			recs[j].value_len = th_vlen(idx);
			th_fill(idx, vals[j], recs[j].value_len);
			recs[j].value = vals[j];
		}
		a->rc[b] = uwal_write_batch(a->w, recs, CB_N, false);
	}
	return NULL;
}

/* Guards against concurrent write_batch calls being split or interleaved. */
TH_TEST(pipeline, concurrent_write_batches_stay_whole_and_contiguous)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	uwal *w = th_open(&cfg);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, CB_THREADS);
	struct cb_arg args[CB_THREADS];
	for (int t = 0; t < CB_THREADS; t++)
		args[t] = (struct cb_arg){.w = w, .start = &start, .id = t};
	th_run_threads(CB_THREADS, cb_thread, args, sizeof(args[0]));
	pthread_barrier_destroy(&start);
	for (int t = 0; t < CB_THREADS; t++)
		for (int b = 0; b < CB_BATCHES; b++)
			cr_assert_eq(args[t].rc[b], 0, "thread %d batch %d: %d (%s)", t, b,
				     args[t].rc[b], uwal_strerror(args[t].rc[b]));
	cr_assert_geq(th_stats(w).rotations, 1);
	th_close(w);

	w = th_open(&cfg);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	int next_batch[CB_THREADS] = {0};
	int rc, batches = 0;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		/* a batch's first record: the rest must follow it directly */
		int t = (int)(r.index / 1000000) - 1;
		cr_assert(t >= 0 && t < CB_THREADS, "unexpected index %llu",
			  (unsigned long long)r.index);
		int b = next_batch[t]++;
		cr_assert_eq(r.index, cb_index(t, b, 0), "thread %d batch %d starts at %llu", t, b,
			     (unsigned long long)r.index);
		th_check_std_rec(&r, r.index);
		for (int j = 1; j < CB_N; j++) {
			cr_assert_eq(uwal_iter_next(it, &r), 1);
			cr_assert_eq(r.index, cb_index(t, b, j),
				     "thread %d batch %d interrupted at %d by %llu", t, b, j,
				     (unsigned long long)r.index);
			th_check_std_rec(&r, r.index);
		}
		batches++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(batches, CB_THREADS * CB_BATCHES);
	uwal_iter_close(it);
	th_close(w);

	/* and each batch lies in one segment file */
	th_seglist *l = th_segments(g_dir, "segment_");
	size_t cap = 1u << 14;
	th_frame *f = calloc(cap, sizeof(*f));
	cr_assert_not_null(f);
	char path[4352];
	for (size_t s = 0; s < l->n; s++) {
		size_t n = th_scan(th_join(path, sizeof(path), g_dir, l->name[s]), f, cap, NULL);
		size_t first = 0;
		for (size_t i = 0; i < n; i++) {
			if (f[i].type != TH_FRAME_RECORD)
				continue;
			uint64_t k = (f[i].index - 1) % 1000000;
			if (first == 0)
				cr_assert_eq(k % CB_N, 0, "%s starts inside a batch (index %llu)",
					     l->name[s], (unsigned long long)f[i].index);
			first = 1;
		}
		for (size_t i = n; i-- > 0;) {
			if (f[i].type != TH_FRAME_RECORD)
				continue;
			uint64_t k = (f[i].index - 1) % 1000000;
			cr_assert_eq(k % CB_N, CB_N - 1, "%s ends inside a batch (index %llu)",
				     l->name[s], (unsigned long long)f[i].index);
			break;
		}
	}
	free(f);
	free(l);
}

/* ---- io_uring refused: the synchronous fallback ---------------------------- */

#if defined(__x86_64__)
#define TH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/*
 * Make io_uring_setup fail with ENOSYS in this process, as on a kernel
 * without io_uring. Criterion runs every test in its own process, so the
 * filter dies with the test. Skips the test where it cannot be installed.
 */
static void refuse_io_uring(void)
{
#if defined(TH_AUDIT_ARCH) && defined(__NR_io_uring_setup)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		cr_skip_test("cannot install a seccomp filter: %s", strerror(errno));
#else
	cr_skip_test("no seccomp filter for this architecture");
#endif
}

/* Guards against a kernel without io_uring failing the open or losing records. */
TH_TEST(pipeline, io_uring_refused_falls_back_with_the_same_guarantees)
{
	refuse_io_uring();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = th_open(&cfg);
	uwal_stats s = th_stats(w);
	cr_assert_not(s.uring, "stats.uring is true although io_uring_setup fails");
	struct range_arg *a = run_ranges(w, 4, 150, false);
	for (int t = 0; t < 4; t++)
		for (int i = 0; i < 150; i++)
			cr_assert_eq(a[t].rc[i], 0, "thread %d write %d: %d (%s)", t, i, a[t].rc[i],
				     uwal_strerror(a[t].rc[i]));
	s = th_stats(w);
	cr_assert_eq(s.records, 600);
	cr_assert_geq(s.fsyncs, s.batches, "every durable batch ends with an fdatasync");
	cr_assert_geq(s.rotations, 1);
	th_close(w);
	/* checked once the handle's threads are gone: the writer thread, which
	 * probes io_uring, may report it after uwal_open() returned */
	cr_assert_gt(th_log_calls(&log), 0, "the fallback was not reported through log_fn");
	w = th_open(&cfg);
	for (int t = 0; t < 4; t++)
		for (int i = 0; i < 150; i++)
			th_check_std(w, a[t].base + (uint64_t)i + 1);
	th_close(w);
	free_ranges(a, 4);
	th_log_destroy(&log);
}

/* Guards against the fallback ignoring a failed fdatasync. */
TH_TEST(pipeline, io_uring_refused_fallback_poisons_on_failed_fdatasync)
{
	refuse_io_uring();
	poison_case(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE, TIO_FDATASYNC, -EIO, -EIO, true);
}

/* Guards against the fallback taking a short write for a complete one. */
TH_TEST(pipeline, io_uring_refused_fallback_poisons_on_short_write)
{
	refuse_io_uring();
	poison_case(UWAL_SYNC_BATCH, UWAL_WRITE_URING, TIO_PWRITE, TIO_SHORT, 0, false);
}

/* ---- diagnostics ----------------------------------------------------------- */

struct reentrant_log {
	uwal *w;
	int nested_rc;
	bool nested_done;
	bool on_caller_thread;
	pthread_t caller;
};

static void log_that_writes(void *ctx, int level, const char *msg)
{
	struct reentrant_log *l = ctx;
	(void)level;
	if (!l->w || l->nested_done || !strstr(msg, "cannot prepare segment"))
		return;
	l->nested_done = true;
	l->on_caller_thread = pthread_equal(pthread_self(), l->caller);
	unsigned char val[1024];
	th_fill(100000, val, sizeof(val));
	l->nested_rc = uwal_write(l->w, 100000, "k", 1, val, sizeof(val));
}

/*
 * Guards against a deadlock: the preparer used to call log_fn while the
 * writer waited for it at rotation, so a log_fn that wrote to the log
 * (a natural thing for a server's logger) hung the handle. log_fn now
 * runs on the caller's thread, and may call back into the log.
 */
TH_TEST(pipeline, log_fn_may_write_to_the_log_when_preparation_fails)
{
	struct reentrant_log l = {.caller = pthread_self()};
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.log_fn = log_that_writes;
	cfg.log_ctx = &l;
	uwal *w = th_open(&cfg);
	l.w = w;
	unsigned char val[1024];
	int rc = 0;
	uint64_t i;
	/* The next segment's preparation fails once; the writes go on until
	 * the log_fn hears of it (it then writes itself, and that write's
	 * segment is prepared again). */
	tio_arm(TIO_FALLOCATE, "*.tmp", 1, -ENOSPC);
	for (i = 1; i <= 200 && !l.nested_done; i++) {
		th_fill(i, val, sizeof(val));
		rc = uwal_write(w, i, "k", 1, val, sizeof(val));
		cr_assert(rc == 0 || rc == -ENOSPC, "write %llu: %d", (unsigned long long)i, rc);
	}
	tio_clear();
	cr_assert(l.nested_done, "log_fn was not called about the failed preparation");
	cr_assert(l.on_caller_thread, "log_fn ran on one of uwal's threads");
	cr_assert_eq(l.nested_rc, 0, "the write from log_fn: %d (%s)", l.nested_rc,
		     uwal_strerror(l.nested_rc));
	uwal_record r = {0};
	cr_assert_eq(uwal_get(w, 100000, &r), 0, "the record log_fn wrote is not in the log");
	cr_assert_eq(r.value_len, sizeof(val));
	uwal_record_free(&r);
	th_close(w);
}

/* ---- batch composition at a segment's end ------------------------------- */

struct pinned_write {
	uwal *w;
	uint64_t index;
	size_t vlen;
	int rc;
};

static void *pinned_write_thread(void *p)
{
	struct pinned_write *a = p;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one); /* one queue: FIFO */
	static unsigned char val[16384];
	memset(val, 'v', sizeof(val));
	a->rc = uwal_write(a->w, a->index, "k", 1, val, a->vlen);
	return NULL;
}

/*
 * Guards against a record written past its segment's end: when the first
 * request of a batch was refused (a duplicate), the next one was encoded
 * without checking that it fits, and a segment outgrew segment_size.
 */
TH_TEST(pipeline, record_after_a_refused_duplicate_still_rotates_when_it_does_not_fit)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.wait_spin_us = 0; /* submitters sleep at once: countable */
	uwal *w = th_open(&cfg);
	static unsigned char big[60000];
	memset(big, 'b', sizeof(big));
	cr_assert_eq(uwal_write(w, 1, "k", 1, big, sizeof(big)), 0); /* ~4 KiB left */
	/* The writer asleep: a mark frame it may write then is behind us. */
	cr_assert(tio_wait_ring_idle(20000), "the writer never went to sleep");

	/* A's write is held; then a duplicate of 1, then 8 KiB that cannot
	 * fit, queue behind it in that order. */
	tio_pause(TIO_PWRITE, "segment_*[0-9]", 1);
	struct pinned_write a = {w, 2, 10, 0}, dup = {w, 1, 10, 0}, over = {w, 3, 8192, 0};
	pthread_t ta, td, to;
	cr_assert_eq(pthread_create(&ta, NULL, pinned_write_thread, &a), 0);
	cr_assert(tio_wait_paused(20000), "the writer never reached A's write");
	cr_assert_eq(pthread_create(&td, NULL, pinned_write_thread, &dup), 0);
	cr_assert(tio_wait_sleeping(2, 20000), "the duplicate never queued");
	cr_assert_eq(pthread_create(&to, NULL, pinned_write_thread, &over), 0);
	cr_assert(tio_wait_sleeping(3, 20000), "the large record never queued");
	tio_release();
	pthread_join(ta, NULL);
	pthread_join(td, NULL);
	pthread_join(to, NULL);
	tio_clear();
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(dup.rc, UWAL_EEXIST);
	cr_assert_eq(over.rc, 0);
	cr_assert_eq(uwal_write(w, 4, "k", 1, big, sizeof(big)), 0); /* seals the segment */
	th_close(w);

	DIR *d = opendir(g_dir);
	cr_assert_not_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "segment_0", 9) != 0)
			continue;
		char path[4352];
		th_join(path, sizeof(path), g_dir, de->d_name);
		cr_assert_leq(th_file_size(path), cfg.segment_size, "%s outgrew segment_size",
			      de->d_name);
	}
	closedir(d);
	w = th_open(&cfg);
	uwal_record r = {0};
	cr_assert_eq(uwal_get(w, 3, &r), 0);
	cr_assert_eq(r.value_len, 8192);
	uwal_record_free(&r);
	th_close(w);
}
