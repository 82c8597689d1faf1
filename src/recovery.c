/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recovery.c - opening an existing log: read every segment (a sealed one
 * from its index file, when it has a trusted one: segidx.c), check every
 * frame read, rebuild the index, cut a torn tail; and uwal_unsafe_recover(),
 * which removes the segments that fail those checks, or cuts a damaged one
 * at its last whole batch before the damage and seals it there.
 *
 * Both read the log through one pass, classify(), which gives every
 * segment file a verdict (enum verdict: whole, the tail clean or torn,
 * damage and where); the open (read-write, read-only, NO_REPAIR) and
 * unsafe recover (and its dry run) only act on those verdicts.
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

/* Why a scan refused a segment whose frames are valid (UWAL_ECORRUPT). */
enum refusal {
	REFUSED_NONE,
	REFUSED_DUP,   /* a record repeats the index of a live one */
	REFUSED_TRUNC, /* a truncation frame names no record */
};

struct scan_ctx {
	struct uwal *w; /* the handle (hw_index, notes for iterators); may be NULL */
	const char *dir;
	struct seg **prev; /* the segments before this one, already accepted */
	size_t nprev;
	struct seg *seg;
	uint64_t max_seen;
	bool any_seen;
	/* A refresh (uw_rec_scan): BACK frames at or after this offset are
	 * noted for iterators; 0 (never an offset of a frame): none. */
	uint64_t note_from;
	/* Sealed segments may be read from their index files (not with
	 * UWAL_OPEN_VERIFY, nor in unsafe recover). */
	bool use_index;
	/* Unsafe recover: an earlier segment that is not sealed is cut at the
	 * end of its whole frames (a truncation frame may name what lay after
	 * it, as in a sealed one). */
	bool cut_ok;
	/* Why the scan returned UWAL_ECORRUPT: the frame at bad_at, the index
	 * it repeats or the truncation frame's payload. */
	enum refusal why;
	uint64_t bad_at, bad_index;
	struct fmt_trunc bad_t;
};

static int on_record(void *arg, const struct fmt_rec *r, uint64_t off)
{
	struct scan_ctx *c = arg;
	uint32_t o;

	if (c->any_seen && r->index <= c->max_seen) {
		int dup = uw_idx_find(&c->seg->idx, r->index, &o);
		for (size_t i = 0; !dup && i < c->nprev; i++)
			dup = uw_seg_idx_find(c->prev[i], r->index, &o);
		if (dup < 0)
			return dup;
		if (dup) {
			c->why = REFUSED_DUP;
			c->bad_at = off;
			c->bad_index = r->index;
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
	struct fmt_trunc past;
	bool ok;

	if (type == FMT_FRAME_NEXT || (type == FMT_FRAME_FRONT && t->index == 0)) {
		ok = t->seq == cur->seq && t->off == off;
	} else {
		/* A BACK frame may name a record of its own segment from
		 * version 3 on. */
		ok = t->seq < cur->seq || (t->seq == cur->seq && t->off < off &&
					   (type == FMT_FRAME_FRONT || cur->version >= 3));
		/* It names a live record, unless its segment is gone, or the
		 * record lay after the end of an earlier segment's frames:
		 * unsafe recover cut that segment at damage before it (and
		 * sealed it there). The position then means the segment's
		 * end: nothing of it lies between the two. */
		struct seg *s = ok ? find_seq(c, t->seq) : NULL;
		uint32_t o;
		if (s && s != cur && (s->sealed || c->cut_ok) && t->off >= s->end) {
			past = *t;
			past.off = s->end;
			t = &past;
		} else if (s) {
			int found = uw_seg_idx_find(s, t->index, &o);
			if (found < 0)
				return found;
			ok = found && o == t->off;
		}
	}
	if (!ok) {
		c->why = REFUSED_TRUNC;
		c->bad_at = off;
		c->bad_t = *t;
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
	uw_trunc_apply(c->prev, c->nprev, cur, type, t, off, len, &err);
	if (err == 0 && type == FMT_FRAME_BACK && c->note_from && off >= c->note_from)
		err = uw_trunc_note_cut(c->w, t->seq, t->off);
	return err;
}

/* Say why a scan refused the segment name (why, at the frame at off). */
static void log_refusal(const struct uwal *w, const char *dir, const char *name, enum refusal why,
			uint64_t off, uint64_t index, const struct fmt_trunc *t)
{
	if (why == REFUSED_DUP)
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "corrupt log: %s/%s: duplicate index %llu at offset %llu", dir, name,
			   (unsigned long long)index, (unsigned long long)off);
	else if (why == REFUSED_TRUNC)
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "corrupt log: %s/%s: truncation frame at offset %llu names no record "
			   "(index %llu at segment %llu offset %llu)",
			   dir, name, (unsigned long long)off, (unsigned long long)t->index,
			   (unsigned long long)t->seq, (unsigned long long)t->off);
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
	ctx->why = REFUSED_NONE;
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
	if (ret == UWAL_ECORRUPT)
		log_refusal(w, w->dir, s->name, ctx.why, ctx.bad_at, ctx.bad_index, &ctx.bad_t);
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

/* ---- verdicts ----------------------------------------------------------- */

/*
 * What classify() makes of one segment file. The open (read-write,
 * read-only, UWAL_OPEN_NO_REPAIR) and unsafe recover (and its dry run)
 * only act on these: the open refuses the first damage and cuts a torn
 * tail; unsafe recover removes, cuts and flags.
 */
enum verdict {
	V_WHOLE,          /* sealed, every frame read is valid */
	V_TAIL_CLEAN,     /* the tail (first unsealed segment): zeros after its frames */
	V_TORN_TAIL,      /* the tail: nonzero bytes after its last whole batch
			     (cut), which no mark frame vouches for */
	V_VOUCHED_DAMAGE, /* the tail: bad frame at `at` before the watermark of a
			     later mark frame (mark): not a torn tail */
	V_CORRUPT,        /* not sealed, and a later segment holds frames: a bad
			     frame at `at`, or (at == cut) no seal; its whole
			     batches end at cut */
	V_BAD_HEADER,     /* bad header, or one naming another number */
	V_DUPLICATE,      /* the record at `at` repeats index, a live one's */
	V_BAD_TRUNC,      /* the truncation frame at `at` (t) names no record */
	V_MISSING_BEFORE, /* the open: a number before it is missing (gap) */
	V_NEWER_VERSION,  /* a newer format version than this library reads */
	V_EMPTY_PREPARED, /* after the tail, no frame: prepared, never used */
	V_GONE,           /* a read-only open: removed after the listing (a live
			     writer's retention) */
};

struct judged {
	enum verdict v;
	uint64_t at;             /* the offset the damage is named by */
	uint64_t cut;            /* the tail, V_CORRUPT: where the whole batches end */
	uint64_t frames_end;     /* the tail: just past its last nonzero byte */
	struct uw_seg_mark mark; /* V_VOUCHED_DAMAGE: the mark frame */
	uint64_t index;          /* V_DUPLICATE */
	struct fmt_trunc t;      /* V_BAD_TRUNC */
	/* V_CORRUPT in unsafe recover: the record frames after cut, as the
	 * seal that ends the file counts them; V_VOUCHED_DAMAGE: the durable
	 * ones, as the mark frame counts them. UWAL_RECORDS_UNKNOWN if not
	 * known. */
	uint64_t lost;
	bool no_seal; /* V_CORRUPT: no bad frame, the frames just end */
	/* A number before it is missing and its header is not flagged
	 * after_gap (the open: V_MISSING_BEFORE; unsafe recover flags it). */
	bool gap;
};

/* The segment files of a log, judged: classify()'s input and output. */
struct census {
	struct uw_io *io;
	int dirfd;
	const char *prefix;
	const char *dir;       /* for messages and the scan's context */
	struct uwal *w;        /* the handle being opened; NULL in unsafe recover */
	const struct found *f; /* the listing, n files */
	size_t n;
	int open_flags;     /* the segment files': O_RDONLY or O_RDWR */
	struct uw_fdc *fdc; /* every segment read goes under it */
	bool use_index;     /* sealed segments may be read from index files */
	bool ro;            /* a read-only open: a writer may be at work */
	bool go_on;         /* unsafe recover: judge every file, past damage */

	struct insp *in;  /* per file */
	struct judged *j; /* per file */
	struct seg **acc; /* the accepted segments, in order (in[] owns them) */
	size_t nacc;
	size_t tail;     /* the tail's file; n if none */
	size_t tail_acc; /* its place in acc */
	size_t fatal;    /* the file whose verdict stops the open; n if none */
};

static void census_free(struct census *c)
{
	for (size_t i = 0; c->in && i < c->n; i++)
		if (c->in[i].seg)
			uw_seg_unref(c->in[i].seg);
	free(c->in);
	free(c->j);
	free(c->acc);
}

/*
 * The records count of a seal frame that ends the file of in and starts
 * after where its scan stopped (the seal of a sealed segment behind the
 * damage), into *records: 1 if there is one, 0 if not, or -errno.
 */
static int seal_at_end(const struct insp *in, uint64_t *records)
{
	struct seg *s = in->seg;
	uint64_t size = (uint64_t)in->size;
	uint8_t buf[FMT_SEAL_FRAME_MAX];
	if (size <= in->scan.stop + 1 + FMT_FRAME_HDR_SIZE)
		return 0;
	size_t len = size - in->scan.stop - 1 < sizeof(buf) ? (size_t)(size - in->scan.stop - 1)
							    : sizeof(buf);
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	ssize_t got = uw_io_pread(s->io, fd, buf, len, size - len);
	uw_seg_fd_put(s);
	if (got < 0)
		return (int)got;
	if ((size_t)got != len)
		return 0;
	struct fmt_dec dec;
	if (uw_fmt_dec_init(&dec) < 0)
		return -ENOMEM;
	ret = 0;
	for (size_t at = 0; ret == 0 && at + FMT_FRAME_HDR_SIZE < len; at++) {
		struct fmt_frame fr;
		size_t flen = len - at;
		uint64_t next;
		if (uw_fmt_frame_decode(buf + at, flen, s->salt,
					(uint32_t)(flen - FMT_FRAME_HDR_SIZE),
					&fr) == FMT_FRAME_OK &&
		    fr.type == FMT_FRAME_SEAL && FMT_FRAME_HDR_SIZE + (size_t)fr.len == flen &&
		    uw_fmt_seal_decode(&dec, &fr, records, &next) == 0)
			ret = 1;
	}
	uw_fmt_dec_destroy(&dec);
	return ret;
}

/* The file k lost frames or its seal: later segments hold frames. */
static int judge_corrupt(struct census *c, size_t k)
{
	const struct insp *in = &c->in[k];
	struct judged *j = &c->j[k];
	j->v = V_CORRUPT;
	j->no_seal = !in->scan.bad_off;
	j->at = in->scan.bad_off ? in->scan.bad_off : in->scan.end;
	j->cut = in->scan.end;
	if (!c->go_on || j->cut <= FMT_SEG_HDR_SIZE)
		return 0;
	uint64_t records;
	int ret = seal_at_end(in, &records);
	if (ret == 1 && records >= in->scan.records)
		j->lost = records - in->scan.records;
	return ret < 0 ? ret : 0;
}

/* The tail: what lies after its last whole batch, and whether a mark
 * frame vouches for it. */
static int judge_tail(struct census *c)
{
	const struct insp *in = &c->in[c->tail];
	struct judged *j = &c->j[c->tail];
	struct seg *s = in->seg;
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	ret = last_nonzero(s->io, fd, in->scan.end, (uint64_t)in->size, &j->frames_end);
	if (ret == 0)
		ret = vouched_cut(c->ro, s, in, fd, j->frames_end, &j->mark);
	uw_seg_fd_put(s);
	if (ret < 0)
		return ret;
	j->cut = in->scan.end;
	if (ret == 1) {
		j->v = V_VOUCHED_DAMAGE;
		j->at = in->scan.stop;
		j->lost = j->mark.recs > in->scan.records ? j->mark.recs - in->scan.records : 0;
	} else {
		j->v = j->frames_end > j->cut ? V_TORN_TAIL : V_TAIL_CLEAN;
		j->at = j->cut;
	}
	return 0;
}

/*
 * A read-only open found frames after the tail: read the tail again. If
 * it is sealed now (a live writer rotated meanwhile), the new reading
 * replaces the first one and 1 is returned; 0 if it is still unsealed
 * (damage), or -errno.
 */
static int reread_tail(struct census *c, struct scan_ctx *ctx)
{
	struct insp again;
	size_t t = c->tail;
	ctx->nprev = c->tail_acc; /* without the first reading */
	int ret = inspect(c->io, c->dirfd, &c->f[t], c->prefix, c->open_flags, ctx, &again);
	if (ret < 0 || !again.seg->sealed) {
		if (again.seg)
			uw_seg_unref(again.seg);
		return ret == UWAL_ECORRUPT ? 0 : ret;
	}
	uw_fdc_attach(c->fdc, again.seg);
	uw_seg_fd_unpin(again.seg);
	uw_seg_unref(c->in[t].seg);
	c->in[t] = again;
	c->acc[c->tail_acc] = again.seg;
	return 1;
}

/*
 * Read every file of c->f in order, with the open's checks, and judge it
 * (c->j). The rules are those at the top of this file: a segment is read
 * against the accepted ones before it (indexes, truncation frames); the
 * first unsealed one is the tail; frames after it make it V_CORRUPT (and,
 * in a read-only open, make it read again first: a live writer may have
 * sealed it meanwhile); what follows the tail without frames is
 * V_EMPTY_PREPARED. The open stops at the first damage (c->fatal); unsafe
 * recover (go_on) judges every file: a refused one is not accepted (later
 * ones are read without it), a gap is only noted, and every unsealed
 * segment that later frames follow is V_CORRUPT. A newer version stops
 * both. 0 or -errno.
 */
static int classify(struct census *c)
{
	size_t n = c->n;
	c->in = calloc(n ? n : 1, sizeof(*c->in));
	c->j = calloc(n ? n : 1, sizeof(*c->j));
	c->acc = calloc(n ? n : 1, sizeof(*c->acc));
	c->nacc = 0;
	c->tail = c->fatal = n;
	if (!c->in || !c->j || !c->acc)
		return -ENOMEM;
	struct scan_ctx ctx = {.w = c->w,
			       .dir = c->dir,
			       .prev = c->acc,
			       .use_index = c->use_index,
			       .cut_ok = c->go_on};
	for (size_t i = 0; i < n; i++) {
		struct insp *in = &c->in[i];
		struct judged *j = &c->j[i];
		j->lost = UWAL_RECORDS_UNKNOWN;
		ctx.nprev = c->nacc;
		int e = inspect(c->io, c->dirfd, &c->f[i], c->prefix, c->open_flags, &ctx, in);
		if (e == -ENOENT && c->ro && c->nacc == 0) {
			/* A live writer's retention removed it after the listing. */
			j->v = V_GONE;
			continue;
		}
		if (e == UWAL_EVERSION) {
			j->v = V_NEWER_VERSION;
			c->fatal = i;
			return 0;
		}
		if (e < 0 && e != UWAL_ECORRUPT)
			return e;
		struct seg *s = in->seg;
		if (s) {
			/* A sealed segment's descriptor goes to the cache (which
			 * keeps a bounded number open), so a log of more
			 * segments than the process may open descriptors still
			 * opens. */
			uw_fdc_attach(c->fdc, s);
			if (s->sealed || c->ro || c->go_on)
				uw_seg_fd_unpin(s);
		}
		if (e == UWAL_ECORRUPT) {
			j->v = !s                       ? V_BAD_HEADER
			       : ctx.why == REFUSED_DUP ? V_DUPLICATE
							: V_BAD_TRUNC;
			j->at = s ? ctx.bad_at : 0;
			j->index = ctx.bad_index;
			j->t = ctx.bad_t;
			if (!c->go_on) {
				c->fatal = i;
				return 0;
			}
			continue;
		}
		j->gap = i > 0 && c->f[i].seq != c->f[i - 1].seq + 1 &&
			 !(s->hdr_flags & FMT_SEG_AFTER_GAP);
		if (j->gap && !c->go_on) {
			j->v = V_MISSING_BEFORE;
			c->fatal = i;
			return 0;
		}
		bool frames = has_frames(in);
		if (c->tail < n && c->ro && frames) {
			int r = reread_tail(c, &ctx);
			if (r < 0)
				return r;
			if (r == 1) {
				c->j[c->tail].v = V_WHOLE;
				c->tail = n;
			}
		}
		if (c->tail < n && frames) {
			/* The tail so far, and the empty ones after it, lost
			 * frames or their seal. */
			for (size_t k = c->tail; k < i; k++) {
				if (k != c->tail && c->j[k].v != V_EMPTY_PREPARED)
					continue;
				int r = judge_corrupt(c, k);
				if (r < 0)
					return r;
			}
			if (!c->go_on) {
				c->fatal = c->tail;
				return 0;
			}
			c->tail = n;
		}
		if (c->tail < n) {
			j->v = V_EMPTY_PREPARED;
		} else if (!s->sealed) {
			j->v = V_TAIL_CLEAN; /* until judge_tail() */
			c->tail = i;
			c->tail_acc = c->nacc;
		} else {
			j->v = V_WHOLE;
			/* A read-only handle holds no table of a sealed segment
			 * until a lookup needs it (segidx.c): about nothing per
			 * record, also while the open goes on. */
			if (c->ro)
				uw_seg_idx_unload(s);
		}
		c->acc[c->nacc++] = s;
	}
	if (c->tail < n) {
		int r = judge_tail(c);
		if (r < 0)
			return r;
		if (c->j[c->tail].v == V_VOUCHED_DAMAGE && !c->go_on)
			c->fatal = c->tail;
	}
	return 0;
}

/* ---- the open ----------------------------------------------------------- */

static int corrupt(struct uwal *w, const char *name, uint64_t off, const char *why)
{
	uw_wal_log(w, UWAL_LOG_ERROR, "corrupt log: %s/%s at offset %llu: %s", w->dir, name,
		   (unsigned long long)off, why);
	return UWAL_ECORRUPT;
}

/* The open refuses the log for the verdict on file i: say why. */
static int refuse(struct uwal *w, const struct census *c, size_t i)
{
	const char *name = c->f[i].name;
	const struct judged *j = &c->j[i];
	switch (j->v) {
	case V_NEWER_VERSION:
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "%s/%s has a newer format version than this library reads (%d at "
			   "most): open the log with a newer uwal",
			   w->dir, name, FMT_VERSION);
		return UWAL_EVERSION;
	case V_BAD_HEADER:
		return corrupt(w, name, 0, "bad segment header");
	case V_DUPLICATE:
		log_refusal(w, w->dir, name, REFUSED_DUP, j->at, j->index, NULL);
		return UWAL_ECORRUPT;
	case V_BAD_TRUNC:
		log_refusal(w, w->dir, name, REFUSED_TRUNC, j->at, 0, &j->t);
		return UWAL_ECORRUPT;
	case V_MISSING_BEFORE:
		return corrupt(w, name, 0, "the segment before it is missing");
	case V_CORRUPT:
		return corrupt(w, name, j->at, "bad frame in a sealed segment");
	case V_VOUCHED_DAMAGE:
		uw_wal_log(
			w, UWAL_LOG_ERROR,
			"corrupt log: %s/%s at offset %llu: bad frame in the durable part of the "
			"last segment (the mark frame at offset %llu says it was durable up to "
			"offset %llu): %llu durable record%s lie behind it, not cut",
			w->dir, name, (unsigned long long)j->at, (unsigned long long)j->mark.off,
			(unsigned long long)j->mark.w, (unsigned long long)j->lost,
			j->lost == 1 ? "" : "s");
		return UWAL_ECORRUPT;
	default:
		return 0;
	}
}

/*
 * Bring the tail segment to a clean state at its cut point: everything
 * after the last whole frame (and whole batch) is dropped, and the file is
 * preallocated again to the configured size. Nothing is written when the
 * tail is already clean (only zeros after the last frame, full size).
 * UWAL_OPEN_NO_REPAIR refuses a cut that would drop anything; a read-only
 * open leaves the file alone (its view ends at the cut). (Damage that a
 * mark frame vouches for was refused before: V_VOUCHED_DAMAGE.)
 */
static int repair_tail(struct uwal *w, const struct census *c)
{
	const struct insp *in = &c->in[c->tail];
	const struct judged *j = &c->j[c->tail];
	struct seg *s = in->seg;
	uint64_t cut = j->cut;
	uint64_t size = w->cfg.segment_size;
	char what[256];
	bool ro = w->cfg.open_flags & UWAL_OPEN_READONLY;
	bool no_repair = w->cfg.open_flags & UWAL_OPEN_NO_REPAIR;

	if (j->v == V_TORN_TAIL && no_repair) {
		describe_cut(what, sizeof(what), in, j->frames_end, "would be dropped");
		uw_wal_log(w, UWAL_LOG_ERROR,
			   "torn tail not cut (UWAL_OPEN_NO_REPAIR): %s/%s at offset %llu: %s",
			   w->dir, s->name, (unsigned long long)cut, what);
		return UWAL_ECORRUPT;
	}
	if (ro) {
		/* hidden from this handle, shown by uwal_segments() */
		s->tail_bytes = j->frames_end - cut;
		return 0;
	}
	if (j->v == V_TAIL_CLEAN && (uint64_t)in->size == size)
		return 0;
	if (j->v == V_TORN_TAIL) {
		describe_cut(what, sizeof(what), in, j->frames_end, "dropped");
		uw_wal_log(w, UWAL_LOG_WARN, "torn tail cut: %s/%s at offset %llu: %s", w->dir,
			   s->name, (unsigned long long)cut, what);
	}
	/* Truncating destroys whatever lies past the cut, so no stale frame
	 * of this segment can validate behind new writes later. */
	int ret = uw_io_ftruncate(w->io, s->fd, cut);
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
	struct census c = {.io = w->io,
			   .dirfd = w->dirfd,
			   .prefix = w->prefix,
			   .dir = w->dir,
			   .w = w,
			   .f = f,
			   .n = n,
			   .open_flags = ro ? O_RDONLY : O_RDWR,
			   .fdc = &w->fdc,
			   .use_index = !(w->cfg.open_flags & UWAL_OPEN_VERIFY),
			   .ro = ro};
	ret = classify(&c);
	if (ret == 0 && c.fatal < n)
		ret = refuse(w, &c, c.fatal);
	/* The handle's segments: the sealed ones, then the tail. */
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (c.j[i].v != V_WHOLE && i != c.tail)
			continue;
		ret = uw_seg_list_push(&w->segs, &w->nsegs, &w->cap_segs, c.in[i].seg);
		if (ret == 0)
			uw_seg_ref(c.in[i].seg); /* the list holds one, in[] another */
	}
	if (ret == 0 && c.tail < n)
		ret = repair_tail(w, &c);
	/* Remove the empty segments after the tail (prepared, never used). */
	bool removed = false;
	for (size_t i = 0; ret == 0 && !ro && i < n; i++) {
		if (c.j[i].v != V_EMPTY_PREPARED)
			continue;
		ret = uw_io_unlinkat(w->io, w->dirfd, f[i].name);
		removed = true;
	}
	if (ret == 0 && removed)
		ret = uw_io_dirsync(w->io, w->dirfd);
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
	bool have_tail = c.tail < n;
	census_free(&c);
	free_found(f, n);
	for (size_t i = 0; ro && ret == 0 && i < w->nsegs; i++)
		uw_seg_idx_unload(w->segs[i]); /* read in again by a later segment's checks */
	if (ret < 0 || ro)
		return ret;

	if (!have_tail) {
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
			uw_prep_index(w, w->segs[i], NULL);
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

/*
 * Cut the file of in at its last whole batch before the damage (j->cut)
 * and seal it there: a seal frame of the records before the cut, naming
 * the next number, as the writer seals. The index file goes first (it
 * describes the file before the cut). A crash part way leaves an unsealed
 * segment followed by later ones, or a torn seal: damage that unsafe
 * recover cuts at the same place again.
 */
static int cut_and_seal(struct uw_io *io, int dirfd, const struct found *f, const struct insp *in,
			uint64_t cut)
{
	struct seg *s = in->seg;
	uint8_t seal[FMT_SEAL_FRAME_MAX];
	size_t len = uw_fmt_seal_frame_encode(seal, s->salt, in->scan.records, s->seq + 1);
	uw_sidx_remove(io, dirfd, f->name);
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret < 0)
		return ret;
	ret = uw_io_ftruncate(io, fd, cut);
	if (ret == 0)
		ret = uw_io_pwrite(io, fd, seal, len, cut);
	if (ret == 0)
		ret = uw_io_fdatasync(io, fd);
	uw_seg_fd_put(s);
	return ret;
}

/* Cut the tail at cut (its damage before a watermark): the next open
 * preallocates it again. */
static int cut_tail(struct uw_io *io, const struct insp *in, uint64_t cut)
{
	int fd;
	int ret = uw_seg_fd_get(in->seg, &fd);
	if (ret < 0)
		return ret;
	ret = uw_io_ftruncate(io, fd, cut);
	if (ret == 0)
		ret = uw_io_fdatasync(io, fd);
	uw_seg_fd_put(in->seg);
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

/* Whether unsafe recover removes a file of this verdict. */
static bool removes(const struct judged *j)
{
	return j->v == V_BAD_HEADER || j->v == V_DUPLICATE || j->v == V_BAD_TRUNC ||
	       (j->v == V_CORRUPT && j->cut <= FMT_SEG_HDR_SIZE);
}

/* Why unsafe recover removes or cuts a file, in words. */
static const char *damage_of(const struct judged *j)
{
	switch (j->v) {
	case V_BAD_HEADER:
		return "bad segment header (or one naming another segment number)";
	case V_DUPLICATE:
		return "an index already present in an earlier segment (a damaged copy)";
	case V_BAD_TRUNC:
		return "a truncation frame that names no record of the log";
	case V_VOUCHED_DAMAGE:
		return "bad frame in the durable part of the last segment (before its watermark): "
		       "the segment is cut there, and the durable records after it are lost";
	default:
		break;
	}
	bool bad = !j->no_seal;
	if (j->cut <= FMT_SEG_HDR_SIZE) /* no whole frame before it: removed */
		return bad ? "bad frame in a segment that later segments follow"
			   : "no seal in a segment that later segments follow";
	return bad ? "bad frame in a segment that later segments follow: the segment is cut at "
		     "the end of the last whole write batch before it and sealed there, and the "
		     "records after the cut are lost"
		   : "no seal in a segment that later segments follow: the segment is sealed "
		     "after its last whole write batch, and the records after it, if any, are "
		     "lost";
}

int uw_rec_unsafe_recover(struct uw_io *io, int dirfd, const char *prefix, unsigned flags,
			  uwal_segment_info **report_out, size_t *n_report)
{
	struct found *f;
	size_t n, nrep = 0;
	uwal_segment_info *rep = NULL;
	bool dry = flags & UWAL_RECOVER_DRY_RUN;
	int oflags = dry ? O_RDONLY : O_RDWR;
	*report_out = NULL;
	*n_report = 0;
	int ret = list_segments(io, dirfd, prefix, !dry, &f, &n);
	if (ret < 0)
		return ret;
	/* Descriptors through a cache, as in a handle (a segment may be cut
	 * or get its header rewritten: read-write, unless this is a dry
	 * run). */
	struct uw_fdc fdc;
	uw_fdc_init(&fdc, io, dirfd, oflags, uw_fdc_bound());
	struct census c = {.io = io,
			   .dirfd = dirfd,
			   .prefix = prefix,
			   .dir = "",
			   .f = f,
			   .n = n,
			   .open_flags = oflags,
			   .fdc = &fdc,
			   .go_on = true};
	ret = classify(&c);
	if (ret == 0 && c.fatal < n)
		ret = UWAL_EVERSION; /* such a file is never damage: nothing is done */
	/* At most two elements per file: a cut and a flag. */
	if (ret == 0 && !(rep = calloc(n ? 2 * n : 1, sizeof(*rep))))
		ret = -ENOMEM;
	bool gap = false;
	uint64_t prev = 0;
	bool have_prev = false;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		const struct judged *j = &c.j[i];
		struct insp *in = &c.in[i];
		if (removes(j)) {
			if (!dry && (ret = uw_io_unlinkat(io, dirfd, f[i].name)) < 0)
				break;
			if (!dry)
				uw_sidx_remove(io, dirfd, f[i].name);
			report(&rep[nrep++], &f[i], in, true, j->at, damage_of(j));
			gap = true;
			continue;
		}
		if (j->v == V_CORRUPT || j->v == V_VOUCHED_DAMAGE) {
			if (!dry)
				ret = j->v == V_CORRUPT ? cut_and_seal(io, dirfd, &f[i], in, j->cut)
							: cut_tail(io, in, j->cut);
			if (ret < 0)
				break;
			uwal_segment_info *e = &rep[nrep++];
			report(e, &f[i], in, false, j->at, damage_of(j));
			e->after_gap = in->seg->hdr_flags & FMT_SEG_AFTER_GAP;
			e->sealed = j->v == V_CORRUPT; /* as it is after the run */
			e->cut_offset = j->cut;
			e->records_lost = j->lost;
		}
		if (have_prev && f[i].seq != prev + 1)
			gap = true;
		if (gap && have_prev && !(in->seg->hdr_flags & FMT_SEG_AFTER_GAP)) {
			if (!dry && (ret = set_after_gap(in->seg)) < 0)
				break;
			report(&rep[nrep++], &f[i], in, false, 0,
			       "the segment before it is missing or removed: its header is "
			       "flagged after_gap, so the log opens with the gap");
		}
		gap = false;
		prev = f[i].seq;
		have_prev = true;
	}
	if (ret == 0 && !dry && nrep)
		ret = uw_io_dirsync(io, dirfd);
	census_free(&c);
	uw_fdc_destroy(&fdc);
	free_found(f, n);
	if (ret < 0 || nrep == 0) {
		free(rep);
		return ret;
	}
	*report_out = rep;
	*n_report = nrep;
	return 0;
}
