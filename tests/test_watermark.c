/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_watermark.c - the durable watermark (format.c, "The durable
 * watermark"): in the last segment, damage that a later mark frame says
 * was durable is refused as corruption by every kind of open; damage past
 * the watermark is a torn tail, cut as before; a legitimate power cut (the
 * crash simulator drops unsynced sectors in any order) never reads as
 * corruption and loses no acknowledged durable record; a version 2
 * segment, which holds no mark frame, opens as it always did.
 */
#include "helpers.h"

#include "crashsim.h"
#include "format.h"

TH_SUITE(watermark, 240);

static const char *SEG0 = "segment_00000000000000000000";

static void cfg_sync(uwal_config *cfg, enum uwal_sync_mode mode)
{
	th_config(cfg, g_dir);
	cfg->sync_mode = mode;
}

/* Write records from..to, one call each, durable or not. */
static void write_range(uwal *w, uint64_t from, uint64_t to, bool sync)
{
	for (uint64_t i = from; i <= to; i++)
		cr_assert_eq(th_write_std(w, i, sync), 0, "write %llu", (unsigned long long)i);
}

/* The frame of record idx in the segment file at path. */
static th_frame frame_of(const char *path, uint64_t idx)
{
	static th_frame f[8192];
	size_t n = th_scan(path, f, 8192, NULL);
	for (size_t i = 0; i < n; i++)
		if (f[i].type == TH_FRAME_RECORD && f[i].index == idx)
			return f[i];
	cr_assert_fail("record %llu not found in %s", (unsigned long long)idx, path);
	return f[0];
}

static void check_range(uwal *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++)
		th_check_std(w, i);
}

static void zero_range(const char *path, uint64_t off, size_t len)
{
	unsigned char z[4096] = {0};
	cr_assert_leq(len, sizeof(z));
	th_write_at(path, off, z, len);
}

/* Open cfg (with flags), which must fail with UWAL_ECORRUPT and say so
 * through log_fn, naming the file, the offset and the durable records
 * behind it. */
static void check_refused(const uwal_config *base, int flags, uint64_t off, uint64_t behind)
{
	uwal_config cfg = *base;
	th_log lg;
	th_log_init(&lg);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &lg;
	cfg.open_flags = flags;
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, UWAL_ECORRUPT, "flags %#x: uwal_open returned %d (%s); log: %s", flags, rc,
		     uwal_strerror(rc), lg.buf);
	cr_assert_null(w);
	char want[128];
	snprintf(want, sizeof(want), "%s at offset %llu", SEG0, (unsigned long long)off);
	cr_assert(th_log_has(&lg, want), "flags %#x: want \"%s\"; log: %s", flags, want, lg.buf);
	snprintf(want, sizeof(want), "%llu durable record", (unsigned long long)behind);
	cr_assert(th_log_has(&lg, want), "flags %#x: want \"%s\"; log: %s", flags, want, lg.buf);
	th_log_destroy(&lg);
}

/* Every kind of open refuses, and none changes the file. */
static void check_refused_everywhere(const uwal_config *cfg, const char *path, uint64_t off,
				     uint64_t behind)
{
	size_t n0, n1;
	unsigned char *before = th_read_file(path, &n0);
	check_refused(cfg, 0, off, behind);
	check_refused(cfg, UWAL_OPEN_NO_REPAIR, off, behind);
	check_refused(cfg, UWAL_OPEN_READONLY, off, behind);
	unsigned char *after = th_read_file(path, &n1);
	cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "a refused open changed %s", path);
	free(before);
	free(after);
}

/* ---- damage in the durable part: refused ------------------------------- */

/* Guards against the case of the issue: two bytes zeroed in the middle of
 * a closed log's active segment cut 3,602 acknowledged durable records. */
TH_TEST(watermark, zeroed_bytes_in_durable_records_are_refused_not_cut)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_BATCH);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 40, false);
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	th_frame f = frame_of(path, 3);
	zero_range(path, f.off + 4, 2); /* the frame's type and flags */
	check_refused_everywhere(&cfg, path, f.off, 38);
}

/* Guards against a bit flip in a durable record's payload read as a torn
 * write. */
TH_TEST(watermark, a_flipped_byte_in_a_durable_record_is_refused)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_BATCH);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 20, false);
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	th_frame f = frame_of(path, 7);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + f.len - 1);
	check_refused_everywhere(&cfg, path, f.off, 14);
}

/* Guards against a torn sector (zeros from inside one frame into the next)
 * in the durable part read as a torn tail; the mark frame that close writes
 * vouches for the very last batch too. */
TH_TEST(watermark, a_torn_sector_in_the_durable_part_is_refused_up_to_the_last_batch)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_NONE);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 30, false); /* unsynced: close makes them durable */
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	th_frame f = frame_of(path, 30);
	zero_range(path, f.off + 3, TH_FRAME_HEADER + f.len - 4); /* up to its last byte */
	check_refused_everywhere(&cfg, path, f.off, 1);
}

/* Guards against damage inside a durable uwal_write_batch() call cut whole
 * as an unfinished batch. */
TH_TEST(watermark, damage_inside_a_durable_batch_is_refused)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_BATCH);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 5, false);
	uwal_record recs[8];
	char keys[8][TH_KEY_MAX];
	unsigned char vals[8][TH_VAL_MAX];
	for (int i = 0; i < 8; i++) {
		uint64_t idx = 6 + (uint64_t)i;
		recs[i] = (uwal_record){.index = idx, .key = keys[i], .value = vals[i]};
		recs[i].key_len = th_key(idx, keys[i]);
		recs[i].value_len = th_vlen(idx);
		th_fill(idx, vals[i], recs[i].value_len);
	}
	cr_assert_eq(uwal_write_batch(w, recs, 8, true), 0);
	write_range(w, 14, 16, false);
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	th_frame f = frame_of(path, 13); /* the batch's last frame */
	th_flip_byte(path, f.off + TH_FRAME_HEADER + 1);
	/* the whole batch would go, and what follows it */
	check_refused_everywhere(&cfg, path, f.off, 11);
}

/* ---- damage past the watermark: a torn tail, cut ----------------------- */

/* A copy of the log directory as it is now (the page cache's view). */
static void copy_log(const char *to)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && cp '%s'/segment_* '%s'/", to,
		 to, g_dir, to);
	cr_assert_eq(system(cmd), 0);
}

/* Guards against a torn unsynced tail refused: damage after the last
 * durable batch is cut as it always was, and the log message counts
 * records, not bytes of preallocated zeros. */
TH_TEST(watermark, damage_in_the_unsynced_tail_is_cut)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_NONE);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 10, true);
	th_sleep_ms(20); /* the writer sleeps: the idle mark frame */
	write_range(w, 11, 20, false);
	char copy[4400], path[4500];
	snprintf(copy, sizeof(copy), "%s/copy", g_dir);
	copy_log(copy);
	th_close(w);
	th_join(path, sizeof(path), copy, SEG0);
	th_frame f = frame_of(path, 15);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + 2);

	uwal_config c2;
	th_config(&c2, copy);
	th_log lg;
	th_log_init(&lg);
	c2.log_fn = th_log_fn;
	c2.log_ctx = &lg;
	w = th_open(&c2);
	cr_assert(th_log_has(&lg, "torn tail cut"), "log: %s", lg.buf);
	/* the torn frame is counted; the whole frames after it are in the bytes */
	cr_assert(th_log_has(&lg, "1 record dropped"), "log: %s", lg.buf);
	cr_assert_eq(uwal_last_index(w), 14);
	check_range(w, 1, 14);
	th_close(w);
	th_log_destroy(&lg);
}

/* Guards against the first unvouched batch refused: when the mark frame
 * after the last durable batch never reached the disk, that batch is the
 * one part of the durable data that a torn tail may still cut. */
TH_TEST(watermark, the_last_batch_without_a_mark_after_it_is_cut)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_BATCH);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 12, false);
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	th_unvouch_tail(path);
	th_frame f = frame_of(path, 12);
	th_flip_byte(path, f.off + TH_FRAME_HEADER + 1);
	/* one more back: record 11 is vouched by the mark before record 12 */
	th_log lg;
	th_log_init(&lg);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &lg;
	w = th_open(&cfg);
	cr_assert(th_log_has(&lg, "1 record dropped"), "log: %s", lg.buf);
	cr_assert_eq(uwal_last_index(w), 11);
	check_range(w, 1, 11);
	th_close(w);
	th_log_destroy(&lg);
}

/* Guards against a false match: the bytes of a mark frame inside a record
 * (made for another offset: a copy) vouch for nothing. */
TH_TEST(watermark, a_mark_frame_copied_into_a_record_vouches_for_nothing)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_NONE);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 5, true);
	char path[4500];
	th_join(path, sizeof(path), g_dir, SEG0);
	size_t n;
	unsigned char *file = th_read_file(path, &n);
	cr_assert_geq(n, 32);
	uint32_t salt = th_le32(file + 12), key_hi = th_le32(file + 24);
	free(file);
	/* A mark frame as the writer would make it, stating the whole
	 * segment durable, for an offset far from where it lands. */
	uint8_t mark[FMT_MARK_FRAME_SIZE];
	uw_fmt_mark_frame_encode(mark, salt, uw_fmt_seg_key(salt, key_hi), 4000, 3999, 99);
	cr_assert_eq(uwal_write(w, 6, "copy", 4, mark, sizeof(mark)), 0); /* unsynced */
	write_range(w, 7, 9, false);
	char copy[4400];
	snprintf(copy, sizeof(copy), "%s/copy", g_dir);
	copy_log(copy);
	th_close(w);
	th_join(path, sizeof(path), copy, SEG0);
	th_frame f = frame_of(path, 6);
	zero_range(path, f.off, 4); /* record 6's length */

	uwal_config c2;
	th_config(&c2, copy);
	w = th_open(&c2);
	cr_assert_eq(uwal_last_index(w), 5);
	th_close(w);
}

/* ---- version 2 segments ------------------------------------------------- */

/*
 * Rewrite the segment file at path as a version 2 segment would hold the
 * same records: header version 2 with bytes 24..27 zero, the record frames
 * back to back (mark frames dropped), zeros after them.
 */
static void make_v2(const char *path)
{
	static th_frame f[8192];
	size_t size;
	unsigned char *buf = th_read_file(path, &size);
	size_t n = th_scan(path, f, 8192, NULL);
	unsigned char *out = calloc(1, size);
	cr_assert_not_null(out);
	memcpy(out, buf, TH_SEG_HEADER);
	out[8] = 2;
	out[9] = 0;
	memset(out + 24, 0, 4);
	uint32_t c = uw_fmt_crc_update(0xFFFFFFFFu, out, 28) ^ 0xFFFFFFFFu;
	for (int i = 0; i < 4; i++)
		out[28 + i] = (unsigned char)(c >> (8 * i));
	size_t at = TH_SEG_HEADER;
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(f[i].type, TH_FRAME_RECORD);
		size_t len = TH_FRAME_HEADER + f[i].len;
		memcpy(out + at, buf + f[i].off, len);
		at += len;
	}
	th_write_at(path, 0, out, size);
	free(out);
	free(buf);
}

/* Guards against version 2 logs opening differently: a segment with no
 * mark frame (epoch 0 everywhere) vouches for nothing, so damage in its
 * tail is cut as before; the writer adds no mark frame to it. */
TH_TEST(watermark, a_version_2_segment_opens_as_before)
{
	uwal_config cfg;
	cfg_sync(&cfg, UWAL_SYNC_BATCH);
	uwal *w = th_open(&cfg);
	write_range(w, 1, 20, false);
	th_close(w);
	char path[4352];
	th_join(path, sizeof(path), g_dir, SEG0);
	make_v2(path);
	w = th_open(&cfg);
	check_range(w, 1, 20);
	write_range(w, 21, 25, false);
	uwal_segment_info *v;
	size_t nseg;
	cr_assert_eq(uwal_segments(w, &v, &nseg), 0);
	cr_assert_eq(v[0].version, 2);
	uwal_segments_free(v);
	th_close(w);
	size_t size;
	unsigned char *buf = th_read_file(path, &size);
	static th_frame f[64];
	uint64_t end;
	cr_assert_eq(th_scan(path, f, 64, &end), 25);
	for (uint64_t off = TH_SEG_HEADER; off < end; off += TH_FRAME_HEADER + th_le32(buf + off))
		cr_assert_neq(buf[off + 4], TH_FRAME_MARK, "a mark frame in a version 2 segment");
	free(buf);

	th_frame r = frame_of(path, 8);
	th_flip_byte(path, r.off + TH_FRAME_HEADER + 1);
	th_log lg;
	th_log_init(&lg);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &lg;
	w = th_open(&cfg);
	cr_assert(th_log_has(&lg, "torn tail cut"), "log: %s", lg.buf);
	cr_assert(th_log_has(&lg, "1 record dropped"), "log: %s", lg.buf);
	check_range(w, 1, 7);
	cr_assert_eq(uwal_last_index(w), 7);
	th_close(w);
	th_log_destroy(&lg);
}

/* ---- simulated power cuts ------------------------------------------------ */

static char *subdir(const char *name, unsigned k)
{
	char *p = malloc(4400);
	cr_assert_not_null(p);
	snprintf(p, 4400, "%s/%s%u", g_dir, name, k);
	return p;
}

enum { CAMPAIGN_RECORDS = 70 };

struct campaign {
	bool durable[CAMPAIGN_RECORDS + 1]; /* acknowledged durable */
	bool acked[CAMPAIGN_RECORDS + 1];
};

/* The workload: records one call each, some durable, some not, pauses (the
 * writer sleeps: idle mark frames), uwal_sync calls, rotations. */
static void workload(uwal *w, enum uwal_sync_mode mode, struct campaign *c)
{
	for (uint64_t i = 1; i <= CAMPAIGN_RECORDS; i++) {
		bool sync = mode != UWAL_SYNC_NONE || i % 3 == 0;
		int rc = th_write_std(w, i, sync && mode == UWAL_SYNC_NONE);
		if (rc != 0)
			return;
		c->acked[i] = true;
		c->durable[i] = sync;
		if (i % 11 == 0 && mode == UWAL_SYNC_NONE && uwal_sync(w) == 0)
			for (uint64_t k = 1; k <= i; k++)
				c->durable[k] = c->acked[k];
		if (i % 7 == 0)
			th_sleep_ms(1);
	}
}

/*
 * A power cut at each operation of the workload, each layout drawn three
 * ways: every reopen succeeds (a legitimately torn tail is never refused)
 * and holds every record acknowledged durable.
 */
static void campaign(enum uwal_sync_mode mode)
{
	bool done = false;
	for (uint64_t cut = 0; !done && cut < 600; cut += 3) {
		char *base = subdir("sim", (unsigned)cut), log[4500], out[4500], olog[4600];
		cr_assert_eq(th_mkdir_p(base), 0);
		snprintf(log, sizeof(log), "%s/log", base);
		snprintf(out, sizeof(out), "%s/out", base);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));
		uwal_config cfg;
		th_config(&cfg, log);
		cfg.sync_mode = mode;
		cfg.segment_size = 64 << 10;
		cfg.segment_threshold = 25;
		uwal *w = th_open(&cfg);
		struct campaign c = {0};
		crashsim_arm(sim, cut, NULL, NULL);
		workload(w, mode, &c);
		done = !crashsim_is_cut(sim);
		if (done)
			cr_assert_gt(cut, 100, "the workload took only %llu operations",
				     (unsigned long long)cut);
		crashsim_cut(sim, cut + 1);
		uwal_close(w);
		for (uint64_t seed = 1; seed <= 3; seed++) {
			cr_assert_eq(crashsim_layout_fresh(sim, seed * 7919 + cut, out), 0);
			tio_select(NULL);
			snprintf(olog, sizeof(olog), "%s/log", out);
			uwal_config oc;
			th_config(&oc, olog);
			oc.sync_mode = mode;
			oc.segment_size = 64 << 10;
			th_log lg;
			th_log_init(&lg);
			oc.log_fn = th_log_fn;
			oc.log_ctx = &lg;
			int orc = uwal_open(&oc, &w);
			cr_assert_eq(orc, 0, "cut at %llu, seed %llu: open: %s: %s",
				     (unsigned long long)cut, (unsigned long long)seed,
				     uwal_strerror(orc), lg.buf);
			for (uint64_t i = 1; i <= CAMPAIGN_RECORDS; i++) {
				uwal_record r;
				int rc = uwal_get(w, i, &r);
				if (c.durable[i])
					cr_assert_eq(
						rc, 0,
						"cut at %llu, seed %llu: durable record %llu lost",
						(unsigned long long)cut, (unsigned long long)seed,
						(unsigned long long)i);
				if (rc == 0) {
					th_check_std_rec(&r, i);
					uwal_record_free(&r);
				}
			}
			th_close(w);
			th_log_destroy(&lg);
			tio_select(crashsim_io(sim));
		}
		tio_select(NULL);
		crashsim_free(sim);
		th_rmrf(base);
		free(base);
	}
	cr_assert(done, "the workload never completed without a cut");
}

TH_TEST(watermark, a_power_cut_anywhere_in_durable_batches_is_never_corruption)
{
	campaign(UWAL_SYNC_BATCH);
}

TH_TEST(watermark, a_power_cut_anywhere_in_unsynced_writes_is_never_corruption)
{
	campaign(UWAL_SYNC_NONE);
}
