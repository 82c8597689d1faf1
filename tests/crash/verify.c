/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify.c - judging a log after a crash, from the child's reports.
 *
 * What must hold (process crash: every acknowledgment is judged; power
 * loss: the durable acknowledgments taken before the shutdown began, and
 * what rule 2 of the README implies from them):
 *   (a) uwal_open succeeds;
 *   (b) every judged record is there, with its exact key and value
 *       (uwal_get);
 *   (c) iterating the log yields only records that were submitted, each
 *       once, with its exact key and value; each thread's records in its
 *       call order; no record after one that was submitted only after it
 *       was acknowledged; a uwal_write_batch call's records contiguous and
 *       whole, acknowledged or not (recovery drops a batch cut short);
 *       uwal_first_index/uwal_last_index agree;
 *   (d) the log takes new writes (and refuses an index it holds), closes
 *       cleanly and shows them after a reopen.
 * A truncation plan's log is judged by trunc.c instead of (b) and (c).
 */
#include "crash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NEW_RECS 8

struct vctx {
	const struct cw_shm *shm;
	const struct cw_plan *p;
	const char *what;
	bool power_loss;
	uint64_t snap_seq; /* power loss: judge acknowledgments taken before it */
	uint64_t implied, implied_by;
	uint64_t lost_unjudged, lost_after_cut;
	uint8_t *kbuf, *vbuf;
	/* Retention (plan max_segments): the earliest acknowledgment among
	 * the records the log holds (UINT64_MAX: none; 0: not yet known),
	 * and how many judged records it excused. */
	uint64_t min_present_ack;
	uint64_t retention_gone;
};

static void fail(const struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(const struct vctx *v, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s: ", v->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cw_log_dump();
}

static void locate(uint64_t index, unsigned *t, uint64_t *k)
{
	*t = (unsigned)((index - 1) % CW_MAX_THREADS);
	*k = (index - 1) / CW_MAX_THREADS;
}

/* Describe how rec differs from index's expected contents; NULL if equal. */
static const char *differs(struct vctx *v, uint64_t index, const void *key, size_t klen,
			   const void *val, size_t vlen)
{
	size_t eklen = cw_key(v->p->seed, index, 0, v->kbuf);
	size_t evlen = cw_value_len(v->p, index, 0);
	static char msg[160];
	if (klen != eklen || memcmp(key, v->kbuf, klen) != 0) {
		snprintf(msg, sizeof(msg), "key differs (length %zu, expected %zu)", klen, eklen);
		return msg;
	}
	if (vlen != evlen) {
		snprintf(msg, sizeof(msg), "value length %zu, expected %zu", vlen, evlen);
		return msg;
	}
	cw_value(v->p->seed, index, 0, v->vbuf, evlen);
	for (size_t i = 0; i < vlen; i++)
		if (((const uint8_t *)val)[i] != v->vbuf[i]) {
			snprintf(msg, sizeof(msg), "value differs at byte %zu of %zu", i, vlen);
			return msg;
		}
	return NULL;
}

static int open_retry(uwal_config *cfg, uwal **w)
{
	/* A dead child's lock goes with its files; allow the kernel a moment. */
	int ret = 0;
	for (int i = 0; i < 300; i++) {
		ret = uwal_open(cfg, w);
		if (ret != UWAL_ELOCKED)
			break;
		usleep(10000);
	}
	return ret;
}

/*
 * Why e must be in the log, or NULL if it is not judged. Power loss: the
 * durable acknowledgments taken before the shutdown began, and (README
 * rule 2) every acknowledgment taken before one of those was submitted.
 */
static const char *judged(const struct vctx *v, const struct cw_ent *e)
{
	if (!(e->flags & CW_ACKED))
		return NULL;
	if (!v->power_loss)
		return "acknowledged before the process was killed";
	if ((e->flags & CW_DURABLE) && v->snap_seq == UINT64_MAX)
		return "acknowledged durable (a simulated cut: all are judged)";
	if ((e->flags & CW_DURABLE) && e->ack_seq < v->snap_seq)
		return "acknowledged durable before the shutdown";
	if (e->ack_seq < v->implied)
		return "acknowledged before a record acknowledged durable before the shutdown "
		       "was submitted (README rule 2)";
	return NULL;
}

static void find_implied(struct vctx *v)
{
	const struct cw_shm *shm = v->shm;
	for (unsigned t = 0; v->power_loss && t < v->p->nthreads; t++)
		for (uint64_t k = 0; k < shm->thr[t].nsub; k++) {
			const struct cw_ent *e = &shm->ent[t][k];
			if ((e->flags & (CW_ACKED | CW_DURABLE)) == (CW_ACKED | CW_DURABLE) &&
			    e->ack_seq < v->snap_seq && e->sub_seq > v->implied) {
				v->implied = e->sub_seq;
				v->implied_by = cw_index(t, k);
			}
		}
}

/* The earliest acknowledgment among the records the log holds. */
static uint64_t min_present_ack(struct vctx *v, uwal *w)
{
	uwal_iter *it;
	uwal_record rec;
	uint64_t m = UINT64_MAX;
	if (uwal_iter_open(w, &it) != 0)
		return 0;
	while (uwal_iter_next(it, &rec) == 1) {
		unsigned t;
		uint64_t k;
		if (rec.index == 0 || rec.index >= CW_NEW_BASE)
			continue;
		locate(rec.index, &t, &k);
		if (t >= v->p->nthreads || k >= v->shm->thr[t].nsub)
			continue; /* check_iter reports it */
		const struct cw_ent *e = &v->shm->ent[t][k];
		if ((e->flags & CW_ACKED) && e->ack_seq < m)
			m = e->ack_seq;
	}
	uwal_iter_close(it);
	return m;
}

/*
 * Retention deletes the oldest segments: a judged record may be gone if
 * it can precede, in log order, every record the log still holds, i.e.
 * unless one of those was acknowledged before it was submitted.
 */
static bool retention_excuses(struct vctx *v, uwal *w, const struct cw_ent *e)
{
	if (!v->p->max_segments)
		return false;
	if (!v->min_present_ack)
		v->min_present_ack = min_present_ack(v, w);
	return v->min_present_ack >= e->sub_seq;
}

/* (b): the judged records. Returns how many, or -1. */
static long check_judged(struct vctx *v, uwal *w)
{
	const struct cw_shm *shm = v->shm;
	long n = 0;
	for (unsigned t = 0; t < v->p->nthreads; t++)
		for (uint64_t k = 0; k < shm->thr[t].nsub; k++) {
			const struct cw_ent *e = &shm->ent[t][k];
			const char *why = judged(v, e);
			if (!why)
				continue;
			uint64_t ix = cw_index(t, k);
			uwal_record rec;
			int ret = uwal_get(w, ix, &rec);
			if (ret == UWAL_ENOTFOUND && retention_excuses(v, w, e)) {
				v->retention_gone++;
				continue;
			}
			if (ret != 0) {
				fail(v,
				     "index %" PRIu64 " (thread %u, record %" PRIu64 ", %s%s) %s: "
				     "uwal_get: %s",
				     ix, t, k, e->flags & CW_BATCH ? "batch, " : "",
				     e->flags & CW_DURABLE ? "durable" : "not durable", why,
				     uwal_strerror(ret));
				if (v->power_loss &&
				    !(e->flags & CW_DURABLE && e->ack_seq < v->snap_seq))
					fprintf(stderr, "  implied by durable index %" PRIu64 "\n",
						v->implied_by);
				return -1;
			}
			const char *d =
				differs(v, ix, rec.key, rec.key_len, rec.value, rec.value_len);
			if (d || rec.index != ix) {
				fail(v, "index %" PRIu64 " (%s): uwal_get: %s", ix, why,
				     d ? d : "wrong index");
				uwal_record_free(&rec);
				return -1;
			}
			uwal_record_free(&rec);
			n++;
		}
	return n;
}

struct iter_state {
	uint8_t *seen; /* [thread][k] */
	int64_t last_k[CW_MAX_THREADS];
	uint64_t max_sub, max_sub_index;
	/* the batch being read: thread, next k, records left */
	unsigned bt;
	uint64_t bnext, bleft, bfirst;
	uint64_t count, min_ix, max_ix;
};

static int check_one(struct vctx *v, struct iter_state *s, const uwal_record *rec)
{
	const struct cw_shm *shm = v->shm;
	uint64_t ix = rec->index, k;
	unsigned t;
	if (ix == 0 || ix >= CW_NEW_BASE) {
		fail(v, "iterator: index %" PRIu64 " was never written", ix);
		return -1;
	}
	locate(ix, &t, &k);
	if (t >= v->p->nthreads || k >= shm->thr[t].nsub) {
		fail(v,
		     "iterator: index %" PRIu64 " (thread %u, record %" PRIu64
		     ") was never submitted (thread submitted %" PRIu64 ")",
		     ix, t, k, (uint64_t)shm->thr[t].nsub);
		return -1;
	}
	const struct cw_ent *e = &shm->ent[t][k];
	if (s->seen[(size_t)t * CW_MAX_RECS + k]) {
		fail(v, "iterator: index %" PRIu64 " appears twice", ix);
		return -1;
	}
	s->seen[(size_t)t * CW_MAX_RECS + k] = 1;
	const char *d = differs(v, ix, rec->key, rec->key_len, rec->value, rec->value_len);
	if (d) {
		fail(v, "iterator: index %" PRIu64 ": %s", ix, d);
		return -1;
	}
	if ((int64_t)k <= s->last_k[t]) {
		fail(v,
		     "iterator: index %" PRIu64 " of thread %u comes after its record %" PRId64
		     ", which that thread wrote later",
		     ix, t, s->last_k[t]);
		return -1;
	}
	s->last_k[t] = (int64_t)k;
	if ((e->flags & CW_ACKED) && e->ack_seq < s->max_sub) {
		fail(v,
		     "iterator: index %" PRIu64 " was acknowledged before index %" PRIu64
		     " was submitted, yet comes after it in the log",
		     ix, s->max_sub_index);
		return -1;
	}
	if (e->sub_seq > s->max_sub) {
		s->max_sub = e->sub_seq;
		s->max_sub_index = ix;
	}
	/* Batches: contiguous, whole. */
	if (s->bleft) {
		if (t != s->bt || k != s->bnext) {
			fail(v,
			     "iterator: batch of index %" PRIu64
			     " (thread %u) is cut short: index %" PRIu64
			     " comes before its record %" PRIu64,
			     cw_index(s->bt, s->bfirst), s->bt, ix, s->bnext);
			return -1;
		}
		s->bnext++;
		s->bleft--;
	} else if (e->batch_n > 1) {
		if (k != e->batch_first) {
			fail(v,
			     "iterator: index %" PRIu64 " is record %" PRIu64
			     " of a batch whose first records are missing",
			     ix, k - e->batch_first);
			return -1;
		}
		s->bt = t;
		s->bfirst = k;
		s->bnext = k + 1;
		s->bleft = e->batch_n - 1;
	}
	if (!s->count || ix < s->min_ix)
		s->min_ix = ix;
	if (ix > s->max_ix)
		s->max_ix = ix;
	s->count++;
	return 0;
}

/* (c): the whole log. Returns the number of records, or -1. */
static long check_iter(struct vctx *v, uwal *w, long *partial_tail)
{
	struct iter_state s;
	memset(&s, 0, sizeof(s));
	for (unsigned t = 0; t < CW_MAX_THREADS; t++)
		s.last_k[t] = -1;
	s.seen = calloc(CW_MAX_THREADS, CW_MAX_RECS);
	if (!s.seen) {
		fail(v, "out of memory");
		return -1;
	}
	uwal_iter *it;
	int ret = uwal_iter_open(w, &it);
	if (ret != 0) {
		fail(v, "uwal_iter_open: %s", uwal_strerror(ret));
		free(s.seen);
		return -1;
	}
	uwal_record rec;
	while ((ret = uwal_iter_next(it, &rec)) == 1)
		if (check_one(v, &s, &rec) < 0)
			break;
	uwal_iter_close(it);
	/* Not judged, but worth counting: durable acknowledgments taken while
	 * the shutdown was under way, whose records did not survive. */
	for (unsigned t = 0; ret == 0 && t < v->p->nthreads; t++)
		for (uint64_t k = 0; k < v->shm->thr[t].nsub; k++) {
			const struct cw_ent *e = &v->shm->ent[t][k];
			if ((e->flags & CW_DURABLE) && (e->flags & CW_ACKED) && !judged(v, e) &&
			    !s.seen[(size_t)t * CW_MAX_RECS + k]) {
				v->lost_unjudged++;
				v->lost_after_cut += e->ack_seq > v->shm->cut_seq;
				if (getenv("CRASHWAL_DEBUG_LOST"))
					fprintf(stderr,
						"lost %s: index %" PRIu64 " sub %+" PRId64
						" ack %+" PRId64 " (seq from snap), ack %+.3f ms "
						"from snap, ioctl took "
						"%.3f ms\n",
						v->what, cw_index(t, k),
						(int64_t)(e->sub_seq - v->snap_seq),
						(int64_t)(e->ack_seq - v->snap_seq),
						((double)e->ack_ns - (double)v->shm->snap_ns) / 1e6,
						((double)v->shm->cut_ns - (double)v->shm->snap_ns) /
							1e6);
			}
		}
	free(s.seen);
	if (ret < 0) {
		fail(v, "uwal_iter_next: %s after %" PRIu64 " records", uwal_strerror(ret),
		     s.count);
		return -1;
	}
	if (ret == 1)
		return -1;
	if (s.bleft) {
		/* A batch is all or nothing, also across a crash: recovery cuts
		 * an unfinished one whole (the MORE flag of its frames). */
		const struct cw_ent *e = &v->shm->ent[s.bt][s.bfirst];
		const char *why = judged(v, e);
		fail(v, "batch of index %" PRIu64 " (%s) is cut short at the log's end",
		     cw_index(s.bt, s.bfirst), why ? why : "not acknowledged");
		(*partial_tail)++;
		return -1;
	}
	uint64_t fi = uwal_first_index(w), li = uwal_last_index(w);
	uint64_t efi = s.count ? s.min_ix : 0, eli = s.count ? s.max_ix : 0;
	if (fi != efi || li != eli) {
		fail(v,
		     "uwal_first_index/uwal_last_index = %" PRIu64 "/%" PRIu64
		     ", the iterator saw %" PRIu64 "/%" PRIu64,
		     fi, li, efi, eli);
		return -1;
	}
	return (long)s.count;
}

static int write_new(struct vctx *v, uwal *w, uint64_t any_present)
{
	if (any_present) {
		uint8_t k = 'k', val = 'v';
		int ret = uwal_write(w, any_present, &k, 1, &val, 1);
		if (ret != UWAL_EEXIST) {
			fail(v,
			     "after recovery, writing index %" PRIu64 " (present) returned %s, "
			     "expected UWAL_EEXIST",
			     any_present, uwal_strerror(ret));
			return -1;
		}
	}
	uint8_t *keys = malloc((size_t)NEW_RECS * CW_MAX_KEY);
	uint8_t *vals = malloc((size_t)NEW_RECS * CW_MAX_VALUE);
	uwal_record recs[NEW_RECS];
	int ret = 0;
	for (unsigned j = 0; keys && vals && j < NEW_RECS; j++) {
		uint64_t ix = CW_NEW_BASE + j;
		uint8_t *kb = keys + (size_t)j * CW_MAX_KEY, *vb = vals + (size_t)j * CW_MAX_VALUE;
		size_t vlen = cw_value_len(v->p, ix, 0);
		cw_value(v->p->seed, ix, 0, vb, vlen);
		recs[j] = (uwal_record){ix, kb, cw_key(v->p->seed, ix, 0, kb), vb, vlen};
	}
	if (!keys || !vals) {
		fail(v, "out of memory");
		ret = -1;
		goto out;
	}
	/* Four single writes (two with sync), then one batch of four. */
	for (unsigned j = 0; j < 4 && ret == 0; j++)
		ret = uwal_write_sync(w, recs[j].index, recs[j].key, recs[j].key_len, recs[j].value,
				      recs[j].value_len, j & 1);
	if (ret == 0)
		ret = uwal_write_batch(w, recs + 4, NEW_RECS - 4, true);
	if (ret != 0) {
		fail(v, "after recovery, a new write failed: %s", uwal_strerror(ret));
		ret = -1;
	}
out:
	free(keys);
	free(vals);
	return ret;
}

static int check_new(struct vctx *v, uwal *w)
{
	for (unsigned j = 0; j < NEW_RECS; j++) {
		uint64_t ix = CW_NEW_BASE + j;
		uwal_record rec;
		int ret = uwal_get(w, ix, &rec);
		if (ret != 0) {
			fail(v, "new index %" PRIu64 " after close and reopen: %s", ix,
			     uwal_strerror(ret));
			return -1;
		}
		const char *d = differs(v, ix, rec.key, rec.key_len, rec.value, rec.value_len);
		uwal_record_free(&rec);
		if (d) {
			fail(v, "new index %" PRIu64 " after close and reopen: %s", ix, d);
			return -1;
		}
	}
	return 0;
}

static uint64_t count_records(uwal *w, int *err)
{
	uwal_iter *it;
	uwal_record rec;
	uint64_t n = 0;
	*err = uwal_iter_open(w, &it);
	if (*err)
		return 0;
	while ((*err = uwal_iter_next(it, &rec)) == 1)
		n++;
	uwal_iter_close(it);
	return n;
}

int cw_verify(const struct cw_shm *shm, const struct cw_plan *p, const char *dir, uint64_t snap_seq,
	      bool power_loss, const char *what, struct cw_totals *st)
{
	struct vctx v = {
		.shm = shm, .p = p, .what = what, .power_loss = power_loss, .snap_seq = snap_seq};
	uwal_config cfg;
	uwal *w = NULL;
	int rc = -1;
	long partial = 0;

	v.kbuf = malloc(CW_MAX_KEY);
	v.vbuf = malloc(CW_MAX_VALUE + 8);
	if (!v.kbuf || !v.vbuf)
		goto out;
	cw_config(p, dir, &cfg);
	cfg.log_fn = cw_log_fn;
	/* Judge with retention off: the new writes below must not delete
	 * what is being checked (the writer's and recovery's opens ran with
	 * the plan's max_segments). */
	cfg.max_segments = 0;

	int ret = open_retry(&cfg, &w);
	if (ret != 0) {
		fail(&v, "(a) uwal_open after the crash: %s", uwal_strerror(ret));
		w = NULL;
		goto out;
	}
	long n;
	uint64_t free_ix = 0;
	if (p->trunc_pct) {
		/* One thread and truncations: judged by trunc.c, exactly. */
		n = cw_judge_trunc(shm, p, w, snap_seq, power_loss, what, st, &free_ix);
		if (n < 0)
			goto out;
	} else {
		find_implied(&v);
		long nj = check_judged(&v, w);
		if (nj < 0)
			goto out;
		n = check_iter(&v, w, &partial);
		if (n < 0)
			goto out;
		st->judged += (uint64_t)nj;
	}
	st->present += n;
	st->partial_tail += partial;
	st->lost_unjudged += v.lost_unjudged;
	st->lost_after_cut += v.lost_after_cut;
	st->retention_gone += v.retention_gone;
	/* An index the log holds (the first one), to check it is refused. */
	uint64_t any = uwal_first_index(w);
	if (write_new(&v, w, any) < 0)
		goto out;
	/* A truncation's indexes are free to be written again. */
	uint8_t fb = 'f';
	ret = free_ix ? uwal_write(w, free_ix, &fb, 1, &fb, 1) : 0;
	if (ret != 0) {
		fail(&v, "(d) writing index %" PRIu64 ", which a truncation removed: %s", free_ix,
		     uwal_strerror(ret));
		goto out;
	}
	n += free_ix != 0;
	ret = uwal_close(w);
	w = NULL;
	if (ret != 0) {
		fail(&v, "(d) uwal_close after new writes: %s", uwal_strerror(ret));
		goto out;
	}
	ret = uwal_open(&cfg, &w);
	if (ret != 0) {
		fail(&v, "(d) uwal_open after new writes and close: %s", uwal_strerror(ret));
		w = NULL;
		goto out;
	}
	if (check_new(&v, w) < 0)
		goto out;
	uwal_record frec;
	ret = free_ix ? uwal_get(w, free_ix, &frec) : 0;
	if (ret == 0 && free_ix) {
		bool same = frec.key_len == 1 && frec.value_len == 1 &&
			    ((const uint8_t *)frec.value)[0] == 'f';
		uwal_record_free(&frec);
		ret = same ? 0 : UWAL_ECORRUPT;
	}
	if (ret != 0) {
		fail(&v, "(d) index %" PRIu64 " written again after reopen: %s", free_ix,
		     uwal_strerror(ret));
		goto out;
	}
	uint64_t total = count_records(w, &ret);
	if (ret != 0 || total != (uint64_t)n + NEW_RECS) {
		fail(&v,
		     "(d) after reopen the log holds %" PRIu64 " records (%s), expected %ld + %d",
		     total, uwal_strerror(ret), n, NEW_RECS);
		goto out;
	}
	rc = 0;
out:
	if (w) {
		ret = uwal_close(w);
		if (ret != 0 && rc == 0) {
			fail(&v, "(d) final uwal_close: %s", uwal_strerror(ret));
			rc = -1;
		}
	}
	free(v.kbuf);
	free(v.vbuf);
	return rc;
}
