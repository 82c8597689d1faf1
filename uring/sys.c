/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sys.c - the system backend's plain system calls, each returning -errno,
 * and its operations table (the ring's operations are in ring.c). Nothing
 * here knows about tests: test backends wrap this one (tests/io/).
 */
#define _GNU_SOURCE
#include "uio.h"
#include "sys.h"

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
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- files ---------------------------------------------------------- */

static int sys_openat(struct uw_io *io, int dirfd, const char *name, int flags, mode_t mode)
{
	(void)io;
	int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int sys_open_dir(struct uw_io *io, const char *path)
{
	(void)io;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int sys_mkdir_p(struct uw_io *io, const char *path)
{
	(void)io;
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

static int sys_close(struct uw_io *io, int fd)
{
	(void)io;
	return close(fd) < 0 ? -errno : 0;
}

ssize_t uw_sys_pwrite_n(int fd, const void *buf, size_t len, uint64_t off, bool dsync)
{
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
	ssize_t n;
	do
		n = dsync ? pwritev2(fd, &v, 1, (off_t)off, RWF_DSYNC)
			  : pwrite(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int uw_sys_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t n = uw_sys_pwrite_n(fd, buf, len, off, false);
	if (n < 0)
		return (int)n;
	/* A short write is never retried: the caller treats it as failure. */
	return (size_t)n == len ? 0 : -EIO;
}

static int sys_pwrite(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	(void)io;
	return uw_sys_pwrite(fd, buf, len, off);
}

static ssize_t sys_pread(struct uw_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	(void)io;
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

int uw_sys_fdatasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int sys_fdatasync(struct uw_io *io, int fd)
{
	(void)io;
	return uw_sys_fdatasync(fd);
}

static int sys_writeback(struct uw_io *io, int fd, uint64_t off, uint64_t len, bool wait)
{
	(void)io;
	unsigned flags = SYNC_FILE_RANGE_WRITE;
	if (wait)
		flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
	if (sync_file_range(fd, (off_t)off, (off_t)len, flags) < 0)
		return -errno;
	return 0;
}

static int sys_dirsync(struct uw_io *io, int dirfd)
{
	(void)io;
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int sys_fallocate(struct uw_io *io, int fd, uint64_t off, uint64_t len)
{
	(void)io;
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

static int sys_ftruncate(struct uw_io *io, int fd, uint64_t len)
{
	(void)io;
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int64_t sys_file_size(struct uw_io *io, int fd)
{
	(void)io;
	struct stat st;
	return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_size;
}

static int sys_renameat(struct uw_io *io, int dirfd, const char *from, const char *to)
{
	(void)io;
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

static int sys_unlinkat(struct uw_io *io, int dirfd, const char *name)
{
	(void)io;
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

static int sys_flock_ex(struct uw_io *io, int fd)
{
	(void)io;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int sys_file_id(struct uw_io *io, int fd, const char *name, struct uw_file_id *id)
{
	(void)io;
	struct stat st;
	int r = name ? fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) : fstat(fd, &st);
	if (r < 0)
		return -errno;
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	return 0;
}

static int sys_list(struct uw_io *io, int dirfd, const char *prefix, char ***names, size_t *n)
{
	(void)io;
	/* Close-on-exec like every descriptor uwal opens: another thread may
	 * fork and exec while this one lists. */
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
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
		uw_io_free_names(v, cnt);
		return ret;
	}
	*names = v;
	*n = cnt;
	return 0;
}

void uw_io_free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int uw_io_getrandom(void *buf, size_t len)
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

void uw_io_yield(void)
{
	sched_yield();
}

int uw_io_current_cpu(void)
{
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : cpu;
}

uint64_t uw_io_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void uw_io_sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};
	nanosleep(&ts, NULL);
}

unsigned uw_io_cpus_configured(void)
{
	int n = get_nprocs_conf();
	return n > 0 ? (unsigned)n : 1;
}

unsigned uw_io_cpus_online(void)
{
	int n = get_nprocs();
	return n > 0 ? (unsigned)n : 1;
}

unsigned uw_io_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1u << 30))
		return 1u << 30;
	return rl.rlim_cur ? (unsigned)rl.rlim_cur : 1;
}

/* ---- futexes and eventfds ------------------------------------------- */

static void sys_futex_wait(struct uw_io *io, uint32_t *addr, uint32_t val)
{
	(void)io;
	/* Private futex: waiters and wakers share one address space. Any
	 * return (wake, EAGAIN because the value changed, EINTR) is fine:
	 * the caller loops on its own condition. */
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void sys_futex_wait_for(struct uw_io *io, uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	(void)io;
	/* FUTEX_WAIT's timeout is relative. The kernel may end a timed wait
	 * up to the thread's timer slack late (50 us by default), which is
	 * most of a wait as short as wait_nap_pct's nap: on the development
	 * VM a 30-120 us wait ended 85-99 us late on average with the default
	 * slack and 34-40 us late with 1 ns (perf/README "wait-nap"). So
	 * every timed wait runs with 1 ns of slack, and the caller's slack is
	 * put back after it (three prctl calls; the longer waits, a follower's
	 * or uwal_reap's timeout, only end nearer their deadline). */
	int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
			      .tv_nsec = (long)(timeout_ns % 1000000000u)};
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, (unsigned long)old, 0, 0, 0);
}

static void sys_futex_wake(struct uw_io *io, uint32_t *addr, int n)
{
	(void)io;
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static int sys_eventfd(struct uw_io *io)
{
	(void)io;
	/* Blocking: an io_uring read on an O_NONBLOCK eventfd would complete
	 * at once with -EAGAIN instead of waiting for a signal. */
	int fd = eventfd(0, EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int uw_sys_eventfd_read(int efd)
{
	uint64_t v;
	ssize_t n;
	do
		n = read(efd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static int sys_eventfd_signal(struct uw_io *io, int efd)
{
	(void)io;
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int sys_eventfd_drain(struct uw_io *io, int efd)
{
	(void)io;
	return uw_sys_eventfd_read(efd);
}

/* ---- pipes ------------------------------------------------------------ */

static int sys_pipe(struct uw_io *io, int fds[2])
{
	(void)io;
	return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

static ssize_t sys_read(struct uw_io *io, int fd, void *buf, size_t len)
{
	(void)io;
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* ---- the table ------------------------------------------------------- */

static const struct uw_io_ops sys_ops = {
	.mkdir_p = sys_mkdir_p,
	.open_dir = sys_open_dir,
	.openat = sys_openat,
	.close = sys_close,
	.pwrite = sys_pwrite,
	.pread = sys_pread,
	.fdatasync = sys_fdatasync,
	.writeback = sys_writeback,
	.dirsync = sys_dirsync,
	.fallocate = sys_fallocate,
	.ftruncate = sys_ftruncate,
	.file_size = sys_file_size,
	.renameat = sys_renameat,
	.unlinkat = sys_unlinkat,
	.flock_ex = sys_flock_ex,
	.file_id = sys_file_id,
	.list = sys_list,
	.ring_open = uw_ring_sys_open,
	.ring_run = uw_ring_sys_run,
	.ring_idle = uw_ring_sys_idle,
	.ring_close = uw_ring_sys_close,
	.futex_wait = sys_futex_wait,
	.futex_wait_for = sys_futex_wait_for,
	.futex_wake = sys_futex_wake,
	.eventfd = sys_eventfd,
	.eventfd_signal = sys_eventfd_signal,
	.eventfd_drain = sys_eventfd_drain,
	.pipe = sys_pipe,
	.read = sys_read,
};

static struct uw_io sys_io = {.ops = &sys_ops};

struct uw_io *uw_io_system(void)
{
	return &sys_io;
}
