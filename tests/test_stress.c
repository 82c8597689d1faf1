/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stress.c - a bounded, sanitizer-friendly stress test: 64 writer
 * threads alternating durable and non-durable writes (uwal_write_sync with
 * sync true/false), two readers calling uwal_get on records already
 * acknowledged, and one thread opening, walking and closing iterators, on
 * 64 KiB segments so that rotation happens under all of it, with no
 * retention. At the end: every write succeeded, every read found the right
 * bytes, every iterator saw every record acknowledged before it opened;
 * after close and reopen every acknowledged record is there.
 *
 * Sized (64 x 200 records) to run in seconds under ThreadSanitizer, where
 * it is mostly meant to run: it gives TSan every path between submitters,
 * the writer, the preparer, readers and iterators at once.
 */
#include "helpers.h"

#include <sched.h>
#include <stdatomic.h>

static char *g_dir;

static void setup(void)
{
	g_dir = th_tmpdir();
	tio_clear();
}

static void teardown(void)
{
	th_rmrf(g_dir);
	free(g_dir);
}

TestSuite(stress, .init = setup, .fini = teardown, .timeout = 240);

enum { WRITERS = 64, PER = 200, N = WRITERS * PER };

static uint64_t idx_of(int t, int i)
{
	return (uint64_t)t * 1000 + (uint64_t)i + 1;
}

struct shared {
	uwal *w;
	pthread_barrier_t start;
	atomic_uchar acked[N]; /* set once the write returned 0 */
	atomic_int writers_left;
	atomic_int write_errors, read_errors, iter_errors;
	atomic_long reads, iterations;
	int first_write_rc;
};

static struct shared *g_s;

/* Standard contents for its index (no asserting: called off the test thread). */
static bool is_std(const uwal_record *r, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[TH_VAL_MAX];
	size_t kl = th_key(idx, key), vl = th_vlen(idx);
	th_fill(idx, val, vl);
	return r->index == idx && r->key_len == kl && r->value_len == vl &&
	       memcmp(r->key, key, kl) == 0 && (vl == 0 || memcmp(r->value, val, vl) == 0);
}

static void *writer(void *p)
{
	int t = (int)(intptr_t)p;
	pthread_barrier_wait(&g_s->start);
	for (int i = 0; i < PER; i++) {
		int rc = th_write_std(g_s->w, idx_of(t, i), (i + t) % 2 == 0);
		if (rc == 0) {
			/* release: a reader that sees the flag sees an acknowledged record */
			atomic_store_explicit(&g_s->acked[t * PER + i], 1, memory_order_release);
		} else if (atomic_fetch_add(&g_s->write_errors, 1) == 0) {
			g_s->first_write_rc = rc;
		}
	}
	atomic_fetch_sub(&g_s->writers_left, 1);
	return NULL;
}

static void *reader(void *p)
{
	uint64_t x = (uint64_t)(intptr_t)p * 0x9E3779B97F4A7C15ull + 7;
	pthread_barrier_wait(&g_s->start);
	while (atomic_load(&g_s->writers_left) > 0) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % N);
		if (!atomic_load_explicit(&g_s->acked[k], memory_order_acquire)) {
			sched_yield();
			continue;
		}
		uint64_t idx = idx_of(k / PER, k % PER);
		uwal_record r;
		memset(&r, 0, sizeof(r));
		int rc = uwal_get(g_s->w, idx, &r);
		if (rc != 0 || !is_std(&r, idx))
			atomic_fetch_add(&g_s->read_errors, 1);
		if (rc == 0)
			uwal_record_free(&r);
		atomic_fetch_add(&g_s->reads, 1);
	}
	return NULL;
}

static void *iterator(void *p)
{
	(void)p;
	unsigned char *want = malloc(N), *seen = malloc(N);
	pthread_barrier_wait(&g_s->start);
	while (want && seen && atomic_load(&g_s->writers_left) > 0) {
		for (int k = 0; k < N; k++)
			want[k] = atomic_load_explicit(&g_s->acked[k], memory_order_acquire);
		memset(seen, 0, N);
		uwal_iter *it = NULL;
		if (uwal_iter_open(g_s->w, &it) != 0) {
			atomic_fetch_add(&g_s->iter_errors, 1);
			break;
		}
		uwal_record r;
		int rc;
		while ((rc = uwal_iter_next(it, &r)) == 1) {
			uint64_t t = r.index / 1000, i = r.index % 1000;
			int k = (int)(t * PER + i - 1);
			if (t >= WRITERS || i == 0 || i > PER || seen[k] || !is_std(&r, r.index))
				atomic_fetch_add(&g_s->iter_errors, 1);
			else
				seen[k] = 1;
		}
		uwal_iter_close(it);
		if (rc != 0)
			atomic_fetch_add(&g_s->iter_errors, 1);
		/* everything acknowledged before the iterator opened is in it */
		for (int k = 0; k < N; k++)
			if (want[k] && !seen[k])
				atomic_fetch_add(&g_s->iter_errors, 1);
		atomic_fetch_add(&g_s->iterations, 1);
	}
	free(want);
	free(seen);
	return NULL;
}

static void stress(enum uwal_write_path path)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.write_path = path;
	cfg.max_segments = 0;
	g_s = calloc(1, sizeof(*g_s));
	cr_assert_not_null(g_s);
	g_s->w = th_open(&cfg);
	atomic_store(&g_s->writers_left, WRITERS);
	enum { THREADS = WRITERS + 3 };
	pthread_barrier_init(&g_s->start, NULL, THREADS);
	pthread_t t[THREADS];
	for (int i = 0; i < WRITERS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
	cr_assert_eq(pthread_create(&t[WRITERS], NULL, reader, (void *)1), 0);
	cr_assert_eq(pthread_create(&t[WRITERS + 1], NULL, reader, (void *)2), 0);
	cr_assert_eq(pthread_create(&t[WRITERS + 2], NULL, iterator, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&g_s->start);

	int we = atomic_load(&g_s->write_errors);
	cr_assert_eq(we, 0, "%d writes failed, the first with %d (%s)", we, g_s->first_write_rc,
		     uwal_strerror(g_s->first_write_rc));
	cr_assert_eq(atomic_load(&g_s->read_errors), 0, "reads of acknowledged records failed");
	cr_assert_eq(atomic_load(&g_s->iter_errors), 0,
		     "iterators missed, repeated or misread acknowledged records");
	cr_assert_gt(atomic_load(&g_s->reads), 0);
	cr_assert_gt(atomic_load(&g_s->iterations), 0);
	uwal_stats s = th_stats(g_s->w);
	cr_assert_eq(s.records, N);
	cr_assert_geq(s.rotations, 10, "only %llu rotations", (unsigned long long)s.rotations);
	cr_assert_eq(s.deleted_segments, 0);
	th_close(g_s->w);

	uwal *w = th_open(&cfg);
	for (int ti = 0; ti < WRITERS; ti++)
		for (int i = 0; i < PER; i++)
			th_check_std(w, idx_of(ti, i));
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t n = 0;
	while (uwal_iter_next(it, &r) == 1)
		n++;
	uwal_iter_close(it);
	cr_assert_eq(n, N);
	th_close(w);
	free(g_s);
}

/* Guards against races between submitters, the writer, the preparer,
 * readers and iterators (TSan), and against any of them losing or
 * misreading records, with pwrite for non-durable batches. */
TH_TEST(stress, writers_readers_iterators_pwrite_path)
{
	stress(UWAL_WRITE_PWRITE);
}

/* The same with io_uring writes for non-durable batches. */
TH_TEST(stress, writers_readers_iterators_uring_path)
{
	stress(UWAL_WRITE_URING);
}
