/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inspect.c - looking at a log from outside its write path: the segments
 * of an open handle (uwal_segments), whether the lock is held
 * (uwal_locked), and the entry points of unsafe recover, with its report
 * and its dry run (the checks themselves are recovery.c's).
 *
 * The arrays handed out follow the size scheme of uwal_stats_get_sized():
 * the caller passes sizeof(uwal_segment_info) as it was compiled, and
 * each element is copied with that stride, cut or zero-padded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The library's elements v[0..n) into a malloc'd array of the caller's
 * element size, into *out (NULL if n is 0). 0 or -ENOMEM. */
static int copy_out(const uwal_segment_info *v, size_t n, size_t size, uwal_segment_info **out)
{
	*out = NULL;
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / size)
		return -ENOMEM;
	uint8_t *a = calloc(n, size);
	if (!a)
		return -ENOMEM;
	size_t c = size < sizeof(*v) ? size : sizeof(*v);
	for (size_t i = 0; i < n; i++)
		memcpy(a + i * size, &v[i], c);
	*out = (uwal_segment_info *)a;
	return 0;
}

void uwal_segments_free(uwal_segment_info *v)
{
	free(v);
}

/* ---- the segments of a handle ------------------------------------------ */

/* One segment's facts into *e, under the handle's lock (read). */
static void describe(const struct seg *s, uwal_segment_info *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = s->seq;
	snprintf(e->name, sizeof(e->name), "%s", s->name);
	e->frame_bytes = s->end - FMT_SEG_HDR_SIZE;
	e->records = s->idx.n;
	e->first_index = s->idx.n ? s->idx.min : 0;
	e->last_index = s->idx.n ? s->idx.max : 0;
	e->tail_bytes = s->tail_bytes;
	e->version = s->version;
	e->sealed = s->sealed;
	e->after_gap = s->hdr_flags & FMT_SEG_AFTER_GAP;
}

int uwal_segments_sized(uwal *w, uwal_segment_info **out, size_t *n_out, size_t size)
{
	if (!w || !out || !n_out || size == 0)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	/* Under the lock: a reference and the published facts of each
	 * segment. The file sizes are read after, without holding it. */
	pthread_rwlock_rdlock(&w->lock);
	size_t n = w->nsegs;
	struct seg **segs = malloc((n ? n : 1) * sizeof(*segs));
	uwal_segment_info *v = malloc((n ? n : 1) * sizeof(*v));
	if (segs && v) {
		for (size_t i = 0; i < n; i++) {
			segs[i] = w->segs[i];
			uw_seg_ref(segs[i]);
			describe(segs[i], &v[i]);
		}
	}
	pthread_rwlock_unlock(&w->lock);
	if (!segs || !v) {
		free(segs);
		free(v);
		return -ENOMEM;
	}
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		int fd;
		ret = uw_seg_fd_get(segs[i], &fd);
		if (ret < 0)
			break;
		int64_t sz = uw_io_file_size(segs[i]->io, fd);
		uw_seg_fd_put(segs[i]);
		if (sz < 0)
			ret = (int)sz;
		else
			v[i].file_size = (uint64_t)sz;
	}
	for (size_t i = 0; i < n; i++)
		uw_seg_unref(segs[i]);
	free(segs);
	uwal_segment_info *res = NULL;
	if (ret == 0)
		ret = copy_out(v, n, size, &res);
	free(v);
	uw_wal_flush_log(w);
	if (ret < 0)
		return ret;
	*out = res;
	*n_out = n;
	return 0;
}

/* ---- the lock ----------------------------------------------------------- */

/*
 * 1 if another handle holds the flock on "<prefix>lock" in dirfd, 0 if not
 * (or there is no lock file: none is created), -errno. The probe holds the
 * lock for an instant: closing the descriptor releases it.
 */
static int probe_lock(struct uw_io *io, int dirfd, const char *prefix)
{
	char name[UW_LOCK_NAME_MAX];
	uw_wal_lock_name(name, prefix);
	int fd = uw_io_openat(io, dirfd, name, O_RDONLY, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	int ret = uw_io_flock_ex(io, fd);
	uw_io_close(io, fd);
	if (ret == -EWOULDBLOCK)
		return 1;
	return ret < 0 ? ret : 0;
}

int uwal_locked(const char *dir, const char *prefix)
{
	if (!dir)
		return UWAL_EINVAL;
	if (!prefix)
		prefix = "segment_";
	if (!uw_cfg_prefix_ok(prefix))
		return UWAL_EINVAL;
	struct uw_io *io = uw_io_select();
	int dirfd = uw_io_open_dir(io, dir);
	if (dirfd < 0)
		return dirfd;
	int ret = probe_lock(io, dirfd, prefix);
	uw_io_close(io, dirfd);
	return ret;
}

/* ---- unsafe recover ----------------------------------------------------- */

/* Run unsafe recover (see uw_rec_unsafe_recover) on dir with its lock
 * taken, or in a dry run checked: the library's own report into *rep. */
static int recover(const char *dir, const char *prefix, unsigned flags, uwal_segment_info **rep,
		   size_t *n)
{
	*rep = NULL;
	*n = 0;
	if (!dir || (flags & ~(unsigned)UWAL_RECOVER_DRY_RUN))
		return UWAL_EINVAL;
	if (!prefix)
		prefix = "segment_";
	if (!uw_cfg_prefix_ok(prefix))
		return UWAL_EINVAL;
	struct uw_io *io = uw_io_select();
	int dirfd = uw_io_open_dir(io, dir);
	if (dirfd < 0)
		return dirfd;
	int lockfd = -1;
	int ret;
	if (flags & UWAL_RECOVER_DRY_RUN) {
		ret = probe_lock(io, dirfd, prefix);
		if (ret == 1)
			ret = UWAL_ELOCKED;
	} else {
		ret = uw_wal_take_lock(io, dirfd, prefix, &lockfd);
	}
	if (ret == 0)
		ret = uw_rec_unsafe_recover(io, dirfd, prefix, flags, rep, n);
	if (lockfd >= 0)
		uw_io_close(io, lockfd);
	uw_io_close(io, dirfd);
	return ret;
}

int uwal_unsafe_recover_sized(const char *dir, const char *prefix, unsigned flags,
			      uwal_segment_info **out, size_t *n_out, size_t size)
{
	if (!out || !n_out || size == 0)
		return UWAL_EINVAL;
	*out = NULL;
	*n_out = 0;
	uwal_segment_info *rep;
	size_t n;
	int ret = recover(dir, prefix, flags, &rep, &n);
	if (ret == 0)
		ret = copy_out(rep, n, size, out);
	free(rep);
	if (ret == 0)
		*n_out = n;
	return ret;
}

int uwal_unsafe_recover(const char *dir, const char *prefix, char ***removed, size_t *n_removed)
{
	if (removed)
		*removed = NULL;
	if (n_removed)
		*n_removed = 0;
	uwal_segment_info *rep;
	size_t n, k = 0;
	int ret = recover(dir, prefix, 0, &rep, &n);
	if (ret < 0)
		return ret;
	/* The names of the removed files (they are gone already: out of
	 * memory here loses only the list). */
	char **names = NULL;
	if (n && !(names = calloc(n, sizeof(*names))))
		ret = -ENOMEM;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (!rep[i].removed)
			continue;
		if (!(names[k] = strdup(rep[i].name)))
			ret = -ENOMEM;
		else
			k++;
	}
	free(rep);
	if (ret < 0) {
		uwal_free_list(names, k);
		return ret;
	}
	if (!k) {
		free(names);
		names = NULL;
	}
	if (removed)
		*removed = names;
	else
		uwal_free_list(names, k);
	if (n_removed)
		*n_removed = k;
	return 0;
}

void uwal_free_list(char **list, size_t n)
{
	uw_io_free_names(list, n); /* the same shape: malloc'd array of malloc'd names */
}

/* ---- sizes ------------------------------------------------------------- */

size_t uwal_record_size(uint64_t index, size_t key_len, size_t value_len)
{
	return uw_fmt_record_frame_size(index, key_len, value_len);
}
