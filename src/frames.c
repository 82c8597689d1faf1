/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frames.c - the frame reader: the one loop that steps through the frames
 * of a segment file, for the scanner (recovery, refresh, index files), the
 * iterator and uwal_get(). It reads ahead in a window, keeps what it has
 * read when a frame runs past the window, checks each frame's length
 * against the end it was given and its CRC (uw_fmt_frame_decode()), and
 * says why it stopped: the end, zeros (a preallocated part: no frame
 * here), or a bad frame. What the frames mean is the caller's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void uw_frd_init(struct uw_frd *r, struct uw_io *io, int fd, uint32_t salt, uint64_t from,
		 uint64_t end, size_t ahead)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
	r->fd = fd;
	r->salt = salt;
	r->off = r->at = from;
	r->end = end;
	r->ahead = ahead ? ahead : 1;
}

void uw_frd_borrow(struct uw_frd *r, uint8_t *buf, size_t cap, uint8_t *spill, size_t spill_cap)
{
	r->buf = buf;
	r->cap = cap;
	r->own = false;
	r->spill = spill;
	r->spill_cap = spill_cap;
}

void uw_frd_move(struct uw_frd *r, int fd, uint32_t salt, uint64_t off, uint64_t end)
{
	if (fd != r->fd)
		r->blen = 0; /* another file: nothing read is of it */
	r->fd = fd;
	r->salt = salt;
	r->off = r->at = off;
	r->end = end;
}

void uw_frd_forget(struct uw_frd *r)
{
	r->blen = 0;
}

void uw_frd_destroy(struct uw_frd *r)
{
	if (r->own)
		free(r->buf);
	r->buf = NULL;
	r->cap = 0;
	r->blen = 0;
	r->own = false;
}

/*
 * Make [off, off + need) readable from the window (need <= end - off):
 * read ahead up to the end, after the bytes of it already read. A buffer
 * too small is replaced: by the spill buffer if it fits there, else by one
 * of the reader's own. 0, or -errno. The window may come out shorter than
 * need when the file is (the caller sees it).
 */
static int fill(struct uw_frd *r, size_t need)
{
	if (r->blen && r->off >= r->boff && r->off + need <= r->boff + r->blen)
		return 0;
	uint64_t left = r->end - r->off;
	size_t want = need > r->ahead ? need : r->ahead;
	if (want > left)
		want = (size_t)left;
	size_t keep = 0;
	if (r->blen && r->off >= r->boff && r->off < r->boff + r->blen)
		keep = (size_t)(r->boff + r->blen - r->off);
	const uint8_t *kept = keep ? r->buf + (r->off - r->boff) : NULL;
	if (want > r->cap) {
		uint8_t *nb;
		bool own = true;
		if (r->spill && want <= r->spill_cap && r->spill != r->buf) {
			nb = r->spill;
			own = false;
		} else {
			nb = malloc(want);
			if (!nb)
				return -ENOMEM;
		}
		if (keep)
			memcpy(nb, kept, keep);
		if (r->own)
			free(r->buf);
		r->buf = nb;
		r->cap = own ? want : r->spill_cap;
		r->own = own;
	} else if (keep && kept != r->buf) {
		memmove(r->buf, kept, keep);
	}
	r->boff = r->off;
	r->blen = keep;
	if (want > keep) {
		ssize_t n = uw_io_pread(r->io, r->fd, r->buf + keep, want - keep, r->off + keep);
		if (n < 0) {
			r->blen = 0;
			return (int)n;
		}
		r->blen += (size_t)n;
	}
	return 0;
}

int uw_frd_next(struct uw_frd *r, struct fmt_frame *f)
{
	if (r->off >= r->end)
		return FMT_FRAME_END;
	uint64_t left = r->end - r->off;
	size_t hdr = left < FMT_FRAME_HDR_SIZE ? (size_t)left : FMT_FRAME_HDR_SIZE;
	int ret = fill(r, hdr);
	if (ret < 0)
		return ret;
	size_t at = (size_t)(r->off - r->boff);
	size_t avail = r->blen - at;
	size_t flen = uw_fmt_frame_peek_len(r->buf + at, avail);
	if (flen > avail && flen <= left) {
		/* The rest of a frame that runs past the window. */
		ret = fill(r, flen);
		if (ret < 0)
			return ret;
		at = (size_t)(r->off - r->boff);
		avail = r->blen - at;
	}
	/* A frame ends by the end: its length says no more than is left. */
	uint64_t max_len = left > FMT_FRAME_HDR_SIZE ? left - FMT_FRAME_HDR_SIZE : 0;
	if (max_len > UINT32_MAX)
		max_len = UINT32_MAX;
	enum fmt_frame_status st =
		uw_fmt_frame_decode(r->buf + at, avail, r->salt, (uint32_t)max_len, f);
	if (st == FMT_FRAME_SHORT)
		return FMT_FRAME_BAD; /* cut short: before the end, or the file is */
	if (st == FMT_FRAME_OK) {
		r->at = r->off;
		r->off += FMT_FRAME_HDR_SIZE + (uint64_t)f->len;
	}
	return st;
}
