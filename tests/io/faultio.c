/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faultio.c - the tests' fault backend (faultio.h): every operation goes
 * through check(), which counts it by kind and file, applies the first
 * armed rule that matches (fail, short write, pause), and otherwise
 * forwards it to the system backend. futex_wait is forwarded with a count
 * of the threads sleeping in it (tio_sleeping).
 *
 * One mutex guards the rules, the counts and the descriptor names: the
 * tests' I/O is not fast enough for it to matter.
 */
#define _GNU_SOURCE
#include "faultio.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RULES 16
#define MAX_FDS 4096
#define NAME_MAX_LEN 128

struct rule {
	bool live;
	bool pause;
	enum tio_kind kind;
	char files[NAME_MAX_LEN]; /* "" = the kind's usual target */
	uint64_t left;            /* matching operations until it fires */
	int err;
	uint64_t armed; /* arm_seq when it was armed */
};

struct count {
	enum tio_kind kind;
	char name[NAME_MAX_LEN];
	uint64_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct rule rules[MAX_RULES];
static struct count *counts;
static size_t n_counts, cap_counts;
static char *fd_names[MAX_FDS];
static bool paused, released;
static uint64_t arm_seq; /* rules armed so far */
static atomic_uint sleeping;

static struct uw_io *sys(void)
{
	return uw_io_system();
}

/*
 * fork(): the child's copy of mu must not be held by a thread that does not
 * exist there (uwal's fork handler closes descriptors through this backend
 * in the child). Registered before main, so before uwal's own handler:
 * prepare handlers run in reverse order (uwal's registry first, then mu),
 * the child's in order (mu is free again when uwal's runs).
 */
static void fork_prepare(void)
{
	pthread_mutex_lock(&mu);
}

static void fork_resume(void)
{
	pthread_mutex_unlock(&mu);
}

__attribute__((constructor)) static void fork_safe(void)
{
	pthread_atfork(fork_prepare, fork_resume, fork_resume);
}

/* ---- names and matching ------------------------------------------------ */

static const char *base(const char *name)
{
	const char *s = strrchr(name, '/');
	return s && s[1] ? s + 1 : name;
}

static void name_fd(int fd, const char *name)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	pthread_mutex_lock(&mu);
	free(fd_names[fd]);
	fd_names[fd] = strdup(base(name));
	pthread_mutex_unlock(&mu);
}

static void forget_fd(int fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	pthread_mutex_lock(&mu);
	free(fd_names[fd]);
	fd_names[fd] = NULL;
	pthread_mutex_unlock(&mu);
}

/* Under mu. */
static const char *fd_name(int fd)
{
	return fd >= 0 && fd < MAX_FDS && fd_names[fd] ? fd_names[fd] : "";
}

static bool match(enum tio_kind kind, const char *files, const char *name)
{
	if (!files || !*files) {
		if (kind == TIO_PWRITE || kind == TIO_FDATASYNC)
			files = "!*.tmp";
		else
			return true;
	}
	bool neg = files[0] == '!';
	bool m = fnmatch(neg ? files + 1 : files, name, 0) == 0;
	return neg ? !m : m;
}

/* Under mu. */
static void count(enum tio_kind kind, const char *name)
{
	for (size_t i = 0; i < n_counts; i++) {
		if (counts[i].kind == kind && strcmp(counts[i].name, name) == 0) {
			counts[i].n++;
			return;
		}
	}
	if (n_counts == cap_counts) {
		size_t cap = cap_counts ? cap_counts * 2 : 64;
		struct count *v = realloc(counts, cap * sizeof(*v));
		if (!v)
			return;
		counts = v;
		cap_counts = cap;
	}
	struct count *c = &counts[n_counts++];
	c->kind = kind;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->n = 1;
}

/* ---- rules ------------------------------------------------------------- */

/* Under mu: block until tio_release()/tio_clear(). */
static void hold(void)
{
	paused = true;
	released = false;
	pthread_cond_broadcast(&cv);
	while (!released)
		pthread_cond_wait(&cv, &mu);
	paused = false;
	pthread_cond_broadcast(&cv);
}

/*
 * Count one operation of kind on the file called name and apply the rule
 * that fires for it: returns its error (-errno or TIO_SHORT), or 0.
 */
static int check_name(enum tio_kind kind, const char *name)
{
	int err = 0;
	pthread_mutex_lock(&mu);
	count(kind, name);
	/* Rules armed while this operation is paused below do not see it. */
	uint64_t seen = arm_seq;
	for (int i = 0; i < MAX_RULES; i++) {
		struct rule *r = &rules[i];
		if (!r->live || r->armed > seen || r->kind != kind || !match(kind, r->files, name))
			continue;
		if (--r->left > 0)
			continue;
		r->live = false;
		if (r->pause) {
			hold();
			continue;
		}
		err = r->err;
		break;
	}
	pthread_mutex_unlock(&mu);
	return err;
}

static int check_fd(enum tio_kind kind, int fd)
{
	char name[NAME_MAX_LEN];
	pthread_mutex_lock(&mu);
	snprintf(name, sizeof(name), "%s", fd_name(fd));
	pthread_mutex_unlock(&mu);
	return check_name(kind, name);
}

static void arm(enum tio_kind kind, const char *files, uint64_t nth, int err, bool pause)
{
	if (nth == 0)
		return;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_RULES; i++) {
		struct rule *r = &rules[i];
		if (r->live)
			continue;
		*r = (struct rule){.live = true,
				   .pause = pause,
				   .kind = kind,
				   .left = nth,
				   .err = err,
				   .armed = ++arm_seq};
		snprintf(r->files, sizeof(r->files), "%s", files ? files : "");
		break;
	}
	pthread_mutex_unlock(&mu);
}

void tio_arm(enum tio_kind kind, const char *files, uint64_t nth, int err)
{
	arm(kind, files, nth, err, false);
}

void tio_pause(enum tio_kind kind, const char *files, uint64_t nth)
{
	arm(kind, files, nth, 0, true);
}

bool tio_wait_paused(int timeout_ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (!paused && pthread_cond_timedwait(&cv, &mu, &t) == 0)
		;
	bool p = paused;
	pthread_mutex_unlock(&mu);
	return p;
}

void tio_release(void)
{
	pthread_mutex_lock(&mu);
	released = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

void tio_clear(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_RULES; i++)
		rules[i].live = false;
	released = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

unsigned tio_sleeping(void)
{
	return atomic_load(&sleeping);
}

/* Threads inside ring_idle: a writer that sleeps for want of work. */
static _Atomic unsigned idling;

bool tio_wait_ring_idle(int timeout_ms)
{
	struct timespec ms = {0, 1000000L};
	for (int i = 0; i < timeout_ms && atomic_load(&idling) == 0; i++)
		nanosleep(&ms, NULL);
	return atomic_load(&idling) > 0;
}

bool tio_wait_sleeping(unsigned n, int timeout_ms)
{
	struct timespec ms = {0, 1000000L};
	for (int i = 0; i < timeout_ms && atomic_load(&sleeping) < n; i++)
		nanosleep(&ms, NULL);
	return atomic_load(&sleeping) >= n;
}

uint64_t tio_count(enum tio_kind kind, const char *files)
{
	uint64_t n = 0;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_counts; i++)
		if (counts[i].kind == kind && match(kind, files, counts[i].name))
			n += counts[i].n;
	pthread_mutex_unlock(&mu);
	return n;
}

/* ---- the operations ---------------------------------------------------- */

static int f_mkdir_p(struct uw_io *io, const char *path)
{
	(void)io;
	int e = check_name(TIO_MKDIR, base(path));
	return e < 0 ? e : uw_io_mkdir_p(sys(), path);
}

static int f_open_dir(struct uw_io *io, const char *path)
{
	(void)io;
	int e = check_name(TIO_OPEN_DIR, base(path));
	if (e < 0)
		return e;
	int fd = uw_io_open_dir(sys(), path);
	name_fd(fd, path);
	return fd;
}

static int f_openat(struct uw_io *io, int dirfd, const char *name, int flags, mode_t mode)
{
	(void)io;
	int e = check_name(TIO_OPEN, base(name));
	if (e < 0)
		return e;
	int fd = uw_io_openat(sys(), dirfd, name, flags, mode);
	name_fd(fd, name);
	return fd;
}

static int f_close(struct uw_io *io, int fd)
{
	(void)io;
	check_fd(TIO_CLOSE, fd); /* a close always closes */
	forget_fd(fd);
	return uw_io_close(sys(), fd);
}

static int f_pwrite(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	(void)io;
	int e = check_fd(TIO_PWRITE, fd);
	if (e == TIO_SHORT) {
		/* Land half the bytes, then report the short write as the
		 * backend contract does. */
		if (len > 1) {
			int r = uw_io_pwrite(sys(), fd, buf, len / 2, off);
			if (r < 0)
				return r;
		}
		return -EIO;
	}
	return e < 0 ? e : uw_io_pwrite(sys(), fd, buf, len, off);
}

static ssize_t f_pread(struct uw_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	(void)io;
	int e = check_fd(TIO_PREAD, fd);
	return e < 0 ? e : uw_io_pread(sys(), fd, buf, len, off);
}

static int f_fdatasync(struct uw_io *io, int fd)
{
	(void)io;
	int e = check_fd(TIO_FDATASYNC, fd);
	return e < 0 ? e : uw_io_fdatasync(sys(), fd);
}

static int f_writeback(struct uw_io *io, int fd, uint64_t off, uint64_t len, bool wait)
{
	(void)io;
	int e = check_fd(TIO_WRITEBACK, fd);
	return e < 0 ? e : uw_io_writeback(sys(), fd, off, len, wait);
}

static int f_dirsync(struct uw_io *io, int dirfd)
{
	(void)io;
	int e = check_fd(TIO_DIRSYNC, dirfd);
	return e < 0 ? e : uw_io_dirsync(sys(), dirfd);
}

static int f_fallocate(struct uw_io *io, int fd, uint64_t off, uint64_t len)
{
	(void)io;
	int e = check_fd(TIO_FALLOCATE, fd);
	return e < 0 ? e : uw_io_fallocate(sys(), fd, off, len);
}

static int f_ftruncate(struct uw_io *io, int fd, uint64_t len)
{
	(void)io;
	int e = check_fd(TIO_FTRUNCATE, fd);
	return e < 0 ? e : uw_io_ftruncate(sys(), fd, len);
}

static int64_t f_file_size(struct uw_io *io, int fd)
{
	(void)io;
	int e = check_fd(TIO_FILE_SIZE, fd);
	return e < 0 ? e : uw_io_file_size(sys(), fd);
}

static int f_renameat(struct uw_io *io, int dirfd, const char *from, const char *to)
{
	(void)io;
	int e = check_name(TIO_RENAME, base(from));
	if (e < 0)
		return e;
	e = uw_io_renameat(sys(), dirfd, from, to);
	if (e == 0) {
		/* Descriptors of the file now go by its new name. */
		pthread_mutex_lock(&mu);
		for (int fd = 0; fd < MAX_FDS; fd++) {
			if (fd_names[fd] && strcmp(fd_names[fd], base(from)) == 0) {
				free(fd_names[fd]);
				fd_names[fd] = strdup(base(to));
			}
		}
		pthread_mutex_unlock(&mu);
	}
	return e;
}

static int f_unlinkat(struct uw_io *io, int dirfd, const char *name)
{
	(void)io;
	int e = check_name(TIO_UNLINK, base(name));
	return e < 0 ? e : uw_io_unlinkat(sys(), dirfd, name);
}

static int f_flock_ex(struct uw_io *io, int fd)
{
	(void)io;
	int e = check_fd(TIO_FLOCK, fd);
	return e < 0 ? e : uw_io_flock_ex(sys(), fd);
}

static int f_file_id(struct uw_io *io, int fd, const char *name, struct uw_file_id *id)
{
	(void)io;
	int e = name ? check_name(TIO_FILE_ID, base(name)) : check_fd(TIO_FILE_ID, fd);
	return e < 0 ? e : uw_io_file_id(sys(), fd, name, id);
}

static int f_list(struct uw_io *io, int dirfd, const char *prefix, char ***names, size_t *n)
{
	(void)io;
	int e = check_fd(TIO_LIST, dirfd);
	return e < 0 ? e : uw_io_list(sys(), dirfd, prefix, names, n);
}

/* ---- the ring ---------------------------------------------------------- */

struct fault_ring {
	struct uw_ring base;
	struct uw_ring *inner;
};

static int f_ring_open(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
		       struct uw_ring_info *info)
{
	struct fault_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	int e = uw_ring_open(sys(), o, &r->inner, info);
	if (e < 0) {
		free(r);
		return e;
	}
	r->base.io = io;
	*out = &r->base;
	return 0;
}

/* Run ops[0..n) on the inner ring; keep its enter count in ours. */
static int inner_run(struct fault_ring *r, const struct uw_io_op *ops, unsigned n, int *res,
		     unsigned flags)
{
	if (n == 0)
		return 0;
	uint64_t before = r->inner->enters;
	int e = uw_ring_run(r->inner, ops, n, res, flags);
	r->base.enters += r->inner->enters - before;
	return e;
}

/*
 * Check each op of the chain in order. The ops before a failing one run as
 * a chain of their own; a failing op gets its error and cancels the rest;
 * a "short" write runs the chain up to it with that write halved and
 * cancels the rest, as the kernel does: what a short write's link cancels
 * never starts (nor is counted). A pause blocks before any op of the chain
 * runs.
 */
static int f_ring_run(struct uw_ring *base, const struct uw_io_op *ops, unsigned n, int *res,
		      unsigned flags)
{
	struct fault_ring *r = (struct fault_ring *)base;
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++) {
		enum tio_kind k = ops[i].kind == UW_IO_OP_WRITE ? TIO_PWRITE : TIO_FDATASYNC;
		int e = check_fd(k, ops[i].fd);
		if (e == 0)
			continue;
		if (e == TIO_SHORT && ops[i].kind == UW_IO_OP_WRITE) {
			/* Run the chain up to this write, halved; the kernel
			 * never starts what a short write's link cancels. */
			struct uw_io_op v[8];
			unsigned m = i + 1 - done;
			if (m > 8)
				return -EINVAL; /* the engine's chains are two ops long */
			memcpy(v, ops + done, m * sizeof(*v));
			if (v[m - 1].len > 1)
				v[m - 1].len /= 2;
			int ret = inner_run(r, v, m, res + done, flags);
			if (ret < 0)
				return ret;
			for (unsigned j = i + 1; j < n; j++)
				res[j] = -ECANCELED;
			return 0;
		}
		int ret = inner_run(r, ops + done, i - done, res + done, flags);
		if (ret < 0)
			return ret;
		for (unsigned j = done; j < i; j++)
			if (res[j] < 0 ||
			    (ops[j].kind == UW_IO_OP_WRITE && res[j] != (int)ops[j].len)) {
				/* Failed on its own before ours: the rest is cancelled. */
				for (unsigned q = j + 1; q < n; q++)
					res[q] = -ECANCELED;
				return 0;
			}
		res[i] = e;
		for (unsigned j = i + 1; j < n; j++)
			res[j] = -ECANCELED;
		return 0;
	}
	return inner_run(r, ops + done, n - done, res + done, flags);
}

static int f_ring_idle(struct uw_ring *base)
{
	struct fault_ring *r = (struct fault_ring *)base;
	uint64_t before = r->inner->enters;
	atomic_fetch_add(&idling, 1);
	int e = uw_ring_idle(r->inner);
	atomic_fetch_sub(&idling, 1);
	r->base.enters += r->inner->enters - before;
	return e;
}

static void f_ring_close(struct uw_ring *base)
{
	struct fault_ring *r = (struct fault_ring *)base;
	check_name(TIO_RING_CLOSE, ""); /* cannot fail: only counts and pauses */
	uw_ring_close(r->inner);
	free(r);
}

/* ---- waiting (forwarded; futex sleepers are counted) --------------------- */

static void f_futex_wait(struct uw_io *io, uint32_t *addr, uint32_t val)
{
	(void)io;
	atomic_fetch_add(&sleeping, 1);
	uw_io_futex_wait(sys(), addr, val);
	atomic_fetch_sub(&sleeping, 1);
}

/* A timed wait is a waiter's nap before it spins: not counted as asleep. */
static void f_futex_wait_for(struct uw_io *io, uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	(void)io;
	uw_io_futex_wait_for(sys(), addr, val, timeout_ns);
}

static void f_futex_wake(struct uw_io *io, uint32_t *addr, int n)
{
	(void)io;
	uw_io_futex_wake(sys(), addr, n);
}

static int f_eventfd(struct uw_io *io)
{
	(void)io;
	return uw_io_eventfd(sys());
}

static int f_eventfd_signal(struct uw_io *io, int efd)
{
	(void)io;
	return uw_io_eventfd_signal(sys(), efd);
}

static int f_eventfd_drain(struct uw_io *io, int efd)
{
	(void)io;
	return uw_io_eventfd_drain(sys(), efd);
}

static int f_pipe(struct uw_io *io, int fds[2])
{
	(void)io;
	return uw_io_pipe(sys(), fds);
}

static ssize_t f_read(struct uw_io *io, int fd, void *buf, size_t len)
{
	(void)io;
	return uw_io_read(sys(), fd, buf, len);
}

static const struct uw_io_ops fault_ops = {
	.mkdir_p = f_mkdir_p,
	.open_dir = f_open_dir,
	.openat = f_openat,
	.close = f_close,
	.pwrite = f_pwrite,
	.pread = f_pread,
	.fdatasync = f_fdatasync,
	.writeback = f_writeback,
	.dirsync = f_dirsync,
	.fallocate = f_fallocate,
	.ftruncate = f_ftruncate,
	.file_size = f_file_size,
	.renameat = f_renameat,
	.unlinkat = f_unlinkat,
	.flock_ex = f_flock_ex,
	.file_id = f_file_id,
	.list = f_list,
	.ring_open = f_ring_open,
	.ring_run = f_ring_run,
	.ring_idle = f_ring_idle,
	.ring_close = f_ring_close,
	.futex_wait = f_futex_wait,
	.futex_wait_for = f_futex_wait_for,
	.futex_wake = f_futex_wake,
	.eventfd = f_eventfd,
	.eventfd_signal = f_eventfd_signal,
	.eventfd_drain = f_eventfd_drain,
	.pipe = f_pipe,
	.read = f_read,
};

static struct uw_io fault_io = {.ops = &fault_ops};

struct uw_io *tio_fault_io(void)
{
	return &fault_io;
}
