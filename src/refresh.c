/* SPDX-License-Identifier: Apache-2.0 */
/*
 * refresh.c - uwal_refresh(): a read-only handle takes in what a writer
 * (in this or another process) published since its snapshot.
 *
 * Under the handle's write lock, in log order:
 *   1. the segments older than the oldest file left are dropped (the
 *      writer's retention or a front truncation removed them);
 *   2. the last segment, if unsealed, is read on from its end with the
 *      open's checks (recovery.c, uw_rec_scan): whole frames, whole
 *      write batches, up to the first incomplete frame or its seal. First
 *      the frames from its last record to its end are read again: a back
 *      truncation of the active segment cuts the file and writes there
 *      anew, and then the segment is read again from its header and a cut
 *      is noted for iterators where the two readings part;
 *   3. once it is sealed, the segments created after it are read, while
 *      each is sealed; the first unsealed one is the new last segment.
 * A segment whose file is gone when it is to be read ends the refresh
 * there (the next one sees the listing without it). Followers of the
 * handle are woken when anything changed (uw_wal_notify).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Whether the frames of s from its last live record to its end are still
 * the ones this handle read: that record (its index), then whole frames
 * that end exactly at s->end. 1 yes, 0 no, -errno. *keep gets where the
 * reading goes on from: s->end, or before trailing mark frames. A mark
 * frame the writer wrote while idle is not yet part of the segment: the
 * next batch or the seal is written over it (writer.c; a seal is shorter,
 * and the file is cut after it), so the last frame, if it was a mark, may
 * now be other bytes or gone, and is read again.
 */
static int still_there(struct seg *s, int fd, uint64_t *keep)
{
	*keep = s->end;
	if (s->idx.n == 0)
		return 1; /* a back cut is at a live record: none was read */
	uint64_t at = s->idx.offs[s->idx.n - 1];
	struct uw_frd rd;
	struct fmt_dec dec;
	if (uw_fmt_dec_init(&dec) < 0)
		return -ENOMEM;
	uw_frd_init(&rd, s->io, fd, s->salt, at, s->end, (size_t)(s->end - at));
	int ok = 1;
	uint64_t last = s->end; /* where trailing mark frames begin (s->end: none) */
	while (ok == 1 && rd.off < s->end) {
		/* The last frame, after the last record: if it was the idle
		 * mark, whatever is there now is read again (see above). */
		if (rd.off > at && s->end - rd.off == FMT_MARK_FRAME_SIZE) {
			if (last == s->end)
				last = rd.off;
			break;
		}
		struct fmt_frame f;
		struct fmt_rec rec;
		int st = uw_frd_next(&rd, &f);
		if (st != FMT_FRAME_OK) {
			ok = st < 0 ? st : 0;
			break;
		}
		if (f.type == FMT_FRAME_MARK) {
			if (last == s->end)
				last = rd.at; /* trailing, so far */
		} else {
			last = s->end;
		}
		if (rd.at == at &&
		    (f.type != FMT_FRAME_RECORD || uw_fmt_record_decode(&dec, &f, &rec) < 0 ||
		     rec.index != s->idx.keys[s->idx.n - 1]))
			ok = 0;
	}
	uw_fmt_dec_destroy(&dec);
	uw_frd_destroy(&rd);
	if (ok == 1)
		*keep = last;
	return ok;
}

/* Set what a scan of s found; true if that changes the view. */
static bool take_scan(struct seg *s, const struct uw_seg_scan *sc)
{
	bool changed = sc->end != s->end || sc->sealed != s->sealed;
	s->end = sc->end;
	s->recs = sc->records;
	s->sealed = sc->sealed;
	/* The whole frames of an unfinished batch, hidden. */
	s->tail_bytes = sc->stop > sc->end ? sc->stop - sc->end : 0;
	return changed;
}

/*
 * The writer cut s (the last segment) back and wrote there again: read it
 * again from its header into a fresh table, note a cut at the first
 * record of the old reading that the new one lacks, and take the new one.
 */
static int reread(struct uwal *w, struct seg *s, int fd, uint64_t size)
{
	struct seg *t = uw_seg_new(w->io, s->seq, -1, s->salt, s->hdr_flags, w->prefix);
	if (!t)
		return -ENOMEM;
	t->version = s->version;
	struct uw_seg_scan sc;
	int ret = uw_rec_scan(w, t, w->nsegs - 1, fd, FMT_SEG_HDR_SIZE, size, s->end, &sc);
	if (ret == 0) {
		uint64_t cut = s->idx.offs[s->idx.n - 1];
		for (uint32_t i = 0; i < s->idx.n; i++) {
			uint32_t o;
			if (!uw_idx_find(&t->idx, s->idx.keys[i], &o) || o != s->idx.offs[i]) {
				cut = s->idx.offs[i];
				break;
			}
		}
		ret = uw_trunc_note_cut(w, s->seq, cut);
	}
	if (ret == 0) {
		struct idx old = s->idx;
		s->idx = t->idx;
		t->idx = old; /* freed with t */
		s->lo = t->lo;
		take_scan(s, &sc);
	}
	uw_seg_unref(t);
	return ret;
}

/* Read the last segment s on from its end. 1 if the view changed, 0 if
 * not (or its file is gone), or an error. */
static int read_on(struct uwal *w, struct seg *s)
{
	int fd;
	int ret = uw_seg_fd_get(s, &fd);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	int64_t size = uw_io_file_size(w->io, fd);
	uint64_t keep = s->end;
	ret = size < 0 ? (int)size : still_there(s, fd, &keep);
	if (ret == 0) {
		ret = reread(w, s, fd, (uint64_t)size);
		ret = ret < 0 ? ret : 1;
	} else if (ret == 1) {
		uint32_t n0 = s->idx.n;
		s->end = keep; /* trailing mark frames: read again */
		struct uw_seg_scan sc;
		ret = uw_rec_scan(w, s, w->nsegs - 1, fd, s->end, (uint64_t)size, s->end, &sc);
		if (ret == 0)
			ret = take_scan(s, &sc);
		else if (s->idx.n > n0)
			uw_idx_truncate(&s->idx, n0); /* what a failed scan added */
	}
	uw_seg_fd_put(s);
	return ret;
}

/* Read the new segment seq and append it to the handle's list. 1 if it
 * was, 0 if its file is gone, or an error. */
static int add_new(struct uwal *w, uint64_t seq)
{
	char name[SEG_NAME_MAX];
	uw_seg_name(name, w->prefix, seq, false);
	int fd = uw_io_openat(w->io, w->dirfd, name, O_RDONLY | O_CLOEXEC, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	struct fmt_seg_hdr h;
	int ret = uw_seg_read_header(w->io, fd, &h);
	if (ret == 0 && h.seq != seq)
		ret = UWAL_ECORRUPT;
	int64_t size = ret < 0 ? 0 : uw_io_file_size(w->io, fd);
	if (size < 0)
		ret = (int)size;
	struct seg *s = ret < 0 ? NULL : uw_seg_new(w->io, seq, fd, h.salt, h.flags, w->prefix);
	if (!s) {
		uw_io_close(w->io, fd);
		if (ret == UWAL_ECORRUPT)
			uw_wal_log(w, UWAL_LOG_ERROR, "corrupt log: %s/%s: bad segment header",
				   w->dir, name);
		return ret < 0 ? ret : -ENOMEM;
	}
	s->version = h.version;
	uw_fdc_attach(&w->fdc, s);
	struct uw_seg_scan sc;
	ret = uw_rec_scan(w, s, w->nsegs, fd, FMT_SEG_HDR_SIZE, (uint64_t)size, FMT_SEG_HDR_SIZE,
			  &sc);
	uw_seg_fd_unpin(s);
	if (ret == 0) {
		take_scan(s, &sc);
		ret = uw_seg_list_push(&w->segs, &w->nsegs, &w->cap_segs, s);
	}
	if (ret < 0) {
		uw_seg_unref(s);
		return ret;
	}
	return 1;
}

int uwal_refresh(uwal *w)
{
	if (!w)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	if (!(w->cfg.open_flags & UWAL_OPEN_READONLY))
		return UWAL_EINVAL;
	uint64_t *seqs;
	size_t n;
	int ret = uw_rec_list_seqs(w, &seqs, &n);
	if (ret < 0)
		return ret;

	bool changed = false;
	pthread_rwlock_wrlock(&w->lock);
	size_t gone = 0;
	while (gone < w->nsegs && (n == 0 || w->segs[gone]->seq < seqs[0]))
		gone++;
	if (gone) {
		for (size_t i = 0; i < gone; i++)
			uw_seg_unref(w->segs[i]);
		memmove(w->segs, w->segs + gone, (w->nsegs - gone) * sizeof(*w->segs));
		w->nsegs -= gone;
		changed = true;
	}
	if (w->nsegs && !w->segs[w->nsegs - 1]->sealed) {
		ret = read_on(w, w->segs[w->nsegs - 1]);
		changed |= ret > 0;
	}
	for (size_t k = 0; ret >= 0 && k < n; k++) {
		if (w->nsegs &&
		    (!w->segs[w->nsegs - 1]->sealed || seqs[k] <= w->segs[w->nsegs - 1]->seq))
			continue;
		ret = add_new(w, seqs[k]);
		changed |= ret > 0;
		if (ret == 0)
			break; /* gone since the listing: the next refresh */
	}
	/* Tables of sealed segments go until a lookup needs them (segidx.c),
	 * also those a lookup or a check read in since. */
	for (size_t i = 0; i < w->nsegs; i++)
		uw_seg_idx_unload(w->segs[i]);
	pthread_rwlock_unlock(&w->lock);
	free(seqs);
	if (changed)
		uw_wal_notify(w);
	uw_wal_flush_log(w);
	return ret < 0 ? ret : changed;
}
