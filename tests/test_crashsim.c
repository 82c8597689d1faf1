/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crashsim.c - the crash simulator's model (tests/io/crashsim.c):
 * what an fdatasync and a directory fsync make durable, what may survive
 * unsynced, and that a cut fails everything. Each test lays the same
 * simulated state out with many seeds and checks every outcome.
 */
#include "helpers.h"

#include "crashsim.h"

#define SEEDS 200

struct sim_fixture {
	char base[512], dir[600], out[600];
	struct crashsim *sim;
	struct uw_io *io;
	int dirfd;
};

static void fx_open(struct sim_fixture *f)
{
	const char *t = getenv("UWAL_TEST_DIR");
	snprintf(f->base, sizeof(f->base), "%s/crashsim-XXXXXX", t && *t ? t : "/tmp");
	cr_assert_not_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof(f->dir), "%s/log", f->base);
	cr_assert_eq(mkdir(f->dir, 0755), 0);
	f->sim = crashsim_new(NULL, f->base);
	cr_assert_not_null(f->sim);
	f->io = crashsim_io(f->sim);
	f->dirfd = f->io->ops->open_dir(f->io, f->dir);
	cr_assert_geq(f->dirfd, 0);
}

static void fx_close(struct sim_fixture *f)
{
	char cmd[700];
	f->io->ops->close(f->io, f->dirfd);
	crashsim_free(f->sim);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	cr_assert_eq(system(cmd), 0);
}

/* Lay out with seed; the size of name in the image (-1: absent), its
 * first n bytes in buf. */
static long fx_layout(struct sim_fixture *f, uint64_t seed, const char *name, void *buf, size_t n)
{
	char path[800], cmd[700];
	snprintf(f->out, sizeof(f->out), "%s/out", f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->out);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(crashsim_layout(f->sim, seed, f->out, NULL), 0);
	snprintf(path, sizeof(path), "%s/log/%s", f->out, name);
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (buf) {
		int fd = open(path, O_RDONLY);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, buf, n, 0), (ssize_t)n);
		close(fd);
	}
	return (long)st.st_size;
}

static int fx_create(struct sim_fixture *f, const char *name)
{
	int fd = f->io->ops->openat(f->io, f->dirfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	return fd;
}

Test(crashsim, fdatasync_makes_data_and_size_durable_and_unsynced_sectors_may_go)
{
	struct sim_fixture f;
	uint8_t x[1000], y[4096], b[8192];
	int kept = 0, lost = 0;
	memset(x, 'x', sizeof(x));
	memset(y, 'y', sizeof(y));
	fx_open(&f);
	int fd = fx_create(&f, "a");
	cr_assert_eq(f.io->ops->fallocate(f.io, fd, 0, 8192), 0);
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, x, sizeof(x), 0), 0);
	cr_assert_eq(f.io->ops->fdatasync(f.io, fd), 0);
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), 0);
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, y, sizeof(y), 1024), 0);
	for (uint64_t s = 1; s <= SEEDS; s++) {
		cr_assert_eq(fx_layout(&f, s, "a", b, sizeof(b)), 8192);
		for (size_t i = 0; i < sizeof(x); i++)
			cr_assert_eq(b[i], 'x', "synced byte %zu lost (seed %llu)", i,
				     (unsigned long long)s);
		for (size_t i = 1024; i < 1024 + sizeof(y); i++) {
			cr_assert(b[i] == 0 || b[i] == 'y');
			kept += b[i] == 'y';
			lost += b[i] == 0;
		}
	}
	cr_assert(kept && lost, "unsynced bytes: %d kept, %d lost", kept, lost);
	f.io->ops->close(f.io, fd);
	fx_close(&f);
}

Test(crashsim, unsynced_creation_may_vanish_and_dirsync_keeps_it)
{
	struct sim_fixture f;
	int present = 0, absent = 0;
	fx_open(&f);
	int fd = fx_create(&f, "b");
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, "hello", 5, 0), 0);
	cr_assert_eq(f.io->ops->fdatasync(f.io, fd), 0);
	for (uint64_t s = 1; s <= SEEDS; s++) {
		long n = fx_layout(&f, s, "b", NULL, 0);
		cr_assert(n == -1 || n == 5);
		present += n == 5;
		absent += n == -1;
	}
	cr_assert(present && absent, "%d present, %d absent", present, absent);
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), 0);
	for (uint64_t s = 1; s <= SEEDS; s++)
		cr_assert_eq(fx_layout(&f, s, "b", NULL, 0), 5);
	f.io->ops->close(f.io, fd);
	fx_close(&f);
}

Test(crashsim, an_unsynced_rename_is_atomic)
{
	struct sim_fixture f;
	char path[800];
	int renamed = 0, not_renamed = 0;
	fx_open(&f);
	int fd = fx_create(&f, "c.tmp");
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, "abc", 3, 0), 0);
	cr_assert_eq(f.io->ops->fdatasync(f.io, fd), 0);
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), 0);
	cr_assert_eq(f.io->ops->renameat(f.io, f.dirfd, "c.tmp", "c"), 0);
	for (uint64_t s = 1; s <= SEEDS; s++) {
		long n = fx_layout(&f, s, "c", NULL, 0);
		snprintf(path, sizeof(path), "%s/log/c.tmp", f.out);
		bool tmp = access(path, F_OK) == 0;
		cr_assert(n == 3 ? !tmp : tmp, "seed %llu: c %ld, c.tmp %d", (unsigned long long)s,
			  n, tmp);
		renamed += n == 3;
		not_renamed += tmp;
	}
	cr_assert(renamed && not_renamed);
	f.io->ops->close(f.io, fd);
	fx_close(&f);
}

Test(crashsim, after_the_cut_every_operation_fails_but_eventfds_work)
{
	struct sim_fixture f;
	fx_open(&f);
	int fd = fx_create(&f, "d");
	crashsim_arm(f.sim, 1, NULL, NULL);
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, "1", 1, 0), 0);
	cr_assert_eq(f.io->ops->pwrite(f.io, fd, "2", 1, 0), -EIO);
	cr_assert(crashsim_is_cut(f.sim));
	cr_assert_eq(f.io->ops->fdatasync(f.io, fd), -EIO);
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), -EIO);
	cr_assert_eq(f.io->ops->openat(f.io, f.dirfd, "e", O_RDWR | O_CREAT, 0644), -EIO);
	char c;
	cr_assert_eq(f.io->ops->pread(f.io, fd, &c, 1, 0), -EIO);
	int efd = f.io->ops->eventfd(f.io);
	cr_assert_geq(efd, 0);
	cr_assert_eq(f.io->ops->eventfd_signal(f.io, efd), 0);
	cr_assert_eq(f.io->ops->close(f.io, efd), 0);
	cr_assert_eq(f.io->ops->close(f.io, fd), 0);
	fx_close(&f);
}

Test(crashsim, a_ring_chain_runs_in_order_and_its_fdatasync_makes_the_write_durable)
{
	struct sim_fixture f;
	struct uw_ring *r;
	struct uw_ring_info info;
	uint8_t b[4];
	fx_open(&f);
	int fd = fx_create(&f, "g");
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), 0);
	int efd = f.io->ops->eventfd(f.io);
	struct uw_ring_opts o = {.entries = 8, .wake_fd = efd};
	cr_assert_eq(f.io->ops->ring_open(f.io, &o, &r, &info), 0);
	struct uw_io_op ops[2] = {
		{.kind = UW_IO_OP_WRITE, .fd = fd, .buf = "ring", .len = 4, .off = 0},
		{.kind = UW_IO_OP_FDATASYNC, .fd = fd},
	};
	int res[2];
	cr_assert_eq(f.io->ops->ring_run(r, ops, 2, res, 0), 0);
	cr_assert_eq(res[0], 4);
	cr_assert_eq(res[1], 0);
	for (uint64_t s = 1; s <= SEEDS; s++) {
		cr_assert_eq(fx_layout(&f, s, "g", b, 4), 4);
		cr_assert_eq(memcmp(b, "ring", 4), 0);
	}
	f.io->ops->ring_close(r);
	f.io->ops->close(f.io, efd);
	f.io->ops->close(f.io, fd);
	fx_close(&f);
}

Test(crashsim, forget_create_dirsync_leaves_the_rename_unsynced)
{
	struct sim_fixture f;
	int absent = 0;
	fx_open(&f);
	crashsim_set_forget(f.sim, CRASHSIM_FORGET_CREATE_DIRSYNC);
	int fd = fx_create(&f, "h.tmp");
	cr_assert_eq(f.io->ops->fdatasync(f.io, fd), 0);
	cr_assert_eq(f.io->ops->renameat(f.io, f.dirfd, "h.tmp", "h"), 0);
	cr_assert_eq(f.io->ops->dirsync(f.io, f.dirfd), 0);
	cr_assert_eq(crashsim_forgotten(f.sim), 1);
	for (uint64_t s = 1; s <= SEEDS; s++)
		absent += fx_layout(&f, s, "h", NULL, 0) < 0;
	cr_assert_gt(absent, 0);
	f.io->ops->close(f.io, fd);
	fx_close(&f);
}
