/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_nouring.c - a kernel that refuses io_uring. Each test installs, in
 * its own process (Criterion forks one per test), a seccomp filter that
 * makes io_uring_setup fail with ENOSYS, then uses a log in every sync mode
 * and write path. The documented behaviour: uwal falls back to pwrite +
 * fdatasync from the writer thread with the same guarantees, says so
 * through log_fn, and uwal_stats.uring is false. Writes, batches, reads,
 * iterators, rotation, close, reopen and recovery all work under the
 * filter; faults are still reported and poison the handle.
 */
#include "helpers.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

TH_SUITE(nouring, 120);

#if defined(__x86_64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_AARCH64
#endif

/* Install the filter (this process only, for good), or skip the test. */
static void refuse_io_uring(void)
{
#if defined(AUDIT_ARCH_HERE) && defined(__NR_io_uring_setup)
	struct sock_filter f[] = {
		/* another architecture's system call numbers: let it pass */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HERE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		cr_skip_test("SKIP: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		cr_skip_test("SKIP: SECCOMP_SET_MODE_FILTER: %s", strerror(errno));
	/* the filter works: io_uring_setup itself is refused */
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	errno = 0;
	long fd = syscall(__NR_io_uring_setup, 8, &p);
	cr_assert(fd < 0 && errno == ENOSYS,
		  "io_uring_setup still works under the filter (%ld, %s)", fd, strerror(errno));
#else
	cr_skip_test("SKIP: no seccomp filter for this architecture");
#endif
}

struct variant {
	const char *name;
	enum uwal_sync_mode mode;
	enum uwal_write_path path;
};

static const struct variant NONE_PWRITE = {"none/pwrite", UWAL_SYNC_NONE, UWAL_WRITE_PWRITE};
static const struct variant NONE_URING = {"none/uring", UWAL_SYNC_NONE, UWAL_WRITE_URING};
static const struct variant BATCH = {"batch", UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE};
static const struct variant ALWAYS = {"always", UWAL_SYNC_ALWAYS, UWAL_WRITE_PWRITE};

static void variant_config(uwal_config *cfg, const struct variant *v, th_log *log)
{
	th_config(cfg, g_dir);
	cfg->segment_size = 64u << 10;
	cfg->segment_threshold = 100; /* a few rotations */
	cfg->sync_mode = v->mode;
	cfg->write_path = v->path;
	/* The fallback's two steps (pwrite, then fdatasync) are what these
	 * tests fail one by one; the RWF_DSYNC write is covered in
	 * test_faults.c. */
	cfg->durable_write = UWAL_DURABLE_LINKED;
	cfg->log_fn = th_log_fn;
	cfg->log_ctx = log;
}

/* ---- everything works, with the same guarantees ------------------------- */

enum { T = 4, PER = 120 };

struct warg {
	uwal *w;
	int t;
	int rc[PER];
};

static uint64_t widx(int t, int i)
{
	return (uint64_t)(t + 1) * 10000 + (uint64_t)i;
}

static void *writer(void *p)
{
	struct warg *a = p;
	for (int i = 0; i < PER; i++)
		a->rc[i] = th_write_std(a->w, widx(a->t, i), (i + a->t) % 3 == 0);
	return NULL;
}

static void check_all(uwal *w, const char *what)
{
	for (int t = 0; t < T; t++)
		for (int i = 0; i < PER; i++)
			th_check_std(w, widx(t, i));
	for (uint64_t i = 1; i <= 6; i++)
		th_check_std(w, i);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t n = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		th_check_std_rec(&r, r.index);
		n++;
	}
	uwal_iter_close(it);
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, T * PER + 6, "%s: iterated %zu records", what, n);
}

static void fallback_works(const struct variant *v)
{
	refuse_io_uring();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	variant_config(&cfg, v, &log);
	uwal *w = th_open(&cfg);
	uwal_stats s = th_stats(w);
	cr_assert_not(s.uring, "%s: stats.uring is true although io_uring_setup fails", v->name);
	cr_assert_eq(s.ring_features, 0);

	/* single writes, sync and not; a batch; across threads */
	cr_assert_eq(th_write_std(w, 1, false), 0);
	uint64_t f0 = th_stats(w).fsyncs;
	cr_assert_eq(th_write_std(w, 2, true), 0);
	cr_assert_gt(th_stats(w).fsyncs, f0, "%s: write_sync(true) made no fdatasync", v->name);
	uwal_record b[4];
	char keys[4][TH_KEY_MAX];
	unsigned char vals[4][TH_VAL_MAX];
	for (int i = 0; i < 4; i++) {
		uint64_t idx = 3 + (uint64_t)i;
		b[i] = (uwal_record){idx, keys[i], th_key(idx, keys[i]), vals[i], th_vlen(idx)};
		th_fill(idx, vals[i], b[i].value_len);
		if (b[i].value_len == 0)
			b[i].value = NULL;
	}
	cr_assert_eq(uwal_write_batch(w, b, 4, false), 0);
	cr_assert_eq(th_write_std(w, 1, false), UWAL_EEXIST);

	struct warg a[T];
	for (int t = 0; t < T; t++)
		a[t] = (struct warg){.w = w, .t = t};
	th_run_threads(T, writer, a, sizeof(a[0]));
	for (int t = 0; t < T; t++)
		for (int i = 0; i < PER; i++)
			cr_assert_eq(a[t].rc[i], 0, "%s: thread %d write %d: %d (%s)", v->name, t,
				     i, a[t].rc[i], uwal_strerror(a[t].rc[i]));
	s = th_stats(w);
	cr_assert_eq(s.records, T * PER + 6);
	cr_assert_geq(s.rotations, 2, "%s: no rotation", v->name);
	cr_assert_eq(s.ring_enters, 0, "%s: the fallback entered a ring", v->name);
	if (v->mode != UWAL_SYNC_NONE)
		cr_assert_geq(s.fsyncs, s.batches, "%s: a durable batch without its fdatasync",
			      v->name);
	if (v->mode == UWAL_SYNC_ALWAYS)
		cr_assert_geq(s.batches, T * PER + 2 + 1,
			      "UWAL_SYNC_ALWAYS grouped calls: %llu batches for %d calls",
			      (unsigned long long)s.batches, T * PER + 3);
	check_all(w, v->name);
	th_close(w);
	cr_assert(th_log_has(&log, "io_uring unavailable"),
		  "%s: the fallback was not reported through log_fn; got:\n%s", v->name, log.buf);

	/* reopen, recover and go on, still without io_uring */
	w = th_open(&cfg);
	cr_assert_not(th_stats(w).uring);
	check_all(w, v->name);
	cr_assert_eq(th_write_std(w, 7, true), 0);
	th_close(w);

	/* a torn tail is cut under the fallback too */
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	static th_frame f[4096];
	size_t n = th_scan(path, f, 4096, NULL);
	cr_assert_gt(n, 1);
	th_truncate(path, f[n - 1].off + TH_FRAME_HEADER + f[n - 1].len - 1);
	w = th_open(&cfg);
	cr_assert_eq(f[n - 1].index, 7);
	th_check_absent(w, 7);
	check_all(w, v->name);
	th_close(w);
	th_log_destroy(&log);
}

/* Guards against a kernel without io_uring failing the open, losing or
 * misordering records, skipping fdatasyncs, or hiding the fallback. */
TH_TEST(nouring, fallback_none_pwrite)
{
	fallback_works(&NONE_PWRITE);
}

TH_TEST(nouring, fallback_none_uring_write_path)
{
	fallback_works(&NONE_URING);
}

TH_TEST(nouring, fallback_batch)
{
	fallback_works(&BATCH);
}

TH_TEST(nouring, fallback_always)
{
	fallback_works(&ALWAYS);
}

/* ---- failures under the fallback ----------------------------------------- */

static void fallback_fault(const struct variant *v, enum tio_kind op, int err, bool sync)
{
	refuse_io_uring();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	variant_config(&cfg, v, &log);
	uwal *w = th_open(&cfg);
	cr_assert_not(th_stats(w).uring);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	/* Its idle mark frame written: the fault is the next write's. */
	th_wait_writer_idle(w);
	tio_arm(op, NULL, 1, err);
	int rc = th_write_std(w, 11, sync);
	tio_clear();
	cr_assert_eq(rc, -EIO, "%s: failing write under the fallback returned %d (%s)", v->name, rc,
		     uwal_strerror(rc));
	cr_assert_eq(th_write_std(w, 12, false), UWAL_EPOISONED);
	cr_assert_eq(th_write_std(w, 13, true), UWAL_EPOISONED);
	for (uint64_t i = 1; i <= 10; i++)
		th_check_std(w, i);
	th_check_absent(w, 11);
	cr_assert_neq(uwal_close(w), 0);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		th_check_std(w, i);
	th_check_absent(w, 12);
	th_check_absent(w, 13);
	cr_assert_eq(th_write_std(w, 12, false), 0);
	th_close(w);
	th_log_destroy(&log);
}

/* Guards against the fallback ignoring a failed write, a short write or a
 * failed fdatasync. */
TH_TEST(nouring, fallback_failed_write_poisons_none_uring_write_path)
{
	fallback_fault(&NONE_URING, TIO_PWRITE, -EIO, false);
}

TH_TEST(nouring, fallback_short_write_poisons_always)
{
	fallback_fault(&ALWAYS, TIO_PWRITE, TIO_SHORT, false);
}

TH_TEST(nouring, fallback_failed_fdatasync_poisons_none_write_sync)
{
	fallback_fault(&NONE_PWRITE, TIO_FDATASYNC, -EIO, true);
}

TH_TEST(nouring, fallback_failed_fdatasync_poisons_always)
{
	fallback_fault(&ALWAYS, TIO_FDATASYNC, -EIO, false);
}

/* Guards against a failed segment preparation poisoning the fallback. */
TH_TEST(nouring, fallback_failed_preparation_does_not_poison)
{
	refuse_io_uring();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	variant_config(&cfg, &BATCH, &log);
	cfg.segment_threshold = 4;
	uwal *w = th_open(&cfg);
	tio_arm(TIO_FALLOCATE, NULL, 1, -ENOSPC);
	for (uint64_t i = 1; i <= 4; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	cr_assert_eq(th_write_std(w, 5, false), -ENOSPC);
	tio_clear();
	for (uint64_t i = 5; i <= 12; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 12; i++)
		th_check_std(w, i);
	th_close(w);
	th_log_destroy(&log);
}
