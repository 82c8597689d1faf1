/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.h - crashwal's scratch filesystem for power loss (see fs.c) and two
 * file-tree helpers.
 */
#ifndef CRASHWAL_FS_H
#define CRASHWAL_FS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdbool.h>

struct fs {
	const char *type;  /* "ext4" or "xfs" */
	const char *image; /* image file, made by fs_setup unless dev is given */
	const char *mnt;   /* mount point (created if missing) */
	unsigned image_mb;
	char dev[64];  /* loop device; empty: fs_setup attaches one */
	bool attached; /* we attached dev: fs_teardown detaches it */
	bool mounted;
	unsigned long ebusy_retries; /* umount2 said EBUSY */
	unsigned long sb_waits;      /* unmounted, but the device still held */
};

/* Make the image and attach it (unless dev is set), then mount. 0 or -1. */
int fs_setup(struct fs *f);
int fs_mount(struct fs *f);
/* Unmount, retrying on EBUSY for up to 5 s, then wait until the device
 * is free (its superblock gone). 0 or -1. */
int fs_umount(struct fs *f);
/* An fd of the mount's root (for fs_shutdown), or -errno. Close it
 * before unmounting. */
int fs_open_root(struct fs *f);
/* FS_IOC_SHUTDOWN with FS_SHUTDOWN_FLAGS_NOLOGFLUSH. 0 or -errno. */
int fs_shutdown(int root_fd);
/* syncfs on the mount. 0 or -errno. */
int fs_sync(struct fs *f);
/* Unmount and detach what fs_setup attached; safe to call twice. */
void fs_teardown(struct fs *f);

/* rm -rf path (0 if it does not exist). 0 or -1. */
int rm_rf(const char *path);
/* cp -a from to; the exit status of cp. */
int copy_tree(const char *from, const char *to);

#endif
