/*
 * uio.h - uwal's I/O layer: every io_uring detail and every system call
 * that src/ makes goes through these functions.
 *
 * Keeping the kernel behind this small interface is what lets tests inject
 * faults (uio_fault_arm) without touching the engine. Every function
 * returns a non-negative value on success and -errno on failure; none of
 * them leaves a meaningful value in errno.
 */
#ifndef UWAL_UIO_H
#define UWAL_UIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- plain system calls (fault-injectable where noted) ---------------- */

int uio_openat(int dirfd, const char *name, int flags, mode_t mode); /* OPEN */
int uio_open_dir(const char *path);                                  /* O_DIRECTORY|O_RDONLY */
int uio_mkdir_p(const char *path);                                   /* mkdir -p; 0 if it exists */
int uio_close(int fd);
/* Write all of buf at off. A short write is reported as -EIO. (WRITE) */
int uio_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Read up to len bytes at off; returns bytes read (short at end of file). */
ssize_t uio_pread(int fd, void *buf, size_t len, uint64_t off);
int uio_fdatasync(int fd); /* FSYNC */
int uio_fsync(int fd);     /* FSYNC (directories too) */
/* fsync/fdatasync outside the fault injector's count: segment preparation
 * and directory syncs, so that a fault armed for "the next fdatasync" hits
 * the write path deterministically. */
int uio_fsync_quiet(int fd, bool data_only);
/* Write zeros over [from, to) of fd; not counted as a write fault. */
int uio_write_zeros(int fd, uint64_t from, uint64_t to);
int uio_fallocate(int fd, uint64_t off, uint64_t len); /* FALLOCATE, mode 0 */
int uio_ftruncate(int fd, uint64_t len);
int64_t uio_file_size(int fd);
int uio_renameat(int dirfd, const char *from, const char *to); /* RENAME */
int uio_unlinkat(int dirfd, const char *name);
/* Take an exclusive, non-blocking flock; -EWOULDBLOCK if held elsewhere. */
int uio_flock_ex(int fd);
/*
 * List the regular files of dirfd whose names start with prefix. *names
 * receives a malloc'd array of malloc'd names; free with uio_free_names().
 */
int uio_list(int dirfd, const char *prefix, char ***names, size_t *n);
void uio_free_names(char **names, size_t n);
int uio_getrandom(void *buf, size_t len);

/* ---- scheduling and time ---------------------------------------------- */

void uio_yield(void); /* sched_yield */
/* A spin-wait hint to the CPU (pause on x86). */
static inline void uio_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}
int uio_current_cpu(void);          /* sched_getcpu (rseq/vDSO: no syscall); 0 if unknown */
uint64_t uio_now_ns(void);          /* CLOCK_MONOTONIC (vDSO) */
unsigned uio_cpus_configured(void); /* get_nprocs_conf, at least 1 */
unsigned uio_cpus_online(void);     /* get_nprocs, at least 1 */

/* ---- futexes and eventfds ------------------------------------------- */

/* Sleep while *addr == val (private futex). Returns 0 on wake, timeout,
 * signal or value change; callers re-check their condition. */
void uio_futex_wait(uint32_t *addr, uint32_t val);
void uio_futex_wake(uint32_t *addr, int n);
int uio_eventfd(void); /* blocking, close-on-exec */
int uio_eventfd_signal(int efd);
int uio_eventfd_wait(int efd); /* blocking read of the counter */

/* ---- the ring --------------------------------------------------------- */

enum uio_rw { UIO_WRITE = 1, UIO_FDATASYNC = 2 };

/* One operation of a chain. */
struct uio_op {
	uint8_t kind; /* enum uio_rw */
	int fd;
	const void *buf;    /* UIO_WRITE */
	uint32_t len;       /* UIO_WRITE */
	uint64_t off;       /* UIO_WRITE */
	uint64_t user_data; /* returned in its completion */
};

/* One completion. */
struct uio_cqe {
	uint64_t user_data;
	int res; /* bytes written, 0, or -errno (-ECANCELED after a
		    failed or short operation earlier in its chain) */
};

/* user_data reserved for the wake-up eventfd's read. */
#define UIO_WAKE_USER_DATA UINT64_MAX

struct uio_ring;

struct uio_ring_info {
	bool uring;           /* false: the synchronous fallback is in use */
	uint32_t features;    /* IORING_FEAT_* */
	uint32_t setup_flags; /* IORING_SETUP_* actually used */
	int setup_error;      /* why io_uring is not used (-errno), 0 if it is */
};

/*
 * Create a ring on the calling thread (which becomes its only submitter:
 * SINGLE_ISSUER is used when the kernel has it, and DEFER_TASKRUN too
 * unless extra_flags has SQPOLL or pollable is set: with DEFER_TASKRUN,
 * completions reach the CQ only when the thread enters the kernel, so the
 * CQ cannot be polled). If io_uring_setup fails, a synchronous fallback
 * with the same interface is returned instead. wake_fd is an eventfd whose
 * signal ends a blocking uio_ring_wait(): a read on it is kept queued in
 * the ring.
 */
int uio_ring_open(struct uio_ring **out, unsigned entries, unsigned extra_flags, bool pollable,
		  int wake_fd, struct uio_ring_info *info);
void uio_ring_close(struct uio_ring *r);
/*
 * Queue ops[0..n) as one chain: each op starts only after the previous one
 * completed in full; a failed or short op cancels the rest (-ECANCELED).
 * Nothing is submitted until uio_ring_wait(). n <= entries - 1.
 */
int uio_ring_queue_chain(struct uio_ring *r, const struct uio_op *ops, unsigned n);
/*
 * Submit what is queued and collect up to max completions into out,
 * sleeping until at least min_wait completions (ops', or the wake
 * eventfd's) have arrived; min_wait 0 never sleeps. On a pollable ring,
 * poll_ns > 0 first polls the CQ that long before sleeping. Returns the
 * number of completions (>= 0) or -errno. *enters counts io_uring_enter
 * calls.
 */
int uio_ring_wait(struct uio_ring *r, struct uio_cqe *out, unsigned max, unsigned min_wait,
		  uint64_t poll_ns, uint64_t *enters);

/* ---- fault injection (tests only; not part of the public API) --------- */

enum uio_fault_op {
	UIO_FAULT_WRITE = 0, /* ring writes and uio_pwrite_full */
	UIO_FAULT_FSYNC,     /* ring fdatasyncs, uio_fdatasync, uio_fsync */
	UIO_FAULT_FALLOCATE,
	UIO_FAULT_OPEN, /* uio_openat */
	UIO_FAULT_RENAME,
	UIO_FAULT__COUNT
};

/* err value that makes a write complete short (half its length) instead. */
#define UIO_FAULT_SHORT 1

/*
 * Make the nth call (1 = the next one) of op from now on fail with err (a
 * negative errno, or UIO_FAULT_SHORT for writes). Later calls succeed again.
 * Process-wide; thread safe. nth == 0 disarms op.
 */
void uio_fault_arm(enum uio_fault_op op, uint64_t nth, int err);
/* Disarm every fault. */
void uio_fault_clear(void);
/* How many calls of op were made since the process started. */
uint64_t uio_fault_count(enum uio_fault_op op);
/* Internal: count one call of op; the error to inject for it, or 0. */
int uio_fault_hit(enum uio_fault_op op);

#endif /* UWAL_UIO_H */
