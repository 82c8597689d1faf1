/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fastopen.c - sealed segments' index files ("<segment>.idx"): an
 * open that loads them sees exactly what an open that reads every frame
 * sees; a damaged, torn, missing or stale index file is never trusted (the
 * segment is read frame by frame, which finds damage in it); with
 * UWAL_OPEN_VERIFY every frame is read anyway; removals take the index
 * file with the segment; a power cut at any step of writing one leaves a
 * log that opens as it was.
 */
#include "helpers.h"

#include "crashsim.h"

TH_SUITE(fastopen, 120);

static void cfg_small(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_threshold = 10;
	cfg->segment_size = 64 << 10;
}

static void run(const char *fmt, const char *a, const char *b)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), fmt, a, b);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* What a handle shows: the records in iteration order (index and a hash
 * of key and value), first and last index, uwal_get of every index up to
 * last + 2, and (read-write handles) the next assigned index. */
struct view {
	uint64_t first, last, next;
	size_t n;
	uint64_t idx[512], hash[512];
	int get[600];
};

static uint64_t hash(const uwal_record *r)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *p = r->key;
	for (size_t i = 0; i < r->key_len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	p = r->value;
	for (size_t i = 0; i < r->value_len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static int take_view(const char *dir, uint32_t flags, struct view *v, th_log *log)
{
	uwal_config cfg;
	cfg_small(&cfg, dir);
	cfg.open_flags = flags;
	if (log) {
		cfg.log_fn = th_log_fn;
		cfg.log_ctx = log;
	}
	uwal *w;
	int rc = uwal_open(&cfg, &w);
	if (rc < 0)
		return rc;
	memset(v, 0, sizeof(*v));
	v->first = uwal_first_index(w);
	v->last = uwal_last_index(w);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		cr_assert_lt(v->n, 512);
		v->idx[v->n] = r.index;
		v->hash[v->n++] = hash(&r);
	}
	cr_assert_eq(rc, 0, "iterator: %s", uwal_strerror(rc));
	uwal_iter_close(it);
	for (uint64_t i = 0; i < 600 && i <= v->last + 2; i++) {
		v->get[i] = uwal_get(w, i, &r);
		if (v->get[i] == 0)
			uwal_record_free(&r);
	}
	if (!(flags & UWAL_OPEN_READONLY))
		cr_assert_eq(uwal_append(w, "k", 1, "v", 1, false, &v->next), 0);
	th_close(w);
	return 0;
}

static void same_view(const struct view *a, const struct view *b, const char *what)
{
	cr_assert_eq(a->first, b->first, "%s: first %llu vs %llu", what,
		     (unsigned long long)a->first, (unsigned long long)b->first);
	cr_assert_eq(a->last, b->last, "%s: last %llu vs %llu", what, (unsigned long long)a->last,
		     (unsigned long long)b->last);
	cr_assert_eq(a->next, b->next, "%s: next assigned %llu vs %llu", what,
		     (unsigned long long)a->next, (unsigned long long)b->next);
	cr_assert_eq(a->n, b->n, "%s: %zu vs %zu records", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		cr_assert(a->idx[i] == b->idx[i] && a->hash[i] == b->hash[i],
			  "%s: record %zu differs", what, i);
	for (uint64_t i = 0; i < 600 && i <= a->last + 2; i++)
		cr_assert_eq(a->get[i], b->get[i], "%s: uwal_get(%llu)", what,
			     (unsigned long long)i);
}

/* Sealed segments, in the log at dir, with index files. */
static size_t count_indexes(const char *dir)
{
	return th_count_suffix(dir, ".idx");
}

/*
 * A log of many sealed segments with truncations across them: a front
 * truncation, a back truncation into a sealed segment (its indexes
 * written again after it), assigned indexes, and a front truncation past
 * the end (the high-water mark then lives in NEXT frames only), followed
 * by more segments, so that all these frames end up in sealed segments.
 */
static void build_log(const char *dir)
{
	uwal_config cfg;
	cfg_small(&cfg, dir);
	uwal *w = th_open(&cfg);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(uwal_append(w, "a", 1, "b", 1, false, NULL), 0);
	cr_assert_eq(uwal_truncate_front(w, 100), 0);
	for (int i = 0; i < 15; i++)
		cr_assert_eq(uwal_append(w, "c", 1, "d", 1, false, NULL), 0);
	th_write_range(w, 201, 235);
	cr_assert_eq(uwal_truncate_front(w, 205), 0);
	th_write_range(w, 236, 260);
	cr_assert_eq(uwal_truncate_back(w, 244), 0);
	th_write_range(w, 244, 270);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(uwal_append(w, "e", 1, "f", 1, false, NULL), 0);
	th_write_range(w, 300, 330);
	cr_assert_eq(uwal_truncate_back(w, 320), 0);
	th_wait_indexes(w, dir);
	th_close(w);
	cr_assert_geq(count_indexes(dir), 3);
}

static char *sub(const char *name)
{
	char *p = malloc(4400);
	cr_assert_not_null(p);
	snprintf(p, 4400, "%s/%s", g_dir, name);
	return p;
}

/* Guards against an index file changing what the log holds: records,
 * order, gets, first and last index, truncations, assigned indexes. */
TH_TEST(fastopen, an_open_from_index_files_sees_what_reading_every_frame_sees)
{
	char *log = sub("log"), *a = sub("a"), *b = sub("b"), *c = sub("c");
	build_log(log);
	run("cp -a '%s' '%s'", log, a);
	run("cp -a '%s' '%s'", log, b);
	run("cp -a '%s' '%s'", log, c);
	th_remove_indexes(b);
	struct view fast, slow, verify, ro;
	cr_assert_eq(take_view(a, 0, &fast, NULL), 0);
	cr_assert_eq(take_view(b, 0, &slow, NULL), 0);
	cr_assert_eq(take_view(c, UWAL_OPEN_VERIFY, &verify, NULL), 0);
	cr_assert_eq(take_view(log, UWAL_OPEN_READONLY, &ro, NULL), 0);
	same_view(&fast, &slow, "index files vs none");
	same_view(&fast, &verify, "index files vs UWAL_OPEN_VERIFY");
	cr_assert_geq(fast.next, 320, "assigned indexes went back to %llu",
		      (unsigned long long)fast.next);
	ro.next = fast.next;
	same_view(&fast, &ro, "read-only");
	free(log);
	free(a);
	free(b);
	free(c);
}

/* Guards against an index-less log (an older library's) not opening, or
 * never getting index files. */
TH_TEST(fastopen, a_log_without_index_files_opens_by_reading_and_gets_them)
{
	char *log = sub("log");
	build_log(log);
	th_remove_indexes(log);
	struct view v;
	cr_assert_eq(take_view(log, UWAL_OPEN_READONLY, &v, NULL), 0);
	cr_assert_eq(count_indexes(log), 0, "a read-only open wrote index files");
	uwal_config cfg;
	cfg_small(&cfg, log);
	uwal *w = th_open(&cfg);
	th_wait_indexes(w, log);
	th_close(w);
	struct view again;
	cr_assert_eq(take_view(log, UWAL_OPEN_READONLY, &again, NULL), 0);
	same_view(&v, &again, "before and after the index files");
	free(log);
}

/* The name of dir's k-th segment file (0: the oldest), into a static
 * buffer. The log of build_log() holds at least four. */
static const char *nth_seg(const char *dir, size_t k)
{
	static char name[4][300];
	static int turn;
	th_seglist *l = th_segments(dir, "segment_");
	cr_assert_gt(l->n, k);
	char *out = name[turn++ % 4];
	snprintf(out, 300, "%s", l->name[k]);
	free(l);
	return out;
}

/* dir's second segment with a byte of a record's value flipped; its offset. */
static uint64_t damage_seg1(const char *dir)
{
	char path[4700];
	snprintf(path, sizeof(path), "%s/%s", dir, nth_seg(dir, 1));
	th_frame f[64];
	size_t n = th_scan(path, f, 64, NULL);
	for (size_t i = 0; i < n; i++)
		if (f[i].type == TH_FRAME_RECORD) {
			th_flip_byte(path, f[i].off + f[i].len - 1);
			return f[i].off;
		}
	cr_assert_fail("no record in segment 1");
	return 0;
}

/* Guards against UWAL_OPEN_VERIFY trusting an index file, and documents
 * what a default open checks: not the frames of an indexed segment. */
TH_TEST(fastopen, verify_finds_damage_in_a_sealed_segment_whose_index_is_fine)
{
	char *log = sub("log");
	build_log(log);
	damage_seg1(log);
	struct view v;
	cr_assert_eq(take_view(log, UWAL_OPEN_VERIFY | UWAL_OPEN_READONLY, &v, NULL),
		     UWAL_ECORRUPT);
	/* A default open trusts the index file; the damage shows when read. */
	uwal_config cfg;
	cfg_small(&cfg, log);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *w = th_open(&cfg);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		;
	cr_assert_eq(rc, UWAL_ECORRUPT, "reading the damaged frame: %s", uwal_strerror(rc));
	uwal_iter_close(it);
	th_close(w);
	free(log);
}

struct bad_index {
	const char *what;
	void (*apply)(const char *idx, const char *dir, long arg);
	long arg;
	bool said; /* log_fn says why the file is not used */
};

static void flip(const char *idx, const char *dir, long at)
{
	(void)dir;
	struct stat st;
	cr_assert_eq(stat(idx, &st), 0);
	th_flip_byte(idx, at >= 0 ? (uint64_t)at : (uint64_t)(st.st_size + at));
}

static void cut(const char *idx, const char *dir, long keep)
{
	(void)dir;
	struct stat st;
	cr_assert_eq(stat(idx, &st), 0);
	th_truncate(idx, keep >= 0 ? (uint64_t)keep : (uint64_t)(st.st_size + keep));
}

static void gone(const char *idx, const char *dir, long arg)
{
	(void)dir;
	(void)arg;
	cr_assert_eq(unlink(idx), 0);
}

static void other_segment(const char *idx, const char *dir, long arg)
{
	(void)arg;
	char from[4700];
	snprintf(from, sizeof(from), "%s/%s.idx", dir, nth_seg(dir, 2));
	run("cp '%s' '%s'", from, idx);
}

/* The same segment number's index file from another log (another key):
 * a segment file replaced since its index was written. */
static void other_log(const char *idx, const char *dir, long arg)
{
	(void)dir;
	(void)arg;
	char *o = sub("other"), from[4700];
	build_log(o);
	snprintf(from, sizeof(from), "%s/%s.idx", o, nth_seg(dir, 1));
	run("cp '%s' '%s'", from, idx);
	free(o);
}

/* The segment grew after its index was written. */
static void seg_grown(const char *idx, const char *dir, long arg)
{
	(void)idx;
	(void)arg;
	char path[4700];
	snprintf(path, sizeof(path), "%s/%s", dir, nth_seg(dir, 1));
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	unsigned char z = 0;
	th_write_at(path, (uint64_t)st.st_size, &z, 1);
}

/* Guards against trusting an index file that is damaged, torn, missing,
 * of another segment or stale: each time the damaged segment must be
 * read frame by frame, which refuses it. */
TH_TEST(fastopen, a_bad_index_file_is_never_trusted)
{
	static const struct bad_index cases[] = {
		{"magic byte flipped", flip, 0, true},
		{"length byte flipped", flip, 9, true},
		{"segment number flipped", flip, 16, true},
		{"salt flipped", flip, 29, true},
		{"size flipped", flip, 41, true},
		{"records flipped", flip, 57, true},
		{"a run flipped", flip, 100, true},
		{"an offset flipped", flip, -6, true},
		{"crc flipped", flip, -1, true},
		{"torn: last byte gone", cut, -1, true},
		{"torn: header only", cut, 96, true},
		{"empty", cut, 0, true},
		{"missing", gone, 0, false},
		{"another segment's", other_segment, 0, true},
		{"another log's segment 1", other_log, 0, true},
		{"segment grown since", seg_grown, 0, true},
	};
	char *log = sub("log");
	build_log(log);
	damage_seg1(log);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct bad_index *c = &cases[k];
		char *d = sub("case"), idx[4700];
		run("rm -rf '%s'%s", d, "");
		run("cp -a '%s' '%s'", log, d);
		snprintf(idx, sizeof(idx), "%s/%s.idx", d, nth_seg(d, 1));
		c->apply(idx, d, c->arg);
		th_log lg;
		th_log_init(&lg);
		struct view v;
		int rc = take_view(d, UWAL_OPEN_READONLY, &v, &lg);
		cr_assert_eq(rc, UWAL_ECORRUPT, "%s: the open trusted it (%s)", c->what,
			     uwal_strerror(rc));
		cr_assert(!c->said || th_log_has(&lg, "index file not used"),
			  "%s: log_fn did not say: %s", c->what, lg.buf);
		th_log_destroy(&lg);
		free(d);
	}
	free(log);
}

/* Guards against removals leaving index files behind, and leftovers
 * surviving an open. */
TH_TEST(fastopen, retention_and_truncation_remove_index_files_and_open_removes_leftovers)
{
	uwal_config cfg;
	cfg_small(&cfg, g_dir);
	cfg.max_segments = 3;
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 100);
	th_wait_deleted(w, 5);
	th_wait_indexes(w, g_dir);
	cr_assert_eq(uwal_truncate_front(w, 95), 0);
	th_write_range(w, 101, 103);
	th_sleep_ms(100);
	th_close(w);
	/* Every index file has its segment. */
	DIR *d = opendir(g_dir);
	cr_assert_not_null(d);
	struct dirent *e;
	size_t n = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 4, ".idx") != 0)
			continue;
		char seg[300], path[4700];
		snprintf(seg, sizeof(seg), "%.*s", (int)(l - 4), e->d_name);
		cr_assert(th_exists(th_join(path, sizeof(path), g_dir, seg)),
			  "%s without its segment", e->d_name);
		n++;
	}
	closedir(d);
	cr_assert_leq(n, 3);

	char orphan[4700], tmp[4700];
	th_join(orphan, sizeof(orphan), g_dir, "segment_00000000000000000999.idx");
	th_join(tmp, sizeof(tmp), g_dir, "segment_00000000000000000001.idx.tmp");
	th_create_file(orphan, "x", 1);
	th_create_file(tmp, "x", 1);
	cfg.open_flags = UWAL_OPEN_READONLY;
	th_close(th_open(&cfg));
	cr_assert(th_exists(orphan) && th_exists(tmp), "a read-only open removed files");
	cfg.open_flags = 0;
	th_close(th_open(&cfg));
	cr_assert(!th_exists(orphan), "an index file without its segment survived the open");
	cr_assert(!th_exists(tmp), "a temporary index file survived the open");
}

/* Guards against unsafe recover leaving the index file of a segment it
 * removes (a later segment of that number would find it). */
TH_TEST(fastopen, unsafe_recover_removes_the_index_file_with_its_segment)
{
	char *log = sub("log");
	build_log(log);
	char idx[4800], seg[4700];
	snprintf(seg, sizeof(seg), "%s/%s", log, nth_seg(log, 1));
	snprintf(idx, sizeof(idx), "%s.idx", seg);
	cr_assert(th_exists(idx));
	th_flip_byte(seg, 40); /* a frame header: the segment is removed */
	char **rep;
	size_t n;
	cr_assert_eq(uwal_unsafe_recover(log, NULL, &rep, &n), 0);
	uwal_free_list(rep, n);
	cr_assert(!th_exists(seg));
	cr_assert(!th_exists(idx), "the index file of a removed segment survived");
	free(log);
}

/* Guards against a power cut while an index file is written (or right
 * after) leaving a log that is refused or reads differently. */
TH_TEST(fastopen, a_power_cut_at_each_step_of_writing_an_index_file_leaves_the_log_whole)
{
	bool done = false;
	size_t with = 0, without = 0; /* images with segment 0's index file */
	for (uint64_t cutat = 0; !done && cutat < 400; cutat++) {
		char base[4400], logd[4500], out[4500], olog[4600];
		snprintf(base, sizeof(base), "%s/sim%llu", g_dir, (unsigned long long)cutat);
		cr_assert_eq(th_mkdir_p(base), 0);
		snprintf(logd, sizeof(logd), "%s/log", base);
		snprintf(out, sizeof(out), "%s/out", base);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));
		uwal_config cfg;
		cfg_small(&cfg, logd);
		cfg.sync_mode = UWAL_SYNC_BATCH;
		uwal *w = th_open(&cfg);
		th_write_range(w, 1, 9);
		crashsim_settle(sim);
		crashsim_arm(sim, cutat, NULL, NULL);
		/* The rotation at 10: seal, then the preparer writes the index
		 * file of segment 0 (tmp file, write, fdatasync, close, rename). */
		uint64_t acked = 9;
		for (uint64_t i = 10; i <= 13; i++)
			if (th_write_std(w, i, false) == 0 && acked == i - 1)
				acked = i;
		/* The preparer writes segment 0's index file in the background:
		 * wait for it (a loaded machine may start it late) unless the
		 * cut came first. */
		char ridx[4600];
		snprintf(ridx, sizeof(ridx), "%s/segment_00000000000000000000.idx", logd);
		for (int k = 0; k < 1000 && !crashsim_is_cut(sim) && !th_exists(ridx); k++)
			th_sleep_ms(10);
		crashsim_settle(sim);
		done = !crashsim_is_cut(sim);
		crashsim_cut(sim, cutat + 1);
		uwal_close(w);
		tio_select(NULL);
		for (uint64_t seed = 1; seed <= 3; seed++) {
			run("rm -rf '%s'%s", out, "");
			cr_assert_eq(crashsim_layout(sim, seed * 7919 + cutat, out, NULL), 0);
			snprintf(olog, sizeof(olog), "%s/log", out);
			char idx[4800];
			snprintf(idx, sizeof(idx), "%s/segment_00000000000000000000.idx", olog);
			if (th_exists(idx))
				with++;
			else
				without++;
			char copy[4700];
			snprintf(copy, sizeof(copy), "%s/verify", base);
			run("rm -rf '%s'%s", copy, "");
			run("cp -a '%s' '%s'", olog, copy);
			struct view v, vv;
			th_log lg;
			th_log_init(&lg);
			int rc = take_view(olog, 0, &v, &lg);
			cr_assert_eq(rc, 0, "cut at %llu seed %llu: %s: %s",
				     (unsigned long long)cutat, (unsigned long long)seed,
				     uwal_strerror(rc), lg.buf);
			th_log_destroy(&lg);
			cr_assert_eq(take_view(copy, UWAL_OPEN_VERIFY, &vv, NULL), 0);
			same_view(&v, &vv, "after the cut: index files vs every frame");
			cr_assert_geq(v.last, acked, "cut at %llu: acknowledged records lost",
				      (unsigned long long)cutat);
		}
		crashsim_free(sim);
		th_rmrf(base);
	}
	cr_assert(done, "the writes never ran to the end without a cut");
	cr_assert(with > 0 && without > 0,
		  "the cuts missed the index file's writing (%zu with, %zu without)", with,
		  without);
}

/* Segment files only, not their index files: "segment_" and 20 digits. */
#define SEG_FILES "segment_????????????????????"

/* Every index file of dir a is in dir b with the same bytes, and b has no
 * other; how many there are. */
static size_t same_indexes(const char *a, const char *b)
{
	cr_assert_eq(count_indexes(a), count_indexes(b), "%s and %s have different index files", a,
		     b);
	th_seglist *l = th_segments(a, "segment_");
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		char name[300], pa[4700], pb[4700];
		snprintf(name, sizeof(name), "%s.idx", l->name[i]);
		if (!th_exists(th_join(pa, sizeof(pa), a, name)))
			continue;
		cr_assert(th_exists(th_join(pb, sizeof(pb), b, name)), "%s: not in %s", name, b);
		size_t la, lb;
		unsigned char *x = th_read_file(pa, &la), *y = th_read_file(pb, &lb);
		cr_assert(la == lb && memcmp(x, y, la) == 0,
			  "%s: %zu bytes made at the seal, %zu by a scan, not the same", name, la,
			  lb);
		free(x);
		free(y);
		n++;
	}
	free(l);
	return n;
}

/* Index files written again by a scan: dir copied to scan, its index files
 * removed, and an open that writes them. */
static void rescan(const char *dir, const char *scan)
{
	run("cp -a '%s' '%s'", dir, scan);
	th_remove_indexes(scan);
	uwal_config cfg;
	cfg_small(&cfg, scan);
	uwal *w = th_open(&cfg);
	th_wait_indexes(w, scan);
	th_close(w);
}

/*
 * Guards against an index file made at the seal from the writer's table
 * (no read of the segment) saying anything else than a scan of the file
 * says, byte for byte: with mark frames (durable batches, the idle
 * writer's mark frame), NEXT frames (retention), assigned indexes, batches
 * and asynchronous submissions - and against it not being made from the
 * table at all (then the sealed segments would have been read).
 */
TH_TEST(fastopen, an_index_file_made_at_the_seal_is_the_one_a_scan_makes)
{
	char *log = sub("log"), *scan = sub("scan");
	uwal_config cfg;
	cfg_small(&cfg, log);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.max_segments = 1000; /* a NEXT frame starts each segment */
	uwal *w = th_open(&cfg);
	uint64_t reads = tio_count(TIO_PREAD, SEG_FILES);
	uint64_t ix = 1;
	for (int round = 0; round < 12; round++) {
		for (int i = 0; i < 3; i++, ix++)
			cr_assert_eq(th_write_std(w, ix, round % 2 == 0), 0);
		uwal_record b[7];
		char keys[7][TH_KEY_MAX];
		for (int i = 0; i < 7; i++, ix++)
			b[i] = (uwal_record){.index = ix,
					     .key = keys[i],
					     .key_len = th_key(ix, keys[i]),
					     .value = "v",
					     .value_len = 1};
		cr_assert_eq(uwal_write_batch(w, b, 7, round % 3 == 0), 0);
		cr_assert_eq(uwal_submit(w, NULL, 0, UWAL_SUBMIT_SYNC, 1), 0);
		for (int i = 0; i < 4; i++) {
			uwal_record r = {.key = "s", .key_len = 1, .value = "t", .value_len = 1};
			cr_assert_eq(uwal_submit(w, &r, 1, 0, (uint64_t)i), 0);
		}
		uwal_completion c[8];
		size_t got = 0;
		while (got < 5) {
			int n = uwal_reap(w, c, 8, -1);
			cr_assert_gt(n, 0, "reap: %d", n);
			for (int k = 0; k < n; k++)
				cr_assert_eq(c[k].result, 0);
			got += (size_t)n;
		}
		ix = uwal_last_index(w) + 1;
		cr_assert_eq(uwal_append(w, "a", 1, "b", 1, round % 2 == 1, NULL), 0);
		ix++;
		th_sleep_ms(3); /* the writer goes idle: its mark frame */
	}
	th_wait_indexes(w, log);
	cr_assert_eq(tio_count(TIO_PREAD, SEG_FILES), reads,
		     "the index files were made by reading the segments");
	th_close(w);
	rescan(log, scan);
	cr_assert_geq(same_indexes(log, scan), 8);
	free(log);
	free(scan);
}

/* Guards against an index file made from a table that a truncation
 * changed: with front and back truncations across the segments (whose
 * index files then come from their frames), every index file is still
 * the one a scan makes. */
TH_TEST(fastopen, with_truncations_every_index_file_is_the_one_a_scan_makes)
{
	char *log = sub("log"), *scan = sub("scan");
	build_log(log);
	rescan(log, scan);
	cr_assert_geq(same_indexes(log, scan), 3);
	free(log);
	free(scan);
}
