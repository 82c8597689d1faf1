/*
 * sys.c - the plain system calls uwal makes, each returning -errno, and the
 * process-wide fault injector that tests use to make one of them fail.
 */
#define _GNU_SOURCE
#include "uio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- fault injection ------------------------------------------------- */

/*
 * Each op has a call counter and an armed target call number. Relaxed
 * atomics are enough: a test arms a fault before it starts the operation
 * that should hit it, and the injector needs no ordering with other data.
 */
static _Atomic uint64_t fault_calls[UIO_FAULT__COUNT];
static _Atomic uint64_t fault_target[UIO_FAULT__COUNT];
static _Atomic int fault_err[UIO_FAULT__COUNT];

void uio_fault_arm(enum uio_fault_op op, uint64_t nth, int err)
{
	if ((unsigned)op >= UIO_FAULT__COUNT)
		return;
	atomic_store(&fault_err[op], err);
	atomic_store(&fault_target[op], nth ? atomic_load(&fault_calls[op]) + nth : 0);
}

void uio_fault_clear(void)
{
	for (int i = 0; i < UIO_FAULT__COUNT; i++)
		atomic_store(&fault_target[i], 0);
}

uint64_t uio_fault_count(enum uio_fault_op op)
{
	return (unsigned)op < UIO_FAULT__COUNT ? atomic_load(&fault_calls[op]) : 0;
}

/* Count one call of op; return the injected error for it, or 0. */
int uio_fault_hit(enum uio_fault_op op)
{
	uint64_t n = atomic_fetch_add_explicit(&fault_calls[op], 1, memory_order_relaxed) + 1;
	uint64_t t = atomic_load_explicit(&fault_target[op], memory_order_relaxed);

	if (t == 0 || n != t)
		return 0;
	atomic_store(&fault_target[op], 0);
	return atomic_load(&fault_err[op]);
}

/* ---- files ---------------------------------------------------------- */

int uio_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	int err = uio_fault_hit(UIO_FAULT_OPEN);
	if (err < 0)
		return err;
	int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

int uio_open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int uio_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int uio_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

int uio_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	int err = uio_fault_hit(UIO_FAULT_WRITE);
	if (err == UIO_FAULT_SHORT) {
		/* Land half the bytes, then report the short write as an error,
		 * exactly as a real short write is treated. */
		if (len > 1 && pwrite(fd, buf, len / 2, (off_t)off) < 0)
			return -errno;
		return -EIO;
	}
	if (err < 0)
		return err;
	ssize_t n = pwrite(fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	/* A short write is never retried: the caller treats it as failure. */
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t uio_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int uio_fdatasync(int fd)
{
	int err = uio_fault_hit(UIO_FAULT_FSYNC);
	if (err < 0)
		return err;
	return fdatasync(fd) < 0 ? -errno : 0;
}

int uio_fsync(int fd)
{
	int err = uio_fault_hit(UIO_FAULT_FSYNC);
	if (err < 0)
		return err;
	return fsync(fd) < 0 ? -errno : 0;
}

int uio_fsync_quiet(int fd, bool data_only)
{
	int r = data_only ? fdatasync(fd) : fsync(fd);
	return r < 0 ? -errno : 0;
}

int uio_write_zeros(int fd, uint64_t from, uint64_t to)
{
	enum { CHUNK = 1 << 20 };
	char *z = calloc(1, CHUNK);
	if (!z)
		return -ENOMEM;
	int ret = 0;
	while (from < to) {
		size_t n = to - from < CHUNK ? (size_t)(to - from) : CHUNK;
		ssize_t w = pwrite(fd, z, n, (off_t)from);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		from += (uint64_t)w;
	}
	free(z);
	return ret;
}

int uio_fallocate(int fd, uint64_t off, uint64_t len)
{
	int err = uio_fault_hit(UIO_FAULT_FALLOCATE);
	if (err < 0)
		return err;
	if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* Filesystems without fallocate (tmpfs on old kernels): extend. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < off + len && ftruncate(fd, (off_t)(off + len)) < 0)
		return -errno;
	return 0;
}

int uio_ftruncate(int fd, uint64_t len)
{
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int64_t uio_file_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_size;
}

int uio_renameat(int dirfd, const char *from, const char *to)
{
	int err = uio_fault_hit(UIO_FAULT_RENAME);
	if (err < 0)
		return err;
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

int uio_unlinkat(int dirfd, const char *name)
{
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

int uio_flock_ex(int fd)
{
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int uio_list(int dirfd, const char *prefix, char ***names, size_t *n)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	rewinddir(d);
	size_t len = strlen(prefix), cnt = 0, cap = 0;
	char **v = NULL;
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, len) != 0)
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[cnt] = strdup(de->d_name))) {
			ret = -ENOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (ret < 0) {
		uio_free_names(v, cnt);
		return ret;
	}
	*names = v;
	*n = cnt;
	return 0;
}

void uio_free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int uio_getrandom(void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom((char *)buf + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* ---- scheduling and time ---------------------------------------------- */

void uio_yield(void)
{
	sched_yield();
}

int uio_current_cpu(void)
{
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : cpu;
}

uint64_t uio_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned uio_cpus_configured(void)
{
	int n = get_nprocs_conf();
	return n > 0 ? (unsigned)n : 1;
}

unsigned uio_cpus_online(void)
{
	int n = get_nprocs();
	return n > 0 ? (unsigned)n : 1;
}

/* ---- futexes and eventfds ------------------------------------------- */

void uio_futex_wait(uint32_t *addr, uint32_t val)
{
	/* Private futex: waiters and wakers share one address space. Any
	 * return (wake, EAGAIN because the value changed, EINTR) is fine:
	 * the caller loops on its own condition. */
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void uio_futex_wake(uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

int uio_eventfd(void)
{
	/* Blocking: an io_uring read on an O_NONBLOCK eventfd would complete
	 * at once with -EAGAIN instead of waiting for a signal. */
	int fd = eventfd(0, EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int uio_eventfd_signal(int efd)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int uio_eventfd_wait(int efd)
{
	uint64_t v;
	if (read(efd, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}
