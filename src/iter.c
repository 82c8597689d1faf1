/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iter.c - iterators: the records of the log in log order, read
 * sequentially from the segment files with their CRCs checked.
 *
 * A snapshot iterator (uwal_iter_open(), or uwal_iter_open_at() without
 * UWAL_ITER_FOLLOW) returns the records acknowledged when it opened. It
 * holds a reference on each segment it will read, so retention can unlink
 * the files but not free them under it, and the descriptor of the segment
 * it is reading (fdcache.c), so the cache does not close it in between. A
 * truncation of the front hides nothing from it (the segments stay
 * pinned); one of the back that removed what it has still to read ends it
 * with UWAL_ETRUNCATED. It lets go of each segment once it has read it.
 *
 * A follower (UWAL_ITER_FOLLOW) does the same with what it has pinned,
 * and once it has read all of it, refreshes under the handle's read lock:
 * the last segment's published end, and the segments created since (with
 * references), each from its first live record. The writer bumps the
 * futex word pub_seq after every publication (uw_wal_notify()), which is
 * what uwal_iter_wait() sleeps on; on a read-only handle uwal_refresh()
 * publishes (refresh.c) and bumps it. A follower stops with UWAL_ETRUNCATED:
 *   - retention removed a segment it had not pinned yet (it fell behind);
 *   - it reaches a position that a back cut made after it opened covers:
 *     a record it was to return, or (a fork of the history) one it had
 *     already returned, with the new records written after it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WINDOW (256u << 10)

/* A segment the iterator holds a reference on, and what it reads of it. */
struct pin {
	struct seg *s;
	uint64_t end; /* its published end, when last looked at */
	uint64_t lo;  /* where its live records began */
	/* Its voids when pinned (a later one is a cut since the iterator's
	 * generation), and the first one not yet behind the iterator. */
	struct uw_void *voids;
	uint32_t nvoids, vi;
};

struct uwal_iter {
	struct uwal *w;
	struct pin *pins; /* pins[cur..n) are held; those before are read */
	size_t n, cap, cur;
	uint64_t gen; /* the truncation generation at open */
	bool follow;
	bool gap; /* retention removed the segment after the last one held */
	int fd;   /* the current segment's descriptor, -1 until taken */
	uint64_t off;
	struct uw_frd rd; /* over the current segment's file */
	struct fmt_dec dec;
	int err; /* sticky error */
	/* A record uwal_iter_wait() stepped to, for the next uwal_iter_next(). */
	bool pending;
	uwal_record prec;
	uint64_t prec_seq, prec_off;
	/* Where the record the last uwal_iter_next() returned lies. */
	bool have_pos;
	uint64_t pos_seq, pos_off;
};

static int pins_reserve(struct uwal_iter *it, size_t n)
{
	if (n <= it->cap)
		return 0;
	size_t cap = it->cap ? it->cap : 4;
	while (cap < n)
		cap *= 2;
	struct pin *v = realloc(it->pins, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	it->pins = v;
	it->cap = cap;
	return 0;
}

/* Pin w->segs[from..nsegs); under the handle's lock. */
static int pin_from(struct uwal_iter *it, size_t from)
{
	struct uwal *w = it->w;
	int ret = pins_reserve(it, it->n + (w->nsegs - from));
	if (ret < 0)
		return ret;
	for (size_t i = from; i < w->nsegs; i++) {
		struct seg *s = w->segs[i];
		struct pin p = {.s = s, .end = s->end, .lo = s->lo, .nvoids = s->nvoids};
		if (p.nvoids) {
			p.voids = malloc(p.nvoids * sizeof(*p.voids));
			if (!p.voids)
				return -ENOMEM;
			memcpy(p.voids, s->voids, p.nvoids * sizeof(*p.voids));
		}
		uw_seg_ref(s);
		it->pins[it->n++] = p;
	}
	return 0;
}

int uwal_iter_open_at(uwal *w, uint64_t index, unsigned flags, uwal_iter **out)
{
	if (!w || !out || (flags & ~(unsigned)UWAL_ITER_FOLLOW))
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	bool follow = flags & UWAL_ITER_FOLLOW;
	struct uwal_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->w = w;
	it->fd = -1;
	uw_frd_init(&it->rd, w->io, -1, 0, FMT_SEG_HDR_SIZE, FMT_SEG_HDR_SIZE, WINDOW);
	it->follow = follow;
	it->off = FMT_SEG_HDR_SIZE;
	if (uw_fmt_dec_init(&it->dec) < 0) {
		uw_fmt_dec_destroy(&it->dec);
		uw_frd_destroy(&it->rd);
		free(it);
		return -ENOMEM;
	}

	int ret = 0;
	size_t from = 0;
	uint32_t off = 0;
	pthread_rwlock_rdlock(&w->lock);
	if (index) {
		ret = uw_segs_find(w, index, &from, &off);
		ret = ret < 0 ? ret : ret ? 0 : UWAL_ENOTFOUND;
	}
	if (ret == 0)
		ret = pin_from(it, from);
	if (ret == 0 && it->n)
		it->off = index ? off : it->pins[0].lo;
	/* Relaxed: the cuts change only under the lock, which we hold. */
	it->gen = atomic_load_explicit(&w->trunc_gen, memory_order_relaxed);
	pthread_rwlock_unlock(&w->lock);
	if (ret < 0) {
		uwal_iter_close(it);
		return ret;
	}
	*out = it;
	return 0;
}

int uwal_iter_open(uwal *w, uwal_iter **out)
{
	return uwal_iter_open_at(w, 0, 0, out);
}

/* Leave the current segment, read to its end: give its descriptor back
 * to the cache and drop the reference. */
static void leave(struct uwal_iter *it)
{
	struct pin *p = &it->pins[it->cur];
	if (it->fd >= 0) {
		uw_seg_fd_put(p->s);
		it->fd = -1;
	}
	uw_seg_unref(p->s);
	p->s = NULL;
	free(p->voids);
	p->voids = NULL;
	it->cur++;
	it->off = it->cur < it->n ? it->pins[it->cur].lo : FMT_SEG_HDR_SIZE;
	uw_frd_forget(&it->rd);
}

/*
 * A follower read all it holds: forget the segments read, look again at
 * the last one's end and pin the segments created since. 0 (it->gap set
 * if the next segment is gone: what is left of the last one is still
 * read), UWAL_ETRUNCATED (a back cut covers its position), or -ENOMEM.
 */
static int refresh(struct uwal_iter *it)
{
	struct uwal *w = it->w;
	if (it->cur) {
		memmove(it->pins, it->pins + it->cur, (it->n - it->cur) * sizeof(*it->pins));
		it->n -= it->cur;
		it->cur = 0;
	}
	int ret = 0;
	pthread_rwlock_rdlock(&w->lock);
	size_t k = 0;
	if (it->n) {
		struct pin *last = &it->pins[it->n - 1];
		last->end = last->s->end;
		/* The segments after it: the newest ones, at the back. */
		k = w->nsegs;
		while (k > 0 && w->segs[k - 1]->seq > last->s->seq)
			k--;
		/* Sequence numbers follow each other: a missing one was
		 * removed by retention before this follower pinned it. */
		if (k < w->nsegs && w->segs[k]->seq != last->s->seq + 1)
			it->gap = true;
	}
	bool was_empty = it->n == 0;
	if (!it->gap)
		ret = pin_from(it, k);
	pthread_rwlock_unlock(&w->lock);
	if (ret < 0)
		return ret;
	if (was_empty && it->n)
		it->off = it->pins[0].lo;
	if (it->n && uw_trunc_cut_since(w, it->gen, it->pins[it->cur].s->seq, it->off))
		return UWAL_ETRUNCATED;
	return 0;
}

static int bad(struct uwal_iter *it, struct seg *s)
{
	/* A back cut since the iterator opened covers what it read (or, in a
	 * file an earlier uwal cut, rewrote it): not a corruption. */
	if (uw_trunc_cut_since(it->w, it->gen, s->seq, it->off))
		return UWAL_ETRUNCATED;
	uw_wal_log(it->w, UWAL_LOG_ERROR, "corrupt frame: %s/%s at offset %llu", it->w->dir,
		   s->name, (unsigned long long)it->off);
	return UWAL_ECORRUPT;
}

/* The next record into *rec and where it lies; 1, 0 at the end, or an error. */
static int step(struct uwal_iter *it, uwal_record *rec, uint64_t *seq, uint64_t *off)
{
	bool refreshed = false;
	for (;;) {
		bool last = it->cur + 1 >= it->n;
		if (last && it->follow && (it->cur >= it->n || it->off >= it->pins[it->cur].end)) {
			if (it->gap)
				return UWAL_ETRUNCATED;
			if (refreshed)
				return 0;
			int ret = refresh(it);
			if (ret < 0)
				return ret;
			refreshed = true;
			continue;
		}
		if (it->cur >= it->n)
			return 0;
		struct pin *p = &it->pins[it->cur];
		struct seg *s = p->s;
		uint64_t end = p->end;
		/* Over a void: records a back frame later in the file voided. */
		while (p->vi < p->nvoids && it->off >= p->voids[p->vi].to)
			p->vi++;
		if (p->vi < p->nvoids && it->off >= p->voids[p->vi].from) {
			it->off = p->voids[p->vi].to;
			continue;
		}
		if (it->off >= end) {
			leave(it);
			continue;
		}
		if (it->fd < 0) {
			/* Held until the iterator leaves the segment: the cache
			 * never closes it under the iterator. */
			int ret = uw_seg_fd_get(s, &it->fd);
			if (ret < 0) {
				it->fd = -1;
				return ret;
			}
		}
		uw_frd_move(&it->rd, it->fd, s->salt, it->off, end);
		struct fmt_frame f;
		struct fmt_rec r;
		int st = uw_frd_next(&it->rd, &f);
		if (st < 0)
			return st;
		/* Checked after the read: a record read before a back cut
		 * that covers it, or over one, is not returned. */
		if (uw_trunc_cut_since(it->w, it->gen, s->seq, it->off))
			return UWAL_ETRUNCATED;
		if (st != FMT_FRAME_OK)
			return bad(it, s);
		uint64_t flen = it->rd.off - it->off;
		if (f.type == FMT_FRAME_FRONT || f.type == FMT_FRAME_BACK ||
		    f.type == FMT_FRAME_NEXT || f.type == FMT_FRAME_MARK) {
			it->off += flen; /* a truncation or mark frame: no record */
			continue;
		}
		if (uw_fmt_record_decode(&it->dec, &f, &r) < 0)
			return bad(it, s);
		*seq = s->seq;
		*off = it->off;
		it->off += flen;
		rec->index = r.index;
		rec->key = r.key;
		rec->key_len = r.key_len;
		rec->value = r.value;
		rec->value_len = r.value_len;
		return 1;
	}
}

int uwal_iter_next(uwal_iter *it, uwal_record *rec)
{
	if (!it || !rec)
		return UWAL_EINVAL;
	if (atomic_load(&it->w->forked))
		return UWAL_EFORKED;
	it->have_pos = false;
	if (atomic_load(&it->w->forked))
		return UWAL_EFORKED;
	if (it->pending) {
		it->pending = false;
		*rec = it->prec;
		it->have_pos = true;
		it->pos_seq = it->prec_seq;
		it->pos_off = it->prec_off;
		return 1;
	}
	if (it->err)
		return it->err;
	uint64_t seq, off;
	int ret = step(it, rec, &seq, &off);
	if (ret == 1) {
		it->have_pos = true;
		it->pos_seq = seq;
		it->pos_off = off;
	} else if (ret < 0) {
		it->err = ret;
	}
	return ret;
}

/* Step ahead to the next record, kept for uwal_iter_next(): 1 if it has
 * one (or an error) to return, 0 if not. */
static int peek(struct uwal_iter *it)
{
	if (it->pending || it->err)
		return 1;
	int ret = step(it, &it->prec, &it->prec_seq, &it->prec_off);
	if (ret == 1)
		it->pending = true;
	else if (ret < 0)
		it->err = ret;
	return ret != 0;
}

int uwal_iter_wait(uwal_iter *it, int64_t timeout_us)
{
	if (!it || timeout_us < -1)
		return UWAL_EINVAL;
	struct uwal *w = it->w;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	if (peek(it))
		return 1;
	if (!it->follow)
		return 0;
	uint64_t until = 0;
	if (timeout_us > 0) {
		/* Capped at about 292 years: the sum cannot wrap. */
		uint64_t ns = (uint64_t)timeout_us < UINT64_MAX / 2000 ? (uint64_t)timeout_us * 1000
								       : UINT64_MAX / 2;
		until = uw_io_now_ns() + ns;
	}
	int ret;
	for (;;) {
		/* seq_cst: see uw_wal_notify(). Registered before pub_seq is
		 * read, so either the writer sees a waiter and wakes the futex,
		 * or this thread reads the bumped word and does not sleep. */
		atomic_fetch_add(&w->follow_waiters, 1);
		uint32_t seen = atomic_load(&w->pub_seq);
		if (peek(it)) {
			ret = 1;
			break;
		}
		if (atomic_load(&w->closing) || atomic_load(&w->shut)) {
			ret = UWAL_ESHUTDOWN;
			break;
		}
		uint64_t now = timeout_us > 0 ? uw_io_now_ns() : 0;
		if (timeout_us == 0 || (timeout_us > 0 && now >= until)) {
			ret = 0;
			break;
		}
		if (timeout_us < 0)
			uw_io_futex_wait(w->io, (uint32_t *)&w->pub_seq, seen);
		else
			uw_io_futex_wait_for(w->io, (uint32_t *)&w->pub_seq, seen, until - now);
		atomic_fetch_sub(&w->follow_waiters, 1);
	}
	atomic_fetch_sub(&w->follow_waiters, 1);
	return ret;
}

int uwal_iter_position(uwal_iter *it, uint64_t *seq, uint64_t *offset)
{
	if (!it)
		return UWAL_EINVAL;
	if (!it->have_pos)
		return UWAL_ENOTFOUND;
	if (seq)
		*seq = it->pos_seq;
	if (offset)
		*offset = it->pos_off;
	return 0;
}

void uwal_iter_close(uwal_iter *it)
{
	if (!it)
		return;
	/* In a child of fork() the segments and the descriptor cache may be
	 * held by threads that do not exist here (fork.c): leave them. */
	bool forked = atomic_load(&it->w->forked);
	if (!forked && it->fd >= 0 && it->cur < it->n)
		uw_seg_fd_put(it->pins[it->cur].s);
	for (size_t i = it->cur; i < it->n; i++) {
		if (!forked)
			uw_seg_unref(it->pins[i].s);
		free(it->pins[i].voids);
	}
	free(it->pins);
	uw_frd_destroy(&it->rd);
	uw_fmt_dec_destroy(&it->dec);
	free(it);
}
