/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lazyidx.c - a read-only handle holds no index table of a sealed
 * segment until a lookup needs it (uwal_stats.index_bytes): iterating a
 * log of many segments takes no table, a lookup reads in the one segment
 * it needs (from its index file, or from its frames), truncations seen at
 * open still hide what they removed, uwal_refresh() lets the tables go
 * again, damage found on a late read-in is reported, and lookups from
 * several threads read a table in once.
 */
#include <pthread.h>

#include "helpers.h"

TH_SUITE(lazyidx, 240);

#define N 10000u

static void small_config(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_size = 64u << 10;
}

static uwal *open_ro(const char *dir)
{
	uwal_config cfg;
	small_config(&cfg, dir);
	cfg.open_flags = UWAL_OPEN_READONLY;
	return th_open(&cfg);
}

/* The segments of w, and how many of them are sealed. */
static uwal_segment_info *segments(uwal *w, size_t *n, size_t *sealed)
{
	uwal_segment_info *v;
	cr_assert_eq(uwal_segments(w, &v, n), 0);
	*sealed = 0;
	for (size_t i = 0; i < *n; i++)
		*sealed += v[i].sealed;
	return v;
}

/*
 * Write records 1..n in small segments; then open the log again until
 * the preparer has written an index file for each sealed segment (it does
 * so in the background), unless without_indexes, which removes them.
 */
static void make_log(uint64_t n, bool without_indexes)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, n);
	th_close(w);
	w = th_open(&cfg);
	size_t nseg, sealed;
	uwal_segments_free(segments(w, &nseg, &sealed));
	cr_assert_geq(sealed, 20, "a log of many segments (%zu sealed)", sealed);
	for (int i = 0; i < 3000 && th_count_suffix(g_dir, ".idx") < sealed; i++)
		th_sleep_ms(10);
	cr_assert_eq(th_count_suffix(g_dir, ".idx"), sealed);
	th_close(w);
	if (without_indexes)
		th_remove_indexes(g_dir);
}

static uint64_t index_bytes(uwal *w)
{
	return th_stats(w).index_bytes;
}

/* Every record of the log is 1..n, by iterator, with no table read in. */
static void iterate_all(uwal *w, uint64_t n)
{
	uint64_t before = index_bytes(w);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t want = 1;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		th_check_std_rec(&r, want++);
	cr_assert_eq(rc, 0);
	cr_assert_eq(want, n + 1);
	uwal_iter_close(it);
	cr_assert_eq(index_bytes(w), before, "iterating read tables in: %llu -> %llu bytes",
		     (unsigned long long)before, (unsigned long long)index_bytes(w));
}

static void lookups_read_one_table_at_a_time(bool without_indexes)
{
	make_log(N, without_indexes);
	uwal_config cfg;
	small_config(&cfg, g_dir);
	uwal *rw = th_open(&cfg);
	uint64_t full = index_bytes(rw);
	cr_assert_geq(full, (uint64_t)N * 12, "a writing handle holds every table (%llu)",
		      (unsigned long long)full);
	th_close(rw);

	uwal *w = open_ro(g_dir);
	size_t nseg, sealed;
	uwal_segment_info *seg = segments(w, &nseg, &sealed);
	uint64_t most = 0;
	for (size_t i = 0; i < nseg; i++)
		most = seg[i].records > most ? seg[i].records : most;
	/* Nothing but the unsealed segment's table. */
	uint64_t base = index_bytes(w);
	cr_assert_lt(base, 2 * most * 12 + 4096, "%llu bytes of tables after a read-only open",
		     (unsigned long long)base);
	cr_assert_eq(uwal_first_index(w), 1);
	cr_assert_eq(uwal_last_index(w), N);
	iterate_all(w, N);

	/* One lookup in the middle segment reads in that segment's table. */
	const uwal_segment_info *mid = &seg[nseg / 2];
	cr_assert(mid->sealed && mid->records > 0);
	th_check_std(w, mid->first_index + 1);
	uint64_t one = index_bytes(w);
	cr_assert_gt(one, base);
	cr_assert_leq(one - base, mid->records * 12 + 64 * 1024, "%llu bytes for one segment",
		      (unsigned long long)(one - base));
	th_check_std(w, mid->last_index); /* the same table */
	cr_assert_eq(index_bytes(w), one);

	/* An iterator opened at an index reads in the table it starts in. */
	const uwal_segment_info *third = &seg[nseg / 3];
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open_at(w, third->first_index + 2, 0, &it), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	th_check_std_rec(&r, third->first_index + 2);
	uwal_iter_close(it);
	cr_assert_gt(index_bytes(w), one);

	/* Every lookup answers as a writing handle's would. */
	for (uint64_t i = 1; i <= N; i++)
		th_check_std(w, i);
	th_check_absent(w, N + 1);
	th_check_absent(w, 0);
	cr_assert_geq(index_bytes(w), (uint64_t)(N - most) * 12);

	/* A refresh lets the tables of sealed segments go again. */
	cr_assert_geq(uwal_refresh(w), 0);
	cr_assert_eq(index_bytes(w), base);
	th_check_std(w, N / 2);
	uwal_segments_free(seg);
	th_close(w);
}

TH_TEST(lazyidx, lookups_read_one_table_at_a_time_from_index_files)
{
	lookups_read_one_table_at_a_time(false);
}

TH_TEST(lazyidx, lookups_read_one_table_at_a_time_from_frames)
{
	lookups_read_one_table_at_a_time(true);
}

/*
 * Truncations replayed at open void records of sealed segments whose
 * tables are let go: read in later, the tables hold only what is live.
 */
TH_TEST(lazyidx, tables_read_in_later_keep_what_truncation_removed_out)
{
	make_log(N, false);
	uwal_config cfg;
	small_config(&cfg, g_dir);
	uwal *rw = th_open(&cfg);
	size_t nseg, sealed;
	uwal_segment_info *seg = segments(rw, &nseg, &sealed);
	/* The front inside the fourth segment, the back inside a later one. */
	uint64_t front = seg[3].first_index + seg[3].records / 2;
	uint64_t back = seg[nseg - 6].first_index + seg[nseg - 6].records / 3;
	uwal_segments_free(seg);
	cr_assert_eq(uwal_truncate_front(rw, front), 0);
	cr_assert_eq(uwal_truncate_back(rw, back), 0);
	/* Indexes from back on are written again, with other contents. */
	char key[] = "again";
	for (uint64_t i = back; i < back + 50; i++)
		cr_assert_eq(uwal_write(rw, i, key, sizeof(key), &i, sizeof(i)), 0);
	th_close(rw);

	uwal *w = open_ro(g_dir);
	cr_assert_eq(uwal_first_index(w), front);
	cr_assert_eq(uwal_last_index(w), back + 49);
	th_check_absent(w, front - 1);
	th_check_absent(w, 1);
	for (uint64_t i = front; i < back; i++)
		th_check_std(w, i);
	for (uint64_t i = back; i < back + 50; i++) {
		uwal_record r;
		cr_assert_eq(uwal_get(w, i, &r), 0);
		cr_assert_eq(r.key_len, sizeof(key));
		cr_assert_eq(memcmp(r.key, key, sizeof(key)), 0);
		cr_assert_eq(r.value_len, sizeof(i));
		cr_assert_eq(memcmp(r.value, &i, sizeof(i)), 0, "index %llu",
			     (unsigned long long)i);
		uwal_record_free(&r);
	}
	th_check_absent(w, back + 50);
	th_check_absent(w, N);
	th_close(w);
}

/*
 * A segment damaged after the read-only open, with no index file: its
 * table cannot be read in, and the lookup says so (UWAL_ECORRUPT, not
 * "not found"); other segments still answer.
 */
TH_TEST(lazyidx, damage_found_when_a_table_is_read_in_is_reported)
{
	make_log(N, true);
	uwal *w = open_ro(g_dir);
	size_t nseg, sealed;
	uwal_segment_info *seg = segments(w, &nseg, &sealed);
	const uwal_segment_info *s = &seg[2];
	char path[4352];
	th_flip_byte(th_join(path, sizeof(path), g_dir, s->name), TH_SEG_HEADER + 40);
	uwal_record r;
	cr_assert_eq(uwal_get(w, s->first_index + 1, &r), UWAL_ECORRUPT);
	cr_assert_eq(uwal_get(w, s->last_index, &r), UWAL_ECORRUPT);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open_at(w, s->first_index + 1, 0, &it), UWAL_ECORRUPT);
	th_check_std(w, seg[4].first_index);
	th_check_std(w, seg[nseg - 2].last_index);
	uwal_segments_free(seg);
	th_close(w);
}

struct reader {
	uwal *w;
	unsigned seed;
	int bad;
};

static void *lookups(void *arg)
{
	struct reader *r = arg;
	for (int k = 0; k < 2000; k++) {
		r->seed = r->seed * 1103515245u + 12345u;
		uint64_t i = 1 + (r->seed >> 8) % N;
		uwal_record rec;
		int rc = uwal_get(r->w, i, &rec);
		if (rc != 0 || rec.index != i || rec.value_len != th_vlen(i)) {
			r->bad++;
			continue;
		}
		unsigned char want[TH_VAL_MAX];
		th_fill(i, want, rec.value_len);
		if (rec.value_len && memcmp(rec.value, want, rec.value_len) != 0)
			r->bad++;
		uwal_record_free(&rec);
	}
	return NULL;
}

/* Lookups from several threads at once read tables in while others use them. */
TH_TEST(lazyidx, concurrent_lookups_read_tables_in_once)
{
	make_log(N, false);
	uwal *w = open_ro(g_dir);
	struct reader r[4];
	for (unsigned i = 0; i < 4; i++)
		r[i] = (struct reader){.w = w, .seed = 7 + i};
	th_run_threads(4, lookups, r, sizeof(r[0]));
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(r[i].bad, 0, "reader %u: %d wrong answers", i, r[i].bad);
	for (uint64_t i = 1; i <= N; i++)
		th_check_std(w, i);
	th_close(w);
}
