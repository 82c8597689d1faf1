/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c - segment files: names, durable creation with preallocation,
 * reference counting, and the segment scanner of recovery, unsafe recover,
 * refresh and index files (what each frame means, on the frame reader of
 * frames.c that the iterator and uwal_get() step with too).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void uw_seg_name(char *out, const char *prefix, uint64_t seq, bool tmp)
{
	snprintf(out, SEG_NAME_MAX, "%s%020" PRIu64 "%s", prefix, seq, tmp ? ".tmp" : "");
}

bool uw_seg_parse_name(const char *name, const char *prefix, uint64_t *seq)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + 20)
		return false;
	uint64_t v = 0;
	for (const char *p = name + pl; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return true;
}

struct seg *uw_seg_new(struct uw_io *io, uint64_t seq, int fd, uint32_t salt, uint16_t flags,
		       const char *prefix)
{
	struct seg *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->io = io;
	s->seq = seq;
	s->fd = fd;
	s->fd_pinned = fd >= 0;
	s->salt = salt;
	s->hdr_flags = flags;
	s->version = FMT_VERSION;
	s->lo = FMT_SEG_HDR_SIZE;
	s->end = FMT_SEG_HDR_SIZE;
	s->durable_off = FMT_SEG_HDR_SIZE;
	s->marked_off = FMT_SEG_HDR_SIZE;
	atomic_init(&s->refs, 1);
	uw_idx_init(&s->idx);
	uw_seg_name(s->name, prefix, seq, false);
	return s;
}

int uw_seg_list_push(struct seg ***v, size_t *n, size_t *cap, struct seg *s)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct seg **nv = realloc(*v, c * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = s;
	return 0;
}

void uw_seg_ref(struct seg *s)
{
	/* Relaxed: taking a reference needs no ordering; the caller already
	 * holds one (or the list lock) that keeps s alive. */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void uw_seg_unref(struct seg *s)
{
	/* acq_rel: every owner's last use of the segment (release) happens
	 * before the last owner frees it (acquire). A release decrement plus
	 * an acquire fence would do, but ThreadSanitizer does not model
	 * standalone fences. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	uw_seg_fd_close(s);
	uw_idx_free(&s->idx);
	free(s->voids);
	free(s);
}

/*
 * The zeros go out 256 KiB at a time, each piece written back before the
 * next is written: the disk never holds more than one piece ahead of the
 * log's own writes. Written whole and left to the fdatasync, a 64 MiB
 * segment's zeros took the disk for 30-40 ms here, and every fdatasync of
 * the log waited behind them (perf/README.md, "zero-pace").
 */
int uw_seg_zero_fill(struct uw_io *io, int fd, uint64_t from, uint64_t to)
{
	enum { CHUNK = 256 << 10 };
	uint8_t *z = calloc(1, CHUNK);
	if (!z)
		return -ENOMEM;
	int ret = 0;
	while (ret == 0 && from < to) {
		size_t n = to - from < CHUNK ? (size_t)(to - from) : CHUNK;
		ret = uw_io_pwrite(io, fd, z, n, from);
		if (ret == 0)
			ret = uw_io_writeback(io, fd, from, n, true);
		from += n;
	}
	free(z);
	return ret;
}

int uw_seg_create(struct uw_io *io, int dirfd, const char *prefix, uint64_t seq, uint64_t size,
		  enum uwal_prealloc mode, struct seg **out)
{
	char tmp[SEG_NAME_MAX], name[SEG_NAME_MAX];
	uint8_t hdr[FMT_SEG_HDR_SIZE];
	struct fmt_seg_hdr h = {.version = FMT_VERSION, .flags = 0, .seq = seq};
	uint32_t rnd[2];
	int ret;

	uw_seg_name(tmp, prefix, seq, true);
	uw_seg_name(name, prefix, seq, false);
	ret = uw_io_getrandom(rnd, sizeof(rnd));
	if (ret < 0)
		return ret;
	h.salt = rnd[0];
	h.key_hi = rnd[1];
	int fd = uw_io_openat(io, dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return fd;
	ret = uw_io_fallocate(io, fd, 0, size);
	if (ret < 0)
		goto err_after_open;
	if (mode == UWAL_PREALLOC_ZERO) {
		/* Writing the zeros turns the unwritten extents into written
		 * ones now, so the appends' fdatasyncs need not journal the
		 * conversions. */
		ret = uw_seg_zero_fill(io, fd, FMT_SEG_HDR_SIZE, size);
		if (ret < 0)
			goto err_after_open;
	}
	uw_fmt_seg_hdr_encode(hdr, &h);
	ret = uw_io_pwrite(io, fd, hdr, sizeof(hdr), 0);
	if (ret < 0)
		goto err_after_open;
	ret = uw_io_fdatasync(io, fd);
	if (ret < 0)
		goto err_after_open;
	/* The file is whole and durable before its final name appears, so a
	 * segment file under its real name always has a valid header. */
	ret = uw_io_renameat(io, dirfd, tmp, name);
	if (ret < 0)
		goto err_after_open;
	ret = uw_io_dirsync(io, dirfd);
	if (ret < 0)
		goto err_after_rename;

	struct seg *s = uw_seg_new(io, seq, fd, h.salt, h.flags, prefix);
	if (!s) {
		ret = -ENOMEM;
		goto err_after_rename;
	}
	s->key = uw_fmt_seg_key(h.salt, h.key_hi);
	*out = s;
	return 0;

err_after_rename:
	uw_io_unlinkat(io, dirfd, name);
	uw_io_close(io, fd);
	return ret;
err_after_open:
	uw_io_unlinkat(io, dirfd, tmp);
	uw_io_close(io, fd);
	return ret;
}

int uw_seg_read_header(struct uw_io *io, int fd, struct fmt_seg_hdr *h)
{
	uint8_t hdr[FMT_SEG_HDR_SIZE];
	ssize_t n = uw_io_pread(io, fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return (int)n;
	if (n < (ssize_t)sizeof(hdr))
		return UWAL_ECORRUPT;
	return uw_fmt_seg_hdr_decode(hdr, h);
}

int uw_seg_scan(struct uw_io *io, int fd, uint32_t salt, uint64_t file_size, seg_rec_fn fn,
		void *ctx, struct uw_seg_scan *out)
{
	return uw_seg_scan_ex(io, fd, salt, FMT_VERSION_MIN, file_size, fn, NULL, ctx, out);
}

int uw_seg_scan_ex(struct uw_io *io, int fd, uint32_t salt, uint16_t version, uint64_t file_size,
		   seg_rec_fn fn, seg_trunc_fn tfn, void *ctx, struct uw_seg_scan *out)
{
	return uw_seg_scan_from(io, fd, salt, version, FMT_SEG_HDR_SIZE, 0, file_size, fn, tfn, ctx,
				out);
}

int uw_seg_scan_from(struct uw_io *io, int fd, uint32_t salt, uint16_t version, uint64_t from,
		     uint64_t recs, uint64_t file_size, seg_rec_fn fn, seg_trunc_fn tfn, void *ctx,
		     struct uw_seg_scan *out)
{
	struct uw_frd rd;
	struct fmt_dec dec;
	uint64_t off = from;
	uint64_t open_off = 0, open_recs = 0; /* an unfinished batch */
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->records = recs;
	if (file_size <= off) {
		/* Nothing after the header (callers check the header first). */
		out->end = out->stop = off;
		return 0;
	}
	if (uw_fmt_dec_init(&dec) < 0)
		return -ENOMEM;
	uw_frd_init(&rd, io, fd, salt, from, file_size, 1u << 20);
	for (;;) {
		struct fmt_frame f;
		int st = uw_frd_next(&rd, &f);
		if (st < 0) {
			ret = st;
			break;
		}
		if (st == FMT_FRAME_END || st == FMT_FRAME_ZERO)
			break;
		if (st != FMT_FRAME_OK) {
			out->bad_off = off;
			break;
		}
		if (f.type == FMT_FRAME_FRONT || f.type == FMT_FRAME_BACK ||
		    f.type == FMT_FRAME_NEXT) {
			/* Not inside a batch, and only in a version 2 segment. */
			struct fmt_trunc t;
			if (open_off || version < 2 || uw_fmt_trunc_decode(&dec, &f, &t) < 0) {
				out->bad_off = off;
				break;
			}
			if (tfn) {
				ret = tfn(ctx, f.type, &t, off, FMT_FRAME_HDR_SIZE + f.len);
				if (ret < 0)
					break;
			}
			off = rd.off;
			continue;
		}
		if (f.type == FMT_FRAME_MARK) {
			/* Not inside a batch, only in a version 3 segment, and
			 * about what lies before it. */
			struct fmt_mark m;
			if (open_off || version < 3 || uw_fmt_mark_decode(&f, off, &m) < 0 ||
			    m.recs > out->records) {
				out->bad_off = off;
				break;
			}
			if (m.w > out->mark_w) {
				out->mark_w = m.w;
				out->mark_recs = m.recs;
			}
			off = rd.off;
			continue;
		}
		if (f.type == FMT_FRAME_SEAL && open_off) {
			/* A seal cannot end a batch: this is not a sealed
			 * segment (and the batch is cut below). */
			out->bad_off = off;
			break;
		}
		if (f.type == FMT_FRAME_SEAL) {
			uint64_t records;
			if (uw_fmt_seal_decode(&dec, &f, &records, &out->seal_next) < 0 ||
			    records != out->records) {
				out->bad_off = off;
				break;
			}
			/* end stays at the seal: it is where records end. */
			out->sealed = true;
			break;
		}
		struct fmt_rec r;
		if (uw_fmt_record_decode(&dec, &f, &r) < 0) {
			out->bad_off = off;
			break;
		}
		if (fn) {
			ret = fn(ctx, &r, off);
			if (ret < 0)
				break;
		}
		out->records++;
		if (f.flags & FMT_FRAME_MORE) {
			if (!open_off)
				open_off = off;
			open_recs++;
		} else {
			open_off = 0;
			open_recs = 0;
		}
		off = rd.off;
	}
	out->end = off;
	out->stop = off;
	if (ret == 0 && open_off) {
		/* The log ends inside a batch: cut it whole. */
		out->end = open_off;
		out->bad_off = open_off;
		out->records -= open_recs;
		out->cut_records = open_recs;
	}
	uw_fmt_dec_destroy(&dec);
	uw_frd_destroy(&rd);
	return ret;
}

/*
 * The header bytes 0..8 every mark frame starts with: payload length 16,
 * type 6, flags 0, reserved 0 (format.c, "Finding marks past damage").
 */
static const uint8_t mark_prefix[8] = {16, 0, 0, 0, FMT_FRAME_MARK, 0, 0, 0};

/* Is there a mark frame at p (the file's offset off, FMT_MARK_FRAME_SIZE
 * bytes readable)? Its mark into *m if so. */
static bool mark_at(const uint8_t *p, uint64_t off, uint32_t salt, uint64_t key, struct fmt_mark *m)
{
	struct fmt_frame f;
	if (uw_fmt_frame_decode(p, FMT_MARK_FRAME_SIZE, salt, FMT_MARK_FRAME_SIZE, &f) !=
		    FMT_FRAME_OK ||
	    uw_fmt_mark_decode(&f, off, m) < 0)
		return false;
	return m->check == uw_fmt_mark_check(key, off);
}

int uw_seg_find_mark(struct uw_io *io, int fd, uint32_t salt, uint64_t key, uint64_t from,
		     uint64_t to, struct uw_seg_mark *out)
{
	enum { CHUNK = 1 << 20 };
	memset(out, 0, sizeof(*out));
	if (to < from + FMT_MARK_FRAME_SIZE)
		return 0;
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	/* Chunks overlap by a frame less one byte, so every candidate offset
	 * is looked at once with its whole frame in the buffer. */
	for (uint64_t at = from; at + FMT_MARK_FRAME_SIZE <= to;) {
		size_t want = to - at < CHUNK ? (size_t)(to - at) : CHUNK;
		ssize_t n = uw_io_pread(io, fd, buf, want, at);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if ((size_t)n < FMT_MARK_FRAME_SIZE)
			break;
		const uint8_t *p = buf, *end = buf + n - FMT_MARK_FRAME_SIZE + 1;
		while (p < end &&
		       (p = memmem(p, (size_t)(end - p) + sizeof(mark_prefix) - 1, mark_prefix,
				   sizeof(mark_prefix))) != NULL &&
		       p < end) {
			uint64_t off = at + (uint64_t)(p - buf);
			struct fmt_mark m;
			if (mark_at(p, off, salt, key, &m) && m.w > out->w) {
				out->off = off;
				out->w = m.w;
				out->recs = m.recs;
			}
			p++;
		}
		at += (uint64_t)n - FMT_MARK_FRAME_SIZE + 1;
	}
	free(buf);
	return ret;
}
