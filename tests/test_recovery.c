/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_recovery.c - what uwal_open() makes of damaged logs: torn tails are
 * cut, damage in sealed segments is refused (UWAL_ECORRUPT) until
 * uwal_unsafe_recover() removes the file; damaged frames are reported by
 * reads; leftover temporary files are removed; the directory lock keeps a
 * log to one handle in one process.
 */
#include <isa-l/crc.h>
#include <sys/wait.h>

#include "helpers.h"

TH_SUITE(recovery, 60);

#define SEG0 "segment_00000000000000000000"
#define SEG1 "segment_00000000000000000001"

/* Scan every frame of a segment file into a heap array. */
static th_frame *scan_all(const char *path, size_t *n, uint64_t *end)
{
	size_t cap = 1u << 16;
	th_frame *f = calloc(cap, sizeof(*f));
	cr_assert_not_null(f);
	*n = th_scan(path, f, cap, end);
	return f;
}

/* The record frame of index idx in the file at path (fails if absent). */
static th_frame find_frame(const char *path, uint64_t idx)
{
	size_t n;
	th_frame *f = scan_all(path, &n, NULL);
	for (size_t i = 0; i < n; i++) {
		if (f[i].type == TH_FRAME_RECORD && f[i].index == idx) {
			th_frame r = f[i];
			free(f);
			return r;
		}
	}
	free(f);
	cr_assert_fail("record %llu not found in %s", (unsigned long long)idx, path);
	return (th_frame){0};
}

/* Write records first..last (standard contents) into a log and close it. */
static void fill_log(const uwal_config *cfg, uint64_t first, uint64_t last)
{
	uwal *w = th_open(cfg);
	for (uint64_t i = first; i <= last; i++)
		cr_assert_eq(th_write_std(w, i, false), 0, "write %llu", (unsigned long long)i);
	th_close(w);
}

/* Open must fail with want; returns nothing, leaves no handle. */
static void expect_open_fails(const uwal_config *cfg, int want)
{
	uwal *sentinel = (uwal *)cfg;
	uwal *w = sentinel;
	int rc = uwal_open(cfg, &w);
	if (rc == 0)
		uwal_close(w);
	cr_assert_eq(rc, want, "uwal_open returned %d (%s), want %d (%s)", rc, uwal_strerror(rc),
		     want, uwal_strerror(want));
	cr_assert_eq(w, sentinel, "*out modified on failure");
}

/* ---- torn tails ----------------------------------------------------------- */

/* Guards against a torn tail failing the open or records after it surviving. */
TH_TEST(recovery, torn_tail_in_last_segment_is_cut_at_the_damaged_frame)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 20);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
	th_frame f = find_frame(path, 18);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 17; i++)
		th_check_std(w, i);
	for (uint64_t i = 18; i <= 20; i++)
		th_check_absent(w, i);
	cr_assert_eq(uwal_last_index(w), 17);
	/* the lost indexes are free again: rewrite 18 with a new value of the
	 * same size, so that stale frames 19 and 20 would line up after it if
	 * the tail had not been cut durably */
	size_t vl = th_vlen(18);
	unsigned char val[TH_VAL_MAX];
	char key[TH_KEY_MAX];
	size_t kl = th_key(18, key);
	th_fill(1018, val, vl);
	cr_assert_eq(uwal_write(w, 18, key, kl, vl ? val : NULL, vl), 0);
	th_close(w);

	w = th_open(&cfg);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 18, &r), 0);
	th_check_rec(&r, 18, key, kl, val, vl);
	uwal_record_free(&r);
	th_check_absent(w, 19);
	th_check_absent(w, 20);
	cr_assert_eq(uwal_last_index(w), 18);
	cr_assert_eq(th_write_std(w, 19, false), 0);
	cr_assert_eq(th_write_std(w, 20, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 17; i++)
		th_check_std(w, i);
	th_check_std(w, 19);
	th_check_std(w, 20);
	th_close(w);
}

/* Write records first..last with one uwal_write_batch() call. */
static void write_std_batch(uwal *w, uint64_t first, uint64_t last)
{
	size_t n = (size_t)(last - first + 1);
	uwal_record *recs = calloc(n, sizeof(*recs));
	char(*keys)[TH_KEY_MAX] = calloc(n, TH_KEY_MAX);
	unsigned char(*vals)[TH_VAL_MAX] = calloc(n, TH_VAL_MAX);
	cr_assert(recs && keys && vals);
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = first + i;
		size_t vl = th_vlen(idx);
		th_fill(idx, vals[i], vl);
		recs[i] =
			(uwal_record){idx, keys[i], th_key(idx, keys[i]), vl ? vals[i] : NULL, vl};
	}
	cr_assert_eq(uwal_write_batch(w, recs, n, false), 0);
	free(recs);
	free(keys);
	free(vals);
}

/*
 * Guards against a uwal_write_batch() call surviving a crash in part: the
 * batch 11..20 is torn in its middle (and, second round, cut off before its
 * last frame): recovery must drop all of it, keep 1..10, and then take the
 * indexes again.
 */
TH_TEST(recovery, batch_torn_in_its_middle_is_dropped_whole)
{
	for (int round = 0; round < 2; round++) {
		th_rmrf(g_dir);
		uwal_config cfg;
		th_config(&cfg, g_dir);
		uwal *w = th_open(&cfg);
		for (uint64_t i = 1; i <= 10; i++)
			cr_assert_eq(th_write_std(w, i, false), 0);
		write_std_batch(w, 11, 20);
		th_close(w);

		char path[4352];
		th_last_data_segment(g_dir, "segment_", path, sizeof(path));
		th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
		if (round == 0) {
			th_frame f = find_frame(path, 15);
			th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);
		} else {
			th_frame f = find_frame(path, 20); /* the batch's last frame */
			th_truncate(path, f.off);
		}

		w = th_open(&cfg);
		for (uint64_t i = 1; i <= 10; i++)
			th_check_std(w, i);
		for (uint64_t i = 11; i <= 20; i++)
			th_check_absent(w, i);
		cr_assert_eq(uwal_last_index(w), 10);
		write_std_batch(w, 11, 20);
		th_close(w);
		w = th_open(&cfg);
		for (uint64_t i = 1; i <= 20; i++)
			th_check_std(w, i);
		th_close(w);
	}
}

/* Guards against the last written segment being judged as sealed when a
 * prepared (empty) segment follows it, or earlier segments being lost. */
TH_TEST(recovery, torn_tail_after_rotations_is_cut_in_the_last_written_segment)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 25);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
	th_frame f = find_frame(path, 23);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 22; i++)
		th_check_std(w, i);
	for (uint64_t i = 23; i <= 25; i++)
		th_check_absent(w, i);
	for (uint64_t i = 23; i <= 40; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 40; i++)
		th_check_std(w, i);
	th_close(w);
}

/* Guards against a last segment file cut short (mid-frame) failing the open. */
TH_TEST(recovery, truncated_last_segment_keeps_earlier_records)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 20);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 20);
	th_truncate(path, f.off + TH_FRAME_HEADER + f.len / 2);

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 19; i++)
		th_check_std(w, i);
	th_check_absent(w, 20);
	cr_assert_eq(uwal_last_index(w), 19);
	/* the shortened file takes writes again, beyond its old size */
	for (uint64_t i = 20; i <= 300; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 300; i++)
		th_check_std(w, i);
	th_close(w);
}

/* Guards against a file cut inside a frame header being misread. */
TH_TEST(recovery, truncated_inside_frame_header_keeps_earlier_records)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 10);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 10);
	th_truncate(path, f.off + 7);

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 9; i++)
		th_check_std(w, i);
	th_check_absent(w, 10);
	cr_assert_eq(th_write_std(w, 10, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		th_check_std(w, i);
	th_close(w);
}

static void fill_random(unsigned char *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

/* Guards against garbage beyond zeros after the last frame failing the open. */
TH_TEST(recovery, garbage_after_zeros_past_the_last_frame_is_ignored)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 20);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 20);
	uint64_t end = f.off + TH_FRAME_HEADER + f.len;
	unsigned char junk[200];
	fill_random(junk, sizeof(junk), 7);
	th_write_at(path, end + 64, junk, sizeof(junk));

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 20; i++)
		th_check_std(w, i);
	for (uint64_t i = 21; i <= 60; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 60; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_last_index(w), 60);
	th_close(w);
}

/* Guards against garbage right after the last frame being taken as a frame. */
TH_TEST(recovery, garbage_right_after_the_last_frame_is_cut)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 20);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 20);
	uint64_t end = f.off + TH_FRAME_HEADER + f.len;
	unsigned char junk[300];
	fill_random(junk, sizeof(junk), 99);
	junk[4] = TH_FRAME_RECORD; /* looks like a record header: only the crc can tell */
	junk[0] = 40;
	junk[1] = junk[2] = junk[3] = 0;
	junk[5] = junk[6] = junk[7] = 0;
	th_write_at(path, end, junk, sizeof(junk));

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 20; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_last_index(w), 20);
	for (uint64_t i = 21; i <= 30; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 30; i++)
		th_check_std(w, i);
	th_close(w);
}

/* ---- damage in sealed segments ------------------------------------------- */

/* Damage the nth record frame (from 1) of the named segment; returns the
 * indexes it held. The index files go too: what is checked is what reading
 * every frame finds (test_fastopen.c covers an open that trusts an index
 * file). */
static size_t damage_segment_at(const char *name, size_t nth, uint64_t *held, size_t max,
				uint64_t *bad_off)
{
	char path[4352];
	th_remove_indexes(g_dir);
	th_join(path, sizeof(path), g_dir, name);
	size_t n;
	th_frame *f = scan_all(path, &n, NULL);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (f[i].type == TH_FRAME_RECORD && k < max)
			held[k++] = f[i].index;
	cr_assert_geq(k, 3, "%s holds %zu records", name, k);
	/* the nth record's payload */
	size_t at = 0;
	for (size_t i = 0, seen = 0; i < n; i++)
		if (f[i].type == TH_FRAME_RECORD && ++seen == nth)
			at = i;
	*bad_off = f[at].off;
	th_flip_byte(path, f[at].off + TH_FRAME_HEADER + f[at].len / 2);
	free(f);
	return k;
}

/* Damage the third record frame of the named segment (damage_segment_at). */
static size_t damage_segment(const char *name, uint64_t *held, size_t max, uint64_t *bad_off)
{
	return damage_segment_at(name, 3, held, max, bad_off);
}

static bool contains(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Guards against a damaged sealed segment being silently truncated at open. */
TH_TEST(recovery, damaged_first_segment_fails_open_with_ecorrupt_naming_the_file)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	uint64_t held[64], bad_off;
	damage_segment(SEG0, held, 64, &bad_off);

	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	expect_open_fails(&cfg, UWAL_ECORRUPT);
	cr_assert(th_log_has(&log, SEG0), "log_fn did not name the file; got:\n%s", log.buf);
	char dec[32], hex[32];
	snprintf(dec, sizeof(dec), "%llu", (unsigned long long)bad_off);
	snprintf(hex, sizeof(hex), "%llx", (unsigned long long)bad_off);
	cr_assert(th_log_has(&log, dec) || th_log_has(&log, hex),
		  "log_fn did not give the offset %s; got:\n%s", dec, log.buf);
	/* refusing is stable: nothing was cut or removed */
	cr_assert(th_exists(th_join((char[4352]){0}, 4352, g_dir, SEG0)));
	expect_open_fails(&cfg, UWAL_ECORRUPT);
	th_log_destroy(&log);
}

/* Guards against unsafe recover removing too much, too little, or not
 * reporting: the damaged sealed segment is cut at the damage (its first
 * two records stay), nothing is removed. */
TH_TEST(recovery, unsafe_recover_cuts_only_the_damaged_segment)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	size_t before = th_segment_count(g_dir, "segment_");
	uint64_t held[64], bad_off;
	size_t k = damage_segment(SEG0, held, 64, &bad_off);
	expect_open_fails(&cfg, UWAL_ECORRUPT);

	char **removed = (char **)&cfg;
	size_t n_removed = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, "segment_", &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 0);
	cr_assert_null(removed);
	cr_assert(th_exists(th_join((char[4352]){0}, 4352, g_dir, SEG0)));
	cr_assert_eq(th_segment_count(g_dir, "segment_"), before);

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++) {
		if (contains(held + 2, k - 2, i))
			th_check_absent(w, i);
		else
			th_check_std(w, i);
	}
	cr_assert_eq(uwal_first_index(w), 1);
	cr_assert_eq(uwal_last_index(w), 35);
	for (uint64_t i = 36; i <= 50; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	/* and it keeps opening */
	w = th_open(&cfg);
	for (uint64_t i = 36; i <= 50; i++)
		th_check_std(w, i);
	th_check_std(w, 35);
	th_close(w);
}

/* Guards against a gap left by unsafe recover in mid-log failing later
 * opens. The damage is in the segment's first frame: nothing before it to
 * keep, so the file is removed. */
TH_TEST(recovery, unsafe_recover_of_a_middle_segment_leaves_an_openable_gap)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	uint64_t held[64], bad_off;
	size_t k = damage_segment_at(SEG1, 1, held, 64, &bad_off);
	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	expect_open_fails(&cfg, UWAL_ECORRUPT);
	cr_assert(th_log_has(&log, SEG1), "log_fn did not name the file; got:\n%s", log.buf);

	char **removed = NULL;
	size_t n_removed = 0;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 1);
	cr_assert_str_eq(removed[0], SEG1);
	uwal_free_list(removed, n_removed);

	for (int round = 0; round < 2; round++) {
		uwal *w = th_open(&cfg);
		for (uint64_t i = 1; i <= 35; i++) {
			if (contains(held, k, i))
				th_check_absent(w, i);
			else
				th_check_std(w, i);
		}
		cr_assert_eq(uwal_first_index(w), 1);
		/* iteration crosses the gap */
		uwal_iter *it = NULL;
		cr_assert_eq(uwal_iter_open(w, &it), 0);
		uwal_record r;
		size_t seen = 0;
		int rc;
		while ((rc = uwal_iter_next(it, &r)) == 1) {
			cr_assert_not(contains(held, k, r.index));
			th_check_std_rec(&r, r.index);
			seen++;
		}
		cr_assert_eq(rc, 0);
		cr_assert_eq(seen, 35 - k);
		uwal_iter_close(it);
		th_close(w);
	}
	th_log_destroy(&log);
}

/* Guards against unsafe recover deleting healthy segments. */
TH_TEST(recovery, unsafe_recover_on_a_healthy_log_removes_nothing)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	size_t before = th_segment_count(g_dir, "segment_");
	char **removed = (char **)&cfg;
	size_t n_removed = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, "segment_", &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 0);
	cr_assert_null(removed);
	cr_assert_eq(th_segment_count(g_dir, "segment_"), before);
	/* NULL outputs are allowed */
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), 0);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		th_check_std(w, i);
	th_close(w);
}

/* Guards against unsafe recover treating a torn tail as damage. */
TH_TEST(recovery, unsafe_recover_leaves_a_torn_tail_to_open)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 20);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
	th_frame f = find_frame(path, 20);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);
	char **removed = NULL;
	size_t n_removed = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 0, "a torn tail is not damage");
	uwal_free_list(removed, n_removed);
	cr_assert(th_exists(path));
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 19; i++)
		th_check_std(w, i);
	th_check_absent(w, 20);
	th_close(w);
}

/* Guards against unsafe recover touching a log that is open. */
TH_TEST(recovery, unsafe_recover_while_open_returns_elocked)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 25; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_seglist *before = th_segments(g_dir, "segment_");
	char **removed = NULL;
	size_t n_removed = 0;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), UWAL_ELOCKED);
	cr_assert_null(removed);
	cr_assert_eq(n_removed, 0);
	/* nothing was removed (the preparer may add a file meanwhile) */
	char path[4352];
	for (size_t i = 0; i < before->n; i++)
		cr_assert(th_exists(th_join(path, sizeof(path), g_dir, before->name[i])),
			  "%s was removed", before->name[i]);
	free(before);
	for (uint64_t i = 1; i <= 25; i++)
		th_check_std(w, i);
	th_close(w);
}

/* Guards against unsafe recover's after_gap flag changing the segment key
 * (the header's key_hi): the mark frames already in the flagged segment
 * would then no longer vouch for it, and damage in its durable part would
 * be cut as a torn tail. */
TH_TEST(recovery, unsafe_recover_flags_the_next_segment_keeping_its_key)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 25); /* 0: 1..10, 1: 11..20 (sealed), 2: 21..25 (the tail) */
	char seg1[4352], seg2[4352];
	th_join(seg1, sizeof(seg1), g_dir, SEG1);
	th_join(seg2, sizeof(seg2), g_dir, "segment_00000000000000000002");
	size_t len;
	unsigned char *before = th_read_file(seg2, &len);
	th_flip_byte(seg1, 0); /* a bad header: the file is removed, 2 flagged */
	char **removed = NULL;
	size_t n_removed = 0;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 1);
	uwal_free_list(removed, n_removed);
	unsigned char *after = th_read_file(seg2, &len);
	cr_assert_neq(before[10], after[10], "the after_gap flag was not set");
	cr_assert(memcmp(before + 24, after + 24, 4) == 0, "the header's key_hi changed");
	free(before);
	free(after);
	/* The close's mark frame vouches for record 22: damage there is
	 * refused, not cut. */
	th_frame f = find_frame(seg2, 22);
	th_flip_byte(seg2, f.off + TH_FRAME_HEADER + f.len / 2);
	expect_open_fails(&cfg, UWAL_ECORRUPT);
}

/* Guards against a damaged segment header in a sealed segment going unnoticed. */
TH_TEST(recovery, damaged_segment_header_fails_open_with_ecorrupt)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	char path[4352];
	th_flip_byte(th_join(path, sizeof(path), g_dir, SEG1), 20); /* the segment number */
	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	expect_open_fails(&cfg, UWAL_ECORRUPT);
	cr_assert(th_log_has(&log, SEG1), "log_fn did not name the file; got:\n%s", log.buf);
	th_log_destroy(&log);
}

/* Guards against a missing middle segment (a hole in the sequence) going unnoticed. */
TH_TEST(recovery, missing_middle_segment_fails_open_with_ecorrupt)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	char path[4352];
	cr_assert_eq(unlink(th_join(path, sizeof(path), g_dir, SEG1)), 0);
	expect_open_fails(&cfg, UWAL_ECORRUPT);
}

/* ---- damaged frames seen by reads ------------------------------------------ */

/* Guards against uwal_get returning bytes that fail their CRC. */
TH_TEST(recovery, get_of_a_frame_damaged_on_disk_returns_ecorrupt)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 5);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	int rc = uwal_get(w, 5, &r);
	if (rc == 0)
		uwal_record_free(&r);
	cr_assert_eq(rc, UWAL_ECORRUPT, "uwal_get of a damaged frame returned %d", rc);
	th_check_std(w, 4);
	th_check_std(w, 6);
	th_close(w);
}

/* Guards against iterators returning damaged frames or running past them. */
TH_TEST(recovery, iterator_stops_with_ecorrupt_at_a_damaged_frame)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_frame f = find_frame(path, 5);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	for (uint64_t i = 1; i <= 4; i++) {
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		th_check_std_rec(&r, i);
	}
	cr_assert_eq(uwal_iter_next(it, &r), UWAL_ECORRUPT);
	uwal_iter_close(it);
	th_close(w);
}

/* ---- leftovers and reopening ------------------------------------------------ */

/* Guards against a temporary file of an interrupted preparation surviving open. */
TH_TEST(recovery, leftover_tmp_segment_file_is_removed_at_open)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	fill_log(&cfg, 1, 5);
	char tmp[4352];
	th_join(tmp, sizeof(tmp), g_dir, "segment_00000000000000000001.tmp");
	unsigned char junk[4096];
	fill_random(junk, sizeof(junk), 3);
	th_create_file(tmp, junk, sizeof(junk));
	uwal *w = th_open(&cfg);
	cr_assert_not(th_exists(tmp), "leftover .tmp file still present after open");
	for (uint64_t i = 1; i <= 5; i++)
		th_check_std(w, i);
	th_close(w);
	cr_assert_eq(th_count_suffix(g_dir, ".tmp"), 0);
}

/* Guards against a .tmp leftover in a brand-new log dir blocking creation. */
TH_TEST(recovery, leftover_tmp_file_in_new_log_is_removed_at_open)
{
	char tmp[4352];
	th_join(tmp, sizeof(tmp), g_dir, "segment_00000000000000000000.tmp");
	th_create_file(tmp, "partial", 7);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_count_suffix(g_dir, ".tmp"), 0);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	th_check_std(w, 1);
	th_close(w);
}

/* Guards against open/close cycles piling up empty segment files. */
TH_TEST(recovery, reopening_many_times_does_not_grow_the_segment_count)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 15);
	uwal *w = th_open(&cfg);
	th_close(w);
	size_t base = th_segment_count(g_dir, "segment_");
	for (int i = 0; i < 20; i++) {
		w = th_open(&cfg);
		th_close(w);
	}
	size_t after = th_segment_count(g_dir, "segment_");
	cr_assert_leq(after, base, "20 reopens grew %zu segment files to %zu", base, after);
	w = th_open(&cfg);
	for (uint64_t i = 1; i <= 15; i++)
		th_check_std(w, i);
	th_close(w);
}

/* ---- the directory lock -------------------------------------------------- */

/* Guards against two handles in one process sharing a log. */
TH_TEST(recovery, second_open_in_the_same_process_returns_elocked)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	expect_open_fails(&cfg, UWAL_ELOCKED);
	cr_assert_eq(th_write_std(w, 1, false), 0, "the first handle is unharmed");
	th_close(w);
	w = th_open(&cfg);
	th_check_std(w, 1);
	th_close(w);
}

static void put_int(int fd, int v)
{
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		_exit(90);
}

static int get_int(int fd)
{
	int v = 0;
	ssize_t n;
	while ((n = read(fd, &v, sizeof(v))) < 0 && errno == EINTR) {
	}
	return n == (ssize_t)sizeof(v) ? v : INT32_MIN;
}

/*
 * Guards against another process opening a log that is in use, and against
 * the lock outliving uwal_close(). The child never starts uwal threads (a
 * refused open starts none; uwal_unsafe_recover starts none), so the test
 * also runs under TSan, which forbids threads after a multi-threaded fork.
 */
TH_TEST(recovery, open_from_another_process_returns_elocked_until_closed)
{
	int to_child[2], to_parent[2];
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		uwal_config cfg;
		uwal_config_init(&cfg);
		cfg.dir = g_dir;
		cfg.segment_size = 1u << 20;
		/* round 0: the parent holds the log */
		if (get_int(to_child[0]) != 0)
			_exit(91);
		uwal *w = NULL;
		int rc = uwal_open(&cfg, &w);
		if (rc == 0)
			_exit(92); /* cannot close safely here; the parent reports it */
		put_int(to_parent[1], rc);
		put_int(to_parent[1], uwal_unsafe_recover(g_dir, NULL, NULL, NULL));
		/* round 1: the parent closed it */
		if (get_int(to_child[0]) != 1)
			_exit(93);
		put_int(to_parent[1], uwal_unsafe_recover(g_dir, NULL, NULL, NULL));
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	put_int(to_child[1], 0);
	int open_rc = get_int(to_parent[0]);
	int recover_held_rc = get_int(to_parent[0]);
	th_close(w);
	put_int(to_child[1], 1);
	int recover_free_rc = get_int(to_parent[0]);
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(to_child[1]);
	close(to_parent[0]);
	cr_assert_not(WIFSIGNALED(status), "child killed by signal %d", WTERMSIG(status));
	cr_assert_neq(WEXITSTATUS(status), 92,
		      "child's open succeeded while the parent held the log");
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit status %d", WEXITSTATUS(status));
	cr_assert_eq(open_rc, UWAL_ELOCKED, "child open while held: %d (%s)", open_rc,
		     uwal_strerror(open_rc));
	cr_assert_eq(recover_held_rc, UWAL_ELOCKED, "child recover while held: %d (%s)",
		     recover_held_rc, uwal_strerror(recover_held_rc));
	cr_assert_eq(recover_free_rc, 0, "child recover after close: %d (%s)", recover_free_rc,
		     uwal_strerror(recover_free_rc));
	w = th_open(&cfg);
	th_check_std(w, 1);
	th_close(w);
}

/* Give SEG0 a whole header (magic and CRC right) of format version v. */
static void set_header_version(uint16_t v)
{
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0);
	uint8_t h[32];
	cr_assert_eq(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	h[8] = (uint8_t)v;
	h[9] = (uint8_t)(v >> 8);
	/* CRC32C of bytes 0..27, little endian (see src/format.c) */
	uint32_t c = ~crc32_iscsi(h, 28, 0xFFFFFFFFu);
	for (int i = 0; i < 4; i++)
		h[28 + i] = (uint8_t)(c >> (8 * i));
	cr_assert_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
}

/*
 * Guards against a log written by a newer uwal being taken for a damaged
 * one: the open must say "newer version" (UWAL_EVERSION), not corrupt, and
 * neither the open nor uwal_unsafe_recover may change or remove anything.
 */
TH_TEST(recovery, segment_of_a_newer_format_version_is_refused_not_repaired)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	set_header_version(4);
	size_t before = th_count_suffix(g_dir, "");
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	uint64_t size0 = th_file_size(path);

	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	expect_open_fails(&cfg, UWAL_EVERSION);
	cr_assert(th_log_has(&log, SEG0) && th_log_has(&log, "newer format version"),
		  "log_fn did not name the file and the reason; got:\n%s", log.buf);
	cfg.open_flags = UWAL_OPEN_READONLY;
	expect_open_fails(&cfg, UWAL_EVERSION);

	char **removed = NULL;
	size_t n = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n), UWAL_EVERSION);
	cr_assert_eq(n, 0, "unsafe recover removed %zu files", n);
	uwal_free_list(removed, n);
	cr_assert_eq(th_count_suffix(g_dir, ""), before, "files were removed");
	cr_assert_eq(th_file_size(path), size0, "the newer segment was changed");

	/* the same bytes at a version this library knows open again */
	set_header_version(3);
	cfg.open_flags = 0;
	uwal *w = th_open(&cfg);
	th_check_std(w, 1);
	th_close(w);
	th_log_destroy(&log);
}

/*
 * Pins the frame CRC (format.c): CRC32C of the header's first 12 bytes and
 * the payload, seeded with the segment's salt, whichever of isa-l's
 * versions the library picks for a size. Computed here with isa-l's
 * dispatched crc32_iscsi, for payloads around the sizes where the
 * library switches.
 */
TH_TEST(recovery, frame_crcs_are_crc32c_of_header_and_payload_at_every_size)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	static const size_t sizes[] = {0, 1, 100, 4000, 4070, 4080, 4096, 5000, 70000};
	static unsigned char val[70000];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		th_fill(i, val, sizes[i]);
		cr_assert_eq(uwal_write(w, i + 1, "k", 1, val, sizes[i]), 0);
	}
	th_close(w);
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_eq(l->n, 1);
	char path[4352];
	int fd = open(th_join(path, sizeof(path), g_dir, l->name[0]), O_RDONLY);
	cr_assert_geq(fd, 0);
	static unsigned char buf[1 << 20];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	cr_assert_gt(n, TH_SEG_HEADER);
	uint32_t salt = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 | (uint32_t)buf[14] << 16 |
			(uint32_t)buf[15] << 24;
	size_t off = TH_SEG_HEADER, frames = 0;
	while (off + TH_FRAME_HEADER <= (size_t)n) {
		unsigned char *f = buf + off;
		uint32_t len = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 |
			       (uint32_t)f[3] << 24;
		if (len == 0)
			break;
		cr_assert_leq(off + TH_FRAME_HEADER + len, (size_t)n);
		uint32_t c = crc32_iscsi(f, 12, salt ^ 0xFFFFFFFFu);
		c = crc32_iscsi(f + TH_FRAME_HEADER, (int)len, c) ^ 0xFFFFFFFFu;
		uint32_t stored = (uint32_t)f[12] | (uint32_t)f[13] << 8 | (uint32_t)f[14] << 16 |
				  (uint32_t)f[15] << 24;
		cr_assert_eq(stored, c, "frame %zu (payload %u bytes): crc %08x, want %08x", frames,
			     len, stored, c);
		off += TH_FRAME_HEADER + len;
		frames += f[4] == 1; /* records; mark frames lie between them */
	}
	cr_assert_eq(frames, sizeof(sizes) / sizeof(sizes[0]));
	free(l);
}

/* ---- unsafe recover cuts a damaged sealed segment ----------------------- */

#define SEG2 "segment_00000000000000000002"
#define SEG3 "segment_00000000000000000003"

/* Every record of w in iteration order must be one of want[0..n), in that
 * order, with its standard contents, and all of them must be there. */
static void check_iteration(uwal *w, const uint64_t *want, size_t n)
{
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t seen = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_lt(seen, n, "iterated %llu past the end", (unsigned long long)r.index);
		cr_assert_eq(r.index, want[seen], "iterated %llu, want %llu",
			     (unsigned long long)r.index, (unsigned long long)want[seen]);
		th_check_std_rec(&r, r.index);
		seen++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(seen, n);
	uwal_iter_close(it);
}

/* The indexes first..last, except those in [gap_lo, gap_hi], into v. */
static size_t range_without(uint64_t *v, uint64_t first, uint64_t last, uint64_t gap_lo,
			    uint64_t gap_hi)
{
	size_t n = 0;
	for (uint64_t i = first; i <= last; i++)
		if (i < gap_lo || i > gap_hi)
			v[n++] = i;
	return n;
}

/* Guards against unsafe recover deleting a whole sealed segment for one bad
 * frame: the records before the damage stay (exactly those), the segment
 * ends with a valid seal right after them, nothing else is removed, and
 * the log opens, iterates across it in order and takes writes. */
TH_TEST(recovery, unsafe_recover_keeps_the_records_before_the_damage_in_a_sealed_segment)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 45); /* 0..3 sealed (1..40), 4 holds 41..45 */
	size_t before = th_segment_count(g_dir, "segment_");
	uint64_t held[64], bad_off;
	damage_segment_at(SEG1, 6, held, 64, &bad_off); /* record 16 */
	expect_open_fails(&cfg, UWAL_ECORRUPT);

	char **removed = (char **)&cfg;
	size_t n_removed = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 0, "nothing is removed");
	cr_assert_null(removed);
	cr_assert_eq(th_segment_count(g_dir, "segment_"), before);
	/* The file: records 11..15, then a seal frame that ends it. */
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG1);
	size_t nf;
	uint64_t end;
	th_frame *f = scan_all(path, &nf, &end);
	cr_assert_eq(nf, 6);
	for (size_t i = 0; i < 5; i++)
		cr_assert(f[i].type == TH_FRAME_RECORD && f[i].index == 11 + i);
	cr_assert_eq(f[5].type, TH_FRAME_SEAL);
	cr_assert_eq(f[5].off, bad_off, "the seal is where the damage began");
	cr_assert_eq(th_file_size(path), end, "the seal ends the file");
	free(f);

	uint64_t want[64];
	size_t nw = range_without(want, 1, 45, 16, 20);
	for (int round = 0; round < 2; round++) {
		uwal *w = th_open(&cfg);
		for (uint64_t i = 16; i <= 20; i++)
			th_check_absent(w, i);
		check_iteration(w, want, nw);
		uwal_segment_info *v;
		size_t n;
		cr_assert_eq(uwal_segments(w, &v, &n), 0);
		cr_assert_eq(n, 5);
		cr_assert(v[1].sealed && !v[1].after_gap);
		cr_assert_eq(v[1].records, 5);
		cr_assert_eq(v[1].last_index, 15);
		uwal_segments_free(v);
		uwal_iter *it;
		cr_assert_eq(uwal_iter_open_at(w, 15, 0, &it), 0);
		uwal_record r;
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		cr_assert_eq(r.index, 15);
		cr_assert_eq(uwal_iter_next(it, &r), 1);
		cr_assert_eq(r.index, 21, "the iterator crosses the cut to the next segment");
		uwal_iter_close(it);
		if (round == 0)
			for (uint64_t i = 46; i <= 50; i++)
				cr_assert_eq(th_write_std(w, i, false), 0);
		nw = range_without(want, 1, 50, 16, 20);
		th_close(w);
	}
}

/* Guards against a cut inside a uwal_write_batch() call keeping part of the
 * batch: the cut is at the batch's first frame. */
TH_TEST(recovery, unsafe_recover_cuts_a_damaged_batch_whole)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 11; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	write_std_batch(w, 12, 16); /* segment 1: 11, [12..16], 17..20 */
	for (uint64_t i = 17; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	th_remove_indexes(g_dir);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG1);
	th_frame r12 = find_frame(path, 12), r14 = find_frame(path, 14);
	th_flip_byte(path, r14.off + TH_FRAME_HEADER + r14.len / 2);
	expect_open_fails(&cfg, UWAL_ECORRUPT);

	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].name, SEG1);
	cr_assert(!v[0].removed && !v[0].after_gap && v[0].sealed);
	cr_assert_eq(v[0].cut_offset, r12.off, "cut at the batch's first frame");
	cr_assert_eq(v[0].records, 1);
	cr_assert_eq(v[0].first_index, 11);
	cr_assert_eq(v[0].last_index, 11);
	cr_assert_eq(v[0].records_lost, 9, "the seal behind the damage counts 10 records");
	uwal_segments_free(v);

	w = th_open(&cfg);
	uint64_t want[64];
	check_iteration(w, want, range_without(want, 1, 35, 12, 20));
	th_close(w);
}

/* Guards against a second run doing more (or anything): the cut segment is
 * sealed, so it passes every check. */
TH_TEST(recovery, unsafe_recover_twice_changes_nothing_the_second_time)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	uint64_t held[64], bad_off;
	damage_segment(SEG1, held, 64, &bad_off);
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), 0);
	th_seglist *l = th_segments(g_dir, "segment_");
	size_t sizes[16], len;
	unsigned char *bytes[16];
	cr_assert_leq(l->n, 16);
	char path[4352];
	for (size_t i = 0; i < l->n; i++)
		bytes[i] = th_read_file(th_join(path, sizeof(path), g_dir, l->name[i]), &sizes[i]);
	uwal_segment_info *v = (void *)&cfg;
	size_t n = 99;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
	cr_assert_eq(n, 0, "nothing left to do");
	cr_assert_null(v);
	th_seglist *again = th_segments(g_dir, "segment_");
	cr_assert_eq(again->n, l->n);
	for (size_t i = 0; i < l->n; i++) {
		cr_assert_str_eq(again->name[i], l->name[i]);
		unsigned char *b =
			th_read_file(th_join(path, sizeof(path), g_dir, l->name[i]), &len);
		cr_assert(len == sizes[i] && memcmp(b, bytes[i], len) == 0, "%s changed",
			  l->name[i]);
		free(b);
		free(bytes[i]);
	}
	free(l);
	free(again);
	uwal *w = th_open(&cfg);
	uint64_t want[64];
	check_iteration(w, want, range_without(want, 1, 35, 13, 20));
	th_close(w);
}

/* Guards against the cut segment's index file (written for the file
 * before the cut) surviving, or an old copy of it being trusted. */
TH_TEST(recovery, unsafe_recover_removes_the_cut_segments_index_file)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_wait_indexes(w, g_dir);
	th_close(w);
	char path[4352], idx[4400];
	th_join(path, sizeof(path), g_dir, SEG1);
	snprintf(idx, sizeof(idx), "%s.idx", path);
	size_t ilen;
	unsigned char *old = th_read_file(idx, &ilen);
	th_frame f = find_frame(path, 13);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len / 2);

	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), 0);
	cr_assert(th_exists(path));
	cr_assert_not(th_exists(idx), "the cut segment's index file survived");
	char other[4400];
	snprintf(other, sizeof(other), "%s/%s.idx", g_dir, SEG2);
	cr_assert(th_exists(other), "another segment's index file was removed");

	/* An old copy put back (a restored backup) does not describe the
	 * file now: it is not trusted. */
	th_create_file(idx, old, ilen);
	free(old);
	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	w = th_open(&cfg);
	cr_assert(th_log_has(&log, "index file not used"), "the stale index was trusted:\n%s",
		  log.buf);
	th_check_std(w, 12);
	for (uint64_t i = 13; i <= 20; i++)
		th_check_absent(w, i);
	uint64_t want[64];
	check_iteration(w, want, range_without(want, 1, 35, 13, 20));
	th_close(w);
	th_log_destroy(&log);
}

/* Guards against a crash in the middle of the cut leaving a log that unsafe
 * recover cannot finish: after the truncation (no seal yet), or with the
 * seal torn, the segment is cut and sealed at the same place again. */
TH_TEST(recovery, unsafe_recover_finishes_a_cut_a_crash_interrupted)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	fill_log(&cfg, 1, 35);
	th_remove_indexes(g_dir);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG1);
	th_frame f = find_frame(path, 13);
	uint64_t cut = f.off;
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len / 2);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, UWAL_RECOVER_DRY_RUN, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(v[0].cut_offset, cut);
	uwal_segments_free(v);
	uint64_t want[64];
	size_t nw = range_without(want, 1, 35, 13, 20);
	/* 0: the file truncated at the cut, no seal written (a crash after
	 * the truncation); 1: the seal torn after 5 of its bytes. */
	for (int step = 0; step < 2; step++) {
		cr_assert_eq(truncate(path, (off_t)(cut + (step ? 5 : 0))), 0);
		expect_open_fails(&cfg, UWAL_ECORRUPT);
		cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
		cr_assert_eq(n, 1, "step %d", step);
		cr_assert_str_eq(v[0].name, SEG1);
		cr_assert(!v[0].removed);
		cr_assert_eq(v[0].cut_offset, cut, "step %d", step);
		cr_assert_eq(v[0].records, 2);
		cr_assert_eq(v[0].records_lost, UWAL_RECORDS_UNKNOWN, "no seal counts them");
		uwal_segments_free(v);
		uwal *w = th_open(&cfg);
		check_iteration(w, want, nw);
		th_close(w);
	}
}

/* Guards against a front truncation made after the cut records were
 * written (its frame, in a later segment, names one of them) making that
 * later segment unreadable once the cut removed what it names. */
TH_TEST(recovery, unsafe_recover_keeps_a_later_front_truncation_into_the_cut_part)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	cr_assert_eq(uwal_truncate_front(w, 17), 0); /* its frame is in segment 3 */
	for (uint64_t i = 36; i <= 38; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
	th_remove_indexes(g_dir);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG1);
	th_frame f = find_frame(path, 13);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len / 2);
	expect_open_fails(&cfg, UWAL_ECORRUPT);

	char **removed = (char **)&cfg;
	size_t n_removed = 99;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &n_removed), 0);
	cr_assert_eq(n_removed, 0, "nothing is removed");
	cr_assert_null(removed);
	uint64_t want[64];
	size_t nw = range_without(want, 21, 38, 0, 0);
	for (int round = 0; round < 2; round++) {
		w = th_open(&cfg);
		/* 11 and 12 are kept in the cut segment, and void, as the
		 * front truncation made every record before 17. */
		th_check_absent(w, 12);
		cr_assert_eq(uwal_first_index(w), 21);
		cr_assert_eq(uwal_last_index(w), 38);
		check_iteration(w, want, nw);
		th_close(w);
	}
}
