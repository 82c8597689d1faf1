/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.c - the scratch filesystem of crashwal's power-loss mode: an image
 * file made once (mkfs.ext4 or mkfs.xfs), attached to a loop device,
 * mounted; per iteration shut down (FS_IOC_SHUTDOWN without a log flush:
 * what the disk had at that instant is what survives), unmounted and
 * mounted again. Teardown always unmounts and detaches what this process
 * attached; the shell wrapper's trap is the second line of defence.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Not in Debian bookworm's uapi headers (ext4 and xfs share the number). */
#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#ifndef FS_SHUTDOWN_FLAGS_NOLOGFLUSH
#define FS_SHUTDOWN_FLAGS_NOLOGFLUSH 0x2
#endif

/* Run argv (with extra environment entries), quietly; its exit status. */
static int run_cmd(char *const argv[], char *const extra_env[], char *out, size_t out_len)
{
	int pfd[2];
	if (out && pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		for (size_t i = 0; extra_env && extra_env[i]; i++)
			putenv(extra_env[i]);
		if (out) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "crashwal: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		size_t n = 0;
		ssize_t r;
		while (n + 1 < out_len && (r = read(pfd[0], out + n, out_len - 1 - n)) > 0)
			n += (size_t)r;
		out[n] = 0;
		while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
			out[--n] = 0;
		close(pfd[0]);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int fs_setup(struct fs *f)
{
	char size[32];
	snprintf(size, sizeof(size), "%uM", f->image_mb);
	if (mkdir(f->mnt, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "crashwal: mkdir %s: %s\n", f->mnt, strerror(errno));
		return -1;
	}
	if (!f->dev[0]) {
		unlink(f->image);
		int fd = open(f->image, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)f->image_mb << 20) < 0) {
			fprintf(stderr, "crashwal: image %s: %s\n", f->image, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		char *ext4[] = {"mkfs.ext4", "-q", "-F", (char *)f->image, NULL};
		char *xfs[] = {"mkfs.xfs", "-q", "-f", (char *)f->image, NULL};
		/* mkfs.xfs refuses images under 300 MB unless told it is a test. */
		char *xfs_env[] = {"TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", NULL};
		bool is_xfs = strcmp(f->type, "xfs") == 0;
		if (run_cmd(is_xfs ? xfs : ext4, is_xfs ? xfs_env : NULL, NULL, 0) != 0) {
			fprintf(stderr, "crashwal: mkfs.%s %s failed\n", f->type, f->image);
			return -1;
		}
		char *los[] = {"losetup", "--find", "--show", (char *)f->image, NULL};
		if (run_cmd(los, NULL, f->dev, sizeof(f->dev)) != 0 ||
		    strncmp(f->dev, "/dev/", 5)) {
			fprintf(stderr, "crashwal: losetup --find --show %s failed\n", f->image);
			f->dev[0] = 0;
			return -1;
		}
		f->attached = true;
	}
	return fs_mount(f);
}

int fs_mount(struct fs *f)
{
	if (mount(f->dev, f->mnt, f->type, 0, NULL) < 0) {
		fprintf(stderr, "crashwal: mount %s on %s (%s): %s\n", f->dev, f->mnt, f->type,
			strerror(errno));
		return -1;
	}
	f->mounted = true;
	return 0;
}

int fs_umount(struct fs *f)
{
	if (!f->mounted)
		return 0;
	/* EBUSY for a while after a process with an io_uring on this
	 * filesystem exits: its ring is torn down asynchronously. */
	for (int i = 0;; i++) {
		if (umount2(f->mnt, 0) == 0)
			break;
		if (errno != EBUSY || i >= 1000) {
			fprintf(stderr, "crashwal: umount %s: %s\n", f->mnt, strerror(errno));
			return -1;
		}
		f->ebusy_retries++;
		usleep(5000);
	}
	f->mounted = false;
	/*
	 * umount2 can return while the superblock still lives (a reference
	 * the dead child's io_uring teardown still holds): a mount now would
	 * get that same superblock back, still shut down. The device opens
	 * O_EXCL only once no filesystem holds it.
	 */
	for (int i = 0;; i++) {
		int fd = open(f->dev, O_RDONLY | O_EXCL);
		if (fd >= 0) {
			close(fd);
			break;
		}
		if (errno != EBUSY || i >= 1000) {
			fprintf(stderr, "crashwal: %s still in use after umount: %s\n", f->dev,
				strerror(errno));
			return -1;
		}
		f->sb_waits++;
		usleep(5000);
	}
	return 0;
}

int fs_open_root(struct fs *f)
{
	int fd = open(f->mnt, O_RDONLY | O_DIRECTORY);
	return fd < 0 ? -errno : fd;
}

int fs_shutdown(int root_fd)
{
	uint32_t flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
	return ioctl(root_fd, FS_IOC_SHUTDOWN, &flags) < 0 ? -errno : 0;
}

int fs_sync(struct fs *f)
{
	int fd = open(f->mnt, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	int ret = syncfs(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

void fs_teardown(struct fs *f)
{
	fs_umount(f);
	if (f->attached) {
		char *det[] = {"losetup", "-d", f->dev, NULL};
		if (run_cmd(det, NULL, NULL, 0) != 0)
			fprintf(stderr, "crashwal: losetup -d %s failed\n", f->dev);
		f->attached = false;
	}
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path)
{
	int ret = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ret < 0 && errno == ENOENT ? 0 : ret;
}

int copy_tree(const char *from, const char *to)
{
	char *cp[] = {"cp", "-a", (char *)from, (char *)to, NULL};
	return run_cmd(cp, NULL, NULL, 0);
}
