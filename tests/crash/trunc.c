/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trunc.c - judging the log of a truncation plan (crash.h): one writer
 * thread, whose calls (writes and truncations, in the order of their
 * sub_seq) are the log's history, so the judgment can be exact.
 *
 * Let Model(j) be the log as the first j calls leave it: a write appends
 * its records, truncate_front(k) drops the records before index k (all of
 * them if k is above every index), truncate_back(k) drops k and the
 * records after it. The calls that must be in effect are those that
 * returned 0 (process crash: every write acknowledged, in the kernel or
 * not), or (power loss) every durable acknowledgment and every truncation
 * that returned 0 before the shutdown began (a simulated cut: whenever
 * recorded); jmin is one past the last of them (README rule 2: a durable
 * call makes every call before it durable). Every call submitted may have
 * taken effect. The log must be exactly Model(j), contents included, for
 * some j from jmin to the number of calls: nothing acknowledged lost,
 * nothing a truncation in effect removed back, a truncation that may have
 * taken effect (in flight at the strike, failed there, or returned during
 * the shutdown) wholly before or wholly after, batches whole, order kept.
 *
 * When no j fits, it says which rule the log breaks, the first of:
 *   - a record a truncation in effect removed is in the log (back);
 *   - a record that must be there is not (lost): written by a call that
 *     must be in effect, and removed by no truncation that returned 0 or
 *     may have taken effect;
 *   - a truncation that may have taken effect is in between: some of the
 *     records it removes are there, others not (one that must be there
 *     unless it took effect, or an earlier one in log order);
 *   - a batch is cut short (some of its records there, others not,
 *     though no truncation removed them);
 *   - otherwise the first record where the log differs from Model(jmin)
 *     and from Model(last call).
 */
#include "crash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_WRITE, C_TRUNC };

struct call {
	uint8_t kind;
	uint32_t id; /* C_WRITE: its first record k; C_TRUNC: the truncation's number */
	uint32_t n;  /* C_WRITE: its records */
	uint64_t sub_seq;
};

struct judge {
	const struct cw_shm *shm;
	const struct cw_plan *p;
	const char *what;
	bool power_loss;
	uint64_t snap;
	uint64_t nsub, ntrunc;
	struct call *calls;
	size_t ncalls;
	size_t jmin;   /* calls[0..jmin) must be in effect */
	uint32_t *act; /* the log: each record's k, in log order */
	size_t nact;
	uint32_t *live; /* the model: live[head..tail) */
	size_t head, tail;
	uint32_t *removed; /* k -> 1 + the truncation that removes it (all calls), 0 none */
	uint32_t *call_of; /* k -> its call */
	uint32_t *tcall;   /* truncation -> its call */
	uint32_t *tgone;   /* truncation -> records it removes */
	uint8_t *present;  /* k -> in the log */
	uint8_t *kbuf, *vbuf;
};

static void jfail(const struct judge *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jfail(const struct judge *j, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s: ", j->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cw_log_dump();
}

const char *cw_trunc_name(const struct cw_shm *shm, uint64_t m, char *buf, size_t n)
{
	const struct cw_trunc *t = &shm->trunc[m];
	char res[64];
	if (!t->done)
		snprintf(res, sizeof(res), "in flight at the strike");
	else if (t->ret)
		snprintf(res, sizeof(res), "failed: %s", uwal_strerror(t->ret));
	else
		snprintf(res, sizeof(res), "returned 0");
	snprintf(buf, n,
		 "truncate_%s(%" PRIu64 ") (truncation #%" PRIu64 ", after %" PRIu32
		 " records; generation %" PRIu32 " after it; %s)",
		 t->kind == CW_T_BACK ? "back" : "front", t->index, m, t->nent, t->gen, res);
	return buf;
}

/* Whether the truncation must be in effect (it returned 0 before the
 * strike), and in words why it may not be. */
static bool trunc_required(const struct judge *j, uint64_t m, const char **why)
{
	const struct cw_trunc *t = &j->shm->trunc[m];
	*why = !t->done ? "in flight at the strike" : t->ret ? "failed at the strike" : NULL;
	if (!t->done || t->ret)
		return false;
	if (j->power_loss && j->snap != UINT64_MAX && t->ret_seq >= j->snap) {
		*why = "returned 0 while the shutdown was under way";
		return false;
	}
	return true;
}

static bool write_required(const struct judge *j, const struct cw_ent *e)
{
	if (!(e->flags & CW_ACKED))
		return false;
	if (!j->power_loss)
		return true;
	return (e->flags & CW_DURABLE) && (j->snap == UINT64_MAX || e->ack_seq < j->snap);
}

static const char *rec_name(const struct judge *j, uint32_t k, char *buf, size_t n)
{
	const struct cw_ent *e = &j->shm->ent[0][k];
	snprintf(buf, n, "index %" PRIu64 " (generation %" PRIu32 ", record %" PRIu32 ", %s%s%s)",
		 j->shm->tent[k].index, j->shm->tent[k].gen, k,
		 e->flags & CW_BATCH ? "batch, " : "",
		 !(e->flags & CW_ACKED)  ? "not acknowledged"
		 : e->flags & CW_DURABLE ? "acknowledged durable"
					 : "acknowledged, not durable",
		 j->power_loss && j->snap != UINT64_MAX && (e->flags & CW_ACKED) &&
				 e->ack_seq >= j->snap
			 ? " during the shutdown"
			 : "");
	return buf;
}

/* The calls, in the order the thread made them (sub_seq). */
static int build_calls(struct judge *j)
{
	const struct cw_shm *shm = j->shm;
	j->calls = malloc((j->nsub + j->ntrunc + 1) * sizeof(*j->calls));
	if (!j->calls)
		return -1;
	uint64_t k = 0, m = 0;
	while (k < j->nsub || m < j->ntrunc) {
		const struct cw_ent *e = k < j->nsub ? &shm->ent[0][k] : NULL;
		if (e && (m == j->ntrunc || e->sub_seq < shm->trunc[m].sub_seq)) {
			uint32_t n = e->batch_n ? e->batch_n : 1;
			if (e->batch_first != k || k + n > j->nsub) {
				jfail(j, "harness: record %" PRIu64 " starts no call", k);
				return -1;
			}
			for (uint32_t r = 0; r < n; r++)
				j->call_of[k + r] = (uint32_t)j->ncalls;
			j->calls[j->ncalls++] = (struct call){C_WRITE, (uint32_t)k, n, e->sub_seq};
			k += n;
		} else {
			j->tcall[m] = (uint32_t)j->ncalls;
			j->calls[j->ncalls++] =
				(struct call){C_TRUNC, (uint32_t)m, 0, shm->trunc[m].sub_seq};
			m++;
		}
	}
	return 0;
}

/* jmin: one past the last call that must be in effect. A truncation that
 * removes nothing writes nothing (uwal returns 0 at once), so it makes no
 * earlier call durable; needs tgone. */
static void find_jmin(struct judge *j)
{
	j->jmin = 0;
	for (size_t c = 0; c < j->ncalls; c++) {
		const char *why;
		const struct call *cl = &j->calls[c];
		bool req = cl->kind == C_WRITE
				   ? write_required(j, &j->shm->ent[0][cl->id])
				   : trunc_required(j, cl->id, &why) && j->tgone[cl->id];
		if (req)
			j->jmin = c + 1;
	}
}

/* The live record with this index, by binary search (indexes increase in
 * log order); tail if none. */
static size_t live_find(const struct judge *j, uint64_t index)
{
	size_t lo = j->head, hi = j->tail;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t ix = j->shm->tent[j->live[mid]].index;
		if (ix == index)
			return mid;
		if (ix < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return j->tail;
}

/* Apply call c to the model; note (once) what each truncation removes. */
static void apply(struct judge *j, size_t c, bool note)
{
	const struct call *cl = &j->calls[c];
	if (cl->kind == C_WRITE) {
		for (uint32_t r = 0; r < cl->n; r++)
			j->live[j->tail++] = cl->id + r;
		return;
	}
	const struct cw_trunc *t = &j->shm->trunc[cl->id];
	size_t pos = live_find(j, t->index), from, to;
	if (t->kind == CW_T_FRONT) {
		if (pos == j->tail && j->tail > j->head &&
		    j->shm->tent[j->live[j->tail - 1]].index > t->index)
			return; /* not in the log, below its last index: UWAL_ENOTFOUND */
		from = j->head;
		to = pos;
		j->head = pos;
	} else {
		if (pos == j->tail)
			return; /* UWAL_ENOTFOUND */
		from = pos;
		to = j->tail;
		j->tail = pos;
	}
	for (size_t i = from; note && i < to; i++) {
		j->removed[j->live[i]] = cl->id + 1;
		j->tgone[cl->id]++;
	}
}

static void model_at(struct judge *j, size_t upto)
{
	j->head = j->tail = 0;
	for (size_t c = 0; c < upto; c++)
		apply(j, c, false);
}

static bool model_matches(const struct judge *j)
{
	if (j->tail - j->head != j->nact)
		return false;
	for (size_t i = j->nact; i-- > 0;)
		if (j->live[j->head + i] != j->act[i])
			return false;
	return true;
}

/* The record's k by (generation, index): the thread's records are sorted
 * so (a generation never goes down, indexes rise within one). -1 if none. */
static int64_t find_rec(const struct judge *j, uint64_t index, uint32_t gen)
{
	size_t lo = 0, hi = j->nsub;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cw_tent *t = &j->shm->tent[mid];
		if (t->gen == gen && t->index == index)
			return (int64_t)mid;
		if (t->gen < gen || (t->gen == gen && t->index < index))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Read the log into act[]. 0 or -1. */
static int read_log(struct judge *j, uwal *w)
{
	uwal_iter *it;
	uwal_record rec;
	int ret = uwal_iter_open(w, &it);
	if (ret != 0) {
		jfail(j, "uwal_iter_open: %s", uwal_strerror(ret));
		return -1;
	}
	uint64_t min_ix = 0, max_ix = 0;
	while ((ret = uwal_iter_next(it, &rec)) == 1) {
		uint64_t ix = rec.index, kix = 0;
		uint32_t gen = 0;
		const uint8_t *key = rec.key;
		for (int b = 0; rec.key_len >= 12 && b < 8; b++)
			kix |= (uint64_t)key[b] << (8 * b);
		for (int b = 0; rec.key_len >= 12 && b < 4; b++)
			gen |= (uint32_t)key[8 + b] << (8 * b);
		if (ix == 0 || ix >= CW_NEW_BASE || rec.key_len < 12 || kix != ix) {
			jfail(j, "iterator: index %" PRIu64 " (key of %zu bytes) was never written",
			      ix, rec.key_len);
			goto bad;
		}
		int64_t k = find_rec(j, ix, gen);
		if (k < 0) {
			jfail(j,
			      "iterator: index %" PRIu64 " generation %" PRIu32
			      " was never submitted",
			      ix, gen);
			goto bad;
		}
		char nm[160];
		if (j->present[k]) {
			jfail(j, "iterator: %s appears twice",
			      rec_name(j, (uint32_t)k, nm, sizeof(nm)));
			goto bad;
		}
		size_t eklen = cw_key(j->p->seed, ix, gen, j->kbuf);
		size_t evlen = cw_value_len(j->p, ix, gen);
		if (rec.key_len != eklen || memcmp(rec.key, j->kbuf, eklen) != 0 ||
		    rec.value_len != evlen) {
			jfail(j, "iterator: %s: key or value length differs",
			      rec_name(j, (uint32_t)k, nm, sizeof(nm)));
			goto bad;
		}
		cw_value(j->p->seed, ix, gen, j->vbuf, evlen);
		if (memcmp(rec.value, j->vbuf, evlen) != 0) {
			jfail(j, "iterator: %s: value differs",
			      rec_name(j, (uint32_t)k, nm, sizeof(nm)));
			goto bad;
		}
		j->present[k] = 1;
		j->act[j->nact++] = (uint32_t)k;
		if (!min_ix || ix < min_ix)
			min_ix = ix;
		if (ix > max_ix)
			max_ix = ix;
	}
	uwal_iter_close(it);
	if (ret < 0) {
		jfail(j, "uwal_iter_next: %s after %zu records", uwal_strerror(ret), j->nact);
		return -1;
	}
	uint64_t fi = uwal_first_index(w), li = uwal_last_index(w);
	if (fi != min_ix || li != max_ix) {
		jfail(j,
		      "uwal_first_index/uwal_last_index = %" PRIu64 "/%" PRIu64
		      ", the iterator saw %" PRIu64 "/%" PRIu64,
		      fi, li, min_ix, max_ix);
		return -1;
	}
	return 0;
bad:
	uwal_iter_close(it);
	return -1;
}

/* Which truncations may have taken effect, in words (for a failure). */
static void print_uncertain(const struct judge *j)
{
	char tn[200];
	for (size_t c = j->jmin; c < j->ncalls; c++)
		if (j->calls[c].kind == C_TRUNC)
			fprintf(stderr,
				"  may have taken effect (call #%zu): %s, removes %" PRIu32
				" records\n",
				c, cw_trunc_name(j->shm, j->calls[c].id, tn, sizeof(tn)),
				j->tgone[j->calls[c].id]);
}

/* No j fits: say which rule the log breaks. */
static void diagnose(struct judge *j)
{
	const struct cw_shm *shm = j->shm;
	char tn[200], rn[160], rn2[160];
	const char *why;
	/* A record a truncation in effect removed, back. */
	for (size_t i = 0; i < j->nact; i++) {
		uint32_t k = j->act[i], m1 = j->removed[k];
		if (m1 && trunc_required(j, m1 - 1, &why)) {
			jfail(j,
			      "truncated record back: %s is in the log, but %s removed it before "
			      "the strike",
			      rec_name(j, k, rn, sizeof(rn)),
			      cw_trunc_name(shm, m1 - 1, tn, sizeof(tn)));
			return;
		}
	}
	/* A record that must be there, missing. */
	for (uint32_t k = 0; k < j->nsub; k++)
		if (j->call_of[k] < j->jmin && !j->removed[k] && !j->present[k]) {
			jfail(j,
			      "acknowledged record lost: %s is not in the log, and no truncation "
			      "that returned 0 or may have taken effect removed it",
			      rec_name(j, k, rn, sizeof(rn)));
			print_uncertain(j);
			return;
		}
	/* A truncation that may have taken effect, half done. */
	for (size_t c = j->jmin; c < j->ncalls; c++) {
		if (j->calls[c].kind != C_TRUNC)
			continue;
		uint32_t m = j->calls[c].id;
		int64_t in = -1, in_late = -1, out_req = -1, out_first = -1;
		for (uint32_t k = 0; k < j->nsub; k++) {
			if (j->removed[k] != m + 1)
				continue;
			if (j->present[k]) {
				if (in < 0)
					in = k;
				if (out_first >= 0 && in_late < 0)
					in_late = k; /* there, after one missing */
			} else {
				if (out_first < 0)
					out_first = k;
				if (out_req < 0 && j->call_of[k] < j->jmin)
					out_req = k;
			}
		}
		/* Missing after the last one there only: the lost tail of
		 * writes not (durably) acknowledged, as before it. */
		if (in < 0 || (out_req < 0 && in_late < 0))
			continue;
		int64_t out = out_req >= 0 ? out_req : out_first;
		if (out_req < 0)
			in = in_late;
		jfail(j,
		      "truncation neither before nor after: %s (call #%zu) removes %" PRIu32
		      " records; %s is in the log, %s is not%s",
		      cw_trunc_name(shm, m, tn, sizeof(tn)), c, j->tgone[m],
		      rec_name(j, (uint32_t)in, rn, sizeof(rn)),
		      rec_name(j, (uint32_t)out, rn2, sizeof(rn2)),
		      out_req >= 0 ? " (it must be there unless the truncation took effect)"
				   : " (it comes before the other in the log)");
		return;
	}
	/* A batch cut short, though no truncation removed its records. */
	for (size_t c = 0; c < j->ncalls; c++) {
		const struct call *cl = &j->calls[c];
		if (cl->kind != C_WRITE || cl->n < 2)
			continue;
		int64_t in = -1, out = -1;
		for (uint32_t r = 0; r < cl->n; r++) {
			uint32_t k = cl->id + r;
			if (j->removed[k])
				continue;
			if (j->present[k])
				in = k;
			else
				out = k;
		}
		if (in >= 0 && out >= 0) {
			jfail(j, "batch cut short: %s is in the log, %s of the same batch is not",
			      rec_name(j, (uint32_t)in, rn, sizeof(rn)),
			      rec_name(j, (uint32_t)out, rn2, sizeof(rn2)));
			return;
		}
	}
	/* Otherwise: where the log differs from the model. */
	jfail(j,
	      "the log is as no prefix of the calls leaves it (%zu records; calls #%zu..#%zu of "
	      "%zu may have taken effect)",
	      j->nact, j->jmin, j->ncalls, j->ncalls);
	size_t ends[2] = {j->jmin, j->ncalls};
	for (int e = 0; e < 2; e++) {
		model_at(j, ends[e]);
		size_t i = 0;
		while (i < j->nact && j->head + i < j->tail && j->act[i] == j->live[j->head + i])
			i++;
		fprintf(stderr, "  after call #%zu (%zu records): record %zu of the log is %s, ",
			ends[e], j->tail - j->head, i,
			i < j->nact ? rec_name(j, j->act[i], rn, sizeof(rn)) : "past its end");
		fprintf(stderr, "expected %s\n",
			j->head + i < j->tail ? rec_name(j, j->live[j->head + i], rn, sizeof(rn))
					      : "the end");
	}
	print_uncertain(j);
}

long cw_judge_trunc(const struct cw_shm *shm, const struct cw_plan *p, uwal *w, uint64_t snap_seq,
		    bool power_loss, const char *what, struct cw_totals *st, uint64_t *free_ix)
{
	struct judge j = {
		.shm = shm, .p = p, .what = what, .power_loss = power_loss, .snap = snap_seq};
	long rc = -1;
	*free_ix = 0;
	j.nsub = shm->thr[0].nsub;
	j.ntrunc = shm->ntrunc;
	size_t n = j.nsub + 1;
	j.act = malloc(n * sizeof(*j.act));
	j.live = malloc(n * sizeof(*j.live));
	j.removed = calloc(n, sizeof(*j.removed));
	j.call_of = calloc(n, sizeof(*j.call_of));
	j.present = calloc(n, 1);
	j.tcall = calloc(j.ntrunc + 1, sizeof(*j.tcall));
	j.tgone = calloc(j.ntrunc + 1, sizeof(*j.tgone));
	j.kbuf = malloc(CW_MAX_KEY);
	j.vbuf = malloc(CW_MAX_VALUE + 8);
	if (!j.act || !j.live || !j.removed || !j.call_of || !j.present || !j.tcall || !j.tgone ||
	    !j.kbuf || !j.vbuf) {
		jfail(&j, "out of memory");
		goto out;
	}
	if (build_calls(&j) < 0)
		goto out;
	/* What each truncation removes, then which calls must be in effect. */
	j.head = j.tail = 0;
	for (size_t c = 0; c < j.ncalls; c++)
		apply(&j, c, true);
	find_jmin(&j);
	if (read_log(&j, w) < 0)
		goto out;

	/* Every Model(j) from jmin on. */
	size_t first_match = SIZE_MAX, last_match = SIZE_MAX;
	j.head = j.tail = 0;
	for (size_t c = 0;; c++) {
		if (c >= j.jmin && model_matches(&j)) {
			if (first_match == SIZE_MAX)
				first_match = c;
			last_match = c;
		}
		if (c == j.ncalls)
			break;
		apply(&j, c, false);
	}
	if (last_match == SIZE_MAX) {
		diagnose(&j);
		goto out;
	}

	/* Counts: what was judged, and how the uncertain calls came out. */
	st->trunc_plans++;
	st->truncs += j.ntrunc;
	for (size_t c = 0; c < j.ncalls; c++) {
		const struct call *cl = &j.calls[c];
		if (cl->kind == C_TRUNC) {
			if (c < j.jmin) {
				st->truncs_judged++;
				st->truncs_gone += j.tgone[cl->id];
			} else if (!j.tgone[cl->id] || (first_match <= c && last_match > c)) {
				st->truncs_either++;
			} else if (last_match > c) {
				st->truncs_after++;
			} else {
				st->truncs_before++;
			}
			continue;
		}
		const struct cw_ent *e = &shm->ent[0][cl->id];
		for (uint32_t r = 0; r < cl->n; r++) {
			uint32_t k = cl->id + r;
			if (c < j.jmin && !j.removed[k])
				st->judged++;
			/* Durable, taken during the shutdown, lost (not judged). */
			if (c >= last_match &&
			    (e->flags & (CW_ACKED | CW_DURABLE)) == (CW_ACKED | CW_DURABLE)) {
				st->lost_unjudged++;
				st->lost_after_cut += e->ack_seq > shm->cut_seq;
			}
		}
	}
	/* An index a truncation in effect removed, not in the log now. */
	for (uint32_t k = 0; k < j.nsub && !*free_ix; k++) {
		uint32_t m1 = j.removed[k];
		const char *why;
		if (!m1 || !trunc_required(&j, m1 - 1, &why))
			continue;
		uint64_t ix = shm->tent[k].index;
		size_t lo = 0, hi = j.nact;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (shm->tent[j.act[mid]].index < ix)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == j.nact || shm->tent[j.act[lo]].index != ix)
			*free_ix = ix;
	}
	rc = (long)j.nact;
out:
	free(j.calls);
	free(j.act);
	free(j.live);
	free(j.removed);
	free(j.call_of);
	free(j.present);
	free(j.tcall);
	free(j.tgone);
	free(j.kbuf);
	free(j.vbuf);
	return rc;
}
