/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_truncate.c - uwal_truncate_front() and uwal_truncate_back(): the
 * log's view (iteration, uwal_get, first/last index) right after the call
 * and after a reopen, at every position relative to segments and batches;
 * racing writers, readers and iterators; retention; an injected failure at
 * each I/O step; a simulated power cut at each operation; indexes written
 * again after a truncation.
 *
 * Each test keeps a model: the indexes the log must hold, in log order.
 */
#include "helpers.h"

#include <stdatomic.h>

#include "crashsim.h"

TH_SUITE(truncate, 240);

#define MAXR 4096

struct model {
	uint64_t ix[MAXR];
	size_t n;
};

/* Ten records per segment, so that 50 records span five segments. */
static void cfg_small(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_threshold = 10;
	cfg->sync_mode = UWAL_SYNC_BATCH;
}

static void model_range(struct model *m, uint64_t from, uint64_t to)
{
	m->n = 0;
	for (uint64_t i = from; i <= to; i++)
		m->ix[m->n++] = i;
}

/* Assert that the log holds exactly m, in order, with standard records
 * (or, for indexes in [alt_from, alt_to], the "again" value). */
static uint64_t g_alt_from, g_alt_to;

static void check_value(const uwal_record *r)
{
	if (r->index >= g_alt_from && r->index <= g_alt_to) {
		char v[32];
		int n = snprintf(v, sizeof(v), "again%llu", (unsigned long long)r->index);
		cr_assert_eq(r->value_len, (size_t)n, "record %llu: not the later copy",
			     (unsigned long long)r->index);
		cr_assert(memcmp(r->value, v, (size_t)n) == 0);
		return;
	}
	th_check_std_rec(r, r->index);
}

static void check_view(uwal *w, const struct model *m, const char *when)
{
	uwal_iter *it;
	uwal_record r;
	size_t k = 0;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert(k < m->n, "%s: extra record %llu", when, (unsigned long long)r.index);
		cr_assert_eq(r.index, m->ix[k], "%s: record %zu is %llu, want %llu", when, k,
			     (unsigned long long)r.index, (unsigned long long)m->ix[k]);
		check_value(&r);
		k++;
	}
	cr_assert_eq(rc, 0, "%s: iter: %s", when, uwal_strerror(rc));
	cr_assert_eq(k, m->n, "%s: %zu records, want %zu", when, k, m->n);
	uwal_iter_close(it);
	uint64_t lo = 0, hi = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (!lo || m->ix[i] < lo)
			lo = m->ix[i];
		if (m->ix[i] > hi)
			hi = m->ix[i];
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, m->ix[i], &r), 0, "%s: get %llu", when,
			     (unsigned long long)m->ix[i]);
		check_value(&r);
		uwal_record_free(&r);
	}
	cr_assert_eq(uwal_first_index(w), lo, "%s: first index %llu, want %llu", when,
		     (unsigned long long)uwal_first_index(w), (unsigned long long)lo);
	cr_assert_eq(uwal_last_index(w), hi, "%s: last index", when);
}

/* Write [from, to]: every fifth record alone, the rest in batches of 4,
 * so that batches straddle the positions the tests cut at. */
static void write_range(uwal *w, uint64_t from, uint64_t to)
{
	char keys[4][TH_KEY_MAX];
	unsigned char vals[4][TH_VAL_MAX];
	uint64_t i = from;
	while (i <= to) {
		if (i % 5 == 0 || i + 3 > to) {
			cr_assert_eq(th_write_std(w, i, false), 0, "write %llu",
				     (unsigned long long)i);
			i++;
			continue;
		}
		uwal_record recs[4];
		for (int k = 0; k < 4; k++) {
			uint64_t x = i + (uint64_t)k;
			size_t kl = th_key(x, keys[k]), vl = th_vlen(x);
			th_fill(x, vals[k], vl);
			recs[k] = (uwal_record){x, keys[k], kl, vl ? vals[k] : NULL, vl};
		}
		cr_assert_eq(uwal_write_batch(w, recs, 4, false), 0);
		i += 4;
	}
}

static void write_again(uwal *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "again%llu", (unsigned long long)i);
		cr_assert_eq(uwal_write(w, i, "k", 1, v, (size_t)n), 0, "write again %llu",
			     (unsigned long long)i);
	}
}

static uwal *reopen(uwal *w, const uwal_config *cfg)
{
	th_close(w);
	return th_open(cfg);
}

static char *subdir(const char *name, unsigned k)
{
	char *p = malloc(strlen(g_dir) + 64);
	cr_assert_not_null(p);
	sprintf(p, "%s/%s%u", g_dir, name, k);
	return p;
}

/* Positions: the first record, a segment's last and the next one's first
 * (10, 11: records 1..10 fill the first segment), inside a batch (22 of
 * 21..24), the last segment's first (41), the last record (50). */
static const uint64_t POS[] = {1, 2, 10, 11, 22, 23, 41, 45, 49, 50};
#define NPOS (sizeof(POS) / sizeof(POS[0]))

TH_TEST(truncate, front_at_every_position_survives_reopen)
{
	for (unsigned k = 0; k < NPOS; k++) {
		char *dir = subdir("f", k);
		uwal_config cfg;
		cfg_small(&cfg, dir);
		uwal *w = th_open(&cfg);
		write_range(w, 1, 50);
		struct model m;
		cr_assert_eq(uwal_truncate_front(w, POS[k]), 0);
		model_range(&m, POS[k], 50);
		check_view(w, &m, "after front");
		w = reopen(w, &cfg);
		check_view(w, &m, "after front, reopened");
		write_range(w, 51, 60);
		model_range(&m, POS[k], 60);
		w = reopen(w, &cfg);
		check_view(w, &m, "front, then writes, reopened");
		th_close(w);
		free(dir);
	}
}

TH_TEST(truncate, back_at_every_position_survives_reopen)
{
	for (unsigned k = 0; k < NPOS; k++) {
		char *dir = subdir("b", k);
		uwal_config cfg;
		cfg_small(&cfg, dir);
		uwal *w = th_open(&cfg);
		write_range(w, 1, 50);
		struct model m;
		cr_assert_eq(uwal_truncate_back(w, POS[k]), 0, "back %llu",
			     (unsigned long long)POS[k]);
		model_range(&m, 1, POS[k] - 1);
		check_view(w, &m, "after back");
		w = reopen(w, &cfg);
		check_view(w, &m, "after back, reopened");
		th_close(w);
		free(dir);
	}
}

/* A back cut inside a uwal_write_batch() call in the active segment
 * keeps the batch's records before it, also after a reopen (the kept part
 * of the batch must not read as a batch cut short). */
TH_TEST(truncate, back_inside_a_batch_of_the_active_segment_keeps_what_is_before_it)
{
	for (uint64_t k = 2; k <= 10; k++) {
		char *dir = subdir("ib", (unsigned)k);
		uwal_config cfg;
		th_config(&cfg, dir);
		cfg.sync_mode = UWAL_SYNC_BATCH;
		uwal *w = th_open(&cfg);
		char keys[10][TH_KEY_MAX];
		unsigned char vals[10][TH_VAL_MAX];
		uwal_record recs[10];
		for (uint64_t i = 1; i <= 10; i++) {
			size_t kl = th_key(i, keys[i - 1]), vl = th_vlen(i);
			th_fill(i, vals[i - 1], vl);
			recs[i - 1] =
				(uwal_record){i, keys[i - 1], kl, vl ? vals[i - 1] : NULL, vl};
		}
		cr_assert_eq(uwal_write_batch(w, recs, 10, true), 0);
		cr_assert_eq(uwal_truncate_back(w, k), 0);
		struct model m;
		model_range(&m, 1, k - 1);
		check_view(w, &m, "after back inside a batch");
		w = reopen(w, &cfg);
		check_view(w, &m, "after back inside a batch, reopened");
		cr_assert_eq(th_write_std(w, k, true), 0);
		w = reopen(w, &cfg);
		model_range(&m, 1, k);
		check_view(w, &m, "after writing the cut index again");
		th_close(w);
		free(dir);
	}
}

TH_TEST(truncate, back_frees_indexes_and_the_later_copy_is_live_after_reopen)
{
	for (unsigned k = 0; k < NPOS; k++) {
		char *dir = subdir("a", k);
		uwal_config cfg;
		cfg_small(&cfg, dir);
		uwal *w = th_open(&cfg);
		write_range(w, 1, 50);
		cr_assert_eq(uwal_truncate_back(w, POS[k]), 0);
		g_alt_from = POS[k];
		g_alt_to = 55;
		write_again(w, POS[k], 55);
		struct model m;
		model_range(&m, 1, 55);
		check_view(w, &m, "written again");
		w = reopen(w, &cfg);
		check_view(w, &m, "written again, reopened");
		/* And once more: a second cut over the first one's frame. */
		uint64_t cut = POS[k] > 3 ? POS[k] - 3 : 1;
		cr_assert_eq(uwal_truncate_back(w, cut), 0);
		model_range(&m, 1, cut - 1);
		w = reopen(w, &cfg);
		check_view(w, &m, "cut twice, reopened");
		th_close(w);
		g_alt_from = g_alt_to = 0;
		free(dir);
	}
}

TH_TEST(truncate, front_above_every_index_empties_the_log_and_writes_go_on)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 35);
	cr_assert_eq(uwal_truncate_front(w, 1000), 0);
	struct model m = {.n = 0};
	check_view(w, &m, "emptied");
	w = reopen(w, &cfg);
	check_view(w, &m, "emptied, reopened");
	write_range(w, 1, 12); /* the dropped indexes are free again */
	model_range(&m, 1, 12);
	check_view(w, &m, "written after emptying");
	w = reopen(w, &cfg);
	check_view(w, &m, "written after emptying, reopened");
	th_close(w);
}

TH_TEST(truncate, front_then_back_then_front_compose)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	cr_assert_eq(uwal_truncate_front(w, 15), 0);
	cr_assert_eq(uwal_truncate_back(w, 38), 0);
	write_range(w, 38, 44);
	cr_assert_eq(uwal_truncate_front(w, 33), 0);
	struct model m;
	model_range(&m, 33, 44);
	check_view(w, &m, "composed");
	w = reopen(w, &cfg);
	check_view(w, &m, "composed, reopened");
	cr_assert_eq(uwal_truncate_back(w, 33), 0);
	m.n = 0;
	check_view(w, &m, "all cut");
	w = reopen(w, &cfg);
	check_view(w, &m, "all cut, reopened");
	th_close(w);
}

/*
 * A back cut in the active segment before a FRONT frame written there: the
 * cut must not take the front with it (records before the front would come
 * back at the next open).
 */
TH_TEST(truncate, back_in_the_active_segment_keeps_an_earlier_front)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 45); /* 41..45 in the active segment */
	cr_assert_eq(uwal_truncate_front(w, 15), 0);
	cr_assert_eq(uwal_truncate_back(w, 43), 0);
	struct model m;
	model_range(&m, 15, 42);
	check_view(w, &m, "front 15, back 43");
	w = reopen(w, &cfg);
	check_view(w, &m, "front 15, back 43, reopened");
	/* The front record itself in the active segment, then cut there: the
	 * log is empty, and stays empty. */
	write_range(w, 43, 47);
	cr_assert_eq(uwal_truncate_front(w, 44), 0);
	cr_assert_eq(uwal_truncate_back(w, 44), 0);
	m.n = 0;
	check_view(w, &m, "front 44, back 44");
	w = reopen(w, &cfg);
	check_view(w, &m, "front 44, back 44, reopened");
	write_range(w, 44, 46);
	model_range(&m, 44, 46);
	w = reopen(w, &cfg);
	check_view(w, &m, "written again, reopened");
	th_close(w);
}

TH_TEST(truncate, errors_leave_the_log_alone)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 21; i += 2)
		cr_assert_eq(th_write_std(w, i, false), 0);
	cr_assert_eq(uwal_truncate_front(NULL, 1), UWAL_EINVAL);
	cr_assert_eq(uwal_truncate_front(w, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_truncate_back(w, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_truncate_front(w, 4), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_truncate_back(w, 4), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_truncate_back(w, 100), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_truncate_front(w, 1), 0); /* nothing before it */
	struct model m = {.n = 0};
	for (uint64_t i = 1; i <= 21; i += 2)
		m.ix[m.n++] = i;
	check_view(w, &m, "after refused calls");
	th_close(w);
	cfg.open_flags = UWAL_OPEN_READONLY;
	w = th_open(&cfg);
	cr_assert_eq(uwal_truncate_front(w, 5), UWAL_EREADONLY);
	cr_assert_eq(uwal_truncate_back(w, 5), UWAL_EREADONLY);
	th_close(w);
}

TH_TEST(truncate, front_removes_the_segments_before_it)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	cr_assert_eq(uwal_truncate_front(w, 33), 0);
	/* Removed in the background: wait for the preparer's round. */
	for (int i = 0; i < 500 && th_stats(w).deleted_segments < 3; i++)
		th_sleep_ms(5);
	cr_assert_eq(th_stats(w).deleted_segments, 3);
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_str_eq(l->name[0], "segment_00000000000000000003", "first file %s", l->name[0]);
	free(l);
	struct model m;
	model_range(&m, 33, 50);
	check_view(w, &m, "after removal");
	w = reopen(w, &cfg);
	check_view(w, &m, "after removal, reopened");
	th_close(w);
}

TH_TEST(truncate, back_into_sealed_segments_leaves_them_unchanged_on_disk)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[600];
	th_join(path, sizeof(path), g_dir, l->name[1]);
	size_t n0, n1;
	unsigned char *a = th_read_file(path, &n0);
	cr_assert_eq(uwal_truncate_back(w, 15), 0);
	th_close(w);
	unsigned char *b = th_read_file(path, &n1);
	cr_assert(n0 == n1 && memcmp(a, b, n0) == 0, "a sealed segment was rewritten");
	free(a);
	free(b);
	free(l);
}

TH_TEST(truncate, recovery_removes_segments_a_front_frame_voided)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	/* The unlinks fail: the frame alone hides the records. */
	tio_arm(TIO_UNLINK, NULL, 1, -EIO);
	cr_assert_eq(uwal_truncate_front(w, 42), 0);
	struct model m;
	model_range(&m, 42, 50);
	check_view(w, &m, "unlink failed");
	th_sleep_ms(50);
	tio_clear();
	w = reopen(w, &cfg);
	check_view(w, &m, "reopened");
	th_close(w);
	cr_assert_eq(th_segment_count(g_dir, "segment_"), 2);
}

/* ---- iterators and readers --------------------------------------------- */

TH_TEST(truncate, an_iterator_keeps_what_it_holds_across_a_front_truncation)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	uwal_iter *it;
	uwal_record r;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	cr_assert_eq(uwal_truncate_front(w, 45), 0);
	for (int i = 0; i < 500 && th_stats(w).deleted_segments < 4; i++)
		th_sleep_ms(5);
	cr_assert_eq(th_stats(w).deleted_segments, 4, "segments removed under the iterator");
	uint64_t want = 2;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_eq(r.index, want);
		th_check_std_rec(&r, want);
		want++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(want, 51);
	uwal_iter_close(it);
	struct model m;
	model_range(&m, 45, 50);
	check_view(w, &m, "new iterator");
	th_close(w);
}

static void iter_cut(uint64_t cut, uint64_t read_first)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	uwal_iter *it;
	uwal_record r;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	for (uint64_t i = 1; i <= read_first; i++)
		cr_assert_eq(uwal_iter_next(it, &r), 1);
	cr_assert_eq(uwal_truncate_back(w, cut), 0);
	write_again(w, cut, cut + 2); /* over the cut, in the active segment's case */
	g_alt_from = cut;
	g_alt_to = cut + 2;
	uint64_t want = read_first + 1;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_eq(r.index, want);
		th_check_std_rec(&r, want);
		want++;
	}
	cr_assert_eq(rc, UWAL_ETRUNCATED, "iterator past the cut: %s", uwal_strerror(rc));
	cr_assert_eq(want, cut, "stopped at %llu, cut at %llu", (unsigned long long)want,
		     (unsigned long long)cut);
	cr_assert_eq(uwal_iter_next(it, &r), UWAL_ETRUNCATED);
	uwal_iter_close(it);
	struct model m;
	model_range(&m, 1, cut + 2);
	check_view(w, &m, "new iterator after the cut");
	g_alt_from = g_alt_to = 0;
	th_close(w);
}

TH_TEST(truncate, an_iterator_stops_with_etruncated_at_a_cut_in_a_sealed_segment)
{
	iter_cut(17, 5);
}

TH_TEST(truncate, an_iterator_stops_with_etruncated_at_a_cut_in_the_active_segment)
{
	iter_cut(45, 30);
}

TH_TEST(truncate, an_iterator_that_already_passed_the_cut_point_is_unaffected_before_it)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 20);
	uwal_iter *it;
	uwal_record r;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	cr_assert_eq(uwal_truncate_back(w, 30 - 10), 0); /* the last record */
	for (uint64_t i = 1; i <= 19; i++) {
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		cr_assert_eq(r.index, i);
	}
	cr_assert_eq(uwal_iter_next(it, &r), UWAL_ETRUNCATED);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- racing writers ------------------------------------------------------ */

#define WRITERS 4
#define PER_WRITER 300

struct race {
	uwal *w;
	_Atomic uint64_t clock;
	uint64_t acked[WRITERS * PER_WRITER + 1];  /* index -> clock at ack (0: not) */
	uint64_t issued[WRITERS * PER_WRITER + 1]; /* index -> clock before the call */
};

struct race_arg {
	struct race *r;
	unsigned t;
};

static void *race_writer(void *p)
{
	struct race_arg *a = p;
	for (uint64_t k = 0; k < PER_WRITER; k++) {
		uint64_t ix = 1 + a->t + (uint64_t)WRITERS * k;
		/* The clock before the call: a write issued after the truncation
		 * returned is after it. Its acknowledgment's clock says less: a
		 * writer may be descheduled between its write's return (before
		 * the truncation) and reading the clock (after it). */
		a->r->issued[ix] = atomic_load(&a->r->clock) + 1;
		int rc = th_write_std(a->r->w, ix, true);
		if (rc == 0)
			a->r->acked[ix] = atomic_fetch_add(&a->r->clock, 1) + 1;
	}
	return NULL;
}

struct race_trunc {
	struct race *r;
	bool back;
	uint64_t index, start, end;
	struct model snap; /* the log just before the call */
	int rc;
};

static void snapshot(uwal *w, struct model *m)
{
	uwal_iter *it;
	uwal_record r;
	m->n = 0;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	while (uwal_iter_next(it, &r) == 1 && m->n < MAXR)
		m->ix[m->n++] = r.index;
	uwal_iter_close(it);
}

static void *race_truncator(void *p)
{
	struct race_trunc *t = p;
	while (atomic_load(&t->r->clock) < WRITERS * PER_WRITER / 3)
		th_sleep_ms(1);
	snapshot(t->r->w, &t->snap);
	t->index = t->snap.ix[t->snap.n / 2];
	t->start = atomic_load(&t->r->clock);
	t->rc = t->back ? uwal_truncate_back(t->r->w, t->index)
			: uwal_truncate_front(t->r->w, t->index);
	t->end = atomic_load(&t->r->clock) + 1;
	return NULL;
}

static void *race_reader(void *p)
{
	struct race *r = p;
	uwal_record rec;
	while (atomic_load(&r->clock) < WRITERS * PER_WRITER - WRITERS) {
		uint64_t ix = 1 + (uint64_t)rand() % (WRITERS * PER_WRITER);
		memset(&rec, 0, sizeof(rec));
		int rc = uwal_get(r->w, ix, &rec);
		if (rc == 0) {
			if (rec.index != ix)
				abort(); /* checked by the test: a wrong record */
			uwal_record_free(&rec);
		} else if (rc != UWAL_ENOTFOUND) {
			abort();
		}
	}
	return NULL;
}

static bool in_snap_before(const struct model *s, uint64_t ix, uint64_t cut, bool *after)
{
	bool seen_cut = false;
	for (size_t i = 0; i < s->n; i++) {
		if (s->ix[i] == cut)
			seen_cut = true;
		if (s->ix[i] == ix) {
			*after = seen_cut;
			return true;
		}
	}
	return false;
}

static void race(bool back)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 64;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	struct race *r = calloc(1, sizeof(*r));
	struct race_trunc *t = calloc(1, sizeof(*t));
	cr_assert(r && t);
	r->w = th_open(&cfg);
	t->r = r;
	t->back = back;
	pthread_t tt, rt, wt[WRITERS];
	struct race_arg args[WRITERS];
	cr_assert_eq(pthread_create(&tt, NULL, race_truncator, t), 0);
	cr_assert_eq(pthread_create(&rt, NULL, race_reader, r), 0);
	for (unsigned i = 0; i < WRITERS; i++) {
		args[i] = (struct race_arg){r, i};
		cr_assert_eq(pthread_create(&wt[i], NULL, race_writer, &args[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(tt, NULL);
	pthread_join(rt, NULL);
	cr_assert_eq(t->rc, 0, "truncation: %s", uwal_strerror(t->rc));

	struct model *v1 = malloc(sizeof(*v1)), *v2 = malloc(sizeof(*v2));
	cr_assert(v1 && v2);
	snapshot(r->w, v1);
	r->w = reopen(r->w, &cfg);
	snapshot(r->w, v2);
	cr_assert_eq(v1->n, v2->n, "reopen changed the log: %zu, then %zu records", v1->n, v2->n);
	cr_assert(memcmp(v1->ix, v2->ix, v1->n * sizeof(v1->ix[0])) == 0, "reopen reordered");
	static bool present[WRITERS * PER_WRITER + 1];
	memset(present, 0, sizeof(present));
	for (size_t i = 0; i < v1->n; i++)
		present[v1->ix[i]] = true;
	for (uint64_t ix = 1; ix <= WRITERS * PER_WRITER; ix++) {
		uint64_t at = r->acked[ix];
		if (!at)
			continue;
		bool after_cut = false;
		bool in_snap = in_snap_before(&t->snap, ix, t->index, &after_cut);
		if (r->issued[ix] > t->end) {
			cr_assert(present[ix], "%llu written after the call is missing",
				  (unsigned long long)ix);
		} else if (at <= t->start) {
			/* In the log before the call: on the side of the cut its
			 * position says (not in the snapshot: after the cut). */
			bool removed = back ? (!in_snap || after_cut) : (in_snap && !after_cut);
			cr_assert_eq(present[ix], !removed, "%llu acknowledged before the call: %s",
				     (unsigned long long)ix, present[ix] ? "present" : "missing");
		}
	}
	if (!back)
		cr_assert_eq(v1->ix[0], t->index, "the first record is not the front");
	else
		cr_assert(!present[t->index]);
	th_close(r->w);
	free(v1);
	free(v2);
	free(r);
	free(t);
}

TH_TEST(truncate, front_racing_writers_and_readers_cuts_consistently)
{
	race(false);
}

TH_TEST(truncate, back_racing_writers_and_readers_cuts_consistently)
{
	race(true);
}

/* ---- retention ----------------------------------------------------------- */

TH_TEST(truncate, retention_and_truncation_together)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	cfg.max_segments = 3;
	uwal *w = th_open(&cfg);
	write_range(w, 1, 50);
	cr_assert_eq(uwal_truncate_back(w, 33), 0); /* in a sealed segment */
	write_range(w, 33, 60);
	cr_assert_eq(uwal_truncate_front(w, 48), 0);
	write_range(w, 61, 75);
	for (int i = 0; i < 200; i++)
		th_sleep_ms(2);
	uint64_t first = uwal_first_index(w);
	cr_assert_geq(first, 48);
	struct model m;
	model_range(&m, first, 75);
	check_view(w, &m, "retention and truncation");
	w = reopen(w, &cfg);
	check_view(w, &m, "retention and truncation, reopened");
	cr_assert_leq(th_segment_count(g_dir, "segment_"), 4);
	th_close(w);
}

/* ---- one frame, one fdatasync -------------------------------------------- */

/* A fresh log in subdir(name, k) (*dir, to free) holding 1..47 in segments
 * of 10 records, open with *cfg. */
static uwal *open_47(const char *name, unsigned k, uwal_config *cfg, char **dir)
{
	*dir = subdir(name, k);
	cfg_small(cfg, *dir);
	uwal *w = th_open(cfg);
	write_range(w, 1, 47);
	return w;
}

struct one_case {
	const char *name;
	bool back;
	uint64_t index;
	uint64_t pre_front; /* a front truncation first, if not 0 */
};

/* With 47 records (segments of 10): 15 in a sealed segment, 41..47 in the
 * active one, 41..44 one batch. */
static const struct one_case ONE[] = {
	{"front in a sealed segment", false, 15, 0},
	{"front in the active segment", false, 45, 0},
	{"front above every index", false, 100, 0},
	{"back in a sealed segment", true, 15, 0},
	{"back, the active segment's first record", true, 41, 0},
	{"back inside a batch of the active segment", true, 43, 0},
	{"back at the last record", true, 47, 0},
	{"back before a front frame of the active segment", true, 44, 12},
};

/*
 * Neither truncation stalls the writer for more than one fdatasync: one
 * frame written into the active segment, one fdatasync, no rotation, no
 * wait for a prepared segment, and no byte already written changes.
 */
TH_TEST(truncate, each_truncation_is_one_frame_and_one_fdatasync)
{
	for (unsigned k = 0; k < sizeof(ONE) / sizeof(ONE[0]); k++) {
		const struct one_case *c = &ONE[k];
		uwal_config cfg;
		char *dir;
		uwal *w = open_47("one", k, &cfg, &dir);
		if (c->pre_front)
			cr_assert_eq(uwal_truncate_front(w, c->pre_front), 0);
		cr_assert_eq(uwal_sync(w), 0);
		th_sleep_ms(20); /* the preparer done, the writer idle */
		char path[600];
		th_last_data_segment(dir, "segment_", path, sizeof(path));
		size_t n0, n1;
		unsigned char *a = th_read_file(path, &n0);
		uwal_stats s0 = th_stats(w);
		int rc = c->back ? uwal_truncate_back(w, c->index)
				 : uwal_truncate_front(w, c->index);
		cr_assert_eq(rc, 0, "%s: %s", c->name, uwal_strerror(rc));
		uwal_stats s1 = th_stats(w);
		cr_assert_eq(s1.fsyncs - s0.fsyncs, 1, "%s: %llu fdatasyncs", c->name,
			     (unsigned long long)(s1.fsyncs - s0.fsyncs));
		cr_assert_eq(s1.rotations, s0.rotations, "%s: rotated", c->name);
		cr_assert_eq(s1.prealloc_waits, s0.prealloc_waits, "%s: waited", c->name);
		unsigned char *b = th_read_file(path, &n1);
		cr_assert_eq(n0, n1, "%s: the active segment's size changed", c->name);
		for (size_t i = 0; i < n0; i++)
			cr_assert(a[i] == 0 || a[i] == b[i], "%s: byte %zu rewritten", c->name, i);
		free(a);
		free(b);
		struct model m;
		uint64_t front = c->pre_front ? c->pre_front : 1;
		if (c->back)
			model_range(&m, front, c->index - 1);
		else if (c->index > 47)
			m.n = 0;
		else
			model_range(&m, c->index, 47);
		check_view(w, &m, c->name);
		w = reopen(w, &cfg);
		check_view(w, &m, c->name);
		th_close(w);
		free(dir);
	}
}

/* ---- several cuts in one segment ------------------------------------------ */

/* Value of record i written in generation g: "g<g>:<i>". */
static void write_gen(uwal *w, uint64_t from, uint64_t to, unsigned g)
{
	for (uint64_t i = from; i <= to; i++) {
		char v[48];
		int n = snprintf(v, sizeof(v), "g%u:%llu", g, (unsigned long long)i);
		cr_assert_eq(uwal_write(w, i, "k", 1, v, (size_t)n), 0, "write %llu (g%u)",
			     (unsigned long long)i, g);
	}
}

/* The log holds 1..n, record i of generation gen[i]. */
static void check_gens(uwal *w, const unsigned *gen, uint64_t n, const char *when)
{
	uwal_iter *it;
	uwal_record r;
	uint64_t k = 0;
	int rc;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		k++;
		char v[48];
		int len = snprintf(v, sizeof(v), "g%u:%llu", gen[k], (unsigned long long)k);
		cr_assert_eq(r.index, k, "%s: record %llu is %llu", when, (unsigned long long)k,
			     (unsigned long long)r.index);
		cr_assert(r.value_len == (size_t)len && memcmp(r.value, v, (size_t)len) == 0,
			  "%s: record %llu is %.*s, want %s", when, (unsigned long long)k,
			  (int)r.value_len, (const char *)r.value, v);
	}
	cr_assert_eq(rc, 0, "%s: %s", when, uwal_strerror(rc));
	cr_assert_eq(k, n, "%s: %llu records, want %llu", when, (unsigned long long)k,
		     (unsigned long long)n);
	uwal_iter_close(it);
	for (uint64_t i = 1; i <= n; i++) {
		char v[48];
		int len = snprintf(v, sizeof(v), "g%u:%llu", gen[i], (unsigned long long)i);
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, i, &r), 0, "%s: get %llu", when, (unsigned long long)i);
		cr_assert(r.value_len == (size_t)len && memcmp(r.value, v, (size_t)len) == 0,
			  "%s: get %llu: not generation %u", when, (unsigned long long)i, gen[i]);
		uwal_record_free(&r);
	}
	cr_assert_eq(uwal_get(w, n + 1, &r), UWAL_ENOTFOUND, "%s: %llu is there", when,
		     (unsigned long long)(n + 1));
	cr_assert_eq(uwal_last_index(w), n, "%s: last index", when);
}

/*
 * Cuts and rewrites inside one segment leave voids between live ranges:
 * iterators step over them, uwal_get and recovery (from the frames, from
 * the index file once sealed, read-only and lazily) see the later copies
 * only, and an iterator opened before a cut stops at it.
 */
TH_TEST(truncate, several_cuts_in_one_segment_read_the_same_everywhere)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	uwal *w = th_open(&cfg);
	unsigned gen[64] = {0};
	write_gen(w, 1, 20, 1);
	for (int i = 1; i <= 20; i++)
		gen[i] = 1;
	uwal_iter *old;
	cr_assert_eq(uwal_iter_open_at(w, 15, 0, &old), 0);
	cr_assert_eq(uwal_truncate_back(w, 12), 0);
	write_gen(w, 12, 25, 2);
	for (int i = 12; i <= 25; i++)
		gen[i] = 2;
	cr_assert_eq(uwal_truncate_back(w, 18), 0);
	cr_assert_eq(uwal_truncate_back(w, 5), 0);
	write_gen(w, 5, 30, 3);
	for (int i = 5; i <= 30; i++)
		gen[i] = 3;
	cr_assert_eq(uwal_truncate_back(w, 29), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(old, &r), UWAL_ETRUNCATED);
	uwal_iter_close(old);
	check_gens(w, gen, 28, "live");
	cr_assert_eq(th_stats(w).rotations, 0, "a cut rotated the segment");

	/* A follower opened now reads on through what comes. */
	uwal_iter *fol;
	cr_assert_eq(uwal_iter_open_at(w, 1, UWAL_ITER_FOLLOW, &fol), 0);
	for (uint64_t i = 1; i <= 28; i++) {
		cr_assert_eq(uwal_iter_next(fol, &r), 1);
		cr_assert_eq(r.index, i);
	}
	cr_assert_eq(uwal_iter_next(fol, &r), 0);
	uwal_iter_close(fol);
	w = reopen(w, &cfg);
	check_gens(w, gen, 28, "reopened");

	/* Read-only beside the writer, then refreshed after one more cut. */
	uwal_config ro = cfg;
	ro.open_flags = UWAL_OPEN_READONLY;
	uwal *rw = th_open(&ro);
	check_gens(rw, gen, 28, "read-only");
	cr_assert_eq(uwal_truncate_back(w, 20), 0);
	write_gen(w, 20, 22, 4);
	for (int i = 20; i <= 22; i++)
		gen[i] = 4;
	int rc = uwal_refresh(rw);
	cr_assert_eq(rc, 1, "refresh: %s", uwal_strerror(rc));
	check_gens(rw, gen, 22, "read-only, refreshed");
	th_close(rw);

	/* Sealed: read from its index file, and frame by frame. */
	th_close(w);
	cfg.segment_threshold = 30; /* the next write rotates: the segment holds 30+ frames */
	w = th_open(&cfg);
	write_gen(w, 23, 40, 5);
	for (int i = 23; i <= 40; i++)
		gen[i] = 5;
	cr_assert_geq(th_stats(w).rotations, 1);
	th_close(w);
	for (int i = 0; i < 200 && th_count_suffix(g_dir, ".idx") == 0; i++)
		th_sleep_ms(5);
	w = th_open(&cfg);
	check_gens(w, gen, 40, "sealed, from the index file");
	th_close(w);
	cfg.open_flags = UWAL_OPEN_VERIFY;
	w = th_open(&cfg);
	check_gens(w, gen, 40, "sealed, every frame read");
	th_close(w);
	rw = th_open(&ro);
	check_gens(rw, gen, 40, "sealed, read-only (tables read in lazily)");
	th_close(rw);
}

/* ---- injected failures ---------------------------------------------------- */

struct step {
	const char *name;
	enum tio_kind op;
	uint64_t nth; /* the nth operation of that kind fails */
	bool back;
	uint64_t index;
	bool maybe_after; /* the step runs after the change reached the kernel */
};

/* With 47 records: 15 is in a sealed segment, 45 in the active one
 * (41..47: not full). Each truncation is one frame written into the
 * active segment and one fdatasync. */
static const struct step STEPS[] = {
	{"front: frame write", TIO_PWRITE, 1, false, 15, false},
	{"front: frame fdatasync", TIO_FDATASYNC, 1, false, 15, true},
	{"back (sealed): frame write", TIO_PWRITE, 1, true, 15, false},
	{"back (sealed): frame fdatasync", TIO_FDATASYNC, 1, true, 15, true},
	{"back (active): frame write", TIO_PWRITE, 1, true, 45, false},
	{"back (active): frame fdatasync", TIO_FDATASYNC, 1, true, 45, true},
	{"back (inside a batch): frame write", TIO_PWRITE, 1, true, 43, false},
	{"back (inside a batch): frame fdatasync", TIO_FDATASYNC, 1, true, 43, true},
};

TH_TEST(truncate, a_failure_at_each_step_fails_the_call_and_reopens_before_or_after)
{
	for (unsigned k = 0; k < sizeof(STEPS) / sizeof(STEPS[0]); k++) {
		const struct step *s = &STEPS[k];
		uwal_config cfg;
		char *dir;
		uwal *w = open_47("e", k, &cfg, &dir);
		th_sleep_ms(20); /* let the preparer finish the next segment */
		tio_arm(s->op, "segment_*[0-9]", s->nth, -EIO);
		int rc = s->back ? uwal_truncate_back(w, s->index)
				 : uwal_truncate_front(w, s->index);
		tio_clear();
		cr_assert_eq(rc, -EIO, "%s: %s", s->name, uwal_strerror(rc));
		cr_assert_eq(th_write_std(w, 100, false), UWAL_EPOISONED, "%s: not poisoned",
			     s->name);
		cr_assert_eq(uwal_truncate_front(w, 20), UWAL_EPOISONED);
		cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
		w = th_open(&cfg);
		struct model before, after;
		model_range(&before, 1, 47);
		if (s->back)
			model_range(&after, 1, s->index - 1);
		else
			model_range(&after, s->index, 47);
		/* A failed fdatasync (or a step after the cut) says nothing
		 * of what reached the disk: before or after, nothing else. */
		uint64_t first = uwal_first_index(w), last = uwal_last_index(w);
		bool is_after = s->back ? last == s->index - 1 : first == s->index;
		cr_assert(!is_after || s->maybe_after, "%s: the log is in the after state",
			  s->name);
		check_view(w, is_after ? &after : &before, s->name);
		th_close(w);
		free(dir);
	}
}

/* ---- simulated power cuts ------------------------------------------------- */

/* Wait until the simulated backend has been idle for a while (the
 * preparer done). */

/* The log holds 1..47 (after a front truncation at pre_front, if not 0),
 * then the truncation runs with the power cut at each step in turn. */
static void crash_case_after(uint64_t pre_front, bool back, uint64_t index)
{
	struct model before, after;
	uint64_t front = pre_front ? pre_front : 1;
	model_range(&before, front, 47);
	if (back)
		model_range(&after, front, index - 1);
	else
		model_range(&after, index, 47);
	bool done = false;
	for (uint64_t cut = 0; !done && cut < 200; cut++) {
		char *base = subdir("sim", (unsigned)cut), log[700], out[700], olog[800];
		cr_assert_eq(th_mkdir_p(base), 0);
		snprintf(log, sizeof(log), "%s/log", base);
		snprintf(out, sizeof(out), "%s/out", base);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));
		uwal_config cfg;
		cfg_small(&cfg, log);
		cfg.segment_size = 64 << 10;
		uwal *w = th_open(&cfg);
		write_range(w, 1, 47);
		if (pre_front)
			cr_assert_eq(uwal_truncate_front(w, pre_front), 0);
		crashsim_settle(sim);
		crashsim_arm(sim, cut, NULL, NULL);
		int rc = back ? uwal_truncate_back(w, index) : uwal_truncate_front(w, index);
		crashsim_settle(sim); /* the background removal too */
		done = !crashsim_is_cut(sim);
		crashsim_cut(sim, cut + 1);
		uwal_close(w);
		for (uint64_t seed = 1; seed <= 3; seed++) {
			cr_assert_eq(crashsim_layout_fresh(sim, seed * 7919 + cut, out), 0);
			tio_select(NULL);
			snprintf(olog, sizeof(olog), "%s/log", out);
			uwal_config oc;
			cfg_small(&oc, olog);
			oc.segment_size = 64 << 10;
			th_log lg;
			th_log_init(&lg);
			oc.log_fn = th_log_fn;
			oc.log_ctx = &lg;
			int orc = uwal_open(&oc, &w);
			cr_assert_eq(orc, 0, "cut at %llu: open: %s: %s", (unsigned long long)cut,
				     uwal_strerror(orc), lg.buf);
			uint64_t first = uwal_first_index(w), last = uwal_last_index(w);
			bool is_after = back ? last == index - 1 : first == index;
			cr_assert(!pre_front || last == 0 || first == pre_front,
				  "cut at %llu: the earlier front truncation came undone (first "
				  "%llu)",
				  (unsigned long long)cut, (unsigned long long)first);
			cr_assert(!(rc == 0 && !is_after),
				  "cut at %llu: the call returned 0 but the log is as before",
				  (unsigned long long)cut);
			char when[64];
			snprintf(when, sizeof(when), "cut at op %llu, seed %llu",
				 (unsigned long long)cut, (unsigned long long)seed);
			check_view(w, is_after ? &after : &before, when);
			th_close(w);
			th_log_destroy(&lg);
			tio_select(crashsim_io(sim));
		}
		tio_select(NULL);
		crashsim_free(sim);
		th_rmrf(base);
		free(base);
	}
	cr_assert(done, "the truncation never completed without a cut");
}

static void crash_case(bool back, uint64_t index)
{
	crash_case_after(0, back, index);
}

/* The back cut lands in the active segment before the front frame of an
 * earlier truncation: the void it makes holds that frame, which still
 * counts. */
TH_TEST(truncate, a_power_cut_at_each_step_of_back_before_a_front_frame_leaves_before_or_after)
{
	crash_case_after(12, true, 44);
}

/* 43 lies inside the batch 41..44 of the active segment. */
TH_TEST(truncate, a_power_cut_at_each_step_of_back_inside_a_batch_leaves_before_or_after)
{
	crash_case(true, 43);
}

TH_TEST(truncate, a_power_cut_at_each_step_of_front_leaves_before_or_after)
{
	crash_case(false, 33);
}

TH_TEST(truncate, a_power_cut_at_each_step_of_back_in_a_sealed_segment_leaves_before_or_after)
{
	crash_case(true, 15);
}

TH_TEST(truncate, a_power_cut_at_each_step_of_back_in_the_active_segment_leaves_before_or_after)
{
	crash_case(true, 45);
}
