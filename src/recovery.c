/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recovery.c - opening an existing log: read every segment (a sealed one
 * from its index file, when it has a trusted one: segidx.c), check every
 * frame read, rebuild the index, cut a torn tail; and uwal_unsafe_recover(),
 * which removes the segments that fail those checks.
 *
 * The rules (see format.c for the format):
 * - Every segment file's header must be valid and name its own number.
 * - Numbers are consecutive, except after a segment flagged AFTER_GAP.
 * - Every segment before the first unsealed one is sealed; the first
 *   unsealed one is the tail. Segments after the tail may only be empty
 *   prepared segments (they are removed). Anything else means a sealed
 *   segment lost its seal or frames: corruption.
 * - The tail ends at its first invalid frame. The file is truncated there
 *   (which destroys any stale frame behind the cut for good), preallocated
 *   again and synced before the log takes writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct found {
	uint64_t seq;
	char *name;
};

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A temporary file of uwal's own segment preparation: "<prefix><20 digits>.tmp",
 * and nothing else (a name like "<prefix>my-backup-of-the-log.tmp" is not
 * uwal's to remove). */
static bool is_tmp_name(const char *name, const char *prefix)
{
	size_t pl = strlen(prefix), l = strlen(name);
	if (l != pl + 24 || strncmp(name, prefix, pl) != 0 || strcmp(name + pl + 20, ".tmp") != 0)
		return false;
	for (size_t i = pl; i < pl + 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

/* An index file's name, "<prefix><20 digits>.idx" or its temporary
 * "<...>.idx.tmp" (*tmp): the segment number in *seq. */
static bool is_idx_name(const char *name, const char *prefix, uint64_t *seq, bool *tmp)
{
	size_t pl = strlen(prefix), l = strlen(name);
	char seg[SEG_NAME_MAX];
	*tmp = l == pl + 28 && strcmp(name + pl + 20, ".idx.tmp") == 0;
	if (!*tmp && !(l == pl + 24 && strcmp(name + pl + 20, ".idx") == 0))
		return false;
	if (pl + 20 >= sizeof(seg))
		return false;
	memcpy(seg, name, pl + 20);
	seg[pl + 20] = 0;
	return uw_seg_parse_name(seg, prefix, seq);
}

static bool has_seq(const struct found *v, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].seq == seq;
}

static void free_found(struct found *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * List the segment files of the log, sorted by number. Leftover .tmp files
 * of an interrupted preparation, temporary index files and index files
 * without their segment are removed when remove_tmp is set.
 */
static int list_segments(struct uw_io *io, int dirfd, const char *prefix, bool remove_tmp,
			 struct found **out, size_t *n_out)
{
	char **names;
	size_t n;
	int ret = uw_io_list(io, dirfd, prefix, &names, &n);
	if (ret < 0)
		return ret;
	struct found *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		uw_io_free_names(names, n);
		return -ENOMEM;
	}
	size_t k = 0;
	bool removed = false;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq;
		if (uw_seg_parse_name(names[i], prefix, &seq)) {
			v[k].seq = seq;
			v[k].name = names[i];
			names[i] = NULL;
			k++;
		} else if (remove_tmp && is_tmp_name(names[i], prefix)) {
			uw_io_unlinkat(io, dirfd, names[i]);
			removed = true;
		}
	}
	qsort(v, k, sizeof(*v), cmp_found);
	for (size_t i = 0; remove_tmp && i < n; i++) {
		uint64_t seq;
		bool tmp;
		if (names[i] && is_idx_name(names[i], prefix, &seq, &tmp) &&
		    (tmp || !has_seq(v, k, seq))) {
			uw_io_unlinkat(io, dirfd, names[i]);
			removed = true;
		}
	}
	uw_io_free_names(names, n);
	/* The removals need not be durable, but a failing directory fsync
	 * says the directory cannot be trusted: stop here. */
	if (removed && (ret = uw_io_dirsync(io, dirfd)) < 0) {
		free_found(v, k);
		return ret;
	}
	*out = v;
	*n_out = k;
	return 0;
}

int uw_rec_list_seqs(struct uwal *w, uint64_t **out, size_t *n_out)
{
	struct found *v;
	size_t n;
	int ret = list_segments(w->io, w->dirfd, w->prefix, false, &v, &n);
	if (ret < 0)
		return ret;
	uint64_t *seqs = malloc((n ? n : 1) * sizeof(*seqs));
	if (!seqs) {
		free_found(v, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		seqs[i] = v[i].seq;
	free_found(v, n);
	*out = seqs;
	*n_out = n;
	return 0;
}

/* What recovery learned about one segment file. */
struct insp {
	struct seg *seg; /* NULL if the header was bad */
	struct uw_seg_scan scan;
	int64_t size;
	int err; /* UWAL_ECORRUPT (bad header), or -errno */
};

/* Whether a segment holds any frame: records, a seal or truncation frames
 * (a segment prepared and never used holds none). */
static bool has_frames(const struct insp *in)
{
	return in->scan.records || in->scan.sealed || in->scan.stop > FMT_SEG_HDR_SIZE;
}

struct scan_ctx {
	struct uwal *w; /* for diagnostics; may be NULL */
	const char *dir;
	struct seg **prev; /* the segments before this one, already accepted */
	size_t nprev;
	struct seg *seg;
	uint64_t max_seen;
	bool any_seen;
	uint64_t dup_off; /* where a duplicate index was found */
	/* A refresh (uw_rec_scan): BACK frames at or after this offset are
	 * noted for iterators; 0 (never an offset of a frame): none. */
	uint64_t note_from;
	/* Sealed segments may be read from their index files (not with
	 * UWAL_OPEN_VERIFY, nor in unsafe recover). */
	bool use_index;
};

static int on_record(void *arg, const struct fmt_rec *r, uint64_t off)
{
	struct scan_ctx *c = arg;
	uint32_t o;

	if (c->any_seen && r->index <= c->max_seen) {
		bool dup = uw_idx_find(&c->seg->idx, r->index, &o);
		for (size_t i = 0; !dup && i < c->nprev; i++)
			dup = uw_idx_find(&c->prev[i]->idx, r->index, &o);
		if (dup) {
			c->dup_off = off;
			uw_wal_log(c->w, UWAL_LOG_ERROR,
				   "corrupt log: %s/%s: duplicate index %llu at offset %llu",
				   c->dir, c->seg->name, (unsigned long long)r->index,
				   (unsigned long long)off);
			return UWAL_ECORRUPT;
		}
	}
	if (!c->any_seen || r->index > c->max_seen)
		c->max_seen = r->index;
	c->any_seen = true;
	return uw_idx_add(&c->seg->idx, r->index, (uint32_t)off);
}

/* The segment seq among the accepted ones and the current one, or NULL. */
static struct seg *find_seq(struct scan_ctx *c, uint64_t seq)
{
	if (c->seg->seq == seq)
		return c->seg;
	for (size_t i = 0; i < c->nprev; i++)
		if (c->prev[i]->seq == seq)
			return c->prev[i];
	return NULL;
}

/*
 * A truncation frame at off: check it, then void what it says, in the
 * accepted segments and in the one being scanned (format.c, "Positions").
 */
static int on_trunc(void *arg, uint8_t type, const struct fmt_trunc *t, uint64_t off, uint64_t len)
{
	struct scan_ctx *c = arg;
	struct seg *cur = c->seg;
	bool ok;

	if (type == FMT_FRAME_NEXT || (type == FMT_FRAME_FRONT && t->index == 0)) {
		ok = t->seq == cur->seq && t->off == off;
	} else {
		ok = type == FMT_FRAME_BACK
			     ? t->seq < cur->seq
			     : t->seq < cur->seq || (t->seq == cur->seq && t->off < off);
		/* It names a live record, unless its segment is gone. */
		struct seg *s = ok ? find_seq(c, t->seq) : NULL;
		uint32_t o;
		if (s)
			ok = uw_idx_find(&s->idx, t->index, &o) && o == t->off;
	}
	if (!ok) {
		uw_wal_log(c->w, UWAL_LOG_ERROR,
			   "corrupt log: %s/%s: truncation frame at offset %llu names no record "
			   "(index %llu at segment %llu offset %llu)",
			   c->dir, cur->name, (unsigned long long)off, (unsigned long long)t->index,
			   (unsigned long long)t->seq, (unsigned long long)t->off);
		return UWAL_ECORRUPT;
	}
	int err = 0;
	/* The high-water mark of indexes, in log order (format.c, "next"). */
	if (type == FMT_FRAME_NEXT) {
		if (c->w && t->index > c->w->hw_index)
			c->w->hw_index = t->index;
		return 0;
	}
	if (type == FMT_FRAME_BACK && c->w)
		c->w->hw_index = t->index - 1;
	if (type == FMT_FRAME_FRONT) {
		cur->front_off = off;
		for (size_t i = 0; i < c->nprev; i++)
			uw_trunc_void_front(c->prev[i], t->seq, t->off, &err);
		uw_trunc_void_front(cur, t->seq, t->off, &err);
	} else {
		for (size_t i = 0; i < c->nprev; i++)
			uw_trunc_void_back(c->prev[i], t->seq, t->off, &err);
		uw_idx_free(&cur->idx);
		cur->lo = off + len;
		if (err == 0 && c->note_from && off >= c->note_from)
			err = uw_trunc_note_cut(c->w, t->seq, t->off);
	}
	return err;
}

/*
 * Records from..to of the index x, as the frame reader would hand them to
 * on_record. Keys strictly increasing and above every index seen so far
 * cannot repeat a live one: they join the table in one step.
 */
static int add_records(struct scan_ctx *c, struct fmt_idx *x, uint64_t from, uint64_t to)
{
	struct idx *ix = &c->seg->idx;
	if (from == to)
		return 0;
	if (x->sorted && ix->sorted && (!c->any_seen || x->keys[from] > c->max_seen)) {
		c->max_seen = x->keys[to - 1];
		c->any_seen = true;
		if (ix->n == 0 && from == 0 && to == x->records) {
			uw_idx_adopt(ix, x->keys, x->offs, (uint32_t)x->records);
			x->keys = NULL;
			x->offs = NULL;
			return 0;
		}
		return uw_idx_append_sorted(ix, x->keys + from, x->offs + from,
					    (uint32_t)(to - from));
	}
	int ret = 0;
	for (uint64_t i = from; ret == 0 && i < to; i++) {
		struct fmt_rec r = {.index = x->keys[i]};
		ret = on_record(c, &r, x->offs[i]);
	}
	return ret;
}

/*
 * Replay the trusted index x of the sealed segment c->seg in file order:
 * its records and truncation frames, as a scan would meet them; *sc as
 * that scan would fill it.
 */
static int replay_index(struct scan_ctx *c, struct fmt_idx *x, struct uw_seg_scan *sc)
{
	int ret = 0;
	uint64_t r = 0;
	for (uint32_t t = 0; ret == 0 && t <= x->ntrunc; t++) {
		uint64_t stop = x->records;
		if (t < x->ntrunc)
			for (stop = r; stop < x->records && x->offs[stop] < x->trunc[t].off;)
				stop++;
		ret = add_records(c, x, r, stop);
		r = stop;
		if (ret == 0 && t < x->ntrunc)
			ret = on_trunc(c, x->trunc[t].type, &x->trunc[t].t, x->trunc[t].off,
				       x->trunc[t].len);
	}
	memset(sc, 0, sizeof(*sc));
	sc->end = sc->stop = x->seal_off;
	sc->records = x->records;
	sc->sealed = true;
	sc->seal_next = x->next_seq;
	sc->mark_w = x->mark_w;
	sc->mark_recs = x->mark_recs;
	return ret;
}

/* Open, check the header of and scan one segment file. */
static int inspect(struct uw_io *io, int dirfd, const struct found *f, const char *prefix,
		   int open_flags, struct scan_ctx *ctx, struct insp *in)
{
	memset(in, 0, sizeof(*in));
	int fd = uw_io_openat(io, dirfd, f->name, open_flags, 0);
	if (fd < 0)
		return in->err = fd;
	struct fmt_seg_hdr h;
	int ret = uw_seg_read_header(io, fd, &h);
	if (ret == 0 && h.seq != f->seq)
		ret = UWAL_ECORRUPT;
	if (ret < 0) {
		uw_io_close(io, fd);
		return in->err = ret;
	}
	in->size = uw_io_file_size(io, fd);
	if (in->size < 0) {
		uw_io_close(io, fd);
		return in->err = (int)in->size;
	}
	in->seg = uw_seg_new(io, f->seq, fd, h.salt, h.flags, prefix);
	if (!in->seg) {
		uw_io_close(io, fd);
		return in->err = -ENOMEM;
	}
	in->seg->version = h.version;
	in->seg->key = uw_fmt_seg_key(h.salt, h.key_hi);
	ctx->seg = in->seg;
	struct fmt_idx x;
	const char *why = NULL;
	ret = ctx->use_index
		      ? uw_sidx_load(io, dirfd, f->name, &h, fd, (uint64_t)in->size, &x, &why)
		      : 1;
	if (ret == 0) {
		in->seg->indexed = true;
		ret = replay_index(ctx, &x, &in->scan);
		uw_fmt_idx_free(&x);
	} else if (ret == 1) {
		if (why)
			uw_wal_log(ctx->w, UWAL_LOG_INFO,
				   "%s/%s: index file not used (%s): reading the segment's frames",
				   ctx->dir, f->name, why);
		ret = uw_seg_scan_ex(io, fd, h.salt, h.version, (uint64_t)in->size, on_record,
				     on_trunc, ctx, &in->scan);
	}
	if (ret == 0 && in->scan.cut_records)
		ret = uw_idx_truncate(&in->seg->idx,
				      in->seg->idx.n - (uint32_t)in->scan.cut_records);
	in->seg->end = in->scan.end;
	in->seg->recs = in->scan.records;
	in->seg->sealed = in->scan.sealed;
	if (in->scan.mark_w) {
		in->seg->durable_off = in->seg->marked_off = in->scan.mark_w;
		in->seg->durable_recs = in->scan.mark_recs;
	}
	if (ret < 0)
		in->err = ret;
	return ret;
}

int uw_rec_scan(struct uwal *w, struct seg *s, size_t nprev, int fd, uint64_t from,
		uint64_t file_size, uint64_t note_from, struct uw_seg_scan *out)
{
	struct scan_ctx ctx = {.w = w,
			       .dir = w->dir,
			       .prev = w->segs,
			       .nprev = nprev,
			       .seg = s,
			       .note_from = note_from};
	for (size_t i = 0; i < nprev; i++)
		if (w->segs[i]->idx.n && (!ctx.any_seen || w->segs[i]->idx.max > ctx.max_seen)) {
			ctx.max_seen = w->segs[i]->idx.max;
			ctx.any_seen = true;
		}
	if (s->idx.n && (!ctx.any_seen || s->idx.max > ctx.max_seen)) {
		ctx.max_seen = s->idx.max;
		ctx.any_seen = true;
	}
	uint64_t recs = from > FMT_SEG_HDR_SIZE ? s->recs : 0;
	int ret = uw_seg_scan_from(w->io, fd, s->salt, s->version, from, recs, file_size, on_record,
				   on_trunc, &ctx, out);
	if (ret == 0 && out->cut_records)
		ret = uw_idx_truncate(&s->idx, s->idx.n - (uint32_t)out->cut_records);
	return ret;
}

/*
 * The offset just past the last nonzero byte of [from, to) of fd, or from
 * if that range holds only zeros, into *out. Read from the end backwards:
 * the preallocation's zeros lie there. 0 or -errno.
 */
static int last_nonzero(struct uw_io *io, int fd, uint64_t from, uint64_t to, uint64_t *out)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	*out = from;
	while (to > from) {
		size_t want = to - from < CHUNK ? (size_t)(to - from) : CHUNK;
		uint64_t at = to - want;
		ssize_t n = uw_io_pread(io, fd, buf, want, at);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		size_t i = (size_t)n; /* short only past the end of the file: zeros */
		while (i > 0 && !buf[i - 1])
			i--;
		if (i > 0) {
			*out = at + i;
			break;
		}
		to = at;
	}
	free(buf);
	return ret;
}

/* What cutting the tail at in->scan.end drops, in words, into buf. */
static void describe_cut(char *buf, size_t n, const struct insp *in, uint64_t frames_end,
			 const char *verb)
{
	uint64_t whole = in->scan.cut_records;
	uint64_t torn = frames_end > in->scan.stop ? 1 : 0;
	snprintf(buf, n,
		 "%llu record%s %s (%llu whole, of a uwal_write_batch() call cut short; "
		 "%llu torn frame%s), %llu bytes of frames",
		 (unsigned long long)(whole + torn), whole + torn == 1 ? "" : "s", verb,
		 (unsigned long long)whole, (unsigned long long)torn, torn == 1 ? "" : "s",
		 (unsigned long long)(frames_end - in->scan.end));
}

/*
 * Is the cut at in->scan.end vouched for, i.e. would it drop frames a mark
 * frame after the damage says were durable (format.c, "The durable
 * watermark")? The search runs from just past where the scan stopped to
 * frames_end. 1 (and the mark in *m), 0, or -errno. A read-only open
 * beside a live writer may have read a batch while it was being written:
 * if the frames at the stop read whole now, that was no damage (0).
 */
static int vouched_cut(bool ro, struct seg *s, const struct insp *in, int fd, uint64_t frames_end,
		       struct uw_seg_mark *m)
{
	memset(m, 0, sizeof(*m));
	if (s->version < 3 || frames_end <= in->scan.stop)
		return 0;
	/* A mark frame may end in zero bytes (its record count's high ones). */
	uint64_t to = frames_end + FMT_MARK_FRAME_SIZE;
	if (to > (uint64_t)in->size)
		to = (uint64_t)in->size;
	int ret = uw_seg_find_mark(s->io, fd, s->salt, s->key, in->scan.stop + 1, to, m);
	if (ret < 0 || m->w <= in->scan.end)
		return ret;
	if (ro) {
		int64_t size = uw_io_file_size(s->io, fd);
		if (size < 0)
			return (int)size;
		struct uw_seg_scan again;
		ret = uw_seg_scan_ex(s->io, fd, s->salt, s->version, (uint64_t)size, NULL, NULL,
				     NULL, &again);
		if (ret < 0)
			return ret;
		if (again.stop > in->scan.stop)
			return 0;
	}
	return 1;
}

/*
 * Bring the tail segment to a clean state at its cut point: everything
 * after the last whole frame (and whole batch) is dropped, and the file is
 * preallocated again to the configured size. Nothing is written when the
 * tail is already clean (only zeros after the last frame, full size).
 * A cut that would drop what a later mark frame says was durable is
 * corruption, not a torn tail: refused with UWAL_ECORRUPT by every open.
 * UWAL_OPEN_NO_REPAIR refuses any other cut that would drop anything; a
 * read-only open leaves the file alone (its view ends at the cut).
 */
static int repair_tail(struct uwal *w, struct seg *s, const struct insp *in)
{
	uint64_t cut = in->scan.end;
	uint64_t size = w->cfg.segment_size;
	uint64_t frames_end;
	char what[256];
	bool ro = w->cfg.open_flags & UWAL_OPEN_READONLY;
	bool no_repair = w->cfg.open_flags & UWAL_OPEN_NO_REPAIR;
	struct uw_seg_mark m;

	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	ret = last_nonzero(s->io, fd, cut, (uint64_t)in->size, &frames_end);
	if (ret == 0)
		ret = vouched_cut(ro, s, in, fd, frames_end, &m);
	uw_seg_fd_put(s);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		uint64_t behind = m.recs > in->scan.records ? m.recs - in->scan.records : 0;
		uw_wal_log(
			w, UWAL_LOG_ERROR,
			"corrupt log: %s/%s at offset %llu: bad frame in the durable part of the "
			"last segment (the mark frame at offset %llu says it was durable up to "
			"offset %llu): %llu durable record%s lie behind it, not cut",
			w->dir, s->name, (unsigned long long)in->scan.stop,
			(unsigned long long)m.off, (unsigned long long)m.w,
			(unsigned long long)behind, behind == 1 ? "" : "s");
		return UWAL_ECORRUPT;
	}
	if (frames_end > cut && no_repair) {
		describe_cut(what, sizeof(what), in, frames_end, "would be dropped");
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "torn tail not cut (UWAL_OPEN_NO_REPAIR): %s/%s at offset %llu: %s",
			   w->dir, s->name, (unsigned long long)cut, what);
		return UWAL_ECORRUPT;
	}
	if (ro) {
		s->tail_bytes =
			frames_end - cut; /* hidden from this handle, shown by uwal_segments() */
		return 0;
	}
	if (frames_end == cut && (uint64_t)in->size == size)
		return 0;
	if (frames_end > cut) {
		describe_cut(what, sizeof(what), in, frames_end, "dropped");
		uw_wal_log(w, UWAL_LOG_WARN, "torn tail cut: %s/%s at offset %llu: %s", w->dir,
			   s->name, (unsigned long long)cut, what);
	}
	/* Truncating destroys whatever lies past the cut, so no stale frame
	 * of this segment can validate behind new writes later. */
	ret = uw_io_ftruncate(w->io, s->fd, cut);
	if (ret == 0 && size > cut)
		ret = uw_io_fallocate(w->io, s->fd, cut, size - cut);
	if (ret == 0 && w->cfg.prealloc == UWAL_PREALLOC_ZERO && size > cut)
		ret = uw_seg_zero_fill(s->io, s->fd, cut, size);
	if (ret == 0)
		ret = uw_io_fdatasync(w->io, s->fd);
	if (ret == 0) {
		/* All that is left is durable now. */
		s->durable_off = cut;
		s->durable_recs = in->scan.records;
	}
	return ret;
}

static void drop_insp(struct insp *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].seg)
			uw_seg_unref(v[i].seg);
	free(v);
}

static int corrupt(struct uwal *w, const char *name, uint64_t off, const char *why)
{
	uw_wal_log(w, UWAL_LOG_ERROR, "corrupt log: %s/%s at offset %llu: %s", w->dir, name,
		   (unsigned long long)off, why);
	return UWAL_ECORRUPT;
}

/*
 * A read-only open found records after the tail: read the tail again. If
 * it is sealed now (a live writer rotated meanwhile), it replaces the first
 * reading, in the handle's list and in *in, and 1 is returned; 0 if it is
 * still unsealed (damage), or -errno.
 */
static int reread_tail(struct uwal *w, const struct found *f, struct scan_ctx *ctx, struct insp *in)
{
	struct insp again;
	ctx->prev = w->segs;
	ctx->nprev = w->nsegs - 1; /* without the first reading */
	int ret = inspect(w->io, w->dirfd, f, w->prefix, O_RDONLY, ctx, &again);
	if (ret < 0 || !again.seg->sealed) {
		if (again.seg)
			uw_seg_unref(again.seg);
		return ret == UWAL_ECORRUPT ? 0 : ret;
	}
	uw_fdc_attach(&w->fdc, again.seg);
	uw_seg_fd_unpin(again.seg);
	pthread_rwlock_wrlock(&w->lock);
	uw_seg_unref(w->segs[w->nsegs - 1]); /* the list's */
	w->segs[w->nsegs - 1] = again.seg;
	uw_seg_ref(again.seg);
	pthread_rwlock_unlock(&w->lock);
	uw_seg_unref(in->seg);
	*in = again;
	return 1;
}

/*
 * Remove the sealed segments at the front of the log whose records
 * truncation voided, oldest first (a frame only voids what is before it,
 * so what they say is moot).
 */
static int remove_void_front(struct uwal *w)
{
	size_t n = 0;
	while (n + 1 < w->nsegs && w->segs[n]->sealed && w->segs[n]->idx.n == 0)
		n++;
	int ret = 0;
	size_t gone = 0;
	/* One directory fsync per removal, oldest first: an older file may
	 * outlive a newer one's removal, never the reverse (no gap). */
	for (; gone < n && ret == 0; gone++) {
		ret = uw_io_unlinkat(w->io, w->dirfd, w->segs[gone]->name);
		if (ret == 0)
			ret = uw_io_dirsync(w->io, w->dirfd);
		if (ret == 0)
			uw_sidx_remove(w->io, w->dirfd, w->segs[gone]->name);
	}
	if (ret < 0 || gone == 0)
		return ret;
	for (size_t i = 0; i < gone; i++)
		uw_seg_unref(w->segs[i]);
	memmove(w->segs, w->segs + gone, (w->nsegs - gone) * sizeof(*w->segs));
	w->nsegs -= gone;
	return 0;
}

int uw_rec_open_log(struct uwal *w)
{
	struct found *f;
	size_t n;
	bool ro = w->cfg.open_flags & UWAL_OPEN_READONLY;
	bool no_repair = w->cfg.open_flags & UWAL_OPEN_NO_REPAIR;
	/* NO_REPAIR changes nothing until the log is known to need no cut. */
	int ret = list_segments(w->io, w->dirfd, w->prefix, !ro && !no_repair, &f, &n);
	if (ret < 0)
		return ret;
	struct insp *in = calloc(n ? n : 1, sizeof(*in));
	if (!in) {
		free_found(f, n);
		return -ENOMEM;
	}
	struct scan_ctx ctx = {
		.w = w, .dir = w->dir, .use_index = !(w->cfg.open_flags & UWAL_OPEN_VERIFY)};
	size_t tail = n; /* first unsealed segment */
	for (size_t i = 0; i < n && ret == 0; i++) {
		ctx.prev = w->segs;
		ctx.nprev = w->nsegs;
		ret = inspect(w->io, w->dirfd, &f[i], w->prefix, ro ? O_RDONLY : O_RDWR, &ctx,
			      &in[i]);
		if (ro && ret == -ENOENT && w->nsegs == 0) {
			/* A live writer's retention removed it after the listing. */
			ret = 0;
			continue;
		}
		if (ret == UWAL_ECORRUPT && !in[i].seg)
			ret = corrupt(w, f[i].name, 0, "bad segment header");
		if (ret == UWAL_EVERSION)
			uw_wal_log(
				w, UWAL_LOG_ERROR,
				"%s/%s has a newer format version than this library reads (%d at "
				"most): open the log with a newer uwal",
				w->dir, f[i].name, FMT_VERSION);
		if (ret < 0)
			break;
		struct seg *s = in[i].seg;
		/* A sealed segment's descriptor goes to the cache (which keeps
		 * a bounded number open), so a log of more segments than the
		 * process may open descriptors still opens. */
		uw_fdc_attach(&w->fdc, s);
		if (s->sealed || ro)
			uw_seg_fd_unpin(s);
		if (i > 0 && f[i].seq != f[i - 1].seq + 1 && !(s->hdr_flags & FMT_SEG_AFTER_GAP)) {
			ret = corrupt(w, f[i].name, 0, "the segment before it is missing");
			break;
		}
		if (tail < n && ro && has_frames(&in[i])) {
			/* Beside a live writer: it may have sealed the tail and
			 * gone on after the tail was read. Then the tail reads
			 * as sealed now; if not, this is damage. */
			ret = reread_tail(w, &f[tail], &ctx, &in[tail]);
			if (ret < 0)
				break;
			if (ret == 1)
				tail = n;
			ret = 0;
		}
		if (tail < n) {
			/* After the tail: only an empty prepared segment. */
			if (has_frames(&in[i])) {
				ret = corrupt(w, f[tail].name,
					      in[tail].scan.bad_off ? in[tail].scan.bad_off
								    : in[tail].scan.end,
					      "bad frame in a sealed segment");
				break;
			}
			continue;
		}
		if (!s->sealed)
			tail = i;
		ret = uw_seg_list_push(&w->segs, &w->nsegs, &w->cap_segs, s);
		if (ret < 0)
			break;
		uw_seg_ref(s); /* the list holds one, in[] another */
	}
	if (ret == 0 && tail < n)
		ret = repair_tail(w, in[tail].seg, &in[tail]);
	/* Remove the empty segments after the tail (prepared, never used). */
	for (size_t i = tail + 1; ret == 0 && !ro && i < n; i++) {
		ret = uw_io_unlinkat(w->io, w->dirfd, f[i].name);
		if (ret == 0 && i + 1 == n)
			ret = uw_io_dirsync(w->io, w->dirfd);
	}
	if (ret == 0 && !ro)
		ret = remove_void_front(w);
	if (ret == 0 && no_repair && !ro) {
		/* Now the leftovers of a preparation may go. */
		struct found *again;
		size_t m;
		ret = list_segments(w->io, w->dirfd, w->prefix, true, &again, &m);
		if (ret == 0)
			free_found(again, m);
	}
	uint64_t next_seq = n ? f[n - 1].seq + 1 : 0;
	free_found(f, n);
	drop_insp(in, n);
	if (ret < 0 || ro)
		return ret;

	if (tail == n) {
		/* Empty log, or every segment sealed: start a new one. */
		struct seg *s;
		ret = uw_seg_create(w->io, w->dirfd, w->prefix, next_seq, w->cfg.segment_size,
				    w->cfg.prealloc, &s);
		if (ret < 0)
			return ret;
		uw_fdc_attach(&w->fdc, s);
		ret = uw_seg_list_push(&w->segs, &w->nsegs, &w->cap_segs, s);
		if (ret < 0) {
			uw_seg_unref(s);
			return ret;
		}
		next_seq++;
	} else {
		next_seq = w->segs[w->nsegs - 1]->seq + 1;
	}
	w->prep.next_seq = next_seq;
	/* Sealed segments read frame by frame get an index file, in the
	 * background, for the next open. */
	for (size_t i = 0; i < w->nsegs; i++)
		if (w->segs[i]->sealed && !w->segs[i]->indexed)
			uw_prep_index(w, w->segs[i]);
	return 0;
}

/* ---- unsafe recover ------------------------------------------------- */

static int set_after_gap(struct seg *s)
{
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	uint8_t hdr[FMT_SEG_HDR_SIZE];
	struct fmt_seg_hdr h = {.version = s->version,
				.flags = (uint16_t)(s->hdr_flags | FMT_SEG_AFTER_GAP),
				.seq = s->seq,
				.salt = s->salt,
				.key_hi = (uint32_t)(s->key >> 32)};
	uw_fmt_seg_hdr_encode(hdr, &h);
	ret = uw_io_pwrite(s->io, fd, hdr, sizeof(hdr), 0);
	if (ret == 0)
		ret = uw_io_fdatasync(s->io, fd);
	uw_seg_fd_put(s);
	return ret;
}

/* What unsafe recover says about the file of in (of f), into *e. */
static void report(uwal_segment_info *e, const struct found *f, const struct insp *in, bool removed,
		   uint64_t bad_off, const char *damage)
{
	memset(e, 0, sizeof(*e));
	e->seq = f->seq;
	snprintf(e->name, sizeof(e->name), "%s", f->name);
	e->file_size = in->size > 0 ? (uint64_t)in->size : 0;
	e->removed = removed;
	e->bad_offset = bad_off;
	e->damage = damage;
	const struct seg *s = in->seg;
	if (!s)
		return; /* a bad header: nothing of the file was read */
	e->version = s->version;
	e->frame_bytes = in->scan.end - FMT_SEG_HDR_SIZE;
	e->records = s->idx.n;
	e->first_index = s->idx.n ? s->idx.min : 0;
	e->last_index = s->idx.n ? s->idx.max : 0;
	e->sealed = in->scan.sealed;
	/* A kept file is reported as it is after the run: flagged. */
	e->after_gap = !removed || (s->hdr_flags & FMT_SEG_AFTER_GAP);
}

/* Why unsafe recover removes the file of in, and where that is. */
static const char *damage_of(const struct insp *in, int err, const struct scan_ctx *ctx,
			     uint64_t *off)
{
	*off = 0;
	if (!in->seg)
		return "bad segment header (or one naming another segment number)";
	if (err == UWAL_ECORRUPT) {
		*off = ctx->dup_off;
		return "an index already present in an earlier segment (a damaged copy)";
	}
	if (in->scan.bad_off) {
		*off = in->scan.bad_off;
		return "bad frame in a segment that later segments follow";
	}
	*off = in->scan.end;
	return "no seal in a segment that later segments follow";
}

/*
 * Unsafe recover's part in the tail: if its cut point lies before a
 * watermark (uwal_open() refuses it), cut the file there (the next open
 * preallocates it again) and report it in *e. 1 if so, 0 if the tail
 * needs nothing, or -errno.
 */
static int cut_vouched_tail(struct insp *in, bool dry, uwal_segment_info *e, const struct found *f)
{
	struct seg *s = in->seg;
	uint64_t frames_end;
	struct uw_seg_mark m;
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	ret = last_nonzero(s->io, fd, in->scan.end, (uint64_t)in->size, &frames_end);
	if (ret == 0)
		ret = vouched_cut(false, s, in, fd, frames_end, &m);
	if (ret == 1 && !dry) {
		int e2 = uw_io_ftruncate(s->io, fd, in->scan.end);
		if (e2 == 0)
			e2 = uw_io_fdatasync(s->io, fd);
		if (e2 < 0)
			ret = e2;
	}
	uw_seg_fd_put(s);
	if (ret != 1)
		return ret;
	report(e, f, in, false, in->scan.stop,
	       "bad frame in the durable part of the last segment (before its watermark): "
	       "the segment is cut there, and the durable records after it are lost");
	e->after_gap = s->hdr_flags & FMT_SEG_AFTER_GAP;
	return 1;
}

int uw_rec_unsafe_recover(struct uw_io *io, int dirfd, const char *prefix, unsigned flags,
			  uwal_segment_info **report_out, size_t *n_report)
{
	struct found *f;
	size_t n, nrep = 0;
	struct seg **accepted = NULL;
	uwal_segment_info *rep = NULL;
	bool fdc_live = false;
	bool dry = flags & UWAL_RECOVER_DRY_RUN;
	int oflags = dry ? O_RDONLY : O_RDWR;
	*report_out = NULL;
	*n_report = 0;
	int ret = list_segments(io, dirfd, prefix, !dry, &f, &n);
	if (ret < 0)
		return ret;
	struct insp *in = calloc(n ? n : 1, sizeof(*in));
	bool *bad = calloc(n ? n : 1, sizeof(*bad));
	uint64_t *bad_off = calloc(n ? n : 1, sizeof(*bad_off));
	const char **why = calloc(n ? n : 1, sizeof(*why));
	accepted = calloc(n ? n : 1, sizeof(*accepted));
	rep = calloc(n ? n : 1, sizeof(*rep)); /* at most one element per file */
	if (!in || !bad || !bad_off || !why || !accepted || !rep) {
		ret = -ENOMEM;
		goto out;
	}
	size_t last_with_data = n, nacc = 0;
	struct scan_ctx ctx = {.prev = accepted};
	/* Descriptors through a cache, as in a handle (a segment may get its
	 * header rewritten: read-write, unless this is a dry run). */
	struct uw_fdc fdc;
	uw_fdc_init(&fdc, io, dirfd, oflags, uw_fdc_bound());
	fdc_live = true;
	for (size_t i = 0; i < n; i++) {
		/* A segment repeating an index of an earlier one is the damaged
		 * copy (a renumbered duplicate): the earlier one is kept. */
		ctx.nprev = nacc;
		int e = inspect(io, dirfd, &f[i], prefix, oflags, &ctx, &in[i]);
		if (e < 0 && e != UWAL_ECORRUPT) {
			ret = e;
			goto out;
		}
		if (in[i].seg) {
			uw_fdc_attach(&fdc, in[i].seg);
			uw_seg_fd_unpin(in[i].seg);
		}
		bad[i] = !in[i].seg || e == UWAL_ECORRUPT;
		if (bad[i]) {
			why[i] = damage_of(&in[i], e, &ctx, &bad_off[i]);
		} else {
			accepted[nacc++] = in[i].seg;
			if (has_frames(&in[i]))
				last_with_data = i;
		}
	}
	/* An unsealed segment with data is only allowed as the last one with
	 * data (the tail); earlier ones lost frames or their seal. */
	for (size_t i = 0; i < n; i++) {
		if (!bad[i] && last_with_data < n && i < last_with_data && !in[i].seg->sealed) {
			bad[i] = true;
			why[i] = damage_of(&in[i], 0, &ctx, &bad_off[i]);
		}
	}
	/* The tail: damage before its watermark is cut here, as a torn
	 * tail would be (the durable records after it are lost). */
	for (size_t i = 0; i < n; i++) {
		if (bad[i] || in[i].seg->sealed)
			continue;
		ret = cut_vouched_tail(&in[i], dry, &rep[nrep], &f[i]);
		if (ret < 0)
			goto out;
		nrep += (size_t)ret;
		ret = 0;
		break;
	}
	bool gap = false;
	uint64_t prev = 0;
	bool have_prev = false;
	for (size_t i = 0; i < n; i++) {
		if (bad[i]) {
			if (!dry && (ret = uw_io_unlinkat(io, dirfd, f[i].name)) < 0)
				goto out;
			if (!dry)
				uw_sidx_remove(io, dirfd, f[i].name);
			report(&rep[nrep++], &f[i], &in[i], true, bad_off[i], why[i]);
			gap = true;
			continue;
		}
		if (have_prev && f[i].seq != prev + 1)
			gap = true;
		if (gap && have_prev && !(in[i].seg->hdr_flags & FMT_SEG_AFTER_GAP)) {
			if (!dry && (ret = set_after_gap(in[i].seg)) < 0)
				goto out;
			report(&rep[nrep++], &f[i], &in[i], false, 0,
			       "the segment before it is missing or removed: its header is "
			       "flagged after_gap, so the log opens with the gap");
		}
		gap = false;
		prev = f[i].seq;
		have_prev = true;
	}
	if (!dry && nrep)
		ret = uw_io_dirsync(io, dirfd);
out:
	free(accepted);
	if (in)
		drop_insp(in, n);
	if (fdc_live)
		uw_fdc_destroy(&fdc);
	free(bad);
	free(bad_off);
	free(why);
	free_found(f, n);
	if (ret < 0 || nrep == 0) {
		free(rep);
		return ret;
	}
	*report_out = rep;
	*n_report = nrep;
	return 0;
}
