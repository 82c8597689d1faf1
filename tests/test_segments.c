/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_segments.c - segment files: rotation by record count and by size,
 * naming, retention (max_segments), iterators pinning deleted segments, and
 * write_batch staying whole inside one segment.
 */
#include "helpers.h"

TH_SUITE(segments, 60);

/* Segment files that hold at least one record frame. */
static size_t data_segments(const char *prefix)
{
	th_seglist *l = th_segments(g_dir, prefix);
	size_t n = 0;
	char path[4352];
	for (size_t i = 0; i < l->n; i++)
		n += th_record_frames(th_join(path, sizeof(path), g_dir, l->name[i])) > 0;
	free(l);
	return n;
}

/* Scan every frame of a segment file into a heap array. */
static th_frame *scan_all(const char *path, size_t *n)
{
	size_t cap = 1u << 16;
	th_frame *f = calloc(cap, sizeof(*f));
	cr_assert_not_null(f);
	*n = th_scan(path, f, cap, NULL);
	return f;
}

/* Guards against segment_threshold being ignored (one ever-growing segment). */
TH_TEST(segments, rotation_by_record_count)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_stats s = th_stats(w);
	cr_assert_geq(s.rotations, 3, "35 records at 10 per segment: %llu rotations",
		      (unsigned long long)s.rotations);
	cr_assert_geq(s.segments, 4);
	for (uint64_t i = 1; i <= 35; i++)
		th_check_std(w, i);
	th_close(w);
	cr_assert_geq(data_segments("segment_"), 4);
	/* no segment holds more than the threshold (single writes, never split) */
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[4352];
	for (size_t i = 0; i < l->n; i++) {
		size_t r = th_record_frames(th_join(path, sizeof(path), g_dir, l->name[i]));
		cr_assert_leq(r, 10, "%s holds %zu records", l->name[i], r);
	}
	free(l);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_first_index(w), 1);
	cr_assert_eq(uwal_last_index(w), 35);
	th_close(w);
}

/* Guards against misnamed segments: numbers must start at 0 and go up by one. */
TH_TEST(segments, segment_files_are_numbered_from_zero_consecutively)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 5;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 23; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_geq(l->n, 5);
	for (size_t i = 0; i < l->n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "segment_%020zu", i);
		cr_assert_str_eq(l->name[i], want);
	}
	free(l);
}

/* Guards against sealed segments missing their seal frame (the format's rule). */
TH_TEST(segments, every_segment_but_the_last_ends_with_a_seal_frame)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[4352];
	size_t sealed = 0;
	uint64_t next = 1;
	for (size_t i = 0; i < l->n; i++) {
		size_t n;
		th_frame *f = scan_all(th_join(path, sizeof(path), g_dir, l->name[i]), &n);
		for (size_t j = 0; j < n; j++) {
			if (f[j].type != TH_FRAME_RECORD)
				continue;
			cr_assert_eq(f[j].index, next, "%s frame %zu: index %llu, want %llu",
				     l->name[i], j, (unsigned long long)f[j].index,
				     (unsigned long long)next);
			next++;
		}
		if (n > 0 && f[n - 1].type == TH_FRAME_SEAL) {
			sealed++;
			for (size_t j = 0; j + 1 < n; j++)
				cr_assert_eq(f[j].type, TH_FRAME_RECORD,
					     "seal frame before the end");
		} else {
			/* only the last segment with records (or an empty one after it) */
			cr_assert_geq(i + 2, l->n, "%s is not last but has no seal frame",
				      l->name[i]);
		}
		free(f);
	}
	cr_assert_eq(next, 36, "frames on disk hold records 1..35 in order");
	cr_assert_geq(sealed, 3);
	free(l);
}

/* Guards against rotation by size never happening or overflowing a segment. */
TH_TEST(segments, rotation_by_size)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	unsigned char val[1024];
	for (uint64_t i = 1; i <= 300; i++) {
		th_fill(i, val, sizeof(val));
		cr_assert_eq(uwal_write(w, i, "key", 3, val, sizeof(val)), 0, "write %llu",
			     (unsigned long long)i);
	}
	uwal_stats s = th_stats(w);
	cr_assert_geq(s.rotations, 4, "300 KiB in 64 KiB segments: %llu rotations",
		      (unsigned long long)s.rotations);
	th_close(w);
	cr_assert_geq(data_segments("segment_"), 5);
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[4352];
	for (size_t i = 0; i < l->n; i++) {
		th_join(path, sizeof(path), g_dir, l->name[i]);
		cr_assert_leq(th_file_size(path), 64u << 10, "%s is larger than segment_size",
			      l->name[i]);
	}
	free(l);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 300; i++) {
		uwal_record r;
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, i, &r), 0, "get %llu", (unsigned long long)i);
		th_fill(i, val, sizeof(val));
		th_check_rec(&r, i, "key", 3, val, sizeof(val));
		uwal_record_free(&r);
	}
	th_close(w);
}

/* Guards against retention keeping too many segments or deleting the wrong ones. */
TH_TEST(segments, retention_keeps_at_most_max_segments)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	cfg.max_segments = 3;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 100; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	/* Dropped segments leave the index once their removal is durable,
	 * in the background: wait for it (bounded). */
	uint64_t first = uwal_first_index(w);
	for (int t = 0; t < 5000 && first < 71; t++) {
		th_sleep_ms(1);
		first = uwal_first_index(w);
	}
	/* 3 segments of 10 records: the survivors start at 71 (or 81 if the
	 * newest segment is already an empty one) */
	cr_assert(first >= 71 && first <= 91, "first_index %llu", (unsigned long long)first);
	cr_assert_eq(uwal_last_index(w), 100);
	for (uint64_t i = 1; i < first; i++)
		th_check_absent(w, i);
	for (uint64_t i = first; i <= 100; i++)
		th_check_std(w, i);
	uwal_stats s = th_stats(w);
	cr_assert_geq(s.deleted_segments, 5);
	cr_assert_leq(s.segments, 3);
	th_close(w);
	/* on disk (checked after close: files are unlinked in the background):
	 * at most 3 segments with records, plus possibly the next segment,
	 * prepared ahead of time and still empty */
	cr_assert_leq(data_segments("segment_"), 3, "segments with records on disk");
	cr_assert_leq(th_segment_count(g_dir, "segment_"), 4, "segment files on disk");
	w = th_open(&cfg);
	cr_assert_eq(uwal_first_index(w), first);
	cr_assert_eq(uwal_last_index(w), 100);
	for (uint64_t i = 1; i < first; i++)
		th_check_absent(w, i);
	for (uint64_t i = first; i <= 100; i++)
		th_check_std(w, i);
	/* the log keeps taking writes after retention */
	cr_assert_eq(th_write_std(w, 101, false), 0);
	th_check_std(w, 101);
	th_close(w);
}

/* Guards against retention pulling segments from under an open iterator. */
TH_TEST(segments, iterator_pins_segments_deleted_by_retention)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	cfg.max_segments = 2;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 30; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uint64_t first0 = uwal_first_index(w);
	cr_assert_geq(first0, 1);
	cr_assert_leq(first0, 21);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	for (uint64_t i = 31; i <= 100; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	cr_assert_gt(uwal_first_index(w), 30, "retention must have dropped every pinned segment");
	th_check_absent(w, first0);
	uwal_record r;
	uint64_t expect = first0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_leq(expect, 30, "iterator went past its snapshot: %llu",
			      (unsigned long long)r.index);
		th_check_std_rec(&r, expect);
		expect++;
	}
	cr_assert_eq(rc, 0, "uwal_iter_next ended with %d (%s)", rc, uwal_strerror(rc));
	cr_assert_eq(expect, 31, "iterator stopped at %llu", (unsigned long long)expect);
	uwal_iter_close(it);
	th_close(w);
	cr_assert_leq(data_segments("segment_"), 2, "pinned segments are deleted once released");
}

/* Guards against a batch being split across segments by the record threshold. */
TH_TEST(segments, write_batch_is_never_split_across_segments)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	enum { N = 25 };
	uwal_record recs[N];
	for (int i = 0; i < N; i++)
		recs[i] = (uwal_record){.index = 100 + (uint64_t)i, .key = "b", .key_len = 1};
	cr_assert_eq(uwal_write_batch(w, recs, N, false), 0);
	cr_assert_eq(th_write_std(w, 6, false), 0);
	th_close(w);
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[4352];
	size_t holder = SIZE_MAX;
	for (size_t i = 0; i < l->n; i++) {
		size_t n;
		th_frame *f = scan_all(th_join(path, sizeof(path), g_dir, l->name[i]), &n);
		size_t in_batch = 0;
		for (size_t j = 0; j < n; j++)
			in_batch += f[j].type == TH_FRAME_RECORD && f[j].index >= 100 &&
				    f[j].index < 100 + N;
		if (in_batch > 0) {
			cr_assert_eq(in_batch, N, "%s holds %zu of the batch's %d records",
				     l->name[i], in_batch, N);
			holder = i;
		}
		free(f);
	}
	cr_assert_neq(holder, SIZE_MAX, "batch records not found on disk");
	free(l);
	w = th_open(&cfg);
	for (int i = 0; i < N; i++) {
		uwal_record r;
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, 100 + (uint64_t)i, &r), 0);
		th_check_rec(&r, 100 + (uint64_t)i, "b", 1, "", 0);
		uwal_record_free(&r);
	}
	th_close(w);
}

/* Guards against a batch bigger than a segment being split or wedging the log. */
TH_TEST(segments, write_batch_larger_than_a_segment_returns_etoobig)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	uwal *w = th_open(&cfg);
	enum { N = 100 };
	static unsigned char val[1024];
	uwal_record recs[N];
	for (int i = 0; i < N; i++)
		recs[i] = (uwal_record){.index = 1 + (uint64_t)i,
					.key = "k",
					.key_len = 1,
					.value = val,
					.value_len = sizeof(val)};
	cr_assert_eq(uwal_write_batch(w, recs, N, false), UWAL_ETOOBIG);
	for (int i = 0; i < N; i++)
		th_check_absent(w, 1 + (uint64_t)i);
	cr_assert_eq(uwal_last_index(w), 0);
	/* half of it fits */
	cr_assert_eq(uwal_write_batch(w, recs, N / 2, false), 0);
	cr_assert_eq(uwal_last_index(w), N / 2);
	th_close(w);
	w = th_open(&cfg);
	cr_assert_eq(uwal_last_index(w), N / 2);
	th_check_absent(w, N / 2 + 1);
	th_close(w);
}

/* ---- batches among concurrent single writes ---------------------------- */

enum { SINGLE_THREADS = 4, SINGLES = 150, BATCHES = 8, BATCH_N = 20 };

struct cw_arg {
	uwal *w;
	pthread_barrier_t *start;
	int id; /* 0..SINGLE_THREADS-1: singles; SINGLE_THREADS: batches */
	int failures;
	int first_rc;
};

static uint64_t single_index(int t, int i)
{
	return (uint64_t)(t + 1) * 1000 + (uint64_t)i;
}

static uint64_t batch_index(int b, int j)
{
	return 100000 + (uint64_t)b * 100 + (uint64_t)j;
}

static void *cw_thread(void *p)
{
	struct cw_arg *a = p;
	pthread_barrier_wait(a->start);
	if (a->id < SINGLE_THREADS) {
		for (int i = 0; i < SINGLES; i++) {
			int rc = th_write_std(a->w, single_index(a->id, i), false);
			if (rc != 0 && a->failures++ == 0)
				a->first_rc = rc;
		}
		return NULL;
	}
	for (int b = 0; b < BATCHES; b++) {
		uwal_record recs[BATCH_N];
		for (int j = 0; j < BATCH_N; j++)
			recs[j] = (uwal_record){
				.index = batch_index(b, j), .key = "batch", .key_len = 5};
		int rc = uwal_write_batch(a->w, recs, BATCH_N, false);
		if (rc != 0 && a->failures++ == 0)
			a->first_rc = rc;
	}
	return NULL;
}

/* Guards against a batch's records being interleaved with other threads' writes. */
TH_TEST(segments, write_batch_is_contiguous_among_concurrent_writers)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 100;
	uwal *w = th_open(&cfg);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, SINGLE_THREADS + 1);
	struct cw_arg args[SINGLE_THREADS + 1];
	for (int t = 0; t <= SINGLE_THREADS; t++)
		args[t] = (struct cw_arg){.w = w, .start = &start, .id = t};
	th_run_threads(SINGLE_THREADS + 1, cw_thread, args, sizeof(args[0]));
	pthread_barrier_destroy(&start);
	for (int t = 0; t <= SINGLE_THREADS; t++)
		cr_assert_eq(args[t].failures, 0, "thread %d: %d failures, first %d (%s)", t,
			     args[t].failures, args[t].first_rc, uwal_strerror(args[t].first_rc));

	enum { TOTAL = SINGLE_THREADS * SINGLES + BATCHES * BATCH_N };
	uint64_t *order = calloc(TOTAL + 1, sizeof(*order));
	cr_assert_not_null(order);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t n = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_lt(n, TOTAL, "too many records");
		order[n++] = r.index;
	}
	cr_assert_eq(rc, 0);
	uwal_iter_close(it);
	cr_assert_eq(n, TOTAL);

	int next_single[SINGLE_THREADS] = {0};
	int next_batch = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t x = order[i];
		if (x >= 100000) {
			/* a batch starts here: its 20 records follow without a gap */
			cr_assert_eq(x, batch_index(next_batch, 0),
				     "batch %d does not start with its "
				     "first record (found %llu)",
				     next_batch, (unsigned long long)x);
			cr_assert_leq(i + BATCH_N, n);
			for (int j = 0; j < BATCH_N; j++)
				cr_assert_eq(order[i + (size_t)j], batch_index(next_batch, j),
					     "batch %d interrupted at position %d by %llu",
					     next_batch, j,
					     (unsigned long long)order[i + (size_t)j]);
			i += BATCH_N - 1;
			next_batch++;
		} else {
			/* one thread's records appear in its call order */
			int t = (int)(x / 1000) - 1;
			cr_assert(t >= 0 && t < SINGLE_THREADS);
			cr_assert_eq(x, single_index(t, next_single[t]),
				     "thread %d out of order at %llu", t, (unsigned long long)x);
			next_single[t]++;
		}
	}
	cr_assert_eq(next_batch, BATCHES);
	free(order);
	th_close(w);
}

/* ---- prefixes ------------------------------------------------------------ */

/* Guards against the prefix being ignored in segment and lock file names. */
TH_TEST(segments, custom_prefix_names_segments_and_lock)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.prefix = "wal-";
	cfg.segment_threshold = 5;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 12; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	char path[4352];
	cr_assert(th_exists(th_join(path, sizeof(path), g_dir, "wal-lock")));
	cr_assert(th_exists(th_join(path, sizeof(path), g_dir, "wal-00000000000000000000")));
	cr_assert_geq(th_segment_count(g_dir, "wal-"), 3);
	cr_assert_eq(th_segment_count(g_dir, "segment_"), 0);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 12; i++)
		th_check_std(w, i);
	th_close(w);
}

/* Guards against two logs with different prefixes in one dir mixing records. */
TH_TEST(segments, two_prefixes_in_one_directory_are_independent_logs)
{
	uwal_config a, b;
	th_config(&a, g_dir);
	th_config(&b, g_dir);
	a.prefix = "a_";
	b.prefix = "b_";
	uwal *wa = th_open(&a);
	uwal *wb = th_open(&b);
	cr_assert_eq(th_write_std(wa, 1, false), 0);
	cr_assert_eq(th_write_std(wb, 2, false), 0);
	cr_assert_eq(th_write_std(wb, 1, false), 0, "index 1 is free in log b");
	th_check_absent(wa, 2);
	th_close(wa);
	th_close(wb);
	wa = th_open(&a);
	wb = th_open(&b);
	th_check_std(wa, 1);
	th_check_absent(wa, 2);
	th_check_std(wb, 1);
	th_check_std(wb, 2);
	cr_assert_eq(uwal_last_index(wa), 1);
	cr_assert_eq(uwal_last_index(wb), 2);
	th_close(wa);
	th_close(wb);
}
