/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal.c - the handle: configuration, open and close, the write entry
 * points (argument checks, then submit.c), reads by index, counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Set on uwal's own threads (writer, preparer): their messages wait. */
static __thread bool on_uwal_thread;

void uw_wal_mark_thread(void)
{
	on_uwal_thread = true;
}

/*
 * log_fn is only ever called on a caller's thread, inside a uwal call:
 * a message from uwal's own threads is queued and handed over by the next
 * call that returns (uw_wal_flush_log). So log_fn may call into uwal (even
 * uwal_write) without waiting on a thread that is waiting on it.
 */
void uw_wal_log(const struct uwal *cw, int level, const char *fmt, ...)
{
	struct uwal *w = (struct uwal *)cw;
	if (!w || !w->cfg.log_fn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!on_uwal_thread) {
		w->cfg.log_fn(w->cfg.log_ctx, level, msg);
		return;
	}
	pthread_mutex_lock(&w->log_mu);
	if (w->n_logq < UW_LOGQ_MAX) {
		struct uw_logmsg *m = &w->logq[w->n_logq++];
		m->level = level;
		memcpy(m->text, msg, sizeof(m->text));
	} else {
		w->logq_dropped++;
	}
	pthread_mutex_unlock(&w->log_mu);
	atomic_store_explicit(&w->logq_pending, 1, memory_order_release);
}

void uw_wal_flush_log(struct uwal *w)
{
	/* acquire: pairs with the release store above; a relaxed miss only
	 * delays a message to the next call. */
	if (!w || !atomic_load_explicit(&w->logq_pending, memory_order_acquire))
		return;
	struct uw_logmsg q[UW_LOGQ_MAX];
	pthread_mutex_lock(&w->log_mu);
	size_t n = w->n_logq;
	uint64_t dropped = w->logq_dropped;
	memcpy(q, w->logq, n * sizeof(q[0]));
	w->n_logq = 0;
	w->logq_dropped = 0;
	atomic_store_explicit(&w->logq_pending, 0, memory_order_relaxed);
	pthread_mutex_unlock(&w->log_mu);
	for (size_t i = 0; i < n; i++)
		w->cfg.log_fn(w->cfg.log_ctx, q[i].level, q[i].text);
	if (dropped) {
		char msg[128];
		snprintf(msg, sizeof(msg), "%llu diagnostics dropped (too many at once)",
			 (unsigned long long)dropped);
		w->cfg.log_fn(w->cfg.log_ctx, UWAL_LOG_WARN, msg);
	}
}

void uw_wal_lock_name(char *out, const char *prefix)
{
	snprintf(out, UW_LOCK_NAME_MAX, "%slock", prefix);
}

/*
 * Whether the name of the lock file in dirfd still refers to the file fd
 * holds the flock on: 0 if it does, UWAL_ELOCKED if the name is gone or
 * refers to another file (then a second handle can take "the" lock while
 * this one writes), -errno if it cannot be told.
 */
static int lock_is_ours(struct uw_io *io, int dirfd, const char *name, int fd)
{
	struct uw_file_id mine, named;
	int ret = uw_io_file_id(io, fd, NULL, &mine);
	if (ret < 0)
		return ret;
	ret = uw_io_file_id(io, dirfd, name, &named);
	if (ret == -ENOENT)
		return UWAL_ELOCKED;
	if (ret < 0)
		return ret;
	return mine.dev == named.dev && mine.ino == named.ino ? 0 : UWAL_ELOCKED;
}

int uw_wal_check_lock(struct uwal *w)
{
	int ret = lock_is_ours(w->io, w->dirfd, w->lock_name, w->lockfd);
	if (ret == UWAL_ELOCKED)
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "lock file %s/%s was removed or replaced while the log was open: "
			   "another handle may have opened the log and be writing to it",
			   w->dir, w->lock_name);
	return ret;
}

/*
 * Take the flock on "<prefix>lock" (per prefix: logs of several prefixes
 * may share a directory). The lock only means something while the name
 * refers to the locked file: if another process replaced the file between
 * our open and our flock, try again with the new one.
 */
int uw_wal_take_lock(struct uw_io *io, int dirfd, const char *prefix, int *out)
{
	char name[UW_LOCK_NAME_MAX];
	uw_wal_lock_name(name, prefix);
	int ret = UWAL_ELOCKED;
	for (int tries = 0; tries < 8 && ret == UWAL_ELOCKED; tries++) {
		int fd = uw_io_openat(io, dirfd, name, O_RDWR | O_CREAT, 0644);
		if (fd < 0)
			return fd;
		ret = uw_io_flock_ex(io, fd);
		if (ret < 0) {
			uw_io_close(io, fd);
			return ret == -EWOULDBLOCK ? UWAL_ELOCKED : ret;
		}
		ret = lock_is_ours(io, dirfd, name, fd);
		if (ret == 0) {
			*out = fd;
			return 0;
		}
		uw_io_close(io, fd);
	}
	return ret;
}

static void free_handle(struct uwal *w)
{
	for (size_t i = 0; i < w->nsegs; i++)
		uw_seg_unref(w->segs[i]);
	free(w->segs);
	free(w->cuts);
	uw_fdc_destroy(&w->fdc);
	if (w->queues) {
		for (unsigned i = 0; i < w->nq; i++)
			uw_pq_destroy(&w->queues[i]);
		free(w->queues);
	}
	free(w->prep.doomed);
	pthread_mutex_destroy(&w->prep.mu);
	pthread_mutex_destroy(&w->log_mu);
	pthread_mutex_destroy(&w->files_mu);
	pthread_mutex_destroy(&w->comp_mu);
	/* Completions not reaped by now are discarded (see uwal_reap()). */
	free(w->comp);
	pthread_cond_destroy(&w->prep.cv);
	pthread_rwlock_destroy(&w->lock);
	if (w->wake_fd >= 0)
		uw_io_close(w->io, w->wake_fd);
	if (w->comp_fd >= 0)
		uw_io_close(w->io, w->comp_fd);
	uw_fork_unregister(w); /* and closes the lock file: releases the flock */
	if (w->dirfd >= 0)
		uw_io_close(w->io, w->dirfd);
	free(w->dir);
	free(w->prefix);
	free(w);
}

static int init_queues(struct uwal *w)
{
	/* One queue per configured CPU: threads migrate, and CPUs may come
	 * online later, so size by what could exist, not what runs now. */
	w->nq = uw_io_cpus_configured();
	w->ncpu = uw_io_cpus_online();
	w->queues = calloc(w->nq, sizeof(*w->queues));
	if (!w->queues)
		return -ENOMEM;
	size_t cap = 2;
	while (cap < w->cfg.queue_capacity)
		cap *= 2;
	for (unsigned i = 0; i < w->nq; i++)
		if (uw_pq_init(&w->queues[i], cap) < 0)
			return -ENOMEM;
	return 0;
}

/* Segments of an older format version are read as they are; the ones this
 * handle creates are of the current version, which older libraries cannot
 * read: say so once, at open. */
static void say_old_versions(struct uwal *w)
{
	size_t old = 0;
	for (size_t i = 0; i < w->nsegs; i++)
		old += w->segs[i]->version < FMT_VERSION;
	if (old)
		uw_wal_log(w, UWAL_LOG_WARN,
			   "log %s: %zu segment(s) of an older format version are read as they "
			   "are; new segments are version %d, which older uwal cannot read: the "
			   "upgrade is one-way",
			   w->dir, old, FMT_VERSION);
}

int uwal_open(const uwal_config *cfg, uwal **out)
{
	if (!cfg || !out)
		return UWAL_EINVAL;
	uwal_config c;
	int ret = uw_cfg_load(cfg, &c);
	if (ret < 0)
		return ret;

	/* Over-aligned: its hot atomics sit on cache lines of their own. */
	size_t sz = (sizeof(struct uwal) + 63) & ~(size_t)63;
	struct uwal *w = aligned_alloc(64, sz);
	if (!w)
		return -ENOMEM;
	memset(w, 0, sz);
	w->cfg = c;
	cfg = &w->cfg;
	w->io = uw_io_select();
	atomic_init(&w->writer_cpu, -1);
	atomic_init(&w->submit_cpu, -1);
	w->dirfd = w->lockfd = w->wake_fd = -1;
	w->dir = strdup(cfg->dir);
	w->prefix = strdup(cfg->prefix);
	w->cfg.dir = w->dir;
	w->cfg.prefix = w->prefix;
	w->seg_capacity = SEG_CAPACITY(cfg->segment_size);
	/* With retention a NEXT frame starts each new segment (writer.c). */
	if (cfg->max_segments)
		w->seg_capacity -= FMT_TRUNC_FRAME_MAX;
	/* One request is written by one call: Linux writes at most
	 * UW_MAX_IO_BYTES per call, and a short write would poison. */
	w->max_request = w->seg_capacity < UW_MAX_IO_BYTES ? w->seg_capacity : UW_MAX_IO_BYTES;
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* Writer preference: readers must not starve the writer's publish. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&w->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&w->prep.mu, NULL);
	pthread_mutex_init(&w->log_mu, NULL);
	pthread_mutex_init(&w->files_mu, NULL);
	pthread_mutex_init(&w->comp_mu, NULL);
	w->comp_fd = -1;
	/* Sealed segments are only read. */
	uw_fdc_init(&w->fdc, w->io, -1, O_RDONLY, uw_fdc_bound());
	pthread_cond_init(&w->prep.cv, NULL);
	if (!w->dir || !w->prefix) {
		ret = -ENOMEM;
		goto err;
	}

	/* Read-only: no directory is made, no lock taken, no thread started,
	 * nothing written (see UWAL_OPEN_READONLY). */
	bool ro = cfg->open_flags & UWAL_OPEN_READONLY;
	if (!ro) {
		ret = uw_io_mkdir_p(w->io, w->dir);
		if (ret < 0)
			goto err;
	}
	ret = w->dirfd = uw_io_open_dir(w->io, w->dir);
	if (ret < 0)
		goto err;
	w->fdc.dirfd = w->dirfd;
	uw_wal_lock_name(w->lock_name, w->prefix);
	/* Registered for fork() (fork.c) from here on, the lock with it. */
	ret = uw_fork_register(w, !ro);
	if (ret < 0)
		goto err;
	ret = uw_rec_open_log(w);
	if (ret < 0)
		goto err;
	if (ro) {
		*out = w;
		return 0;
	}
	say_old_versions(w);
	ret = init_queues(w);
	if (ret < 0)
		goto err;
	ret = w->wake_fd = uw_io_eventfd(w->io);
	if (ret < 0)
		goto err;
	ret = w->comp_fd = uw_io_eventfd(w->io);
	if (ret < 0)
		goto err;
	w->comp = calloc(w->cfg.async_window, sizeof(*w->comp));
	if (!w->comp) {
		ret = -ENOMEM;
		goto err;
	}
	ret = uw_prep_start(w);
	if (ret < 0)
		goto err;
	ret = uw_pipe_start(w);
	if (ret < 0)
		goto err_after_prep;
	uw_wal_flush_log(w);
	*out = w;
	return 0;

err_after_prep:
	uw_pipe_stop(w);
	uw_prep_stop(w);
	uw_wal_flush_log(w);
err:
	if (ret == -EMFILE || ret == -ENFILE)
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "cannot open the log in %s: out of file descriptors (%s); raise "
			   "RLIMIT_NOFILE",
			   w->dir ? w->dir : cfg->dir, uwal_strerror(ret));
	free_handle(w);
	return ret;
}

int uwal_close(uwal *w)
{
	if (!w)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked)) {
		/* A child of fork(): its threads do not exist (see fork.c). */
		uw_fork_close(w);
		return UWAL_EFORKED;
	}
	uw_pipe_stop(w);
	uw_prep_stop(w);
	int ret = w->close_err ? w->close_err : atomic_load(&w->poisoned) ? UWAL_EPOISONED : 0;
	uw_wal_flush_log(w); /* the threads are gone: what they said last */
	free_handle(w);
	return ret;
}

/* ---- writes ------------------------------------------------------------ */

int uw_wal_check_records(const struct uwal *w, const uwal_record *recs, size_t n, size_t *bytes)
{
	for (size_t i = 0; i < n; i++) {
		const uwal_record *r = &recs[i];
		if ((!r->key && r->key_len) || (!r->value && r->value_len))
			return UWAL_EINVAL;
		if (r->key_len > w->max_request || r->value_len > w->max_request)
			return UWAL_ETOOBIG;
		/* An assigned index (0) is sized as the largest one could be. */
		uint64_t ix = r->index ? r->index : UINT64_MAX;
		*bytes += uw_fmt_record_frame_size(ix, r->key_len, r->value_len);
		if (*bytes > w->max_request)
			return UWAL_ETOOBIG;
	}
	return 0;
}

/* One record, blocking: uwal_write_sync() and uwal_append(). */
static int write_one(uwal *w, uint64_t index, const void *key, size_t key_len, const void *value,
		     size_t value_len, bool sync, uint64_t *assigned)
{
	if (!w)
		return UWAL_EINVAL;
	if (w->cfg.open_flags & UWAL_OPEN_READONLY)
		return UWAL_EREADONLY;
	struct req r = {.sync = sync, .n = 1};
	r.one = (uwal_record){index, key, key_len, value, value_len};
	r.recs = &r.one;
	int ret = uw_wal_check_records(w, &r.one, 1, &r.bytes);
	if (ret < 0)
		return ret;
	ret = uw_pipe_submit(w, &r);
	if (ret == 0 && assigned)
		*assigned = r.first_index;
	uw_wal_flush_log(w);
	return ret;
}

int uwal_write_sync(uwal *w, uint64_t index, const void *key, size_t key_len, const void *value,
		    size_t value_len, bool sync)
{
	return write_one(w, index, key, key_len, value, value_len, sync, NULL);
}

int uwal_append(uwal *w, const void *key, size_t key_len, const void *value, size_t value_len,
		bool sync, uint64_t *index)
{
	return write_one(w, 0, key, key_len, value, value_len, sync, index);
}

int uwal_write(uwal *w, uint64_t index, const void *key, size_t key_len, const void *value,
	       size_t value_len)
{
	return uwal_write_sync(w, index, key, key_len, value, value_len, false);
}

int uwal_write_batch(uwal *w, const uwal_record *recs, size_t n, bool sync)
{
	if (!w || !recs || n == 0)
		return UWAL_EINVAL;
	if (w->cfg.open_flags & UWAL_OPEN_READONLY)
		return UWAL_EREADONLY;
	if (n > UINT32_MAX)
		return UWAL_ETOOBIG;
	struct req r = {.sync = sync, .n = (uint32_t)n, .recs = recs};
	int ret = uw_wal_check_records(w, recs, n, &r.bytes);
	if (ret < 0)
		return ret;
	ret = uw_pipe_submit(w, &r);
	uw_wal_flush_log(w);
	return ret;
}

/* ---- reads ------------------------------------------------------------- */

/* Find the segment holding index, with a reference taken, into *out: 0,
 * UWAL_ENOTFOUND, or the error of reading a table in (segidx.c). */
static int locate(struct uwal *w, uint64_t index, uint32_t *off, uint64_t *end, struct seg **out)
{
	size_t i;
	pthread_rwlock_rdlock(&w->lock);
	int ret = uw_segs_find(w, index, &i, off);
	if (ret > 0) {
		*out = w->segs[i];
		*end = (*out)->end;
		uw_seg_ref(*out);
	}
	pthread_rwlock_unlock(&w->lock);
	return ret < 0 ? ret : ret ? 0 : UWAL_ENOTFOUND;
}

static void *dup_buf(const void *p, size_t len)
{
	char *b = malloc(len + 1);
	if (!b)
		return NULL;
	if (len)
		memcpy(b, p, len);
	b[len] = '\0';
	return b;
}

/* Frames up to this size are read into a buffer on the reader's stack. */
#define SMALL_FRAME 4096

/*
 * Read the frame at off of s (before end) and check it: its CRC, and that
 * it is a record. A frame of up to SMALL_FRAME bytes is read into small
 * (the caller's stack); a larger one into dst if it holds dst_cap >= the
 * frame's bytes (uwal_get_into(): the caller's own buffer), else into
 * the reader's own buffer (the caller destroys *rd). rec's key and value point into
 * those bytes.
 */
static int read_frame(struct uwal *w, struct seg *s, int fd, uint32_t off, uint64_t end,
		      uint8_t *small, uint8_t *dst, size_t dst_cap, struct uw_frd *rd,
		      struct fmt_rec *rec)
{
	uw_frd_init(rd, s->io, fd, s->salt, off, end, SMALL_FRAME);
	uw_frd_borrow(rd, small, SMALL_FRAME, dst, dst_cap);
	struct fmt_frame f;
	int st = uw_frd_next(rd, &f);
	if (st < 0)
		return st;
	struct fmt_dec dec;
	int ret = uw_fmt_dec_init(&dec);
	if (ret < 0) {
		uw_fmt_dec_destroy(&dec);
		return ret;
	}
	if (st != FMT_FRAME_OK || uw_fmt_record_decode(&dec, &f, rec) < 0) {
		uw_wal_log(w, UWAL_LOG_ERROR, "corrupt frame: %s/%s at offset %u", w->dir, s->name,
			   off);
		ret = UWAL_ECORRUPT;
	}
	/* rec points into the frame's bytes, not into the decoder. */
	uw_fmt_dec_destroy(&dec);
	return ret;
}

/* Find the record index and read its frame (see read_frame): the one
 * reader of uwal_get() and uwal_get_into(), UWAL_EFORKED included. */
static int get_frame(struct uwal *w, uint64_t index, uint8_t *small, uint8_t *dst, size_t dst_cap,
		     struct uw_frd *rd, struct fmt_rec *rec)
{
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	uint32_t off;
	uint64_t end;
	/* acquire: pairs with truncate.c's note_cut. */
	uint64_t gen = atomic_load_explicit(&w->trunc_gen, memory_order_acquire);
	struct seg *s;
	int ret = locate(w, index, &off, &end, &s);
	if (ret < 0)
		return ret;
	int fd;
	ret = uw_seg_fd_get(s, &fd);
	if (ret == 0) {
		ret = read_frame(w, s, fd, off, end, small, dst, dst_cap, rd, rec);
		uw_seg_fd_put(s);
	}
	/* A back truncation between the lookup and the read: the frame may
	 * be gone or another record's now. */
	if ((ret == 0 || ret == UWAL_ECORRUPT) && uw_trunc_cut_since(w, gen, s->seq, off))
		ret = UWAL_ENOTFOUND;
	uw_seg_unref(s);
	return ret;
}

int uwal_get(uwal *w, uint64_t index, uwal_record *out)
{
	if (!w || !out)
		return UWAL_EINVAL;
	uint8_t small[SMALL_FRAME];
	struct uw_frd rd = {0};
	struct fmt_rec rec;
	int ret = get_frame(w, index, small, NULL, 0, &rd, &rec);
	if (ret == 0) {
		uwal_record r = {
			.index = rec.index, .key_len = rec.key_len, .value_len = rec.value_len};
		r.key = dup_buf(rec.key, rec.key_len);
		r.value = dup_buf(rec.value, rec.value_len);
		if (r.key && r.value) {
			*out = r;
		} else {
			uwal_record_free(&r);
			ret = -ENOMEM;
		}
	}
	uw_frd_destroy(&rd);
	uw_wal_flush_log(w);
	return ret;
}

int uwal_get_into(uwal *w, uint64_t index, void *buf, size_t cap, uwal_record *out)
{
	if (!w || !out || (!buf && cap))
		return UWAL_EINVAL;
	uint8_t small[SMALL_FRAME];
	struct uw_frd rd = {0};
	struct fmt_rec rec;
	/* A large frame is read straight into buf when it fits there. */
	int ret = get_frame(w, index, small, buf, cap, &rd, &rec);
	if (ret == 0) {
		uint8_t *b = buf;
		size_t kl = rec.key_len, vl = rec.value_len;
		*out = (uwal_record){.index = rec.index, .key_len = kl, .value_len = vl};
		if (kl + vl > cap) {
			ret = UWAL_ETOOBIG;
		} else if (b) {
			/* memmove: a frame read into buf has its key and value
			 * at or after where they go, the value after the key. */
			if (kl)
				memmove(b, rec.key, kl);
			if (vl)
				memmove(b + kl, rec.value, vl);
			out->key = b;
			out->value = b + kl;
		}
	}
	uw_frd_destroy(&rd);
	uw_wal_flush_log(w);
	return ret;
}

void uwal_record_free(uwal_record *rec)
{
	if (!rec)
		return;
	free((void *)rec->key);
	free((void *)rec->value);
	memset(rec, 0, sizeof(*rec));
}

uint64_t uwal_first_index(uwal *w)
{
	if (!w || atomic_load(&w->forked))
		return 0;
	uint64_t v = 0;
	pthread_rwlock_rdlock(&w->lock);
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct idx *x = &w->segs[i]->idx;
		if (x->n && (v == 0 || x->min < v))
			v = x->min;
	}
	pthread_rwlock_unlock(&w->lock);
	return v;
}

uint64_t uwal_last_index(uwal *w)
{
	if (!w || atomic_load(&w->forked))
		return 0;
	uint64_t v = 0;
	pthread_rwlock_rdlock(&w->lock);
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct idx *x = &w->segs[i]->idx;
		if (x->n && x->max > v)
			v = x->max;
	}
	pthread_rwlock_unlock(&w->lock);
	return v;
}

int uwal_stats_get_sized(uwal *w, uwal_stats *user, size_t size)
{
	if (!w || !user)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	uwal_stats st, *out = &st;
	memset(out, 0, sizeof(*out));
#define LD(x) atomic_load_explicit(&w->x, memory_order_relaxed)
	out->records = LD(st_records);
	out->batches = LD(st_batches);
	out->fsyncs = LD(st_fsyncs);
	out->bytes = LD(st_bytes);
	out->rotations = LD(st_rotations);
	out->ring_enters = LD(st_enters);
	out->writer_wakeups = LD(st_wakeups);
	out->queue_full = LD(st_qfull);
	out->prealloc_waits = LD(st_prep_waits);
	out->deleted_segments = LD(st_deleted);
	out->waiter_sleeps = LD(st_waiter_sleeps);
	out->waiter_wakes = LD(st_waiter_wakes);
	out->writer_sleeps = LD(st_writer_sleeps);
	out->sync_ns = LD(st_sync_ns);
	out->rejoin_waits = LD(st_rejoin_waits);
	out->rejoin_timeouts = LD(st_rejoin_timeouts);
	for (unsigned b = 0; b < UWAL_HIST_BUCKETS; b++)
		out->sync_hist[b] = LD(st_sync_hist[b]);
#undef LD
	pthread_rwlock_rdlock(&w->lock);
	out->segments = w->nsegs;
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct seg *s = w->segs[i];
		/* acquire: a table read in under the read lock (segidx.c) is
		 * seen whole once the flag is clear. */
		if (!atomic_load_explicit(&s->idx_lazy, memory_order_acquire))
			out->index_bytes += (uint64_t)s->idx.cap * 12 + (uint64_t)s->idx.nslots * 4;
	}
	pthread_rwlock_unlock(&w->lock);
	out->uring = w->ring_info.uring;
	out->ring_features = w->ring_info.features;
	out->ring_setup_flags = w->ring_info.setup_flags;
	uw_wal_flush_log(w);
	size_t n = size < sizeof(st) ? size : sizeof(st);
	memcpy(user, &st, n);
	if (size > n)
		memset((uint8_t *)user + n, 0, size - n);
	return 0;
}

int uwal_health(uwal *w)
{
	if (!w)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	return atomic_load(&w->poisoned);
}

const char *uwal_version(void)
{
	/* The header this library was built with. */
	return UWAL_VERSION_STRING;
}
