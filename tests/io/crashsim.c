/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crashsim.c - a backend that simulates power loss (tests only).
 *
 * Every operation is forwarded to the lower backend (the system one), so
 * the live directory behaves normally and reads see what was written. Next
 * to it the simulator keeps, in memory, what the disk would hold if the
 * power failed now, and crashsim_layout() writes that out.
 *
 * The crash model:
 *   - Files. Each file (inode) has a durable image: its data and its size
 *     as of its last fdatasync. Since then, a list of changes in the order
 *     they were made: data writes (pwrite, ring writes) and size changes
 *     (ftruncate, fallocate past the end, O_TRUNC, a write past the end).
 *     fdatasync makes all of them durable: the file's data and its size.
 *     A write with UW_IO_OP_DSYNC makes itself (and the size it implies)
 *     durable, nothing else.
 *   - What survives unsynced: any subset of the 512-byte sectors written
 *     since the last fdatasync, each kept, dropped or torn (a random
 *     prefix or suffix of it new, the rest old) independently of the
 *     others, so in effect in any order. Size changes survive as a prefix
 *     of their sequence (an unsynced size change may or may not survive;
 *     a later one only with the earlier ones); a shrink that survives
 *     also loses the data beyond it.
 *   - Directories. A directory opened with open_dir under base has a
 *     durable set of entries (name -> file) as of its last fsync
 *     (dirsync), and the list of entry changes since: creations (openat
 *     with O_CREAT of a new name), renames, unlinks. dirsync makes all of
 *     them durable. Unsynced, each change may or may not survive,
 *     independently of the others, applied in their order; a rename is
 *     atomic (the new name appears exactly when the old one goes), and a
 *     surviving rename or creation brings its file, with whatever that
 *     file's own state is. A file with no surviving name is gone.
 *   - Directories themselves (mkdir_p) and files found in a directory
 *     when the simulator first opens it are taken as durable; so is every
 *     directory under base that the engine never opened (crashsim_layout
 *     copies it as it is).
 *   - The cut (crashsim_cut, or an armed operation count) is instantaneous:
 *     the operation at the cut and every later one fail with -EIO, as on a
 *     filesystem after FS_IOC_SHUTDOWN; close, futexes and eventfds keep
 *     working. Nothing is in flight at a cut: the simulator serialises the
 *     operations it models under one lock.
 *
 * What it cannot see: the ring's ring_run runs a chain's ops one after
 * the other through this backend's own pwrite and fdatasync, so an engine
 * that forgot IOSQE_IO_LINK (letting an fdatasync overtake its write in
 * the kernel) passes here. The loop-device power-loss harness
 * (tests/crash/, --power-loss) stays for that, and for what real
 * filesystems do beyond this model.
 *
 * Forget modes (enum crashsim_forget) drop one kind of operation to show
 * that a harness catches an engine that omits it.
 */
#define _GNU_SOURCE
#include "crashsim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 512u

/* ---- the model's data ---------------------------------------------------- */

enum { EV_WRITE = 1, EV_SIZE = 2 };

struct event {
	uint8_t kind;
	bool sticky;   /* a DSYNC write: already durable, always kept */
	uint64_t off;  /* EV_WRITE */
	uint64_t len;  /* EV_WRITE: bytes; EV_SIZE: the new size */
	uint8_t *data; /* EV_WRITE */
};

struct inode {
	uint8_t *dur; /* the durable data, dur_size bytes */
	uint64_t dur_size;
	struct event *ev; /* changes since the last fdatasync */
	size_t nev, cap_ev;
	uint64_t size; /* the live size */
	/* Forget mode SEAL: 1 after a direct pwrite, 2 after an ftruncate
	 * to that write's end; any other change resets it. */
	int seal_state;
	uint64_t seal_end;
	/* Forget mode TRUNC: the last write held a truncation frame; any
	 * other change resets it. */
	bool trunc_write;
	/* crashsim_layout: this layout's image */
	uint8_t *img;
	uint64_t img_size;
	bool img_done;
};

struct entry {
	char *name;
	struct inode *ino;
};

enum { CH_CREATE = 1, CH_RENAME = 2, CH_UNLINK = 3 };

struct change {
	uint8_t kind;
	char *name; /* CREATE, UNLINK: the name; RENAME: from */
	char *to;   /* RENAME */
	struct inode *ino;
};

struct names {
	struct entry *v;
	size_t n, cap;
};

struct dir {
	char *path; /* realpath */
	char *rel;  /* path under base ("" for base itself) */
	struct names durable, live;
	struct change *ch;
	size_t nch, cap_ch;
};

struct fdent {
	struct dir *dir;   /* a modelled directory's descriptor */
	struct inode *ino; /* a modelled file's */
};

struct crashsim {
	struct uw_io io; /* first: crashsim_io() hands out &sim->io */
	struct uw_io *lower;
	char *base;
	pthread_mutex_t mu;
	bool cut;
	uint64_t cut_seed;
	uint64_t ops;
	uint64_t arm_at; /* cut when ops reaches it; UINT64_MAX: not armed */
	void (*on_cut)(void *);
	void *on_cut_arg;
	enum crashsim_forget forget;
	uint64_t forgotten;
	struct dir **dirs;
	size_t ndirs, cap_dirs;
	struct inode **inodes;
	size_t ninodes, cap_inodes;
	struct fdent *fds;
	size_t nfds;
};

struct sim_ring {
	struct uw_ring base;
	struct crashsim *sim;
	int wake_fd;
};

static struct crashsim *sim_of(struct uw_io *io)
{
	return (struct crashsim *)io;
}

static bool grow(void **v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 8;
	while (c < need)
		c *= 2;
	void *nv = realloc(*v, c * elem);
	if (!nv)
		return false;
	*v = nv;
	*cap = c;
	return true;
}

/* ---- files ------------------------------------------------------------- */

static struct inode *inode_new(struct crashsim *sim)
{
	struct inode *ino = calloc(1, sizeof(*ino));
	if (!ino || !grow((void **)&sim->inodes, &sim->cap_inodes, sim->ninodes + 1,
			  sizeof(*sim->inodes))) {
		free(ino);
		return NULL;
	}
	sim->inodes[sim->ninodes++] = ino;
	return ino;
}

static void inode_free(struct inode *ino)
{
	for (size_t i = 0; i < ino->nev; i++)
		free(ino->ev[i].data);
	free(ino->ev);
	free(ino->dur);
	free(ino->img);
	free(ino);
}

/* Make buf (of *cap bytes) hold at least n bytes, zero-filling. */
static int buf_reserve(uint8_t **buf, uint64_t *cap, uint64_t n)
{
	if (n <= *cap)
		return 0;
	uint64_t c = *cap ? *cap : 4096;
	while (c < n)
		c *= 2;
	uint8_t *b = realloc(*buf, c);
	if (!b)
		return -ENOMEM;
	memset(b + *cap, 0, c - *cap);
	*buf = b;
	*cap = c;
	return 0;
}

static int inode_push(struct inode *ino, struct event e)
{
	if (!grow((void **)&ino->ev, &ino->cap_ev, ino->nev + 1, sizeof(*ino->ev)))
		return -ENOMEM;
	ino->ev[ino->nev++] = e;
	return 0;
}

static int inode_set_size(struct inode *ino, uint64_t size)
{
	if (size == ino->size)
		return 0;
	ino->size = size;
	return inode_push(ino, (struct event){.kind = EV_SIZE, .len = size});
}

/* A write into the model (the live file got it already). */
static int inode_write(struct inode *ino, const void *buf, uint64_t len, uint64_t off, bool sticky)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	struct event e = {.kind = EV_WRITE, .sticky = sticky, .off = off, .len = len, .data = copy};
	int ret = inode_push(ino, e);
	if (ret < 0) {
		free(copy);
		return ret;
	}
	if (off + len > ino->size)
		ret = inode_set_size(ino, off + len);
	return ret;
}

/* Apply one change to a data buffer of capacity *cap and size *size. */
static int apply(uint8_t **buf, uint64_t *cap, uint64_t *size, const struct event *e)
{
	if (e->kind == EV_SIZE) {
		if (e->len<*size && * cap> e->len)
			memset(*buf + e->len, 0, (size_t)(*cap - e->len));
		*size = e->len;
		return buf_reserve(buf, cap, *size);
	}
	int ret = buf_reserve(buf, cap, e->off + e->len);
	if (ret == 0)
		memcpy(*buf + e->off, e->data, e->len);
	return ret;
}

static uint64_t dur_cap(const struct inode *ino)
{
	/* dur is kept exactly dur_size (rounded) long: see inode_sync. */
	return ino->dur_size;
}

/* fdatasync: every change becomes durable. */
static int inode_sync(struct inode *ino)
{
	uint64_t cap = dur_cap(ino), size = ino->dur_size;
	uint8_t *buf = ino->dur;
	int ret = 0;
	for (size_t i = 0; i < ino->nev && ret == 0; i++)
		ret = apply(&buf, &cap, &size, &ino->ev[i]);
	if (ret < 0) {
		ino->dur = buf;
		return ret;
	}
	/* Keep dur exactly size bytes, so that dur_cap() holds. */
	if (cap != size) {
		uint8_t *b = realloc(buf, size ? size : 1);
		if (b)
			buf = b;
	}
	ino->dur = buf;
	ino->dur_size = size;
	for (size_t i = 0; i < ino->nev; i++)
		free(ino->ev[i].data);
	ino->nev = 0;
	return 0;
}

/* A DSYNC write: it and the size it implies are durable at once. */
static int inode_dsync_write(struct inode *ino, uint64_t off, uint64_t len, const void *data)
{
	uint64_t cap = dur_cap(ino), size = ino->dur_size;
	uint8_t *buf = ino->dur;
	struct event e = {.kind = EV_WRITE, .off = off, .len = len, .data = (uint8_t *)data};
	int ret = apply(&buf, &cap, &size, &e);
	if (ret == 0 && off + len > size)
		size = off + len;
	if (ret == 0 && cap != size) {
		uint8_t *b = realloc(buf, size ? size : 1);
		if (b)
			buf = b;
	}
	ino->dur = buf;
	if (ret == 0)
		ino->dur_size = size;
	return ret;
}

/* ---- directories -------------------------------------------------------- */

static struct entry *names_find(struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].name, name) == 0)
			return &ns->v[i];
	return NULL;
}

static int names_set(struct names *ns, const char *name, struct inode *ino)
{
	struct entry *e = names_find(ns, name);
	if (e) {
		e->ino = ino;
		return 0;
	}
	char *copy = strdup(name);
	if (!copy || !grow((void **)&ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v))) {
		free(copy);
		return -ENOMEM;
	}
	ns->v[ns->n++] = (struct entry){copy, ino};
	return 0;
}

static void names_del(struct names *ns, const char *name)
{
	struct entry *e = names_find(ns, name);
	if (!e)
		return;
	free(e->name);
	*e = ns->v[--ns->n];
}

static void names_clear(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i].name);
	ns->n = 0;
}

static int names_copy(struct names *to, const struct names *from)
{
	names_clear(to);
	for (size_t i = 0; i < from->n; i++)
		if (names_set(to, from->v[i].name, from->v[i].ino) < 0)
			return -ENOMEM;
	return 0;
}

static int dir_change(struct dir *d, uint8_t kind, const char *name, const char *to,
		      struct inode *ino)
{
	char *n = strdup(name), *t = to ? strdup(to) : NULL;
	if (!n || (to && !t) || !grow((void **)&d->ch, &d->cap_ch, d->nch + 1, sizeof(*d->ch))) {
		free(n);
		free(t);
		return -ENOMEM;
	}
	d->ch[d->nch++] = (struct change){kind, n, t, ino};
	return 0;
}

static void dir_clear_changes(struct dir *d)
{
	for (size_t i = 0; i < d->nch; i++) {
		free(d->ch[i].name);
		free(d->ch[i].to);
	}
	d->nch = 0;
}

static void dir_free(struct dir *d)
{
	dir_clear_changes(d);
	free(d->ch);
	names_clear(&d->durable);
	names_clear(&d->live);
	free(d->durable.v);
	free(d->live.v);
	free(d->path);
	free(d);
}

static int apply_change(struct names *ns, const struct change *c)
{
	switch (c->kind) {
	case CH_CREATE:
		return names_set(ns, c->name, c->ino);
	case CH_RENAME:
		names_del(ns, c->name);
		return names_set(ns, c->to, c->ino);
	default:
		names_del(ns, c->name);
		return 0;
	}
}

/* ---- descriptors ------------------------------------------------------ */

static struct fdent *fd_get(struct crashsim *sim, int fd)
{
	if (fd < 0 || (size_t)fd >= sim->nfds)
		return NULL;
	struct fdent *f = &sim->fds[fd];
	return f->dir || f->ino ? f : NULL;
}

static int fd_track(struct crashsim *sim, int fd, struct dir *d, struct inode *ino)
{
	if ((size_t)fd >= sim->nfds) {
		size_t n = sim->nfds ? sim->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fdent *v = realloc(sim->fds, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + sim->nfds, 0, (n - sim->nfds) * sizeof(*v));
		sim->fds = v;
		sim->nfds = n;
	}
	sim->fds[fd] = (struct fdent){d, ino};
	return 0;
}

static struct inode *fd_inode(struct crashsim *sim, int fd)
{
	struct fdent *f = fd_get(sim, fd);
	return f ? f->ino : NULL;
}

static struct dir *fd_dir(struct crashsim *sim, int fd)
{
	struct fdent *f = fd_get(sim, fd);
	return f ? f->dir : NULL;
}

/* ---- the cut ------------------------------------------------------------ */

static void cut_locked(struct crashsim *sim)
{
	if (sim->cut)
		return;
	sim->cut = true;
	if (sim->on_cut)
		sim->on_cut(sim->on_cut_arg);
}

/* Count one operation; false if it must fail (the power is cut). Locked. */
static bool op_begin(struct crashsim *sim)
{
	if (sim->cut)
		return false;
	if (sim->ops == sim->arm_at) {
		cut_locked(sim);
		return false;
	}
	sim->ops++;
	return true;
}

/* ---- the operations --------------------------------------------------- */

#define LOWER(sim, op, ...) ((sim)->lower->ops->op((sim)->lower, __VA_ARGS__))

static int sim_mkdir_p(struct uw_io *io, const char *path)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, mkdir_p, path) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

/* Load a directory met for the first time: its files count as durable. */
static struct dir *dir_load(struct crashsim *sim, int fd, const char *path)
{
	char **names = NULL;
	size_t n = 0;
	struct dir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->path = strdup(path);
	if (!d->path || LOWER(sim, list, fd, "", &names, &n) < 0)
		goto err;
	size_t bl = strlen(sim->base);
	d->rel = d->path + bl + (d->path[bl] == '/');
	for (size_t i = 0; i < n; i++) {
		struct inode *ino = inode_new(sim);
		int f = ino ? LOWER(sim, openat, fd, names[i], O_RDONLY, 0) : -ENOMEM;
		if (f < 0)
			goto err_names;
		int64_t size = LOWER(sim, file_size, f);
		ino->dur = malloc(size > 0 ? (size_t)size : 1);
		ssize_t r = ino->dur && size >= 0 ? LOWER(sim, pread, f, ino->dur, (size_t)size, 0)
						  : -ENOMEM;
		LOWER(sim, close, f);
		if (r != size)
			goto err_names;
		ino->dur_size = ino->size = (uint64_t)size;
		if (names_set(&d->durable, names[i], ino) < 0 ||
		    names_set(&d->live, names[i], ino) < 0)
			goto err_names;
	}
	uw_io_free_names(names, n);
	if (!grow((void **)&sim->dirs, &sim->cap_dirs, sim->ndirs + 1, sizeof(*sim->dirs)))
		goto err;
	sim->dirs[sim->ndirs++] = d;
	return d;
err_names:
	uw_io_free_names(names, n);
err:
	dir_free(d);
	return NULL;
}

static bool under_base(const struct crashsim *sim, const char *path)
{
	size_t bl = strlen(sim->base);
	return strncmp(path, sim->base, bl) == 0 && (path[bl] == 0 || path[bl] == '/' || bl == 1);
}

static int sim_open_dir(struct uw_io *io, const char *path)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int fd = op_begin(sim) ? LOWER(sim, open_dir, path) : -EIO;
	char real[PATH_MAX];
	if (fd >= 0 && realpath(path, real) && under_base(sim, real)) {
		struct dir *d = NULL;
		for (size_t i = 0; i < sim->ndirs && !d; i++)
			if (strcmp(sim->dirs[i]->path, real) == 0)
				d = sim->dirs[i];
		if (!d)
			d = dir_load(sim, fd, real);
		if (!d || fd_track(sim, fd, d, NULL) < 0) {
			LOWER(sim, close, fd);
			fd = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&sim->mu);
	return fd;
}

static int sim_openat(struct uw_io *io, int dirfd, const char *name, int flags, mode_t mode)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	if (!op_begin(sim)) {
		pthread_mutex_unlock(&sim->mu);
		return -EIO;
	}
	int fd = LOWER(sim, openat, dirfd, name, flags, mode);
	struct dir *d = fd_dir(sim, dirfd);
	if (fd < 0 || !d || strchr(name, '/')) {
		pthread_mutex_unlock(&sim->mu);
		return fd;
	}
	int ret = 0;
	struct entry *e = names_find(&d->live, name);
	struct inode *ino = e ? e->ino : NULL;
	if (!ino) {
		/* A new name (O_CREAT): a new file, its entry unsynced. */
		ino = inode_new(sim);
		ret = ino ? names_set(&d->live, name, ino) : -ENOMEM;
		if (ret == 0)
			ret = dir_change(d, CH_CREATE, name, NULL, ino);
	} else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		ret = inode_set_size(ino, 0);
	}
	if (ret == 0)
		ret = fd_track(sim, fd, NULL, ino);
	if (ret < 0) {
		LOWER(sim, close, fd);
		fd = ret;
	}
	pthread_mutex_unlock(&sim->mu);
	return fd;
}

static int sim_close(struct uw_io *io, int fd)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	if (fd_get(sim, fd))
		sim->fds[fd] = (struct fdent){0};
	int ret = LOWER(sim, close, fd);
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

/* Locked. direct: not from a ring chain (for the seal detector). */
/* Whether buf, frames back to back, holds a FRONT or BACK frame (types 3
 * and 4 in byte 4 of a 16-byte frame header; src/format.c). */
static bool holds_trunc_frame(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t at = 0; at + 16 <= len;) {
		uint32_t n = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 |
			     (uint32_t)p[at + 2] << 16 | (uint32_t)p[at + 3] << 24;
		if (n == 0)
			return false;
		if (p[at + 4] == 3 || p[at + 4] == 4)
			return true;
		at += 16 + (size_t)n;
	}
	return false;
}

static int do_pwrite(struct crashsim *sim, int fd, const void *buf, size_t len, uint64_t off,
		     bool direct, bool dsync)
{
	if (!op_begin(sim))
		return -EIO;
	int ret = LOWER(sim, pwrite, fd, buf, len, off);
	struct inode *ino = fd_inode(sim, fd);
	if (ret < 0 || !ino)
		return ret;
	ret = inode_write(ino, buf, len, off, dsync);
	if (ret == 0 && dsync)
		ret = inode_dsync_write(ino, off, len, buf);
	ino->seal_state = direct && off > 0 ? 1 : 0;
	ino->seal_end = off + len;
	ino->trunc_write = holds_trunc_frame(buf, len);
	return ret;
}

static int do_fdatasync(struct crashsim *sim, int fd, bool forget)
{
	if (!op_begin(sim))
		return -EIO;
	int ret = LOWER(sim, fdatasync, fd);
	struct inode *ino = fd_inode(sim, fd);
	if (ret < 0 || !ino)
		return ret;
	bool seal = ino->seal_state == 2, trunc = ino->trunc_write;
	ino->seal_state = 0;
	ino->trunc_write = false;
	if (forget || (seal && sim->forget == CRASHSIM_FORGET_SEAL_FDATASYNC) ||
	    (trunc && sim->forget == CRASHSIM_FORGET_TRUNC_FDATASYNC)) {
		sim->forgotten++;
		return 0;
	}
	return inode_sync(ino);
}

static int sim_pwrite(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = do_pwrite(sim, fd, buf, len, off, true, false);
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static ssize_t sim_pread(struct uw_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	ssize_t ret = op_begin(sim) ? LOWER(sim, pread, fd, buf, len, off) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_fdatasync(struct uw_io *io, int fd)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = do_fdatasync(sim, fd, false);
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

/* Writeback, started or waited for, makes nothing durable: forwarded, and
 * counted as an operation (a cut can fall on it), nothing else. */
static int sim_writeback(struct uw_io *io, int fd, uint64_t off, uint64_t len, bool wait)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, writeback, fd, off, len, wait) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_dirsync(struct uw_io *io, int dirfd)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, dirsync, dirfd) : -EIO;
	struct dir *d = fd_dir(sim, dirfd);
	if (ret == 0 && d) {
		const struct change *last = d->nch ? &d->ch[d->nch - 1] : NULL;
		size_t nl = last && last->kind == CH_RENAME ? strlen(last->name) : 0;
		if (sim->forget == CRASHSIM_FORGET_CREATE_DIRSYNC && nl > 4 &&
		    strcmp(last->name + nl - 4, ".tmp") == 0) {
			sim->forgotten++;
		} else {
			ret = names_copy(&d->durable, &d->live);
			dir_clear_changes(d);
		}
	}
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_fallocate(struct uw_io *io, int fd, uint64_t off, uint64_t len)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, fallocate, fd, off, len) : -EIO;
	struct inode *ino = fd_inode(sim, fd);
	if (ret == 0 && ino) {
		ino->seal_state = 0;
		ino->trunc_write = false;
		if (off + len > ino->size)
			ret = inode_set_size(ino, off + len);
	}
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_ftruncate(struct uw_io *io, int fd, uint64_t len)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, ftruncate, fd, len) : -EIO;
	struct inode *ino = fd_inode(sim, fd);
	if (ret == 0 && ino) {
		ino->seal_state = ino->seal_state == 1 && len == ino->seal_end ? 2 : 0;
		ino->trunc_write = false;
		ret = inode_set_size(ino, len);
	}
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int64_t sim_file_size(struct uw_io *io, int fd)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int64_t ret = op_begin(sim) ? LOWER(sim, file_size, fd) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_renameat(struct uw_io *io, int dirfd, const char *from, const char *to)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, renameat, dirfd, from, to) : -EIO;
	struct dir *d = fd_dir(sim, dirfd);
	struct entry *e = d && ret == 0 ? names_find(&d->live, from) : NULL;
	if (e) {
		struct inode *ino = e->ino;
		names_del(&d->live, from);
		ret = names_set(&d->live, to, ino);
		if (ret == 0)
			ret = dir_change(d, CH_RENAME, from, to, ino);
	}
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_unlinkat(struct uw_io *io, int dirfd, const char *name)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, unlinkat, dirfd, name) : -EIO;
	struct dir *d = fd_dir(sim, dirfd);
	if (ret == 0 && d && names_find(&d->live, name)) {
		names_del(&d->live, name);
		ret = dir_change(d, CH_UNLINK, name, NULL, NULL);
	}
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_flock_ex(struct uw_io *io, int fd)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, flock_ex, fd) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_file_id(struct uw_io *io, int fd, const char *name, struct uw_file_id *id)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, file_id, fd, name, id) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

static int sim_list(struct uw_io *io, int dirfd, const char *prefix, char ***names, size_t *n)
{
	struct crashsim *sim = sim_of(io);
	pthread_mutex_lock(&sim->mu);
	int ret = op_begin(sim) ? LOWER(sim, list, dirfd, prefix, names, n) : -EIO;
	pthread_mutex_unlock(&sim->mu);
	return ret;
}

/* ---- the ring: chains run in order through this backend ----------------- */

static int sim_ring_open(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
			 struct uw_ring_info *info)
{
	struct sim_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.io = io;
	r->sim = sim_of(io);
	r->wake_fd = o->wake_fd;
	if (info)
		*info = (struct uw_ring_info){.uring = false, .setup_error = -ENOSYS};
	*out = &r->base;
	return 0;
}

static int sim_ring_run(struct uw_ring *ring, const struct uw_io_op *ops, unsigned n, int *res,
			unsigned flags)
{
	struct sim_ring *r = (struct sim_ring *)ring;
	struct crashsim *sim = r->sim;
	unsigned order[n ? n : 1];
	unsigned k = 0;
	(void)flags;
	/* Forget mode WRITE_BEFORE_SYNC: the chain's fdatasyncs first. */
	bool late_writes = sim->forget == CRASHSIM_FORGET_WRITE_BEFORE_SYNC;
	for (unsigned i = 0; i < n; i++)
		if (!late_writes || ops[i].kind == UW_IO_OP_FDATASYNC)
			order[k++] = i;
	for (unsigned i = 0; late_writes && i < n; i++)
		if (ops[i].kind != UW_IO_OP_FDATASYNC)
			order[k++] = i;
	bool failed = false;
	pthread_mutex_lock(&sim->mu);
	ring->enters++;
	for (unsigned j = 0; j < n; j++) {
		const struct uw_io_op *op = &ops[order[j]];
		int ret;
		if (failed) {
			ret = -ECANCELED;
		} else if (op->kind == UW_IO_OP_WRITE) {
			bool dsync = op->flags & UW_IO_OP_DSYNC;
			ret = do_pwrite(sim, op->fd, op->buf, op->len, op->off, false, dsync);
			if (ret == 0)
				ret = (int)op->len;
		} else if (op->kind == UW_IO_OP_FDATASYNC) {
			bool forget = sim->forget == CRASHSIM_FORGET_RING_FDATASYNC;
			ret = do_fdatasync(sim, op->fd, forget);
		} else {
			ret = -EINVAL;
		}
		if (late_writes && op->kind == UW_IO_OP_FDATASYNC && ret == 0)
			sim->forgotten++;
		failed = ret < 0;
		res[order[j]] = ret;
	}
	pthread_mutex_unlock(&sim->mu);
	return 0;
}

static int sim_ring_idle(struct uw_ring *ring)
{
	struct sim_ring *r = (struct sim_ring *)ring;
	struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
	uint64_t v;
	if (poll(&p, 1, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	/* Drain the signal, as the system ring's queued read does. */
	if (p.revents & POLLIN)
		(void)!read(r->wake_fd, &v, sizeof(v));
	return 0;
}

static void sim_ring_close(struct uw_ring *ring)
{
	free(ring);
}

static void sim_futex_wait(struct uw_io *io, uint32_t *addr, uint32_t val)
{
	struct crashsim *sim = sim_of(io);
	sim->lower->ops->futex_wait(sim->lower, addr, val);
}

static void sim_futex_wait_for(struct uw_io *io, uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct crashsim *sim = sim_of(io);
	sim->lower->ops->futex_wait_for(sim->lower, addr, val, timeout_ns);
}

static void sim_futex_wake(struct uw_io *io, uint32_t *addr, int n)
{
	struct crashsim *sim = sim_of(io);
	sim->lower->ops->futex_wake(sim->lower, addr, n);
}

static int sim_eventfd(struct uw_io *io)
{
	struct crashsim *sim = sim_of(io);
	return sim->lower->ops->eventfd(sim->lower);
}

static int sim_eventfd_signal(struct uw_io *io, int efd)
{
	struct crashsim *sim = sim_of(io);
	return sim->lower->ops->eventfd_signal(sim->lower, efd);
}

static int sim_eventfd_drain(struct uw_io *io, int efd)
{
	struct crashsim *sim = sim_of(io);
	return sim->lower->ops->eventfd_drain(sim->lower, efd);
}

static int sim_pipe(struct uw_io *io, int fds[2])
{
	struct crashsim *sim = sim_of(io);
	return sim->lower->ops->pipe(sim->lower, fds);
}

static ssize_t sim_read(struct uw_io *io, int fd, void *buf, size_t len)
{
	struct crashsim *sim = sim_of(io);
	return sim->lower->ops->read(sim->lower, fd, buf, len);
}

static const struct uw_io_ops sim_ops = {
	.mkdir_p = sim_mkdir_p,
	.open_dir = sim_open_dir,
	.openat = sim_openat,
	.close = sim_close,
	.pwrite = sim_pwrite,
	.pread = sim_pread,
	.fdatasync = sim_fdatasync,
	.writeback = sim_writeback,
	.dirsync = sim_dirsync,
	.fallocate = sim_fallocate,
	.ftruncate = sim_ftruncate,
	.file_size = sim_file_size,
	.renameat = sim_renameat,
	.unlinkat = sim_unlinkat,
	.flock_ex = sim_flock_ex,
	.file_id = sim_file_id,
	.list = sim_list,
	.ring_open = sim_ring_open,
	.ring_run = sim_ring_run,
	.ring_idle = sim_ring_idle,
	.ring_close = sim_ring_close,
	.futex_wait = sim_futex_wait,
	.futex_wait_for = sim_futex_wait_for,
	.futex_wake = sim_futex_wake,
	.eventfd = sim_eventfd,
	.eventfd_signal = sim_eventfd_signal,
	.eventfd_drain = sim_eventfd_drain,
	.pipe = sim_pipe,
	.read = sim_read,
};

/* ---- the simulator ------------------------------------------------------ */

struct crashsim *crashsim_new(struct uw_io *lower, const char *base)
{
	struct crashsim *sim = calloc(1, sizeof(*sim));
	char real[PATH_MAX];
	if (!sim)
		return NULL;
	sim->io.ops = &sim_ops;
	sim->lower = lower ? lower : uw_io_system();
	sim->base = strdup(realpath(base, real) ? real : base);
	sim->arm_at = UINT64_MAX;
	pthread_mutex_init(&sim->mu, NULL);
	if (!sim->base) {
		free(sim);
		return NULL;
	}
	return sim;
}

void crashsim_free(struct crashsim *sim)
{
	if (!sim)
		return;
	for (size_t i = 0; i < sim->ndirs; i++)
		dir_free(sim->dirs[i]);
	for (size_t i = 0; i < sim->ninodes; i++)
		inode_free(sim->inodes[i]);
	free(sim->dirs);
	free(sim->inodes);
	free(sim->fds);
	free(sim->base);
	pthread_mutex_destroy(&sim->mu);
	free(sim);
}

struct uw_io *crashsim_io(struct crashsim *sim)
{
	return &sim->io;
}

void crashsim_set_forget(struct crashsim *sim, enum crashsim_forget mode)
{
	pthread_mutex_lock(&sim->mu);
	sim->forget = mode;
	pthread_mutex_unlock(&sim->mu);
}

uint64_t crashsim_forgotten(struct crashsim *sim)
{
	pthread_mutex_lock(&sim->mu);
	uint64_t n = sim->forgotten;
	pthread_mutex_unlock(&sim->mu);
	return n;
}

static const char *const forget_names[CRASHSIM_FORGET__COUNT] = {
	[CRASHSIM_FORGET_NONE] = "none",
	[CRASHSIM_FORGET_RING_FDATASYNC] = "ring-fdatasync",
	[CRASHSIM_FORGET_WRITE_BEFORE_SYNC] = "write-before-sync",
	[CRASHSIM_FORGET_SEAL_FDATASYNC] = "seal-fdatasync",
	[CRASHSIM_FORGET_CREATE_DIRSYNC] = "create-dirsync",
	[CRASHSIM_FORGET_TRUNC_FDATASYNC] = "trunc-fdatasync",
};

const char *crashsim_forget_name(int mode)
{
	return mode >= 0 && mode < CRASHSIM_FORGET__COUNT ? forget_names[mode] : NULL;
}

int crashsim_forget_parse(const char *name)
{
	for (int i = 0; i < CRASHSIM_FORGET__COUNT; i++)
		if (strcmp(name, forget_names[i]) == 0)
			return i;
	return -1;
}

void crashsim_arm(struct crashsim *sim, uint64_t ops, void (*on_cut)(void *arg), void *arg)
{
	pthread_mutex_lock(&sim->mu);
	sim->arm_at = sim->ops + ops;
	sim->on_cut = on_cut;
	sim->on_cut_arg = arg;
	pthread_mutex_unlock(&sim->mu);
}

void crashsim_cut(struct crashsim *sim, uint64_t seed)
{
	pthread_mutex_lock(&sim->mu);
	if (!sim->cut)
		sim->cut_seed = seed;
	cut_locked(sim);
	pthread_mutex_unlock(&sim->mu);
}

int crashsim_is_cut(struct crashsim *sim)
{
	pthread_mutex_lock(&sim->mu);
	int c = sim->cut;
	pthread_mutex_unlock(&sim->mu);
	return c;
}

uint64_t crashsim_ops(struct crashsim *sim)
{
	pthread_mutex_lock(&sim->mu);
	uint64_t n = sim->ops;
	pthread_mutex_unlock(&sim->mu);
	return n;
}

void crashsim_settle(struct crashsim *sim)
{
	struct timespec ms3 = {0, 3000000L};
	uint64_t n = crashsim_ops(sim);
	for (int quiet = 0; quiet < 10;) {
		nanosleep(&ms3, NULL);
		uint64_t m = crashsim_ops(sim);
		quiet = m == n ? quiet + 1 : 0;
		n = m;
	}
}

/* ---- the layout ----------------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* true with probability pct/100. */
static bool chance(struct rng *r, unsigned pct)
{
	return rnd(r) % 100 < pct;
}

/*
 * How this layout treats what was not synced: a survival rate for
 * sectors, one for directory entry changes, one for size changes, and
 * how often a kept sector is torn. Drawn per layout so that "nothing
 * survives" and "everything survives" both come up.
 */
struct fate {
	unsigned sector_pct, torn_pct, entry_pct, size_pct;
};

static unsigned pick_pct(struct rng *r)
{
	static const unsigned v[] = {0, 100, 50, 90, 10};
	unsigned i = (unsigned)(rnd(r) % 6);
	return i < 5 ? v[i] : (unsigned)(rnd(r) % 101);
}

/* The file as the power loss leaves it, in ino->img / img_size. */
static int inode_image(struct inode *ino, struct rng *r, const struct fate *f)
{
	uint64_t cap = ino->dur_size, size = ino->dur_size;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return -ENOMEM;
	if (ino->dur_size)
		memcpy(buf, ino->dur, ino->dur_size);
	/* Size changes survive as a prefix of their sequence. */
	size_t nsize = 0, keep_sizes = 0;
	for (size_t i = 0; i < ino->nev; i++)
		nsize += ino->ev[i].kind == EV_SIZE;
	while (keep_sizes < nsize && chance(r, f->size_pct))
		keep_sizes++;
	int ret = 0;
	for (size_t i = 0, sz = 0; i < ino->nev && ret == 0; i++) {
		const struct event *e = &ino->ev[i];
		if (e->kind == EV_SIZE) {
			if (sz++ < keep_sizes)
				ret = apply(&buf, &cap, &size, e);
			continue;
		}
		ret = buf_reserve(&buf, &cap, e->off + e->len);
		/* Sector by sector: kept, dropped or torn. */
		for (uint64_t at = e->off; ret == 0 && at < e->off + e->len;) {
			uint64_t end = (at / SECTOR + 1) * SECTOR;
			if (end > e->off + e->len)
				end = e->off + e->len;
			const uint8_t *src = e->data + (at - e->off);
			uint64_t n = end - at;
			if (e->sticky || chance(r, f->sector_pct)) {
				if (!e->sticky && chance(r, f->torn_pct)) {
					uint64_t cut = rnd(r) % (n + 1);
					if (rnd(r) & 1)
						memcpy(buf + at, src, cut);
					else
						memcpy(buf + at + cut, src + cut, n - cut);
				} else {
					memcpy(buf + at, src, n);
				}
			}
			at = end;
		}
	}
	if (ret == 0)
		ret = buf_reserve(&buf, &cap, size);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	free(ino->img);
	ino->img = buf;
	ino->img_size = size;
	ino->img_done = true;
	return 0;
}

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_file(const char *path, const uint8_t *buf, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int ret = 0;
	for (uint64_t off = 0; off < size && ret == 0;) {
		ssize_t n = pwrite(fd, buf + off, (size_t)(size - off), (off_t)off);
		if (n < 0)
			ret = -errno;
		else
			off += (uint64_t)n;
	}
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

static int layout_dir(struct dir *d, struct rng *r, const struct fate *f, const char *outdir,
		      size_t *kept, size_t *dropped)
{
	struct names fin = {0};
	char path[PATH_MAX];
	int ret = names_copy(&fin, &d->durable);
	for (size_t i = 0; i < d->nch && ret == 0; i++) {
		if (chance(r, f->entry_pct)) {
			ret = apply_change(&fin, &d->ch[i]);
			(*kept)++;
		} else {
			(*dropped)++;
		}
	}
	snprintf(path, sizeof(path), "%s%s%s", outdir, *d->rel ? "/" : "", d->rel);
	if (ret == 0)
		ret = mkdirs(path);
	for (size_t i = 0; i < fin.n && ret == 0; i++) {
		struct inode *ino = fin.v[i].ino;
		if (!ino->img_done)
			ret = inode_image(ino, r, f);
		snprintf(path, sizeof(path), "%s%s%s/%s", outdir, *d->rel ? "/" : "", d->rel,
			 fin.v[i].name);
		if (ret == 0)
			ret = write_file(path, ino->img, ino->img_size);
	}
	names_clear(&fin);
	free(fin.v);
	return ret;
}

static int copy_file(const char *from, const char *to)
{
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	uint8_t *buf = NULL;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && !(buf = malloc(st.st_size ? (size_t)st.st_size : 1)))
		ret = -ENOMEM;
	if (ret == 0 && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		ret = -EIO;
	close(fd);
	if (ret == 0)
		ret = write_file(to, buf, (uint64_t)st.st_size);
	free(buf);
	return ret;
}

/*
 * The directories under base that the engine never opened are durable as
 * they are: copy them (their files, and the tree below) to outdir.
 */
static int copy_unmodelled(struct crashsim *sim, const char *path, const char *rel,
			   const char *outdir, const char *skip)
{
	char from[PATH_MAX], to[PATH_MAX], sub[PATH_MAX];
	bool modelled = false;
	for (size_t i = 0; i < sim->ndirs && !modelled; i++)
		modelled = strcmp(sim->dirs[i]->path, path) == 0;
	snprintf(to, sizeof(to), "%s%s%s", outdir, *rel ? "/" : "", rel);
	int ret = mkdirs(to);
	DIR *dp = ret == 0 ? opendir(path) : NULL;
	if (ret == 0 && !dp)
		ret = -errno;
	struct dirent *de;
	while (ret == 0 && (de = readdir(dp))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(from, sizeof(from), "%s/%s", path, de->d_name);
		if (lstat(from, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && strcmp(from, skip) != 0) {
			snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
			ret = copy_unmodelled(sim, from, sub, outdir, skip);
		} else if (S_ISREG(st.st_mode) && !modelled) {
			snprintf(to, sizeof(to), "%s%s%s/%s", outdir, *rel ? "/" : "", rel,
				 de->d_name);
			ret = copy_file(from, to);
		}
	}
	if (dp)
		closedir(dp);
	return ret;
}

int crashsim_layout(struct crashsim *sim, uint64_t seed, const char *outdir, const char **summary)
{
	static __thread char desc[160];
	struct rng r;
	struct fate f;
	size_t kept = 0, dropped = 0, pending = 0;
	int ret = 0;

	pthread_mutex_lock(&sim->mu);
	r.s = seed ? seed : sim->cut_seed;
	f.sector_pct = pick_pct(&r);
	f.entry_pct = pick_pct(&r);
	f.size_pct = pick_pct(&r);
	f.torn_pct = chance(&r, 50) ? 0 : (unsigned)(rnd(&r) % 30);
	for (size_t i = 0; i < sim->ninodes; i++) {
		sim->inodes[i]->img_done = false;
		pending += sim->inodes[i]->nev;
	}
	/* outdir may lie under base: it is not part of the image. */
	char skip[PATH_MAX];
	ret = mkdirs(outdir);
	if (ret == 0 && !realpath(outdir, skip))
		ret = -errno;
	if (ret == 0)
		ret = copy_unmodelled(sim, sim->base, "", outdir, skip);
	for (size_t i = 0; i < sim->ndirs && ret == 0; i++)
		ret = layout_dir(sim->dirs[i], &r, &f, outdir, &kept, &dropped);
	for (size_t i = 0; i < sim->ninodes; i++) {
		free(sim->inodes[i]->img);
		sim->inodes[i]->img = NULL;
	}
	pthread_mutex_unlock(&sim->mu);
	snprintf(desc, sizeof(desc),
		 "sectors kept %u%% (torn %u%%), size changes %u%%, entries %u%% (%zu kept, %zu "
		 "dropped), %zu unsynced file changes",
		 f.sector_pct, f.torn_pct, f.size_pct, f.entry_pct, kept, dropped, pending);
	if (summary)
		*summary = desc;
	return ret;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -errno : 0;
}

int crashsim_layout_fresh(struct crashsim *sim, uint64_t seed, const char *outdir)
{
	struct stat st;
	if (stat(outdir, &st) == 0) {
		int e = nftw(outdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (e != 0)
			return e < 0 ? e : -EIO;
	}
	return crashsim_layout(sim, seed, outdir, NULL);
}
