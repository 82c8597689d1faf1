/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_diskfull.c - running out of space on real filesystems: a 1 MiB
 * tmpfs and a 4 MiB ext4 image on a loop device. Segments are
 * preallocated, so a full disk shows up when the next segment cannot be
 * prepared: the writes that need it fail with -ENOSPC, the handle is not
 * poisoned, every acknowledged record stays readable (and is there after a
 * reopen), and writes go through again once space is freed. Also: opening
 * a log on a full filesystem, and a torn tail that cannot be preallocated
 * again, fail the open with -ENOSPC and leave the log as it was; and the
 * kernel's own short writes and -EFBIG (RLIMIT_FSIZE) poison the handle.
 *
 * Mounting needs root. Each test that mounts first moves its process (the
 * one Criterion forked for it) into a private mount namespace, so its
 * mounts vanish with the process whatever happens; the loop device is set
 * to detach itself (LO_FLAGS_AUTOCLEAR) once unmounted. Without root, or
 * where a mount fails, those tests are skipped, saying why.
 */
#include "helpers.h"

#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

static char *g_base;
static char g_mnt[4200];
static char g_log[4300];
static bool g_mounted;

static void setup(void)
{
	g_base = th_tmpdir();
	snprintf(g_mnt, sizeof(g_mnt), "%s/mnt", g_base);
	cr_assert_eq(mkdir(g_mnt, 0755), 0);
	snprintf(g_log, sizeof(g_log), "%s/log", g_mnt);
	g_mounted = false;
}

static void teardown(void)
{
	if (g_mounted)
		umount2(g_mnt, MNT_DETACH);
	g_mounted = false;
	if (g_base) {
		th_rmrf(g_base);
		free(g_base);
		g_base = NULL;
	}
}

TestSuite(diskfull, .init = setup, .fini = teardown, .timeout = 120);

/* Skip the test, cleaning up first: a skipped test's .fini does not run. */
#define SKIP(...)                                                                                  \
	do {                                                                                       \
		int skip_errno_ = errno;                                                           \
		teardown();                                                                        \
		errno = skip_errno_;                                                               \
		cr_skip_test(__VA_ARGS__);                                                         \
	} while (0)

/* ---- mounts ----------------------------------------------------------- */

/* Enter a private mount namespace, or skip the test. */
static void private_mounts(void)
{
	if (geteuid() != 0)
		SKIP("SKIP: mounting a small filesystem needs root (euid %d)", (int)geteuid());
	if (unshare(CLONE_NEWNS) != 0)
		SKIP("SKIP: unshare(CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		SKIP("SKIP: cannot make / private in the new namespace: %s", strerror(errno));
}

static void mount_tmpfs(const char *size)
{
	private_mounts();
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	if (mount("tmpfs", g_mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		SKIP("SKIP: mount -t tmpfs -o %s: %s", opts, strerror(errno));
	g_mounted = true;
}

/* Run argv (searching a PATH that includes the sbin directories); its
 * exit status, or -1 if it could not be started. */
static int run(char *const argv[])
{
	static char *const envp[] = {"PATH=/usr/sbin:/sbin:/usr/bin:/bin", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = -1;
	for (const char *dir = "/usr/sbin/"; dir;
	     dir = strcmp(dir, "/usr/sbin/") == 0 ? "/sbin/" : NULL) {
		char path[256];
		snprintf(path, sizeof(path), "%s%s", dir, argv[0]);
		if (access(path, X_OK) != 0)
			continue;
		if (posix_spawn(&pid, path, &fa, NULL, argv, envp) != 0)
			break;
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
		}
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		break;
	}
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Attach img to a free loop device that detaches itself once unmounted;
 * returns its fd (the caller closes it after mounting) or skips. */
static int attach_loop(const char *img, char *dev, size_t n)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		SKIP("SKIP: /dev/loop-control: %s", strerror(errno));
	int ifd = open(img, O_RDWR | O_CLOEXEC);
	cr_assert(ifd >= 0);
	int lfd = -1;
	for (int tries = 0; tries < 20 && lfd < 0; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			break;
		snprintf(dev, n, "/dev/loop%d", nr);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			continue;
		struct loop_config lc;
		memset(&lc, 0, sizeof(lc));
		lc.fd = (uint32_t)ifd;
		lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) != 0) {
			/* taken by someone else in between, or an old kernel */
			close(lfd);
			lfd = -1;
		}
	}
	close(ifd);
	close(ctl);
	if (lfd < 0)
		SKIP("SKIP: no loop device could be configured: %s", strerror(errno));
	return lfd;
}

static void mount_ext4(unsigned mib)
{
	private_mounts();
	char img[4300];
	snprintf(img, sizeof(img), "%s/ext4.img", g_base);
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, (off_t)mib << 20), 0);
	close(fd);
	char *const mkfs[] = {"mkfs.ext4", "-q", "-F", img, NULL};
	int rc = run(mkfs);
	if (rc != 0)
		SKIP("SKIP: mkfs.ext4 failed or is missing (%d)", rc);
	char dev[64];
	int lfd = attach_loop(img, dev, sizeof(dev));
	if (mount(dev, g_mnt, "ext4", 0, NULL) != 0) {
		int e = errno;
		close(lfd); /* autoclear detaches it */
		SKIP("SKIP: mount %s (ext4): %s", dev, strerror(e));
	}
	g_mounted = true;
	close(lfd); /* the mount keeps it; it detaches at umount */
}

/* ---- records and space ------------------------------------------------ */

#define VLEN 1000

static int big_write(uwal *w, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[VLEN];
	size_t kl = th_key(idx, key);
	th_fill(idx, val, VLEN);
	return uwal_write_sync(w, idx, key, kl, val, VLEN, idx % 4 == 0);
}

static void big_check(uwal *w, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[VLEN];
	size_t kl = th_key(idx, key);
	th_fill(idx, val, VLEN);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	int rc = uwal_get(w, idx, &r);
	cr_assert_eq(rc, 0, "record %llu: %d (%s)", (unsigned long long)idx, rc, uwal_strerror(rc));
	th_check_rec(&r, idx, key, kl, val, VLEN);
	uwal_record_free(&r);
}

/* Write a file of up to len bytes (stops early when the disk is full);
 * returns the bytes written. */
static size_t ballast(const char *name, size_t len)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", g_mnt, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "create %s: %s", p, strerror(errno));
	static unsigned char buf[4096];
	memset(buf, 0xA5, sizeof(buf));
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t r = write(fd, buf, n);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	fsync(fd);
	close(fd);
	return done;
}

static void unballast(const char *name)
{
	char p[4400];
	snprintf(p, sizeof(p), "%s/%s", g_mnt, name);
	cr_assert_eq(unlink(p), 0);
}

static void config(uwal_config *cfg, uint64_t seg_size, th_log *log)
{
	th_config(cfg, g_log);
	cfg->segment_size = seg_size;
	if (log) {
		cfg->log_fn = th_log_fn;
		cfg->log_ctx = log;
	}
}

/*
 * Write records from *next on until one fails; it must fail with -ENOSPC
 * (no room for the next segment). Returns the number acknowledged.
 */
static uint64_t fill(uwal *w, uint64_t *next)
{
	uint64_t acked = 0;
	for (;; (*next)++) {
		cr_assert_lt(*next, 100000, "the filesystem never filled up");
		int rc = big_write(w, *next);
		if (rc == 0) {
			acked++;
			continue;
		}
		cr_assert_eq(rc, -ENOSPC,
			     "write %llu on a full disk returned %d (%s), want -ENOSPC",
			     (unsigned long long)*next, rc, uwal_strerror(rc));
		return acked;
	}
}

/*
 * The whole story on one filesystem: fill it; writes fail with -ENOSPC,
 * not poisoned, again and again; every acknowledged record reads back,
 * also after a reopen on the full disk; once the ballast is gone the same
 * handle writes across more rotations; all of it is there after a reopen.
 */
static void disk_full_story(uint64_t seg_size, enum uwal_prealloc prealloc, size_t ballast_len)
{
	th_log log;
	th_log_init(&log);
	size_t got = ballast("ballast", ballast_len);
	cr_assert_eq(got, ballast_len, "the filesystem is too small for the ballast");
	uwal_config cfg;
	config(&cfg, seg_size, &log);
	cfg.prealloc = prealloc;
	uwal *w = th_open(&cfg);
	uint64_t next = 1;
	uint64_t acked = fill(w, &next);
	uint64_t failed = next;
	cr_assert_gt(acked, 10);
	cr_assert(th_log_has(&log, "No space"), "log_fn was not told; got:\n%s", log.buf);
	/* not poisoned: each retry tries the preparation again, and fails */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(big_write(w, failed), -ENOSPC);
	th_check_absent(w, failed);
	for (uint64_t i = 1; i < failed; i++)
		big_check(w, i);
	cr_assert_eq(th_stats(w).records, acked);
	cr_assert_eq(th_count_suffix(g_log, ".tmp"), 0, "a failed preparation left a .tmp file");
	th_close(w);

	/* reopen on the full disk: recovery needs no new space */
	w = th_open(&cfg);
	for (uint64_t i = 1; i < failed; i++)
		big_check(w, i);
	th_check_absent(w, failed);
	int rc = big_write(w, failed);
	cr_assert_eq(rc, -ENOSPC, "write on the full disk after reopen: %d (%s)", rc,
		     uwal_strerror(rc));

	/* space again: the same handle goes on, through more rotations */
	unballast("ballast");
	uint64_t rot = th_stats(w).rotations;
	for (uint64_t i = failed; i < failed + 3 * (seg_size / VLEN / 2); i++) {
		rc = big_write(w, i);
		cr_assert_eq(rc, 0, "write %llu once space was freed: %d (%s)",
			     (unsigned long long)i, rc, uwal_strerror(rc));
	}
	cr_assert_gt(th_stats(w).rotations, rot);
	uint64_t last = failed + 3 * (seg_size / VLEN / 2);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i < last; i++)
		big_check(w, i);
	th_close(w);
	th_log_destroy(&log);
}

/* Guards against a full tmpfs poisoning the handle, losing acknowledged
 * records, or leaving half-made segments behind. */
TH_TEST(diskfull, tmpfs_1m_fails_writes_with_enospc_and_recovers)
{
	mount_tmpfs("1m");
	disk_full_story(64u << 10, UWAL_PREALLOC_ZERO, 192u << 10);
}

/* Guards against the same on ext4, with zero-filled segments. */
TH_TEST(diskfull, ext4_4m_fails_writes_with_enospc_and_recovers)
{
	mount_ext4(4);
	disk_full_story(256u << 10, UWAL_PREALLOC_ZERO, 512u << 10);
}

/* Guards against the same on ext4 with fallocate-only segments. */
TH_TEST(diskfull, ext4_4m_fallocate_only_fails_writes_with_enospc_and_recovers)
{
	mount_ext4(4);
	disk_full_story(256u << 10, UWAL_PREALLOC_FALLOCATE, 512u << 10);
}

/* Guards against an open on a full disk crashing or leaving a half-made
 * first segment behind. */
static void open_on_full_disk(void)
{
	ballast("ballast", 64u << 20);
	uwal_config cfg;
	config(&cfg, 64u << 10, NULL);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, -ENOSPC, "open on a full disk: %d (%s)", rc, uwal_strerror(rc));
	if (th_exists(g_log))
		cr_assert_eq(th_count_suffix(g_log, ".tmp"), 0, "a failed open left a .tmp file");
	unballast("ballast");
	w = th_open(&cfg);
	cr_assert_eq(big_write(w, 1), 0);
	th_close(w);
	w = th_open(&cfg);
	big_check(w, 1);
	th_close(w);
}

TH_TEST(diskfull, open_on_full_tmpfs_fails_with_enospc)
{
	mount_tmpfs("1m");
	open_on_full_disk();
}

TH_TEST(diskfull, open_on_full_ext4_fails_with_enospc)
{
	mount_ext4(4);
	open_on_full_disk();
}

/*
 * A torn tail is cut and preallocated again before the log takes writes;
 * on a full disk that preallocation fails: the open must fail with
 * -ENOSPC and leave every whole frame in place, and open once there is
 * space again.
 *
 * Guards against a failed tail repair losing records or leaving a log that
 * cannot be opened later.
 */
TH_TEST(diskfull, torn_tail_that_cannot_be_preallocated_again_fails_the_open)
{
	mount_tmpfs("1m");
	uwal_config cfg;
	config(&cfg, 64u << 10, NULL);
	uwal *w = th_open(&cfg);
	uint64_t next = 1;
	fill(w, &next);
	th_close(w);

	/* tear a frame a few pages before the end, then take the space the
	 * cut frees */
	char path[4400];
	th_last_data_segment(g_log, "segment_", path, sizeof(path));
	static th_frame f[4096];
	size_t n = th_scan(path, f, 4096, NULL);
	size_t k = n;
	while (k > 0 && f[k - 1].off + 3 * 4096 > th_file_size(path))
		k--;
	cr_assert(k > 2 && f[k - 1].type == TH_FRAME_RECORD, "no frame to tear");
	th_frame last = f[k - 1];
	uint64_t max_idx = f[n - 1].index;
	th_truncate(path, last.off + 5);
	cr_assert_gt(ballast("ballast", 1u << 20), 0, "the cut freed no space");

	uwal *w2 = NULL;
	int rc = uwal_open(&cfg, &w2);
	cr_assert_eq(rc, -ENOSPC, "open needing to preallocate on a full disk: %d (%s)", rc,
		     uwal_strerror(rc));
	unballast("ballast");
	w = th_open(&cfg);
	for (uint64_t i = 1; i < last.index; i++)
		big_check(w, i);
	for (uint64_t i = last.index; i <= max_idx; i++)
		th_check_absent(w, i);
	cr_assert_eq(uwal_last_index(w), last.index - 1);
	cr_assert_eq(big_write(w, last.index), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= last.index; i++)
		big_check(w, i);
	th_close(w);
}

/*
 * The kernel's own short writes: with RLIMIT_FSIZE below the segment size,
 * a write that crosses the limit lands partly (a short write) and one past
 * it fails with -EFBIG. No root needed.
 *
 * Guards against a real short write or -EFBIG being acknowledged or
 * leaving the handle usable, on each write path.
 */
static void kernel_short_write(enum uwal_sync_mode mode, enum uwal_write_path path)
{
	signal(SIGXFSZ, SIG_IGN);
	char *dir = th_tmpdir();
	uwal_config cfg;
	th_config(&cfg, dir);
	cfg.segment_size = 256u << 10;
	cfg.sync_mode = mode;
	cfg.write_path = path;
	uwal *w = th_open(&cfg);
	struct rlimit old, lim;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 40u << 10;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint64_t i = 1;
	int rc = 0;
	for (; i < 1000; i++) {
		char key[TH_KEY_MAX];
		unsigned char val[VLEN];
		size_t kl = th_key(i, key);
		th_fill(i, val, VLEN);
		rc = uwal_write(w, i, key, kl, val, VLEN);
		if (rc != 0)
			break;
	}
	cr_assert(rc == -EIO || rc == -EFBIG, "write %llu across RLIMIT_FSIZE: %d (%s)",
		  (unsigned long long)i, rc, uwal_strerror(rc));
	uint64_t failed = i;
	cr_assert_gt(failed, 10);
	cr_assert_eq(big_write(w, failed + 1), UWAL_EPOISONED);
	for (uint64_t k = 1; k < failed; k++)
		big_check(w, k);
	th_check_absent(w, failed);
	cr_assert_neq(uwal_close(w), 0);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	w = th_open(&cfg);
	for (uint64_t k = 1; k < failed; k++)
		big_check(w, k);
	th_check_absent(w, failed);
	cr_assert_eq(big_write(w, failed), 0);
	th_close(w);
	th_rmrf(dir);
	free(dir);
}

TH_TEST(diskfull, rlimit_fsize_short_write_poisons_none_pwrite)
{
	kernel_short_write(UWAL_SYNC_NONE, UWAL_WRITE_PWRITE);
}

TH_TEST(diskfull, rlimit_fsize_short_write_poisons_none_uring)
{
	kernel_short_write(UWAL_SYNC_NONE, UWAL_WRITE_URING);
}

TH_TEST(diskfull, rlimit_fsize_short_write_poisons_batch)
{
	kernel_short_write(UWAL_SYNC_BATCH, UWAL_WRITE_PWRITE);
}
