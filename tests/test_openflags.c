/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_openflags.c - uwal_config.open_flags: a read-only open that takes
 * no lock, sits beside a live writer and changes no byte of the directory;
 * an open that refuses to cut a torn tail and says what it would cut; the
 * verify flag; unknown flags and configs that predate the field.
 */
#include <stddef.h>

#include "helpers.h"

TH_SUITE(openflags, 120);

/* ---- helpers ---------------------------------------------------------------- */

/* Write records first..last (standard contents) and close. */
static void fill_log(const uwal_config *cfg, uint64_t first, uint64_t last)
{
	uwal *w = th_open(cfg);
	for (uint64_t i = first; i <= last; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
}

static void small_config(uwal_config *cfg, const char *dir)
{
	th_config(cfg, dir);
	cfg->segment_size = 64u << 10;
	cfg->segment_threshold = 10;
}

/* Every record of the log, by index and by iterator, is first..last. */
static void check_records(uwal *w, uint64_t first, uint64_t last)
{
	cr_assert_eq(uwal_first_index(w), first);
	cr_assert_eq(uwal_last_index(w), last);
	for (uint64_t i = first; i <= last; i++)
		th_check_std(w, i);
	th_check_absent(w, last + 1);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t want = first;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		th_check_std_rec(&r, want++);
	cr_assert_eq(rc, 0);
	cr_assert_eq(want, last + 1, "the iterator ended at %llu", (unsigned long long)want);
	uwal_iter_close(it);
}

/* A digest of a directory: every name, size and byte (FNV-1a). */
static uint64_t dir_digest(const char *dir)
{
	static struct name {
		char s[256];
	} names[256];
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		cr_assert(n < 256);
		snprintf(names[n++].s, sizeof(names[0].s), "%s", e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), th_cmp_names);
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		char path[4352];
		size_t len;
		snprintf(path, sizeof(path), "%.4000s/%.255s", dir, names[i].s);
		unsigned char *b = th_read_file(path, &len);
		for (const char *p = names[i].s; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		h = (h ^ len) * 1099511628211ull;
		for (size_t k = 0; k < len; k++)
			h = (h ^ b[k]) * 1099511628211ull;
		free(b);
	}
	return h;
}

/* Append a partial frame after the last frame of the last data segment;
 * returns its offset and fills path. */
static uint64_t tear_tail(char *path, size_t n)
{
	th_last_data_segment(g_dir, "segment_", path, n);
	static th_frame f[4096];
	uint64_t end;
	th_scan(path, f, 4096, &end);
	unsigned char torn[40];
	memset(torn, 0x5a, sizeof(torn));
	torn[0] = 90;
	torn[1] = torn[2] = torn[3] = 0;
	torn[4] = TH_FRAME_RECORD;
	torn[5] = torn[6] = torn[7] = 0;
	th_write_at(path, end, torn, sizeof(torn));
	return end;
}

static void ro_config(uwal_config *cfg, const char *dir)
{
	small_config(cfg, dir);
	cfg->open_flags = UWAL_OPEN_READONLY;
}

/* ---- read-only ---------------------------------------------------------- */

/*
 * Guards against a read-only open writing anything: no lock file, no cut
 * of the torn tail, no removal of leftovers or of the empty prepared
 * segment, no new segment. Every file keeps every byte.
 */
TH_TEST(openflags, readonly_open_changes_no_byte_of_the_directory)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	fill_log(&cfg, 1, 35);
	char path[4352], tmp[4352];
	tear_tail(path, sizeof(path));
	th_create_file(th_join(tmp, sizeof(tmp), g_dir, "segment_00000000000000000009.tmp"), "x",
		       1);
	uint64_t before = dir_digest(g_dir);

	uwal_config ro;
	ro_config(&ro, g_dir);
	uwal *r = th_open(&ro);
	check_records(r, 1, 35);
	th_close(r);
	cr_assert_eq(dir_digest(g_dir), before, "a read-only open changed the directory");
}

/* Guards against a read-only open of a fresh directory creating a log. */
TH_TEST(openflags, readonly_open_creates_neither_directory_nor_files)
{
	char missing[4352];
	th_join(missing, sizeof(missing), g_dir, "no-such-log");
	uwal_config ro;
	ro_config(&ro, missing);
	uwal *r = NULL;
	cr_assert_eq(uwal_open(&ro, &r), -ENOENT);
	cr_assert_not(th_exists(missing), "a read-only open created the directory");

	ro_config(&ro, g_dir);
	uint64_t empty = dir_digest(g_dir);
	r = th_open(&ro);
	cr_assert_eq(uwal_last_index(r), 0);
	th_check_absent(r, 1);
	uwal_iter *it;
	uwal_record rec;
	cr_assert_eq(uwal_iter_open(r, &it), 0);
	cr_assert_eq(uwal_iter_next(it, &rec), 0);
	uwal_iter_close(it);
	th_close(r);
	cr_assert_eq(dir_digest(g_dir), empty, "a read-only open of an empty dir wrote files");
}

/* Guards against writes through a read-only handle being taken (or hanging). */
TH_TEST(openflags, readonly_handle_refuses_writes_with_ereadonly)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	fill_log(&cfg, 1, 3);
	uwal_config ro;
	ro_config(&ro, g_dir);
	uwal *r = th_open(&ro);
	cr_assert_eq(th_write_std(r, 4, false), UWAL_EREADONLY);
	cr_assert_eq(th_write_std(r, 4, true), UWAL_EREADONLY);
	uwal_record one = {5, "k", 1, "v", 1};
	cr_assert_eq(uwal_write_batch(r, &one, 1, false), UWAL_EREADONLY);
	cr_assert_str_eq(uwal_strerror(UWAL_EREADONLY), "the log was opened read-only");
	check_records(r, 1, 3);
	uwal_stats st = th_stats(r);
	cr_assert_eq(st.records, 0);
	th_close(r);
}

/*
 * Guards against a read-only open needing the lock, or seeing less than
 * what was acknowledged when it opened, beside a live writer in the same
 * process; it sees nothing written later, and a new read-only open does.
 */
TH_TEST(openflags, readonly_open_beside_a_live_writer_sees_what_was_acknowledged)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 25; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_config ro;
	ro_config(&ro, g_dir);
	uwal *r = th_open(&ro);
	check_records(r, 1, 25);
	/* The writer goes on, across rotations. */
	for (uint64_t i = 26; i <= 60; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	check_records(r, 1, 25);
	uwal *r2 = th_open(&ro);
	check_records(r2, 1, 60);
	th_close(r2);
	th_close(r);
	/* The writer was never disturbed, and its log is whole. */
	cr_assert_eq(th_write_std(w, 61, true), 0);
	th_close(w);
	w = th_open(&cfg);
	check_records(w, 1, 61);
	th_close(w);
}

/* Guards against a read-only open presenting a torn tail's bytes. */
TH_TEST(openflags, readonly_open_ends_at_the_first_incomplete_frame)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	fill_log(&cfg, 1, 15);
	char path[4352];
	tear_tail(path, sizeof(path));
	uwal_config ro;
	ro_config(&ro, g_dir);
	uwal *r = th_open(&ro);
	check_records(r, 1, 15);
	th_close(r);
}

/* ---- no repair -------------------------------------------------------------- */

/*
 * Guards against UWAL_OPEN_NO_REPAIR cutting a torn tail: it refuses with
 * UWAL_ECORRUPT, names the file, offset and records, and changes nothing;
 * a normal open then cuts it.
 */
TH_TEST(openflags, no_repair_refuses_a_torn_tail_and_says_what_it_would_cut)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	fill_log(&cfg, 1, 15);
	char path[4352];
	uint64_t off = tear_tail(path, sizeof(path));
	uint64_t before = dir_digest(g_dir);

	th_log log;
	th_log_init(&log);
	uwal_config nr = cfg;
	nr.open_flags = UWAL_OPEN_NO_REPAIR;
	nr.log_fn = th_log_fn;
	nr.log_ctx = &log;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&nr, &w), UWAL_ECORRUPT);
	cr_assert_null(w);
	const char *name = strrchr(path, '/') + 1;
	char want[512];
	snprintf(want, sizeof(want),
		 "torn tail not cut (UWAL_OPEN_NO_REPAIR): %s/%s at offset %llu: 1 record would "
		 "be dropped (0 whole, of a uwal_write_batch() call cut short; 1 torn frame), 40 "
		 "bytes of frames",
		 g_dir, name, (unsigned long long)off);
	cr_assert(th_log_has(&log, want), "want \"%s\" in:\n%s", want, log.buf);
	cr_assert_eq(dir_digest(g_dir), before, "a refused open changed the directory");

	/* With READONLY as well it is refused too. */
	nr.open_flags = UWAL_OPEN_NO_REPAIR | UWAL_OPEN_READONLY;
	cr_assert_eq(uwal_open(&nr, &w), UWAL_ECORRUPT);

	w = th_open(&cfg);
	check_records(w, 1, 15);
	th_close(w);
	nr.open_flags = UWAL_OPEN_NO_REPAIR;
	w = th_open(&nr);
	check_records(w, 1, 15);
	cr_assert_eq(th_write_std(w, 16, true), 0);
	th_close(w);
	th_log_destroy(&log);
}

/* ---- verify and the field itself ------------------------------------------ */

/* Guards against UWAL_OPEN_VERIFY checking less than a plain open. */
TH_TEST(openflags, verify_opens_a_healthy_log_and_refuses_a_damaged_sealed_segment)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	fill_log(&cfg, 1, 25);
	uwal_config v = cfg;
	v.open_flags = UWAL_OPEN_VERIFY;
	uwal *w = th_open(&v);
	check_records(w, 1, 25);
	th_close(w);
	th_seglist *l = th_segments(g_dir, "segment_");
	char path[4352];
	th_join(path, sizeof(path), g_dir, l->name[0]);
	free(l);
	th_flip_byte(path, TH_SEG_HEADER + TH_FRAME_HEADER + 2);
	w = NULL;
	cr_assert_eq(uwal_open(&v, &w), UWAL_ECORRUPT);
	v.open_flags = UWAL_OPEN_VERIFY | UWAL_OPEN_READONLY;
	cr_assert_eq(uwal_open(&v, &w), UWAL_ECORRUPT);
}

/* Guards against unknown open flags being ignored. */
TH_TEST(openflags, unknown_open_flags_are_refused_naming_the_field)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.open_flags = 1u << 7;
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
	cr_assert(th_log_has(&log, "open_flags"), "log: %s", log.buf);
	th_log_destroy(&log);
}

/* Guards against a program built before open_flags existed getting garbage. */
TH_TEST(openflags, config_of_a_program_without_open_flags_opens_normally)
{
	struct {
		uwal_config cfg;
		unsigned char poison[8];
	} old;
	memset(&old, 0xff, sizeof(old));
	uwal_config_init_sized(&old.cfg, offsetof(uwal_config, open_flags));
	old.cfg.dir = g_dir;
	old.cfg.segment_size = 64u << 10;
	uwal *w = th_open(&old.cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0, "the handle was read-only");
	th_close(w);
}

struct ro_open {
	uwal_config cfg;
	uwal *r;
	int rc;
};

static void *open_ro(void *arg)
{
	struct ro_open *o = arg;
	o->rc = uwal_open(&o->cfg, &o->r);
	return NULL;
}

/*
 * Guards against a read-only open failing (or stopping short) when the
 * live writer seals the segment it just read and goes on into the next:
 * the segment is read again, sealed now, and the snapshot goes on.
 */
TH_TEST(openflags, readonly_open_racing_a_rotation_reads_on_into_the_next_segment)
{
	uwal_config cfg;
	small_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 6; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	char next[4352];
	th_join(next, sizeof(next), g_dir, "segment_00000000000000000001");
	for (int k = 0; k < 400 && !th_exists(next); k++)
		th_sleep_ms(5);
	cr_assert(th_exists(next), "the next segment was not prepared");

	struct ro_open o = {.rc = 1};
	ro_config(&o.cfg, g_dir);
	tio_pause(TIO_OPEN, "segment_00000000000000000001", 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, open_ro, &o), 0);
	cr_assert(tio_wait_paused(5000), "the read-only open never reached segment 1");
	/* Segment 0 was read unsealed; now the writer seals it and goes on. */
	for (uint64_t i = 7; i <= 15; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	tio_release();
	pthread_join(t, NULL);
	cr_assert_eq(o.rc, 0, "read-only open: %d %s", o.rc, uwal_strerror(o.rc));
	check_records(o.r, 1, 15);
	th_close(o.r);
	th_close(w);
}
