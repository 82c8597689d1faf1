/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segidx.c - sealed segments' index files, "<prefix><20 digits>.idx"
 * (format.c, "Index files"): the preparer writes one after each seal, off
 * the write path, from the writer's table of the segment and its notes
 * (uw_sidx_encode_noted), or, when the writer did not write every frame of
 * it or a truncation touched it, from a scan of the sealed file with the
 * frame reader recovery uses (uw_sidx_build); uwal_open() loads it instead
 * of reading the segment's frames, once it has checked that it is whole
 * and describes this very file. Anything short of that and the segment is
 * read frame by frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void uw_sidx_name(char *out, const char *seg_name, bool tmp)
{
	snprintf(out, UW_SIDX_NAME_MAX, "%s.idx%s", seg_name, tmp ? ".tmp" : "");
}

void uw_sidx_remove(struct uw_io *io, int dirfd, const char *seg_name)
{
	char name[UW_SIDX_NAME_MAX];
	uw_sidx_name(name, seg_name, false);
	/* Not there (never written, or lost in a crash) is the usual case;
	 * one left behind is removed or ignored by the next open. */
	uw_io_unlinkat(io, dirfd, name);
}

/*
 * Whether [at, size) of fd is exactly one valid seal frame of records
 * record frames that names next: 0 yes, 1 no, -errno.
 */
static int seal_ends_file(struct uw_io *io, int fd, uint32_t salt, uint64_t at, uint64_t size,
			  uint64_t records, uint64_t next)
{
	uint8_t buf[FMT_SEAL_FRAME_MAX];
	if (size <= at + FMT_FRAME_HDR_SIZE || size - at > sizeof(buf))
		return 1;
	struct uw_frd rd;
	struct fmt_frame f;
	uw_frd_init(&rd, io, fd, salt, at, size, sizeof(buf));
	uw_frd_borrow(&rd, buf, sizeof(buf), NULL, 0);
	int st = uw_frd_next(&rd, &f);
	uw_frd_destroy(&rd);
	if (st < 0)
		return st;
	if (st != FMT_FRAME_OK || f.type != FMT_FRAME_SEAL || rd.off != size)
		return 1;
	struct fmt_dec dec;
	uint64_t r, nx;
	if (uw_fmt_dec_init(&dec) < 0)
		return -ENOMEM;
	int ret = uw_fmt_seal_decode(&dec, &f, &r, &nx) == 0 && r == records && nx == next ? 0 : 1;
	uw_fmt_dec_destroy(&dec);
	return ret;
}

/* ---- building ---------------------------------------------------------- */

struct collect {
	struct fmt_idx *x;
	uint64_t cap;
	uint32_t cap_trunc;
};

static int col_rec(void *arg, const struct fmt_rec *r, uint64_t off)
{
	struct collect *c = arg;
	struct fmt_idx *x = c->x;
	if (x->records == c->cap) {
		uint64_t cap = c->cap ? c->cap * 2 : 4096;
		uint64_t *k = realloc(x->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		x->keys = k;
		uint32_t *o = realloc(x->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		x->offs = o;
		c->cap = cap;
	}
	x->keys[x->records] = r->index;
	x->offs[x->records] = (uint32_t)off;
	x->records++;
	return 0;
}

static int col_trunc(void *arg, uint8_t type, const struct fmt_trunc *t, uint64_t off, uint64_t len)
{
	struct collect *c = arg;
	struct fmt_idx *x = c->x;
	if (x->ntrunc == c->cap_trunc) {
		uint32_t cap = c->cap_trunc ? c->cap_trunc * 2 : 8;
		struct fmt_idx_trunc *v = realloc(x->trunc, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->trunc = v;
		c->cap_trunc = cap;
	}
	x->trunc[x->ntrunc++] =
		(struct fmt_idx_trunc){.type = type, .len = (uint32_t)len, .off = off, .t = *t};
	return 0;
}

/* Write buf as the index file of s: a temporary file, fdatasynced, then
 * renamed into place (format.c, "Index files"). */
int uw_sidx_write(struct uw_io *io, int dirfd, const struct seg *s, const uint8_t *buf, size_t len)
{
	char tmp[UW_SIDX_NAME_MAX], name[UW_SIDX_NAME_MAX];
	uw_sidx_name(tmp, s->name, true);
	uw_sidx_name(name, s->name, false);
	/* No directory fsync: an index lost in a crash only means a scan. */
	struct iovec v = {(void *)buf, len};
	return uw_file_replace(io, dirfd, tmp, name, &v, 1, false);
}

/*
 * The index of the sealed segment s, open as fd, read frame by frame into
 * *x (its fields for the index file included); UWAL_ECORRUPT unless it
 * reads as sealed, its seal ending the file. uw_fmt_idx_free() it.
 */
static int collect(struct uw_io *io, int fd, const struct seg *s, struct fmt_idx *x)
{
	*x = (struct fmt_idx){.seq = s->seq,
			      .version = s->version,
			      .salt = s->salt,
			      .key_hi = (uint32_t)(s->key >> 32)};
	struct collect c = {.x = x};
	struct uw_seg_scan sc;
	int64_t size = uw_io_file_size(io, fd);
	int ret = size < 0 ? (int)size
			   : uw_seg_scan_ex(io, fd, s->salt, s->version, (uint64_t)size, col_rec,
					    col_trunc, &c, &sc);
	/* Only a segment that reads as sealed, its seal ending the file. */
	if (ret == 0 && (!sc.sealed || sc.bad_off || sc.records != x->records))
		ret = UWAL_ECORRUPT;
	if (ret == 0) {
		x->file_size = (uint64_t)size;
		x->seal_off = sc.end;
		x->next_seq = sc.seal_next;
		x->mark_w = sc.mark_w;
		x->mark_recs = sc.mark_recs;
		ret = seal_ends_file(io, fd, s->salt, sc.end, x->file_size, x->records,
				     x->next_seq);
		if (ret == 1)
			ret = UWAL_ECORRUPT;
	}
	if (ret != 0)
		uw_fmt_idx_free(x);
	return ret;
}

int uw_sidx_build(struct uw_io *io, int dirfd, struct seg *s)
{
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	struct fmt_idx x;
	ret = collect(io, fd, s, &x);
	uw_seg_fd_put(s);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (ret == 0) {
		ret = uw_fmt_idx_encode(&x, &buf, &len);
		uw_fmt_idx_free(&x);
	}
	if (ret == 0)
		ret = uw_sidx_write(io, dirfd, s, buf, len);
	free(buf);
	return ret;
}

/*
 * What a scan of the file would collect, from memory: a 64 MiB segment of
 * 100-byte records is about half a million frames to read back, check and
 * decode (tens of milliseconds of a CPU per seal, beside a writer that
 * seals one every fraction of a second when it writes unsynced), where
 * the table already holds each record's index and offset. The table is
 * trusted only as far as it can be checked: one entry per record frame of
 * the seal's count, offsets strictly increasing between the header and
 * the seal frame.
 */
int uw_sidx_encode_noted(const struct seg *s, struct fmt_idx *x, uint8_t **buf, size_t *len)
{
	const struct idx *t = &s->idx;
	if (atomic_load_explicit(&s->idx_lazy, memory_order_relaxed) || t->n != x->records ||
	    (t->n && (!t->keys || !t->offs)))
		return 1;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->offs[i] < FMT_SEG_HDR_SIZE || t->offs[i] >= x->seal_off ||
		    (i && t->offs[i] <= t->offs[i - 1]))
			return 1;
	/* Borrowed for the encoding only. */
	x->keys = t->keys;
	x->offs = t->offs;
	int ret = uw_fmt_idx_encode(x, buf, len);
	x->keys = NULL;
	x->offs = NULL;
	return ret;
}

/* ---- loading ----------------------------------------------------------- */

int uw_sidx_load(struct uw_io *io, int dirfd, const char *seg_name, const struct fmt_seg_hdr *h,
		 int seg_fd, uint64_t seg_size, struct fmt_idx *x, const char **why)
{
	char name[UW_SIDX_NAME_MAX];
	uw_sidx_name(name, seg_name, false);
	*why = NULL;
	uint8_t *buf;
	size_t len;
	/* At most 17 bytes per record frame (12 of a run, 5 of an offset)
	 * and 40 per truncation frame, each at least 17 bytes long. */
	int ret = uw_file_read(io, dirfd, name, 3 * seg_size + 4096, &buf, &len);
	if (ret == -ENOENT)
		return 1;
	if (ret == 1)
		*why = "too big";
	if (ret != 0)
		return ret;
	/* A file cut short (or read while it shrank) fails its length. */
	ret = uw_fmt_idx_decode(buf, len, x);
	free(buf);
	if (ret == UWAL_ECORRUPT) {
		*why = "torn or damaged (length, crc or contents)";
		return 1;
	}
	if (ret != 0)
		return ret;
	if (x->seq != h->seq || x->version != h->version || x->salt != h->salt ||
	    x->key_hi != h->key_hi) {
		*why = "of another segment file (number, version or key differ)";
		ret = 1;
	} else if (x->file_size != seg_size) {
		*why = "the segment file's size differs";
		ret = 1;
	} else {
		ret = seal_ends_file(io, seg_fd, h->salt, x->seal_off, seg_size, x->records,
				     x->next_seq);
		if (ret == 1)
			*why = "no matching seal frame ends the segment";
	}
	if (ret != 0)
		uw_fmt_idx_free(x);
	return ret;
}

/* ---- tables loaded on first use (read-only handles) ------------------- */

/* Loads are rare (a lookup in a segment not yet looked in): one lock. */
static pthread_mutex_t lazy_mu = PTHREAD_MUTEX_INITIALIZER;

void uw_seg_idx_unload(struct seg *s)
{
	struct idx *x = &s->idx;
	if (!s->sealed || x->n == 0 || atomic_load_explicit(&s->idx_lazy, memory_order_relaxed))
		return;
	free(x->keys);
	free(x->offs);
	free(x->slots);
	x->keys = NULL;
	x->offs = NULL;
	x->slots = NULL;
	x->cap = 0;
	x->nslots = 0;
	atomic_store_explicit(&s->idx_lazy, true, memory_order_relaxed);
}

/*
 * Read the table of the lazy segment s again: from its index file if that
 * is trusted, else from its frames, keeping the records in its live range
 * [lo, end) outside its voids (what truncation left, recovery.c). They must be the ones it
 * had: n, min and max stay as they were (readers look at them without
 * the lock), and a file that says otherwise now is UWAL_ECORRUPT.
 */
static int load(struct seg *s)
{
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	struct fmt_seg_hdr h;
	struct fmt_idx x;
	const char *why;
	int64_t size = uw_io_file_size(s->io, fd);
	ret = size < 0 ? (int)size : uw_seg_read_header(s->io, fd, &h);
	if (ret == 0 && (h.seq != s->seq || h.salt != s->salt))
		ret = UWAL_ECORRUPT;
	if (ret == 0)
		ret = uw_sidx_load(s->io, s->fdc->dirfd, s->name, &h, fd, (uint64_t)size, &x, &why);
	if (ret == 1)
		ret = collect(s->io, fd, s, &x);
	uw_seg_fd_put(s);
	if (ret < 0)
		return ret;
	struct idx t;
	uw_idx_init(&t);
	for (uint64_t i = 0; ret == 0 && i < x.records; i++)
		if (x.offs[i] >= s->lo && x.offs[i] < s->end && !uw_trunc_in_void(s, x.offs[i]))
			ret = uw_idx_add(&t, x.keys[i], x.offs[i]);
	uw_fmt_idx_free(&x);
	if (ret == 0 && (t.n != s->idx.n || t.min != s->idx.min || t.max != s->idx.max))
		ret = UWAL_ECORRUPT;
	if (ret < 0) {
		uw_idx_free(&t);
		return ret;
	}
	uw_idx_shrink(&t);
	s->idx.keys = t.keys;
	s->idx.offs = t.offs;
	s->idx.cap = t.cap;
	s->idx.slots = t.slots;
	s->idx.nslots = t.nslots;
	s->idx.sorted = t.sorted;
	/* release: a reader that sees the flag clear sees the table. */
	atomic_store_explicit(&s->idx_lazy, false, memory_order_release);
	return 0;
}

int uw_seg_idx_need(struct seg *s)
{
	if (!atomic_load_explicit(&s->idx_lazy, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&lazy_mu);
	int ret = atomic_load_explicit(&s->idx_lazy, memory_order_acquire) ? load(s) : 0;
	pthread_mutex_unlock(&lazy_mu);
	return ret;
}

int uw_seg_idx_find(struct seg *s, uint64_t index, uint32_t *off)
{
	const struct idx *x = &s->idx;
	if (x->n == 0 || index < x->min || index > x->max)
		return 0;
	int ret = uw_seg_idx_need(s);
	if (ret < 0)
		return ret;
	return uw_idx_find(x, index, off) ? 1 : 0;
}

int uw_segs_find(struct uwal *w, uint64_t index, size_t *i, uint32_t *off)
{
	for (size_t k = w->nsegs; k-- > 0;) {
		int found = uw_seg_idx_find(w->segs[k], index, off);
		if (found > 0)
			*i = k;
		if (found)
			return found;
	}
	return 0;
}
