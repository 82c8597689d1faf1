/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_faults.c - injected I/O failures (the fault backend, tests/io/faultio.h) on every write
 * path: UWAL_SYNC_NONE with pwrite, UWAL_SYNC_NONE with io_uring writes, UWAL_SYNC_BATCH and
 * UWAL_SYNC_ALWAYS, each with a failed write (-EIO), a short write and a failed fdatasync; failures
 * while sealing a segment (its write, ftruncate, fdatasync) and at close; failures while preparing
 * a new segment (create, fallocate, write, fdatasync, rename, the directory's fsync), which must
 * fail only the requests that needed it. Other operations: test_io_faults.c.
 *
 * The rules checked (README, "Durability rules" 3-6): the failing call
 * returns the error; every request batched with it fails; every request
 * after it fails with UWAL_EPOISONED; nothing is acknowledged after the
 * failure (the acknowledged records form a prefix of the log); reads of
 * earlier records keep working; close reports the error; a reopen finds
 * every acknowledged record, no record refused as poisoned, and any record
 * of the failed batch it does find is intact.
 *
 * Some tests pause the writer in the fault backend at the last operation
 * of a batch (tio_pause): a known set of requests then piles up behind it
 * and forms the next batch, the one the fault hits. They know that every
 * request is queued when its thread sleeps in the backend's futex_wait,
 * waiting for its acknowledgment (tio_wait_sleeping).
 */
#include "helpers.h"

TH_SUITE(faults, 120);

/* ---- variants ------------------------------------------------------------ */

struct variant {
	const char *name;
	enum uwal_sync_mode mode;
	enum uwal_write_path path;
	enum uwal_durable_write durable; /* 0: linked write + fdatasync */
};

static const struct variant NONE_PWRITE = {"none/pwrite", UWAL_SYNC_NONE, UWAL_WRITE_PWRITE,
					   UWAL_DURABLE_LINKED};
static const struct variant NONE_URING = {"none/uring", UWAL_SYNC_NONE, UWAL_WRITE_URING,
					  UWAL_DURABLE_LINKED};
static const struct variant BATCH = {"batch", UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE,
				     UWAL_DURABLE_LINKED};
static const struct variant ALWAYS = {"always", UWAL_SYNC_ALWAYS, UWAL_WRITE_PWRITE,
				      UWAL_DURABLE_LINKED};
/* Durable batches as one RWF_DSYNC write (the default): the write is the
 * batch's only operation, so its failure is the fdatasync's too. */
static const struct variant BATCH_DSYNC = {"batch/dsync", UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE,
					   UWAL_DURABLE_DSYNC};
static const struct variant ALWAYS_DSYNC = {"always/dsync", UWAL_SYNC_ALWAYS, UWAL_WRITE_PWRITE,
					    UWAL_DURABLE_DSYNC};

struct fault {
	const char *name;
	enum tio_kind op;
	int err;
	const char *files; /* NULL: the kind's usual files; THE_DIR: the log's directory */
};

#define SEGS "segment_*[0-9]"
static const char THE_DIR[] = "(the log's directory)";

static const char *fault_files(const struct fault *f)
{
	return f->files == THE_DIR ? strrchr(g_dir, '/') + 1 : f->files;
}

static const struct fault WRITE_EIO = {"write -EIO", TIO_PWRITE, -EIO, NULL};
static const struct fault WRITE_SHORT = {"short write", TIO_PWRITE, TIO_SHORT, NULL};
static const struct fault FSYNC_EIO = {"fdatasync -EIO", TIO_FDATASYNC, -EIO, NULL};

/* Every failure reaches the caller as -EIO (a short write is one too). */
#define FAIL_RC (-EIO)

/* In UWAL_SYNC_NONE only a write_sync(true) request makes an fdatasync, so
 * that is the request an fdatasync fault is aimed at. */
static bool needs_sync_flag(const struct variant *v, const struct fault *f)
{
	return v->mode == UWAL_SYNC_NONE && f->op == TIO_FDATASYNC;
}

static void variant_config(uwal_config *cfg, const struct variant *v, th_log *log)
{
	th_config(cfg, g_dir);
	cfg->sync_mode = v->mode;
	cfg->write_path = v->path;
	cfg->durable_write = v->durable;
	if (log) {
		cfg->log_fn = th_log_fn;
		cfg->log_ctx = log;
	}
}

/* Wait until op has been called more than `above` times. */
static void wait_count(enum tio_kind op, uint64_t above)
{
	for (int i = 0; i < 20000 && tio_count(op, NULL) <= above; i++)
		th_sleep_ms(1);
	cr_assert_gt(tio_count(op, NULL), above, "the writer never reached fault op %d", op);
}

/* ---- the outcome of many requests -------------------------------------- */

/* One request: its index, its sync flag, what it returned. */
struct outcome {
	uint64_t idx;
	bool sync;
	int rc;
};

/*
 * After a reopen: every acknowledged request's record is there and intact,
 * no request refused with UWAL_EPOISONED (never written) is there, a record
 * of a request that failed with the I/O error may be there but only intact;
 * and, in log order, every acknowledged record comes before every record
 * of a failed request (nothing was acknowledged after the failure).
 */
static void check_reopened(uwal *w, const struct outcome *o, size_t n)
{
	size_t acked = 0;
	for (size_t i = 0; i < n; i++) {
		uwal_record r;
		memset(&r, 0, sizeof(r));
		int g = uwal_get(w, o[i].idx, &r);
		if (o[i].rc == 0) {
			cr_assert_eq(g, 0, "acknowledged record %llu lost: %d (%s)",
				     (unsigned long long)o[i].idx, g, uwal_strerror(g));
			acked++;
		} else if (o[i].rc == UWAL_EPOISONED) {
			cr_assert_eq(g, UWAL_ENOTFOUND,
				     "record %llu, refused as poisoned, is in the log",
				     (unsigned long long)o[i].idx);
		} else {
			cr_assert(g == 0 || g == UWAL_ENOTFOUND, "failed record %llu: get %d",
				  (unsigned long long)o[i].idx, g);
		}
		if (g == 0) {
			th_check_std_rec(&r, o[i].idx);
			uwal_record_free(&r);
		}
	}
	/* log order: the acknowledged records are a prefix */
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t seen_acked = 0;
	bool seen_failed = false;
	while (uwal_iter_next(it, &r) == 1) {
		const struct outcome *hit = NULL;
		for (size_t i = 0; i < n && !hit; i++)
			if (o[i].idx == r.index)
				hit = &o[i];
		if (!hit)
			continue; /* written later, by the test itself */
		th_check_std_rec(&r, r.index);
		if (hit->rc == 0) {
			cr_assert_not(
				seen_failed,
				"acknowledged record %llu lies after a failed one in log order",
				(unsigned long long)r.index);
			seen_acked++;
		} else {
			seen_failed = true;
		}
	}
	uwal_iter_close(it);
	cr_assert_eq(seen_acked, acked);
}

/* While poisoned: acknowledged records read back, failed ones are absent,
 * the counters and last index describe only acknowledged records. */
static void check_poisoned_reads(uwal *w, const struct outcome *o, size_t n)
{
	size_t acked = 0;
	uint64_t last = 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i].rc == 0) {
			th_check_std(w, o[i].idx);
			acked++;
			if (o[i].idx > last)
				last = o[i].idx;
		} else {
			th_check_absent(w, o[i].idx);
		}
	}
	cr_assert_eq(th_stats(w).records, acked, "stats count unacknowledged records");
	cr_assert_eq(uwal_last_index(w), last);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t k = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		th_check_std_rec(&r, r.index);
		k++;
	}
	uwal_iter_close(it);
	cr_assert_eq(rc, 0);
	cr_assert_eq(k, acked, "the iterator sees %zu records, %zu were acknowledged", k, acked);
}

/* Every kind of write is refused once poisoned. */
static void check_refused(uwal *w, uint64_t idx)
{
	cr_assert_eq(th_write_std(w, idx, false), UWAL_EPOISONED);
	cr_assert_eq(th_write_std(w, idx, true), UWAL_EPOISONED);
	uwal_record b[2] = {{.index = idx, .key = "a", .key_len = 1},
			    {.index = idx + 1, .key = "b", .key_len = 1}};
	cr_assert_eq(uwal_write_batch(w, b, 2, false), UWAL_EPOISONED);
	cr_assert_eq(uwal_write_batch(w, b, 2, true), UWAL_EPOISONED);
	th_check_absent(w, idx);
	th_check_absent(w, idx + 1);
}

/* The reopened handle is healthy: it takes writes, keeps them. */
static void check_healthy(const uwal_config *cfg, uwal *w, uint64_t from)
{
	for (uint64_t i = from; i < from + 10; i++)
		cr_assert_eq(th_write_std(w, i, i % 2), 0, "write %llu after reopen",
			     (unsigned long long)i);
	th_close(w);
	w = th_open(cfg);
	for (uint64_t i = from; i < from + 10; i++)
		th_check_std(w, i);
	th_close(w);
}

/* ---- one failing request ------------------------------------------------- */

enum { ACKED = 20 };

static void single_failure(const struct variant *v, const struct fault *f)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	variant_config(&cfg, v, &log);
	uwal *w = th_open(&cfg);
	struct outcome o[ACKED + 1];
	for (uint64_t i = 1; i <= ACKED; i++) {
		o[i - 1] = (struct outcome){i, i % 3 == 0, 0};
		cr_assert_eq(th_write_std(w, i, i % 3 == 0), 0);
	}

	bool sync = needs_sync_flag(v, f);
	/* Its idle mark frame written: the fault is the next write's. */
	th_wait_writer_idle(w);
	tio_arm(f->op, NULL, 1, f->err);
	int rc = th_write_std(w, ACKED + 1, sync);
	tio_clear();
	o[ACKED] = (struct outcome){ACKED + 1, sync, rc};
	cr_assert_eq(rc, FAIL_RC, "%s, %s: the failing write returned %d (%s)", v->name, f->name,
		     rc, uwal_strerror(rc));

	check_refused(w, ACKED + 2);
	check_poisoned_reads(w, o, ACKED + 1);
	int crc = uwal_close(w);
	cr_assert(crc == UWAL_EPOISONED || crc == FAIL_RC, "close of a poisoned handle: %d (%s)",
		  crc, uwal_strerror(crc));
	cr_assert(th_log_has(&log, "poisoned"), "log_fn was not told; got:\n%s", log.buf);

	w = th_open(&cfg);
	check_reopened(w, o, ACKED + 1);
	th_check_absent(w, ACKED + 2);
	th_check_absent(w, ACKED + 3);
	check_healthy(&cfg, w, ACKED + 10);
	th_log_destroy(&log);
}

#define SINGLE(vname, V, fname, F)                                                                 \
	TH_TEST(faults, single_##fname##_##vname)                                                  \
	{                                                                                          \
		single_failure(&V, &F);                                                            \
	}

/* Guards against a failed write, a short write or a failed fdatasync being
 * acknowledged, not poisoning the handle, or breaking reads and reopen. */
SINGLE(none_pwrite, NONE_PWRITE, write_eio, WRITE_EIO)
SINGLE(none_pwrite, NONE_PWRITE, short_write, WRITE_SHORT)
SINGLE(none_pwrite, NONE_PWRITE, fdatasync_eio, FSYNC_EIO)
SINGLE(none_uring, NONE_URING, write_eio, WRITE_EIO)
SINGLE(none_uring, NONE_URING, short_write, WRITE_SHORT)
SINGLE(none_uring, NONE_URING, fdatasync_eio, FSYNC_EIO)
SINGLE(batch, BATCH, write_eio, WRITE_EIO)
SINGLE(batch, BATCH, short_write, WRITE_SHORT)
SINGLE(batch, BATCH, fdatasync_eio, FSYNC_EIO)
SINGLE(always, ALWAYS, write_eio, WRITE_EIO)
SINGLE(always, ALWAYS, short_write, WRITE_SHORT)
SINGLE(always, ALWAYS, fdatasync_eio, FSYNC_EIO)
SINGLE(batch_dsync, BATCH_DSYNC, write_eio, WRITE_EIO)
SINGLE(batch_dsync, BATCH_DSYNC, short_write, WRITE_SHORT)
SINGLE(always_dsync, ALWAYS_DSYNC, write_eio, WRITE_EIO)
SINGLE(always_dsync, ALWAYS_DSYNC, short_write, WRITE_SHORT)

/* ---- a known set of requests in the failing batch ------------------------ */

enum { IN_BATCH = 16 };

struct one_arg {
	uwal *w;
	struct outcome *o;
};

static void *one_thread(void *p)
{
	struct one_arg *a = p;
	a->o->rc = th_write_std(a->w, a->o->idx, a->o->sync);
	return NULL;
}

/*
 * The writer is paused at the last operation of request A's batch (its
 * write, or its fdatasync when the batch is durable). IN_BATCH requests
 * queue up behind it; once every submitter sleeps waiting for its
 * acknowledgment, the fault is armed for the next write (or fdatasync) and
 * the writer released. Those requests form the failing batch (in
 * UWAL_SYNC_ALWAYS, IN_BATCH batches of one), then IN_BATCH more requests
 * come after it.
 */
static void batch_failure(const struct variant *v, const struct fault *f)
{
	uwal_config cfg;
	variant_config(&cfg, v, NULL);
	uwal *w = th_open(&cfg);
	enum { N = ACKED + 1 + 2 * IN_BATCH };
	struct outcome o[N];
	size_t n = 0;
	for (uint64_t i = 1; i <= ACKED; i++) {
		o[n++] = (struct outcome){i, false, 0};
		cr_assert_eq(th_write_std(w, i, false), 0);
	}
	uint64_t batches0 = th_stats(w).batches;

	/* A: its batch held at its last operation. First the writer goes to
	 * sleep, so that the mark frame it may write then is behind us. */
	cr_assert(tio_wait_ring_idle(20000), "the writer never went to sleep");
	bool a_sync = v->mode != UWAL_SYNC_NONE && v->durable == UWAL_DURABLE_LINKED;
	tio_pause(a_sync ? TIO_FDATASYNC : TIO_PWRITE, "segment_*[0-9]", 1);
	struct outcome *oa = &o[n++];
	*oa = (struct outcome){100, false, 1};
	struct one_arg aa = {w, oa};
	pthread_t ta;
	cr_assert_eq(pthread_create(&ta, NULL, one_thread, &aa), 0);
	cr_assert(tio_wait_paused(20000), "the writer never reached A's batch");

	/* the batch that will fail: mixed sync flags in UWAL_SYNC_NONE for an
	 * fdatasync fault (one sync request makes the whole batch durable) */
	struct one_arg args[IN_BATCH];
	pthread_t t[IN_BATCH];
	struct outcome *batch = &o[n];
	for (int i = 0; i < IN_BATCH; i++) {
		o[n] = (struct outcome){200 + (uint64_t)i, needs_sync_flag(v, f) && i % 2 == 0, 1};
		args[i] = (struct one_arg){w, &o[n++]};
		cr_assert_eq(pthread_create(&t[i], NULL, one_thread, &args[i]), 0);
	}
	/* all of them queued: A's submitter and IN_BATCH more wait asleep */
	cr_assert(tio_wait_sleeping(IN_BATCH + 1, 20000), "only %u of %d submitters wait",
		  tio_sleeping(), IN_BATCH + 1);
	tio_arm(f->op, NULL, 1, f->err);
	tio_release();
	pthread_join(ta, NULL);
	for (int i = 0; i < IN_BATCH; i++)
		pthread_join(t[i], NULL);
	tio_clear();
	cr_assert_eq(oa->rc, 0, "request A: %d (%s)", oa->rc, uwal_strerror(oa->rc));

	int failed = 0, poisoned = 0;
	for (int i = 0; i < IN_BATCH; i++) {
		int rc = batch[i].rc;
		cr_assert(rc == FAIL_RC || rc == UWAL_EPOISONED,
			  "%s, %s: request %d of the failing batch returned %d (%s)", v->name,
			  f->name, i, rc, uwal_strerror(rc));
		failed += rc == FAIL_RC;
		poisoned += rc == UWAL_EPOISONED;
	}
	if (v->mode == UWAL_SYNC_ALWAYS)
		cr_assert_eq(failed, 1, "UWAL_SYNC_ALWAYS: %d requests saw the I/O error", failed);
	else
		cr_assert_eq(
			failed, IN_BATCH,
			"%s, %s: only %d of the %d requests of the failing batch failed with it",
			v->name, f->name, failed, IN_BATCH);
	/* A's batch was the last one written */
	cr_assert_eq(th_stats(w).batches, batches0 + 1);

	/* IN_BATCH more requests, after the failure */
	for (int i = 0; i < IN_BATCH; i++) {
		o[n] = (struct outcome){300 + (uint64_t)i, i % 2 == 0, 1};
		args[i] = (struct one_arg){w, &o[n++]};
		cr_assert_eq(pthread_create(&t[i], NULL, one_thread, &args[i]), 0);
	}
	for (int i = 0; i < IN_BATCH; i++)
		pthread_join(t[i], NULL);
	for (size_t i = n - IN_BATCH; i < n; i++)
		cr_assert_eq(o[i].rc, UWAL_EPOISONED, "request %llu after the failure: %d (%s)",
			     (unsigned long long)o[i].idx, o[i].rc, uwal_strerror(o[i].rc));

	check_poisoned_reads(w, o, n);
	cr_assert_neq(uwal_close(w), 0);
	w = th_open(&cfg);
	check_reopened(w, o, n);
	check_healthy(&cfg, w, 1000);
}

#define BATCHED(vname, V, fname, F)                                                                \
	TH_TEST(faults, batch_##fname##_##vname)                                                   \
	{                                                                                          \
		batch_failure(&V, &F);                                                             \
	}

/* Guards against a request of the failing batch, or one queued behind it,
 * being acknowledged. */
BATCHED(none_pwrite, NONE_PWRITE, write_eio, WRITE_EIO)
BATCHED(none_pwrite, NONE_PWRITE, short_write, WRITE_SHORT)
BATCHED(none_pwrite, NONE_PWRITE, fdatasync_eio, FSYNC_EIO)
BATCHED(none_uring, NONE_URING, write_eio, WRITE_EIO)
BATCHED(none_uring, NONE_URING, short_write, WRITE_SHORT)
BATCHED(none_uring, NONE_URING, fdatasync_eio, FSYNC_EIO)
BATCHED(batch, BATCH, write_eio, WRITE_EIO)
BATCHED(batch, BATCH, short_write, WRITE_SHORT)
BATCHED(batch, BATCH, fdatasync_eio, FSYNC_EIO)
BATCHED(always, ALWAYS, write_eio, WRITE_EIO)
BATCHED(always, ALWAYS, short_write, WRITE_SHORT)
BATCHED(always, ALWAYS, fdatasync_eio, FSYNC_EIO)
BATCHED(batch_dsync, BATCH_DSYNC, write_eio, WRITE_EIO)
BATCHED(batch_dsync, BATCH_DSYNC, short_write, WRITE_SHORT)
BATCHED(always_dsync, ALWAYS_DSYNC, write_eio, WRITE_EIO)

/* ---- many threads, free running ------------------------------------------ */

enum { FREE_T = 16, FREE_PER = 40 };

struct free_arg {
	uwal *w;
	pthread_barrier_t *start;
	int t;
	struct outcome o[FREE_PER];
};

static void *free_thread(void *p)
{
	struct free_arg *a = p;
	pthread_barrier_wait(a->start);
	for (int i = 0; i < FREE_PER; i++) {
		a->o[i].idx = (uint64_t)(a->t + 1) * 1000 + (uint64_t)i;
		a->o[i].sync = (i + a->t) % 2 == 0;
		a->o[i].rc = th_write_std(a->w, a->o[i].idx, a->o[i].sync);
	}
	return NULL;
}

/*
 * FREE_T threads write FREE_PER records each while the fault hits the
 * nth-from-now write or fdatasync. Per thread, results are 0s then errors;
 * overall some request saw the I/O error itself; after a reopen the
 * acknowledged records are a prefix of the log.
 */
static void free_running_failure(const struct variant *v, const struct fault *f, uint64_t nth)
{
	uwal_config cfg;
	variant_config(&cfg, v, NULL);
	uwal *w = th_open(&cfg);
	struct free_arg *a = calloc(FREE_T, sizeof(*a));
	cr_assert_not_null(a);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, FREE_T);
	for (int t = 0; t < FREE_T; t++)
		a[t] = (struct free_arg){.w = w, .start = &start, .t = t};
	tio_arm(f->op, NULL, nth, f->err);
	th_run_threads(FREE_T, free_thread, a, sizeof(*a));
	tio_clear();
	pthread_barrier_destroy(&start);

	struct outcome *all = calloc(FREE_T * FREE_PER, sizeof(*all));
	cr_assert_not_null(all);
	size_t n = 0;
	int io = 0;
	for (int t = 0; t < FREE_T; t++) {
		bool failed = false;
		for (int i = 0; i < FREE_PER; i++) {
			int rc = a[t].o[i].rc;
			cr_assert(rc == 0 || rc == FAIL_RC || rc == UWAL_EPOISONED,
				  "thread %d write %d: %d (%s)", t, i, rc, uwal_strerror(rc));
			cr_assert(
				rc != 0 || !failed,
				"%s, %s: thread %d write %d acknowledged after an earlier failure",
				v->name, f->name, t, i);
			failed |= rc != 0;
			io += rc == FAIL_RC;
			all[n++] = a[t].o[i];
		}
	}
	/* The fault may hit a write no request waits for (the mark frame the
	 * writer writes when it goes idle): then the handle says it. */
	cr_assert(io >= 1 || uwal_health(w) == FAIL_RC,
		  "%s, %s: no request reported the injected error, and the handle says %d", v->name,
		  f->name, uwal_health(w));
	check_poisoned_reads(w, all, n);
	cr_assert_neq(uwal_close(w), 0);
	w = th_open(&cfg);
	check_reopened(w, all, n);
	check_healthy(&cfg, w, 100000);
	free(all);
	free(a);
}

/* Guards against concurrent requests being acknowledged past a failure. */
TH_TEST(faults, many_threads_write_eio_none_pwrite)
{
	free_running_failure(&NONE_PWRITE, &WRITE_EIO, 10);
}

TH_TEST(faults, many_threads_short_write_none_uring)
{
	free_running_failure(&NONE_URING, &WRITE_SHORT, 10);
}

TH_TEST(faults, many_threads_fdatasync_eio_none_pwrite)
{
	free_running_failure(&NONE_PWRITE, &FSYNC_EIO, 8);
}

TH_TEST(faults, many_threads_write_eio_batch)
{
	free_running_failure(&BATCH, &WRITE_EIO, 12);
}

TH_TEST(faults, many_threads_fdatasync_eio_batch)
{
	free_running_failure(&BATCH, &FSYNC_EIO, 12);
}

TH_TEST(faults, many_threads_short_write_always)
{
	free_running_failure(&ALWAYS, &WRITE_SHORT, 50);
}

TH_TEST(faults, many_threads_write_eio_batch_dsync)
{
	free_running_failure(&BATCH_DSYNC, &WRITE_EIO, 12);
}

TH_TEST(faults, many_threads_fdatasync_eio_always)
{
	free_running_failure(&ALWAYS, &FSYNC_EIO, 50);
}

/* ---- sealing a segment, and close ---------------------------------------- */

/*
 * Rotation seals the full segment (seal frame + fdatasync) before the next
 * one takes writes. A failure there is a write failure: it poisons.
 */
static void seal_failure(const struct variant *v, const struct fault *f)
{
	uwal_config cfg;
	variant_config(&cfg, v, NULL);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 4;
	uint64_t r0 = tio_count(TIO_RENAME, NULL);
	uwal *w = th_open(&cfg);
	struct outcome o[6];
	for (uint64_t i = 1; i <= 4; i++) {
		o[i - 1] = (struct outcome){i, false, 0};
		cr_assert_eq(th_write_std(w, i, false), 0);
	}
	/* the next segment is prepared (its rename is its last step), so the
	 * fault cannot hit the preparer's own header write */
	wait_count(TIO_RENAME, r0 + 1);
	/* and the writer's idle mark frame is written: the fault is the next
	 * write's */
	th_wait_writer_idle(w);
	tio_arm(f->op, fault_files(f), 1, f->err);
	int rc = th_write_std(w, 5, false);
	tio_clear();
	o[4] = (struct outcome){5, false, rc};
	cr_assert_eq(rc, FAIL_RC, "%s, seal %s: write needing the new segment returned %d (%s)",
		     v->name, f->name, rc, uwal_strerror(rc));
	cr_assert_eq(th_stats(w).rotations, 0);
	check_refused(w, 6);
	o[5] = (struct outcome){6, false, UWAL_EPOISONED};
	check_poisoned_reads(w, o, 6);
	cr_assert_neq(uwal_close(w), 0);
	w = th_open(&cfg);
	check_reopened(w, o, 6);
	check_healthy(&cfg, w, 100);
}

/* Guards against a failed seal write being ignored (the next segment would
 * follow an unsealed one: the log could not be opened). */
TH_TEST(faults, failed_seal_write_poisons_none_pwrite)
{
	seal_failure(&NONE_PWRITE, &WRITE_EIO);
}

TH_TEST(faults, short_seal_write_poisons_batch)
{
	seal_failure(&BATCH, &WRITE_SHORT);
}

/* Guards against a failed cut of the unused preallocation being ignored
 * (the seal's fdatasync would not cover the size it leaves). */
static const struct fault SEAL_FTRUNCATE = {"ftruncate -EIO", TIO_FTRUNCATE, -EIO, SEGS};

TH_TEST(faults, failed_seal_ftruncate_poisons_none_pwrite)
{
	seal_failure(&NONE_PWRITE, &SEAL_FTRUNCATE);
}

TH_TEST(faults, failed_seal_ftruncate_poisons_batch)
{
	seal_failure(&BATCH, &SEAL_FTRUNCATE);
}

/* Guards against a failed seal fdatasync being ignored or retried. */
TH_TEST(faults, failed_seal_fdatasync_poisons_batch)
{
	seal_failure(&BATCH, &FSYNC_EIO);
}

TH_TEST(faults, failed_seal_fdatasync_poisons_always)
{
	seal_failure(&ALWAYS, &FSYNC_EIO);
}

/* Guards against uwal_close() hiding a failed final fdatasync of records
 * written without one. */
TH_TEST(faults, failed_fdatasync_at_close_is_reported_none_mode)
{
	uwal_config cfg;
	variant_config(&cfg, &NONE_PWRITE, NULL);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	tio_arm(TIO_FDATASYNC, NULL, 1, -EIO);
	int rc = uwal_close(w);
	tio_clear();
	cr_assert_eq(rc, -EIO, "close with a failed final fdatasync returned %d (%s)", rc,
		     uwal_strerror(rc));
	/* the records were in the page cache; nothing else was lost */
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= ACKED; i++)
		th_check_std(w, i);
	check_healthy(&cfg, w, 100);
}

/* ---- preparing a new segment ---------------------------------------------- */

static const struct fault PREP_FALLOCATE = {"fallocate -ENOSPC", TIO_FALLOCATE, -ENOSPC, NULL};
static const struct fault PREP_OPEN = {"create -EMFILE", TIO_OPEN, -EMFILE, NULL};
static const struct fault PREP_OPEN_EACCES = {"create -EACCES", TIO_OPEN, -EACCES, NULL};
static const struct fault PREP_RENAME = {"rename -EIO", TIO_RENAME, -EIO, NULL};
static const struct fault PREP_DIRSYNC = {"directory fsync -EIO", TIO_DIRSYNC, -EIO, THE_DIR};
static const struct fault PREP_WRITE = {"write -EIO", TIO_PWRITE, -EIO, "*.tmp"};
static const struct fault PREP_FDATASYNC = {"fdatasync -EIO", TIO_FDATASYNC, -EIO, "*.tmp"};
static const struct fault PREP_WRITEOUT = {"zeros' write-out -EIO", TIO_WRITEBACK, -EIO, "*.tmp"};

/*
 * threshold 4: the preparer starts on the next segment after the second
 * record, so a fault armed right after open hits that preparation, and the
 * fifth write, the first that needs the new segment, fails with it.
 */
static void prepare_failure(const struct variant *v, const struct fault *f)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	variant_config(&cfg, v, &log);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 4;
	uwal *w = th_open(&cfg);
	tio_arm(f->op, fault_files(f), 1, f->err);
	for (uint64_t i = 1; i <= 4; i++)
		cr_assert_eq(th_write_std(w, i, false), 0, "write %llu", (unsigned long long)i);
	int rc = th_write_std(w, 5, false);
	cr_assert_eq(rc, f->err, "%s, %s: the write needing the new segment returned %d (%s)",
		     v->name, f->name, rc, uwal_strerror(rc));
	tio_clear();
	/* nothing written, nothing published, nothing left behind */
	th_check_absent(w, 5);
	cr_assert_eq(th_stats(w).records, 4);
	cr_assert_eq(th_stats(w).rotations, 0);
	cr_assert_eq(th_count_suffix(g_dir, ".tmp"), 0, "a failed preparation left a .tmp file");
	cr_assert(th_log_has(&log, "prepare"), "log_fn was not told; got:\n%s", log.buf);
	/* not poisoned: the same index again, then across more rotations */
	for (uint64_t i = 5; i <= 30; i++) {
		rc = th_write_std(w, i, i % 2);
		cr_assert_eq(rc, 0, "write %llu after the fault: %d (%s)", (unsigned long long)i,
			     rc, uwal_strerror(rc));
	}
	cr_assert_geq(th_stats(w).rotations, 6);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 30; i++)
		th_check_std(w, i);
	th_close(w);
	th_log_destroy(&log);
}

#define PREP(vname, V, fname, F)                                                                   \
	TH_TEST(faults, prepare_##fname##_##vname)                                                 \
	{                                                                                          \
		prepare_failure(&V, &F);                                                           \
	}

/* Guards against a failed segment preparation poisoning the handle,
 * writing anything, or being reported to the wrong requests. */
PREP(none_pwrite, NONE_PWRITE, fallocate_enospc, PREP_FALLOCATE)
PREP(none_pwrite, NONE_PWRITE, create_emfile, PREP_OPEN)
PREP(none_pwrite, NONE_PWRITE, rename_eio, PREP_RENAME)
PREP(batch, BATCH, fallocate_enospc, PREP_FALLOCATE)
PREP(batch, BATCH, create_eacces, PREP_OPEN_EACCES)
PREP(batch, BATCH, rename_eio, PREP_RENAME)
PREP(always, ALWAYS, fallocate_enospc, PREP_FALLOCATE)
PREP(none_uring, NONE_URING, rename_eio, PREP_RENAME)
/* Guards against a segment used before its name is durable, and against
 * a failed write or sync of a new segment being taken for a write failure
 * (poisoning) instead of a preparation failure. */
PREP(none_pwrite, NONE_PWRITE, dirsync_eio, PREP_DIRSYNC)
PREP(batch, BATCH, dirsync_eio, PREP_DIRSYNC)
PREP(batch, BATCH, write_eio, PREP_WRITE)
PREP(always, ALWAYS, fdatasync_eio, PREP_FDATASYNC)
/* Guards against a zero-filled segment whose zeros failed to reach the
 * disk being taken into use. */
PREP(batch, BATCH, zero_writeout_eio, PREP_WRITEOUT)

enum { PREP_T = 8, PREP_PER = 24 };

struct prep_arg {
	uwal *w;
	pthread_barrier_t *start;
	int t;
	struct outcome o[PREP_PER];
};

static void *prep_thread(void *p)
{
	struct prep_arg *a = p;
	pthread_barrier_wait(a->start);
	for (int i = 0; i < PREP_PER; i++) {
		a->o[i].idx = (uint64_t)(a->t + 1) * 1000 + (uint64_t)i;
		a->o[i].sync = i % 2 == 0;
		a->o[i].rc = th_write_std(a->w, a->o[i].idx, a->o[i].sync);
	}
	return NULL;
}

/* Many threads through rotations while one preparation fails: the
 * requests that needed it fail with its error, all others succeed. */
static void prepare_failure_threads(const struct variant *v, const struct fault *f)
{
	uwal_config cfg;
	variant_config(&cfg, v, NULL);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 4;
	uwal *w = th_open(&cfg);
	struct prep_arg *a = calloc(PREP_T, sizeof(*a));
	cr_assert_not_null(a);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, PREP_T);
	for (int t = 0; t < PREP_T; t++)
		a[t] = (struct prep_arg){.w = w, .start = &start, .t = t};
	tio_arm(f->op, NULL, 1, f->err);
	th_run_threads(PREP_T, prep_thread, a, sizeof(*a));
	tio_clear();
	pthread_barrier_destroy(&start);

	int failed = 0;
	for (int t = 0; t < PREP_T; t++)
		for (int i = 0; i < PREP_PER; i++) {
			int rc = a[t].o[i].rc;
			cr_assert(rc == 0 || rc == f->err, "%s, %s: thread %d write %d: %d (%s)",
				  v->name, f->name, t, i, rc, uwal_strerror(rc));
			if (rc == 0) {
				th_check_std(w, a[t].o[i].idx);
			} else {
				failed++;
				th_check_absent(w, a[t].o[i].idx);
			}
		}
	cr_assert_geq(failed, 1, "no request met the failed preparation");
	cr_assert_eq(th_stats(w).records, (uint64_t)(PREP_T * PREP_PER - failed));
	/* not poisoned: the failed ones go through now */
	for (int t = 0; t < PREP_T; t++)
		for (int i = 0; i < PREP_PER; i++)
			if (a[t].o[i].rc != 0)
				cr_assert_eq(th_write_std(w, a[t].o[i].idx, false), 0);
	th_close(w);
	/* (checked once closed: a later preparation may be under way before) */
	cr_assert_eq(th_count_suffix(g_dir, ".tmp"), 0, "a failed preparation left a .tmp file");
	w = th_open(&cfg);
	for (int t = 0; t < PREP_T; t++)
		for (int i = 0; i < PREP_PER; i++)
			th_check_std(w, a[t].o[i].idx);
	th_close(w);
	free(a);
}

TH_TEST(faults, prepare_fallocate_enospc_many_threads_batch)
{
	prepare_failure_threads(&BATCH, &PREP_FALLOCATE);
}

TH_TEST(faults, prepare_create_emfile_many_threads_none_pwrite)
{
	prepare_failure_threads(&NONE_PWRITE, &PREP_OPEN);
}

TH_TEST(faults, prepare_rename_eio_many_threads_always)
{
	prepare_failure_threads(&ALWAYS, &PREP_RENAME);
}
