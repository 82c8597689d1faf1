/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uio.h - uwal's I/O layer: every io_uring detail and every system call
 * that src/ makes goes through the backend a handle holds.
 *
 * A backend is an operations table (struct uw_io_ops) behind a struct
 * uw_io, in the manner of SQLite's VFS and raft's raft_io. The library
 * ships one, the system backend (uw_io_system(), uring/sys.c and
 * uring/ring.c), which holds no test machinery. The tests build their own
 * backends on top of it (tests/io/): one that fails, shortens or pauses any
 * operation, and one that simulates power loss.
 *
 * Conventions: every operation returns a non-negative value on success and
 * -errno on failure; none leaves a meaningful value in errno. Every
 * operation is thread safe unless it says otherwise. Descriptors are opened
 * close-on-exec.
 *
 * The small helpers at the end (time, CPUs, yield) are plain functions: no
 * backend needs to change them.
 */
#ifndef UWAL_UIO_H
#define UWAL_UIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uw_io;
struct uw_ring;

/* ---- the ring: chains of linked operations ----------------------------- */

/* What one operation of a chain does. */
enum uw_io_op_kind {
	UW_IO_OP_WRITE = 1,     /* write len bytes of buf at off */
	UW_IO_OP_FDATASYNC = 2, /* fdatasync fd */
};

/* Flags of one write op (room for what the write path may try). */
#define UW_IO_OP_DSYNC 0x1u /* RWF_DSYNC: the write is durable on its own */

/* One operation of a chain. */
struct uw_io_op {
	uint8_t kind; /* enum uw_io_op_kind */
	uint8_t flags;
	int fd;
	const void *buf; /* UW_IO_OP_WRITE */
	uint32_t len;    /* UW_IO_OP_WRITE */
	uint64_t off;    /* UW_IO_OP_WRITE */
};

/* How a ring is set up (uw_io_ops.ring_open). */
struct uw_ring_opts {
	unsigned entries;     /* SQ size */
	unsigned setup_flags; /* extra IORING_SETUP_* flags (validated by the caller) */
	uint32_t poll_us;     /* ring_run with UW_RING_POLL polls for the completion this
				 long before it sleeps (0: never) */
	bool unsynced_pwrite; /* a chain of one write and no fdatasync is written with
				 pwrite(2) by the calling thread instead of the ring */
	int wake_fd;          /* eventfd whose signal ends ring_idle() */
};

/* What a ring turned out to be (filled by ring_open). */
struct uw_ring_info {
	bool uring;           /* false: the synchronous fallback is in use */
	uint32_t features;    /* IORING_FEAT_* */
	uint32_t setup_flags; /* IORING_SETUP_* actually used */
	int setup_error;      /* why io_uring is not used (-errno), 0 if it is */
};

/* The part of every backend's ring that the engine reads. */
struct uw_ring {
	struct uw_io *io;
	uint64_t enters; /* io_uring_enter calls (or their fallback's equivalent) */
};

/* Flags of ring_run. */
#define UW_RING_POLL 0x1u /* the caller allows polling the CQ before sleeping */

/* ---- the backend --------------------------------------------------------- */

/* Which file a name or descriptor refers to (uw_io_ops.file_id). */
struct uw_file_id {
	uint64_t dev;
	uint64_t ino;
};

/*
 * The operations of a backend. A test backend forwards to the system
 * backend and may fail, shorten or pause any of them; the names of the
 * files behind descriptors come from openat/open_dir.
 */
struct uw_io_ops {
	/* mkdir -p; 0 if the directory exists. */
	int (*mkdir_p)(struct uw_io *io, const char *path);
	/* Open a directory (O_RDONLY | O_DIRECTORY). */
	int (*open_dir)(struct uw_io *io, const char *path);
	/* openat(2); returns the descriptor. */
	int (*openat)(struct uw_io *io, int dirfd, const char *name, int flags, mode_t mode);
	int (*close)(struct uw_io *io, int fd);
	/* Write all of buf at off; a short write is reported as -EIO and
	 * never retried. */
	int (*pwrite)(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off);
	/* Read up to len bytes at off; returns the bytes read (short only at
	 * the end of the file). */
	ssize_t (*pread)(struct uw_io *io, int fd, void *buf, size_t len, uint64_t off);
	int (*fdatasync)(struct uw_io *io, int fd);
	/* Write back [off, off + len) of fd's dirty pages: start it and return
	 * (wait false: sync_file_range SYNC_FILE_RANGE_WRITE), or wait until
	 * every page of the range is written out (wait true: WAIT_BEFORE |
	 * WRITE | WAIT_AFTER). Makes nothing durable (no metadata, no cache
	 * flush): it only leaves less for the next fdatasync. */
	int (*writeback)(struct uw_io *io, int fd, uint64_t off, uint64_t len, bool wait);
	/* fsync(2) of a directory: makes its entries durable. */
	int (*dirsync)(struct uw_io *io, int dirfd);
	/* Allocate [off, off + len) (mode 0; extends the file where the
	 * filesystem has no fallocate). */
	int (*fallocate)(struct uw_io *io, int fd, uint64_t off, uint64_t len);
	int (*ftruncate)(struct uw_io *io, int fd, uint64_t len);
	/* The file's size (fstat). */
	int64_t (*file_size)(struct uw_io *io, int fd);
	int (*renameat)(struct uw_io *io, int dirfd, const char *from, const char *to);
	int (*unlinkat)(struct uw_io *io, int dirfd, const char *name);
	/* An exclusive, non-blocking flock; -EWOULDBLOCK if held elsewhere. */
	int (*flock_ex)(struct uw_io *io, int fd);
	/* The identity (st_dev, st_ino) of the file fd is open on (name NULL),
	 * or of the file called name in the directory fd (fstatat, following
	 * no symlink); -ENOENT if there is none. */
	int (*file_id)(struct uw_io *io, int fd, const char *name, struct uw_file_id *id);
	/* The regular files of dirfd whose names start with prefix: *names
	 * gets a malloc'd array of malloc'd names (free: uw_io_free_names). */
	int (*list)(struct uw_io *io, int dirfd, const char *prefix, char ***names, size_t *n);

	/*
	 * Create a ring on the calling thread, which becomes its only
	 * submitter (SINGLE_ISSUER, and DEFER_TASKRUN with TASKRUN_FLAG
	 * unless SQPOLL). Where io_uring cannot be set up, a synchronous fallback
	 * with the same contract is returned and info says why.
	 */
	int (*ring_open)(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
			 struct uw_ring_info *info);
	/*
	 * Run ops[0..n) as one chain and wait for all of it: each op starts
	 * only after the previous one completed in full; a failed or short
	 * op cancels the rest. res[i] gets op i's result: bytes written (a
	 * write), 0 (an fdatasync), or -errno (-ECANCELED for an op a
	 * failure before it cancelled). Returns 0, or -errno when the ring
	 * itself failed (then res says nothing). Only the ring's thread.
	 */
	int (*ring_run)(struct uw_ring *r, const struct uw_io_op *ops, unsigned n, int *res,
			unsigned flags);
	/* Sleep until the ring's wake_fd is signalled (or spuriously). Only
	 * the ring's thread. */
	int (*ring_idle)(struct uw_ring *r);
	void (*ring_close)(struct uw_ring *r);

	/* Sleep while *addr == val (private futex); returns on wake, value
	 * change or signal: callers re-check their condition. */
	void (*futex_wait)(struct uw_io *io, uint32_t *addr, uint32_t val);
	/* The same, for at most timeout_ns. */
	void (*futex_wait_for)(struct uw_io *io, uint32_t *addr, uint32_t val, uint64_t timeout_ns);
	void (*futex_wake)(struct uw_io *io, uint32_t *addr, int n);
	/* A blocking, close-on-exec eventfd. */
	int (*eventfd)(struct uw_io *io);
	int (*eventfd_signal)(struct uw_io *io, int efd);
	/* Reset a signalled eventfd's counter to 0 (the caller knows it is
	 * nonzero: the read would block otherwise). 0 or -errno. */
	int (*eventfd_drain)(struct uw_io *io, int efd);
	/* A close-on-exec pipe(2): fds[0] reads, fds[1] writes. */
	int (*pipe)(struct uw_io *io, int fds[2]);
	/* read(2) of up to len bytes (a pipe): the bytes read, 0 at its end. */
	ssize_t (*read)(struct uw_io *io, int fd, void *buf, size_t len);
};

/* A backend: its table; a backend's own state follows it in its struct. */
struct uw_io {
	const struct uw_io_ops *ops;
};

/* The system backend (shipped): io_uring and plain system calls. */
struct uw_io *uw_io_system(void);

/*
 * The backend a new handle (or uwal_unsafe_recover) uses. The shipped
 * library's (uring/select.c) is the system backend; the tests' internal
 * build replaces that one file with their own choice (tests/io/select.c).
 */
struct uw_io *uw_io_select(void);

void uw_io_free_names(char **names, size_t n);

/* ---- calling a backend: io->ops->x(io, ...) ------------------------------ */

static inline int uw_io_mkdir_p(struct uw_io *io, const char *path)
{
	return io->ops->mkdir_p(io, path);
}
static inline int uw_io_open_dir(struct uw_io *io, const char *path)
{
	return io->ops->open_dir(io, path);
}
static inline int uw_io_openat(struct uw_io *io, int dirfd, const char *name, int flags,
			       mode_t mode)
{
	return io->ops->openat(io, dirfd, name, flags, mode);
}
static inline int uw_io_close(struct uw_io *io, int fd)
{
	return io->ops->close(io, fd);
}
static inline int uw_io_pwrite(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	return io->ops->pwrite(io, fd, buf, len, off);
}
static inline ssize_t uw_io_pread(struct uw_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	return io->ops->pread(io, fd, buf, len, off);
}
static inline int uw_io_fdatasync(struct uw_io *io, int fd)
{
	return io->ops->fdatasync(io, fd);
}
static inline int uw_io_writeback(struct uw_io *io, int fd, uint64_t off, uint64_t len, bool wait)
{
	return io->ops->writeback(io, fd, off, len, wait);
}
static inline int uw_io_dirsync(struct uw_io *io, int dirfd)
{
	return io->ops->dirsync(io, dirfd);
}
static inline int uw_io_fallocate(struct uw_io *io, int fd, uint64_t off, uint64_t len)
{
	return io->ops->fallocate(io, fd, off, len);
}
static inline int uw_io_ftruncate(struct uw_io *io, int fd, uint64_t len)
{
	return io->ops->ftruncate(io, fd, len);
}
static inline int64_t uw_io_file_size(struct uw_io *io, int fd)
{
	return io->ops->file_size(io, fd);
}
static inline int uw_io_renameat(struct uw_io *io, int dirfd, const char *from, const char *to)
{
	return io->ops->renameat(io, dirfd, from, to);
}
static inline int uw_io_unlinkat(struct uw_io *io, int dirfd, const char *name)
{
	return io->ops->unlinkat(io, dirfd, name);
}
static inline int uw_io_flock_ex(struct uw_io *io, int fd)
{
	return io->ops->flock_ex(io, fd);
}
static inline int uw_io_file_id(struct uw_io *io, int fd, const char *name, struct uw_file_id *id)
{
	return io->ops->file_id(io, fd, name, id);
}
static inline int uw_io_list(struct uw_io *io, int dirfd, const char *prefix, char ***names,
			     size_t *n)
{
	return io->ops->list(io, dirfd, prefix, names, n);
}
static inline int uw_ring_open(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
			       struct uw_ring_info *info)
{
	return io->ops->ring_open(io, o, out, info);
}
static inline int uw_ring_run(struct uw_ring *r, const struct uw_io_op *ops, unsigned n, int *res,
			      unsigned flags)
{
	return r->io->ops->ring_run(r, ops, n, res, flags);
}
static inline int uw_ring_idle(struct uw_ring *r)
{
	return r->io->ops->ring_idle(r);
}
static inline void uw_ring_close(struct uw_ring *r)
{
	if (r)
		r->io->ops->ring_close(r);
}
static inline void uw_io_futex_wait(struct uw_io *io, uint32_t *addr, uint32_t val)
{
	io->ops->futex_wait(io, addr, val);
}
static inline void uw_io_futex_wait_for(struct uw_io *io, uint32_t *addr, uint32_t val,
					uint64_t timeout_ns)
{
	io->ops->futex_wait_for(io, addr, val, timeout_ns);
}
static inline void uw_io_futex_wake(struct uw_io *io, uint32_t *addr, int n)
{
	io->ops->futex_wake(io, addr, n);
}
static inline int uw_io_eventfd(struct uw_io *io)
{
	return io->ops->eventfd(io);
}
static inline int uw_io_eventfd_signal(struct uw_io *io, int efd)
{
	return io->ops->eventfd_signal(io, efd);
}
static inline int uw_io_eventfd_drain(struct uw_io *io, int efd)
{
	return io->ops->eventfd_drain(io, efd);
}
static inline int uw_io_pipe(struct uw_io *io, int fds[2])
{
	return io->ops->pipe(io, fds);
}
static inline ssize_t uw_io_read(struct uw_io *io, int fd, void *buf, size_t len)
{
	return io->ops->read(io, fd, buf, len);
}

/* ---- plain helpers (no backend) -------------------------------------- */

int uw_io_getrandom(void *buf, size_t len);
void uw_io_yield(void); /* sched_yield */
/* A spin-wait hint to the CPU (pause on x86). */
static inline void uw_io_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}
int uw_io_current_cpu(void);          /* sched_getcpu (rseq/vDSO: no syscall); 0 if unknown */
uint64_t uw_io_now_ns(void);          /* CLOCK_MONOTONIC (vDSO) */
void uw_io_sleep_ns(uint64_t ns);     /* nanosleep (signals end it early) */
unsigned uw_io_cpus_configured(void); /* get_nprocs_conf, at least 1 */
unsigned uw_io_cpus_online(void);     /* get_nprocs, at least 1 */
unsigned uw_io_fd_limit(void);        /* RLIMIT_NOFILE's soft limit (capped), at least 1 */

#endif /* UWAL_UIO_H */
