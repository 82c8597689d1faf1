/*
 * iter.c - iterators: the records acknowledged when the iterator opened,
 * in log order, read sequentially from the segment files with their CRCs
 * checked. The iterator holds a reference on each segment it will read,
 * so retention can unlink the files but not free them under it, and the
 * descriptor of the segment it is reading (fdcache.c), so the cache does
 * not close it in between. A truncation of the front hides nothing from
 * it (the segments stay pinned); one of the back that removed what it has
 * still to read ends it with UWAL_ETRUNCATED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WINDOW (256u << 10)

struct uwal_iter {
	struct uwal *w;
	struct seg **segs;
	uint64_t *ends; /* published end of each segment at open */
	uint64_t *los;  /* and where its live records began */
	uint64_t gen;   /* the truncation generation at open */
	size_t n, cur;
	int fd; /* the current segment's descriptor, -1 until taken */
	uint64_t off;
	uint8_t *buf;
	size_t cap;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
	struct fmt_dec dec;
	int err; /* sticky error */
	/* Where the record the last step returned lies (uwal_iter_position). */
	bool have_pos;
	uint64_t pos_seq, pos_off;
};

int uwal_iter_open(uwal *w, uwal_iter **out)
{
	if (!w || !out)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	struct uwal_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->w = w;
	it->fd = -1;
	it->off = FMT_SEG_HDR_SIZE;
	uw_fmt_dec_init(&it->dec);
	pthread_rwlock_rdlock(&w->lock);
	size_t n = w->nsegs;
	it->segs = malloc((n ? n : 1) * sizeof(*it->segs));
	it->ends = malloc((n ? n : 1) * sizeof(*it->ends));
	it->los = malloc((n ? n : 1) * sizeof(*it->los));
	if (it->segs && it->ends && it->los) {
		for (size_t i = 0; i < n; i++) {
			it->segs[i] = w->segs[i];
			it->ends[i] = w->segs[i]->end;
			it->los[i] = w->segs[i]->lo;
			uw_seg_ref(w->segs[i]);
		}
		it->n = n;
		if (n)
			it->off = it->los[0];
	}
	/* Relaxed: the cuts change only under the lock, which we hold. */
	it->gen = atomic_load_explicit(&w->trunc_gen, memory_order_relaxed);
	pthread_rwlock_unlock(&w->lock);
	if (!it->segs || !it->ends || !it->los) {
		uwal_iter_close(it);
		return -ENOMEM;
	}
	*out = it;
	return 0;
}

/* Make [off, off + need) of the current segment readable from buf. */
static int window(struct uwal_iter *it, struct seg *s, uint64_t end, size_t need)
{
	if (it->blen && it->off >= it->boff && it->off + need <= it->boff + it->blen)
		return 0;
	if (it->fd < 0) {
		/* Held until the iterator leaves the segment: the cache never
		 * closes it under the iterator. */
		int ret = uw_seg_fd_get(s, &it->fd);
		if (ret < 0) {
			it->fd = -1;
			return ret;
		}
	}
	size_t want = need > WINDOW ? need : WINDOW;
	if (want > it->cap) {
		uint8_t *b = realloc(it->buf, want);
		if (!b)
			return -ENOMEM;
		it->buf = b;
		it->cap = want;
	}
	size_t len = end - it->off < want ? (size_t)(end - it->off) : want;
	ssize_t r = uw_io_pread(s->io, it->fd, it->buf, len, it->off);
	if (r < 0)
		return (int)r;
	it->boff = it->off;
	it->blen = (size_t)r;
	return it->blen >= need ? 0 : UWAL_ECORRUPT;
}

/* Give the current segment's descriptor back to the cache. */
static void release_fd(struct uwal_iter *it)
{
	if (it->fd >= 0) {
		uw_seg_fd_put(it->segs[it->cur]);
		it->fd = -1;
	}
}

static int bad(struct uwal_iter *it, struct seg *s)
{
	uw_wal_log(it->w, UWAL_LOG_ERROR, "corrupt frame: %s/%s at offset %llu", it->w->dir,
		   s->name, (unsigned long long)it->off);
	return UWAL_ECORRUPT;
}

static int step(struct uwal_iter *it, uwal_record *rec)
{
	for (;;) {
		if (it->cur >= it->n)
			return 0;
		struct seg *s = it->segs[it->cur];
		uint64_t end = it->ends[it->cur];
		if (it->off >= end) {
			release_fd(it);
			it->cur++;
			it->off = it->cur < it->n ? it->los[it->cur] : FMT_SEG_HDR_SIZE;
			it->blen = 0;
			continue;
		}
		int ret = window(it, s, end, FMT_FRAME_HDR_SIZE);
		if (ret < 0)
			return ret == UWAL_ECORRUPT ? bad(it, s) : ret;
		size_t at = (size_t)(it->off - it->boff);
		size_t flen = uw_fmt_frame_peek_len(it->buf + at, it->blen - at);
		if (flen > end - it->off)
			return bad(it, s);
		ret = window(it, s, end, flen);
		if (ret < 0)
			return ret == UWAL_ECORRUPT ? bad(it, s) : ret;
		at = (size_t)(it->off - it->boff);
		struct fmt_frame f;
		struct fmt_rec r;
		/* Checked after the read: a record read before a back cut
		 * that covers it, or over one, is not returned. */
		if (uw_trunc_cut_since(it->w, it->gen, s->seq, it->off))
			return UWAL_ETRUNCATED;
		if (uw_fmt_frame_decode(it->buf + at, flen, s->salt, UINT32_MAX, &f) !=
		    FMT_FRAME_OK)
			return bad(it, s);
		if (f.type == FMT_FRAME_FRONT || f.type == FMT_FRAME_BACK) {
			it->off += flen; /* a truncation frame: no record */
			continue;
		}
		if (uw_fmt_record_decode(&it->dec, &f, &r) < 0)
			return bad(it, s);
		it->have_pos = true;
		it->pos_seq = s->seq;
		it->pos_off = it->off;
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
	if (it->err)
		return it->err;
	int ret = step(it, rec);
	if (ret < 0)
		it->err = ret;
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
	if (it->cur < it->n)
		release_fd(it);
	for (size_t i = 0; i < it->n; i++)
		uw_seg_unref(it->segs[i]);
	free(it->segs);
	free(it->ends);
	free(it->los);
	free(it->buf);
	uw_fmt_dec_destroy(&it->dec);
	free(it);
}
