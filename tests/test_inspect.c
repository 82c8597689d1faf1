/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_inspect.c - the inspection API: uwal_segments() describes each
 * segment as the files hold it, uwal_iter_position() says where each
 * record lies, uwal_locked() tells a held lock without creating or
 * keeping one, and uwal_unsafe_recover_ex() reports what it removes and
 * flags, and in a dry run changes no byte.
 */
#include <stddef.h>

#include "helpers.h"

TH_SUITE(inspect, 60);

#define SEG0 "segment_00000000000000000000"
#define SEG1 "segment_00000000000000000001"
#define SEG2 "segment_00000000000000000002"

/* 35 records, 10 per segment: segments 0..2 sealed, 3 active with 5. */
static void fill_log(uwal_config *cfg)
{
	th_config(cfg, g_dir);
	cfg->segment_threshold = 10;
	uwal *w = th_open(cfg);
	for (uint64_t i = 1; i <= 35; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
}

static uwal *open_ro(const uwal_config *base)
{
	uwal_config cfg = *base;
	cfg.open_flags = UWAL_OPEN_READONLY;
	return th_open(&cfg);
}

/* Bytes of the record and mark frames of a segment file (up to its seal). */
static uint64_t record_frame_bytes(const char *name)
{
	char path[4352];
	size_t size;
	unsigned char *buf = th_read_file(th_join(path, sizeof(path), g_dir, name), &size);
	uint64_t off = TH_SEG_HEADER;
	while (off + TH_FRAME_HEADER <= size &&
	       (buf[off + 4] == TH_FRAME_RECORD || buf[off + 4] == TH_FRAME_MARK))
		off += TH_FRAME_HEADER + th_le32(buf + off);
	free(buf);
	return off - TH_SEG_HEADER;
}

/* Guards against a stat tool that reports sizes, counts or states the
 * files do not have. */
TH_TEST(inspect, segments_describe_each_segment_as_the_files_hold_it)
{
	uwal_config cfg;
	fill_log(&cfg);
	uwal *w = open_ro(&cfg);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_segments(w, &v, &n), 0);
	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		char path[4352];
		cr_assert_eq(v[i].seq, i);
		th_join(path, sizeof(path), g_dir, v[i].name);
		cr_assert_eq(v[i].file_size, th_file_size(path), "%s", v[i].name);
		cr_assert_eq(v[i].frame_bytes, record_frame_bytes(v[i].name), "%s", v[i].name);
		cr_assert_eq(v[i].sealed, i < 3);
		cr_assert_eq(v[i].records, i < 3 ? 10 : 5);
		cr_assert_eq(v[i].first_index, 10 * i + 1);
		cr_assert_eq(v[i].last_index, i < 3 ? 10 * i + 10 : 35);
		cr_assert_eq(v[i].version, 3); /* new segments are format version 3 */
		cr_assert_eq(v[i].tail_bytes, 0);
		cr_assert(!v[i].after_gap && !v[i].removed && !v[i].damage);
	}
	cr_assert_str_eq(v[0].name, SEG0);
	uwal_segments_free(v);
	th_close(w);
}

/* Guards against a program built with an older, smaller struct reading
 * its elements at the wrong stride. */
TH_TEST(inspect, segments_of_a_smaller_struct_use_its_size_as_the_stride)
{
	uwal_config cfg;
	fill_log(&cfg);
	uwal *w = open_ro(&cfg);
	size_t small = offsetof(uwal_segment_info, file_size);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_segments_sized(w, &v, &n, small), 0);
	cr_assert_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		const uwal_segment_info *e = (const void *)((const char *)v + i * small);
		cr_assert_eq(e->seq, i);
	}
	uwal_segments_free(v);
	cr_assert_eq(uwal_segments_sized(w, &v, &n, 0), UWAL_EINVAL);
	cr_assert_eq(uwal_segments(NULL, &v, &n), UWAL_EINVAL);
	th_close(w);
}

/* Guards against a torn tail that a read-only handle hides going unseen. */
TH_TEST(inspect, a_read_only_handle_shows_the_torn_tail_it_hides)
{
	uwal_config cfg;
	fill_log(&cfg);
	char path[4352];
	static th_frame f[64];
	th_join(path, sizeof(path), g_dir, "segment_00000000000000000003");
	th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
	size_t nf = th_scan(path, f, 64, NULL);
	cr_assert_eq(nf, 5);
	th_flip_byte(path, f[4].off + TH_FRAME_HEADER + 1); /* the last record */
	uwal *w = open_ro(&cfg);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_segments(w, &v, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(v[3].records, 4);
	cr_assert_eq(v[3].tail_bytes, TH_FRAME_HEADER + f[4].len);
	uwal_segments_free(v);
	th_close(w);
}

/* Guards against a dump that names the wrong place for a record. */
TH_TEST(inspect, iter_position_names_the_segment_and_frame_of_each_record)
{
	uwal_config cfg;
	fill_log(&cfg);
	uwal *w = open_ro(&cfg);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uint64_t seq = 99, off = 99;
	cr_assert_eq(uwal_iter_position(it, &seq, &off), UWAL_ENOTFOUND);
	cr_assert_eq(seq, 99);
	uwal_record r;
	uint64_t i = 0;
	static th_frame f[64];
	while (uwal_iter_next(it, &r) == 1) {
		cr_assert_eq(uwal_iter_position(it, &seq, &off), 0);
		cr_assert_eq(seq, i / 10);
		char name[64], path[4352];
		snprintf(name, sizeof(name), "segment_%020llu", (unsigned long long)seq);
		th_scan(th_join(path, sizeof(path), g_dir, name), f, 64, NULL);
		cr_assert_eq(off, f[i % 10].off, "record %llu", (unsigned long long)r.index);
		cr_assert_eq(f[i % 10].index, r.index);
		i++;
	}
	cr_assert_eq(i, 35);
	cr_assert_eq(uwal_iter_position(it, &seq, &off), UWAL_ENOTFOUND, "after the end");
	cr_assert_eq(uwal_iter_position(NULL, &seq, &off), UWAL_EINVAL);
	uwal_iter_close(it);
	th_close(w);
}

/* Guards against a lock probe that misses a holder, or leaves a lock file
 * (a write) in a directory that had none. */
TH_TEST(inspect, locked_tells_a_held_lock_and_creates_nothing)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cr_assert_eq(uwal_locked(g_dir, NULL), 0, "an empty directory");
	cr_assert(!th_exists(th_join((char[4352]){0}, 4352, g_dir, "segment_lock")));
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_locked(g_dir, NULL), 1);
	cr_assert_eq(uwal_locked(g_dir, "other_"), 0, "the lock is per prefix");
	th_close(w);
	cr_assert_eq(uwal_locked(g_dir, "segment_"), 0);
	w = th_open(&cfg); /* the probe did not keep the lock */
	th_close(w);
	char missing[4352];
	th_join(missing, sizeof(missing), g_dir, "missing");
	cr_assert_eq(uwal_locked(missing, NULL), -ENOENT);
	cr_assert_eq(uwal_locked(NULL, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_locked(g_dir, "a/b"), UWAL_EINVAL);
}

/* Damage the third record of SEG1 (a sealed segment); its offset. */
static uint64_t damage_seg1(void)
{
	char path[4352];
	static th_frame f[64];
	th_join(path, sizeof(path), g_dir, SEG1);
	th_scan(path, f, 64, NULL);
	th_flip_byte(path, f[2].off + TH_FRAME_HEADER + f[2].len / 2);
	return f[2].off;
}

/* Every file of g_dir, names and contents, concatenated (a fingerprint). */
static unsigned char *snapshot(size_t *len)
{
	DIR *d = opendir(g_dir);
	cr_assert_not_null(d);
	static char names[64][256];
	memset(names, 0, sizeof(names));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64)
		if (e->d_name[0] != '.')
			snprintf(names[n++], 256, "%s", e->d_name);
	closedir(d);
	qsort(names, n, 256, th_cmp_names);
	unsigned char *out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4352 + 16384]; /* as -Wformat-truncation sizes names */
		size_t fl;
		unsigned char *b = th_read_file(th_join(path, sizeof(path), g_dir, names[i]), &fl);
		out = realloc(out, *len + 256 + fl);
		cr_assert_not_null(out);
		memcpy(out + *len, names[i], 256);
		memcpy(out + *len + 256, b, fl);
		*len += 256 + fl;
		free(b);
	}
	return out;
}

/* Guards against a dry run that changes the log, or that reports other
 * than what the real run then does. */
TH_TEST(inspect, recover_dry_run_changes_nothing_and_reports_what_the_run_does)
{
	uwal_config cfg;
	fill_log(&cfg);
	uint64_t bad = damage_seg1();
	size_t l0, l1;
	unsigned char *before = snapshot(&l0);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, UWAL_RECOVER_DRY_RUN, &v, &n), 0);
	unsigned char *after = snapshot(&l1);
	cr_assert(l0 == l1 && memcmp(before, after, l0) == 0, "the dry run changed the directory");
	free(before);
	free(after);
	/* SEG1 cut at the damage (two whole records before it kept, the
	 * eight after it lost, as its seal counts them); nothing else. */
	uwal_segment_info want;
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].name, SEG1);
	cr_assert(!v[0].removed && !v[0].after_gap);
	cr_assert(v[0].sealed, "sealed again at the cut");
	cr_assert_eq(v[0].records, 2);
	cr_assert_eq(v[0].first_index, 11);
	cr_assert_eq(v[0].last_index, 12);
	cr_assert_eq(v[0].bad_offset, bad);
	cr_assert_eq(v[0].cut_offset, bad);
	cr_assert_eq(v[0].records_lost, 8);
	cr_assert_eq(v[0].frame_bytes, bad - TH_SEG_HEADER);
	cr_assert_not_null(v[0].damage);
	cr_assert(strstr(v[0].damage, "cut"), "%s", v[0].damage);
	want = v[0];
	uwal_segments_free(v);

	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].name, SEG1);
	cr_assert(!v[0].removed);
	cr_assert_eq(v[0].cut_offset, want.cut_offset);
	cr_assert_eq(v[0].records, want.records);
	cr_assert_eq(v[0].records_lost, want.records_lost);
	cr_assert_eq(v[0].bad_offset, want.bad_offset);
	cr_assert_str_eq(v[0].damage, want.damage);
	uwal_segments_free(v);
	cr_assert(th_exists(th_join((char[4352]){0}, 4352, g_dir, SEG1)));
	uwal *w = th_open(&cfg);
	th_check_std(w, 10);
	th_check_std(w, 11);
	th_check_std(w, 12);
	th_check_absent(w, 13);
	th_check_absent(w, 20);
	th_check_std(w, 21);
	th_close(w);
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, UWAL_RECOVER_DRY_RUN, &v, &n), 0);
	cr_assert_eq(n, 0, "nothing left to do");
	cr_assert_null(v);
}

/* Guards against a segment damaged in its first frame (nothing before the
 * damage to keep) being kept as an empty shell: it is removed, and the
 * next one flagged. */
TH_TEST(inspect, recover_removes_a_segment_damaged_in_its_first_frame)
{
	uwal_config cfg;
	fill_log(&cfg);
	th_remove_indexes(g_dir);
	char path[4352];
	static th_frame f[64];
	th_join(path, sizeof(path), g_dir, SEG1);
	th_scan(path, f, 64, NULL);
	th_flip_byte(path, f[0].off + TH_FRAME_HEADER + f[0].len / 2);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0].name, SEG1);
	cr_assert(v[0].removed);
	cr_assert_eq(v[0].records, 0);
	cr_assert_eq(v[0].cut_offset, 0);
	cr_assert_eq(v[0].bad_offset, TH_SEG_HEADER);
	cr_assert_str_eq(v[1].name, SEG2);
	cr_assert(!v[1].removed && v[1].after_gap && !v[1].cut_offset);
	uwal_segments_free(v);
	cr_assert(!th_exists(path));
	uwal *w = th_open(&cfg);
	th_check_std(w, 10);
	th_check_absent(w, 11);
	th_check_std(w, 21);
	th_close(w);
}

/* Guards against a dry run that reports a gap as nothing to do. */
TH_TEST(inspect, recover_reports_the_segment_it_flags_after_a_missing_one)
{
	uwal_config cfg;
	fill_log(&cfg);
	char path[4352];
	cr_assert_eq(unlink(th_join(path, sizeof(path), g_dir, SEG1)), 0);
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, UWAL_RECOVER_DRY_RUN, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].name, SEG2);
	cr_assert(!v[0].removed);
	uwal_segments_free(v);
	char **names;
	size_t nn;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &names, &nn), 0);
	cr_assert_eq(nn, 0, "nothing removed, only flagged");
	cr_assert_null(names);
	uwal *w = th_open(&cfg);
	th_close(w);
}

/* Guards against a dry run that answers for a log a writer holds. */
TH_TEST(inspect, recover_refuses_an_open_log_also_in_a_dry_run)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	uwal_segment_info *v = (void *)&cfg;
	size_t n = 7;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, UWAL_RECOVER_DRY_RUN, &v, &n),
		     UWAL_ELOCKED);
	cr_assert_null(v);
	cr_assert_eq(n, 0);
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), UWAL_ELOCKED);
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 4, &v, &n), UWAL_EINVAL, "unknown flag");
	th_close(w);
}

/* Guards against a report out of segment order when the last segment is
 * both cut (damage before its watermark) and flagged (the one before it
 * removed). */
TH_TEST(inspect, recover_reports_a_cut_and_a_flag_of_the_last_segment_in_order)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_threshold = 10;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 25; i++) /* 0: 1..10, 1: 11..20 (sealed), 2: 21..25 */
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w); /* its mark frame vouches for the last segment */
	char path[4352];
	static th_frame f[64];
	th_flip_byte(th_join(path, sizeof(path), g_dir, SEG1), 0);
	th_join(path, sizeof(path), g_dir, SEG2);
	cr_assert_eq(th_scan(path, f, 64, NULL), 5);
	th_flip_byte(path, f[1].off + TH_FRAME_HEADER + f[1].len / 2); /* record 22 */
	uwal_segment_info *v = NULL;
	size_t n = 0;
	cr_assert_eq(uwal_unsafe_recover_ex(g_dir, NULL, 0, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].name, SEG1);
	cr_assert(v[0].removed);
	cr_assert_str_eq(v[1].name, SEG2);
	cr_assert(!v[1].removed && !v[1].after_gap, "the cut");
	cr_assert_eq(v[1].bad_offset, f[1].off);
	cr_assert_eq(v[1].cut_offset, f[1].off);
	cr_assert_eq(v[1].records, 1);
	cr_assert_eq(v[1].records_lost, 4, "the close's mark frame counts 5 durable records");
	cr_assert(!v[1].sealed, "the last segment is not sealed");
	cr_assert_str_eq(v[2].name, SEG2);
	cr_assert(!v[2].removed && v[2].after_gap, "the flag");
	uwal_segments_free(v);
	w = th_open(&cfg);
	th_check_std(w, 10);
	th_check_std(w, 21);
	for (uint64_t i = 22; i <= 25; i++)
		th_check_absent(w, i);
	th_close(w);
}
