/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_io_faults.c - one injected failure (the fault backend,
 * tests/io/faultio.h) for each operation of the I/O layer outside the
 * append path (test_faults.c has the writes, fdatasyncs, seals and segment
 * preparation): opening a log (mkdir, the directory, the lock file, the
 * listing, each segment's open, size and header read), repairing its tail,
 * removing an unused prepared segment, retention's unlink and directory
 * fsync, reads by uwal_get() and by iterators, and uwal_unsafe_recover().
 *
 * What each checks is what a user sees: the error the call returns,
 * whether the handle is poisoned (a handle that is not closes with 0), and
 * that the log opens afterwards with every acknowledged record. A failed
 * uwal_open() or uwal_unsafe_recover() that fails before it removes
 * anything leaves every file of the log as it was, byte for byte.
 */
#include "helpers.h"

TH_SUITE(io_faults, 120);

#define SEGS "segment_*[0-9]"

/* The directory's own name: what dirsync, list and mkdir are matched on. */
static const char *dir_name(void)
{
	return strrchr(g_dir, '/') + 1;
}

/* 64 KiB segments of 4 records: a few records make a few segments. */
static void small_config(uwal_config *cfg, th_log *log)
{
	th_config(cfg, g_dir);
	cfg->segment_size = 64u << 10;
	cfg->segment_threshold = 4;
	if (log) {
		cfg->log_fn = th_log_fn;
		cfg->log_ctx = log;
	}
}

/* Write records 1..n and close. */
static void make_log(const uwal_config *cfg, uint64_t n)
{
	uwal *w = th_open(cfg);
	for (uint64_t i = 1; i <= n; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
}

/* Open, find exactly the records from..to, close. */
static void check_records(const uwal_config *cfg, uint64_t from, uint64_t to)
{
	uwal *w = th_open(cfg);
	for (uint64_t i = from; i <= to; i++)
		th_check_std(w, i);
	th_check_absent(w, to + 1);
	if (from > 1)
		th_check_absent(w, from - 1);
	th_close(w);
}

/* ---- every file of the directory, byte for byte ------------------------- */

enum { SNAP_MAX = 32 };

struct snap {
	size_t n;
	char name[SNAP_MAX][TH_NAME_MAX];
	unsigned char *data[SNAP_MAX];
	size_t len[SNAP_MAX];
};

static void snap_take(struct snap *s)
{
	memset(s, 0, sizeof(*s));
	DIR *d = opendir(g_dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		cr_assert_lt(s->n, SNAP_MAX);
		snprintf(s->name[s->n++], TH_NAME_MAX, "%s", e->d_name);
	}
	closedir(d);
	qsort(s->name, s->n, TH_NAME_MAX, th_cmp_names);
	for (size_t i = 0; i < s->n; i++) {
		char p[4096];
		s->data[i] = th_read_file(th_join(p, sizeof(p), g_dir, s->name[i]), &s->len[i]);
	}
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->data[i]);
}

/* Fail unless the directory holds exactly the files of before, unchanged. */
static void check_unchanged(struct snap *before, const char *what)
{
	struct snap now;
	snap_take(&now);
	cr_assert_eq(now.n, before->n, "%s: %zu files, %zu before", what, now.n, before->n);
	for (size_t i = 0; i < now.n; i++) {
		cr_assert_str_eq(now.name[i], before->name[i], "%s: file list changed", what);
		cr_assert(now.len[i] == before->len[i] &&
				  memcmp(now.data[i], before->data[i], now.len[i]) == 0,
			  "%s: %s changed", what, now.name[i]);
	}
	snap_free(&now);
	snap_free(before);
}

/* ---- opening a log --------------------------------------------------------- */

/*
 * A log of 14 records (three sealed segments, the tail and maybe a
 * prepared one); the nth operation of kind on files fails with err while
 * it is opened. uwal_open() returns want and leaves every file as it was;
 * the next open finds every record.
 */
static void open_failure(enum tio_kind kind, const char *files, uint64_t nth, int err, int want)
{
	uwal_config cfg;
	small_config(&cfg, NULL);
	make_log(&cfg, 14);
	struct snap before;
	snap_take(&before);
	tio_arm(kind, files, nth, err);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	tio_clear();
	cr_assert_eq(rc, want, "uwal_open returned %d (%s), want %d (%s)", rc, uwal_strerror(rc),
		     want, uwal_strerror(want));
	cr_assert_null(w, "a failed uwal_open set *out");
	check_unchanged(&before, "failed open");
	check_records(&cfg, 1, 14);
}

/* Guards against an open that goes on without its directory. */
TH_TEST(io_faults, open_fails_when_mkdir_fails)
{
	open_failure(TIO_MKDIR, dir_name(), 1, -EACCES, -EACCES);
}

TH_TEST(io_faults, open_fails_when_the_directory_cannot_be_opened)
{
	open_failure(TIO_OPEN_DIR, dir_name(), 1, -EMFILE, -EMFILE);
}

/* Guards against opening a log without holding its lock. */
TH_TEST(io_faults, open_fails_when_the_lock_file_cannot_be_opened)
{
	open_failure(TIO_OPEN, "*lock", 1, -EACCES, -EACCES);
}

TH_TEST(io_faults, open_fails_when_the_lock_cannot_be_taken)
{
	open_failure(TIO_FLOCK, "*lock", 1, -ENOLCK, -ENOLCK);
}

/* Guards against a lock held elsewhere being reported as an I/O error. */
TH_TEST(io_faults, open_reports_a_lock_held_elsewhere_as_elocked)
{
	open_failure(TIO_FLOCK, "*lock", 1, -EWOULDBLOCK, UWAL_ELOCKED);
}

/* Guards against an open that takes an unreadable directory for an empty
 * log (and starts a new one beside the old segments). */
TH_TEST(io_faults, open_fails_when_the_directory_cannot_be_listed)
{
	open_failure(TIO_LIST, dir_name(), 1, -EIO, -EIO);
}

/* Guards against an open that skips a segment it cannot open (a gap, or
 * records lost) instead of failing. */
TH_TEST(io_faults, open_fails_when_a_segment_cannot_be_opened)
{
	open_failure(TIO_OPEN, SEGS, 2, -EMFILE, -EMFILE);
}

/* Guards against an open that scans a segment whose size it does not know
 * (and repairs the tail to a size it made up). */
TH_TEST(io_faults, open_fails_when_a_segment_size_is_unknown)
{
	open_failure(TIO_FILE_SIZE, SEGS, 1, -EIO, -EIO);
}

TH_TEST(io_faults, open_fails_when_the_tail_size_is_unknown)
{
	open_failure(TIO_FILE_SIZE, SEGS, 4, -EIO, -EIO);
}

/* Guards against a failed header read being taken for a corrupt segment. */
TH_TEST(io_faults, open_fails_when_a_segment_header_cannot_be_read)
{
	open_failure(TIO_PREAD, SEGS, 1, -EIO, -EIO);
}

/* ---- repairing the tail at open ------------------------------------------- */

/*
 * One segment of 10 records, its preallocation cut off (as after a crash
 * on a filesystem that does not keep it): the open must cut, preallocate
 * again, zero and fdatasync the tail before it takes writes. When one of
 * those fails, the open fails with its error and the log is intact.
 */
static void tail_repair_failure(enum tio_kind kind, bool unchanged)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.prealloc = UWAL_PREALLOC_ZERO; /* the tail is zeroed again */
	make_log(&cfg, 10);
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_eq(l->n, 1);
	char path[4096];
	th_join(path, sizeof(path), g_dir, l->name[0]);
	free(l);
	th_frame f[16];
	uint64_t end;
	cr_assert_eq(th_scan(path, f, 16, &end), 10);
	th_truncate(path, end);

	struct snap before;
	snap_take(&before);
	tio_arm(kind, SEGS, 1, -EIO);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_open with a failing tail repair returned %d (%s)", rc,
		     uwal_strerror(rc));
	cr_assert_null(w);
	if (unchanged)
		check_unchanged(&before, "failed tail repair");
	else
		snap_free(&before);
	check_records(&cfg, 1, 10);
	cr_assert_eq(th_file_size(path), cfg.segment_size, "the next open did not repair the tail");
}

/* Guards against a log that takes writes on a tail whose cut, preallocation
 * or sync failed. */
TH_TEST(io_faults, open_fails_when_the_tail_cannot_be_cut)
{
	tail_repair_failure(TIO_FTRUNCATE, true);
}

TH_TEST(io_faults, open_fails_when_the_tail_cannot_be_preallocated)
{
	tail_repair_failure(TIO_FALLOCATE, true);
}

TH_TEST(io_faults, open_fails_when_the_tail_cannot_be_zeroed)
{
	tail_repair_failure(TIO_PWRITE, false); /* the preallocation is done */
}

TH_TEST(io_faults, open_fails_when_the_tail_zeros_cannot_be_written_out)
{
	tail_repair_failure(TIO_WRITEBACK, false);
}

TH_TEST(io_faults, open_fails_when_the_repaired_tail_cannot_be_synced)
{
	tail_repair_failure(TIO_FDATASYNC, false);
}

/* Guards against an open that scans a tail it does not know the size of:
 * one that ends right after its last frame was scanned for ever. */
TH_TEST(io_faults, open_fails_when_the_size_of_a_cut_tail_is_unknown)
{
	tail_repair_failure(TIO_FILE_SIZE, true);
}

/* ---- removing an unused prepared segment at open -------------------------- */

/* A log whose last segment was prepared and never used. */
static void make_log_with_prepared(const uwal_config *cfg)
{
	uwal *w = th_open(cfg);
	for (uint64_t i = 1; i <= 14; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	/* records 13 and 14 fill half the tail: the next one is prepared */
	for (int i = 0; i < 20000 && th_segment_count(g_dir, "segment_") < 5; i++)
		th_sleep_ms(1);
	cr_assert_eq(th_segment_count(g_dir, "segment_"), 5);
	th_close(w);
}

/* Guards against an open that goes on with a segment after the tail it
 * could not remove (or whose removal is not durable). */
static void prepared_removal_failure(enum tio_kind kind, const char *files)
{
	uwal_config cfg;
	small_config(&cfg, NULL);
	make_log_with_prepared(&cfg);
	tio_arm(kind, files, 1, -EIO);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_open returned %d (%s)", rc, uwal_strerror(rc));
	cr_assert_null(w);
	check_records(&cfg, 1, 14);
}

TH_TEST(io_faults, open_fails_when_an_unused_segment_cannot_be_removed)
{
	prepared_removal_failure(TIO_UNLINK, SEGS);
}

TH_TEST(io_faults, open_fails_when_an_unused_segment_removal_cannot_be_synced)
{
	prepared_removal_failure(TIO_DIRSYNC, dir_name());
}

/* ---- retention ------------------------------------------------------------- */

/* Wait (bounded) until log_fn got a message containing needle. What uwal's
 * own threads say reaches log_fn when a call returns on the caller's
 * thread: uwal_stats_get is such a call. */
static void wait_log(uwal *w, th_log *log, const char *needle)
{
	uwal_stats st;
	for (int i = 0; i < 20000 && !th_log_has(log, needle); i++) {
		th_sleep_ms(1);
		uwal_stats_get(w, &st);
	}
	cr_assert(th_log_has(log, needle), "log_fn never said \"%s\"; got:\n%s", needle, log->buf);
}

/* Wait (bounded) until kind ran on files at least n times. */
static void wait_count(enum tio_kind kind, const char *files, uint64_t n)
{
	for (int i = 0; i < 20000 && tio_count(kind, files) < n; i++)
		th_sleep_ms(1);
	cr_assert_geq(tio_count(kind, files), n, "operation %d ran %llu times, not %llu", kind,
		      (unsigned long long)tio_count(kind, files), (unsigned long long)n);
}

/*
 * max_segments 2: the write of record 9 starts the third segment and drops
 * the first (records 1..4), whose unlink or directory fsync fails. The
 * segment stays in the index (readable, not counted as deleted), log_fn is
 * told, the handle is not poisoned.
 */
static void retention_failure(const uwal_config *cfg, th_log *log, enum tio_kind kind,
			      const char *files, const char *said)
{
	uint64_t d0 = tio_count(TIO_DIRSYNC, dir_name()), r0 = tio_count(TIO_RENAME, NULL);
	uwal *w = th_open(cfg);
	for (uint64_t i = 1; i <= 8; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	/* the third segment is made (its creation's fsync is its last step),
	 * so the next directory fsync is retention's */
	wait_count(TIO_DIRSYNC, dir_name(), d0 + 3);
	tio_arm(kind, files, 1, -EIO);
	cr_assert_eq(th_write_std(w, 9, false), 0);
	wait_log(w, log, said);
	tio_clear();
	/* Record 10 asks for the fourth segment: once it is made, the preparer
	 * is done with the failed removal; two more writes and the writer has
	 * seen whatever the preparer handed back. */
	cr_assert_eq(th_write_std(w, 10, false), 0);
	wait_count(TIO_RENAME, NULL, r0 + 4);
	for (uint64_t i = 11; i <= 12; i++)
		cr_assert_eq(th_write_std(w, i, i % 2), 0, "write %llu after the failed removal",
			     (unsigned long long)i);
	for (uint64_t i = 1; i <= 12; i++)
		th_check_std(w, i);
	uwal_stats s = th_stats(w);
	cr_assert_eq(s.deleted_segments, 0, "a segment whose removal failed counts as deleted");
	cr_assert_eq(s.segments, 3);
	cr_assert_eq(uwal_first_index(w), 1);
	th_close(w);
}

/* Guards against a segment that could not be removed vanishing from the
 * index (its records unreadable, its indexes free while the file stays),
 * poisoning the handle, or going unreported. */
TH_TEST(io_faults, retention_keeps_a_segment_it_cannot_unlink)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	small_config(&cfg, &log);
	cfg.max_segments = 2;
	retention_failure(&cfg, &log, TIO_UNLINK, SEGS, "cannot remove");
	char first[TH_NAME_MAX];
	th_seglist *l = th_segments(g_dir, "segment_");
	snprintf(first, sizeof(first), "%s", l->name[0]);
	free(l);
	cr_assert_str_eq(first, "segment_00000000000000000000", "the first segment was removed");
	check_records(&cfg, 1, 12);
	th_log_destroy(&log);
}

/* Guards against dropping a segment from the index (freeing its indexes)
 * before its removal is durable: a crash could bring the file back. */
TH_TEST(io_faults, retention_keeps_indexes_of_a_removal_it_cannot_sync)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	small_config(&cfg, &log);
	cfg.max_segments = 2;
	retention_failure(&cfg, &log, TIO_DIRSYNC, dir_name(), "retention: fsync");
	/* the file itself is gone (only its removal was not made durable):
	 * the log opens with the records of the two segments kept */
	check_records(&cfg, 5, 12);
	th_log_destroy(&log);
}

/* ---- reads ------------------------------------------------------------------ */

/* Guards against a failed read being taken for a missing or corrupt
 * record, or poisoning the handle. */
TH_TEST(io_faults, get_returns_a_read_error_without_poisoning)
{
	uwal_config cfg;
	small_config(&cfg, NULL);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_wait_indexes(w, g_dir);
	cr_assert_eq(th_count_suffix(g_dir, ".idx"), 2, "the sealed segments' index files");
	tio_arm(TIO_PREAD, SEGS, 1, -EIO);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	int rc = uwal_get(w, 6, &r);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_get with a failing read returned %d (%s)", rc,
		     uwal_strerror(rc));
	cr_assert_null(r.key, "a failed uwal_get filled the record");
	th_check_std(w, 6);
	cr_assert_eq(th_write_std(w, 11, true), 0);
	th_close(w);
	check_records(&cfg, 1, 11);
}

TH_TEST(io_faults, iterator_returns_a_read_error_without_poisoning)
{
	uwal_config cfg;
	small_config(&cfg, NULL);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	th_check_std_rec(&r, 1);
	/* the next segment's first read fails */
	th_wait_indexes(w, g_dir);
	cr_assert_eq(th_count_suffix(g_dir, ".idx"), 2, "the sealed segments' index files");
	tio_arm(TIO_PREAD, SEGS, 1, -EIO);
	int rc;
	uint64_t seen = 1;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		th_check_std_rec(&r, ++seen);
	tio_clear();
	cr_assert_eq(rc, -EIO, "an iterator with a failing read returned %d (%s)", rc,
		     uwal_strerror(rc));
	cr_assert_eq(seen, 4, "the iterator stopped after record %llu", (unsigned long long)seen);
	uwal_iter_close(it);
	/* a new iterator reads everything; the handle takes writes */
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	seen = 0;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		th_check_std_rec(&r, ++seen);
	cr_assert_eq(rc, 0);
	cr_assert_eq(seen, 10);
	uwal_iter_close(it);
	cr_assert_eq(th_write_std(w, 11, true), 0);
	th_close(w);
	check_records(&cfg, 1, 11);
}

/* ---- uwal_unsafe_recover ------------------------------------------------------ */

/*
 * A log of 12 records in three segments whose middle one has a broken
 * header: uwal_open() refuses it; uwal_unsafe_recover() removes that file
 * (records 5..8) and marks the next one as following a gap.
 */
static void make_damaged_log(uwal_config *cfg)
{
	small_config(cfg, NULL);
	make_log(cfg, 12);
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_geq(l->n, 3);
	char path[4096];
	th_flip_byte(th_join(path, sizeof(path), g_dir, l->name[1]), 0);
	free(l);
	uwal *w = NULL;
	cr_assert_eq(uwal_open(cfg, &w), UWAL_ECORRUPT);
}

/* After a retry of uwal_unsafe_recover(), the log opens with the records
 * of the segments kept. */
static void check_recovered(const uwal_config *cfg)
{
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), 0);
	uwal *w = th_open(cfg);
	for (uint64_t i = 1; i <= 12; i++) {
		if (i >= 5 && i <= 8)
			th_check_absent(w, i);
		else
			th_check_std(w, i);
	}
	th_close(w);
}

/* The nth operation of kind fails during uwal_unsafe_recover(): it returns
 * the error and no list of removed files. */
static void recover_failure(enum tio_kind kind, const char *files, uint64_t nth)
{
	uwal_config cfg;
	make_damaged_log(&cfg);
	char **list = (char **)1;
	size_t n = 99;
	tio_arm(kind, files, nth, -EIO);
	int rc = uwal_unsafe_recover(g_dir, NULL, &list, &n);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_unsafe_recover returned %d (%s)", rc, uwal_strerror(rc));
	cr_assert(list == NULL && n == 0, "a failed uwal_unsafe_recover returned a list");
}

/* Guards against a removal that failed being reported as done (the log
 * still refuses to open, and the caller would not know why). */
TH_TEST(io_faults, unsafe_recover_fails_when_it_cannot_unlink)
{
	uwal_config cfg;
	struct snap before;
	make_damaged_log(&cfg);
	snap_take(&before);
	tio_arm(TIO_UNLINK, SEGS, 1, -EIO);
	char **list = NULL;
	size_t n = 0;
	int rc = uwal_unsafe_recover(g_dir, NULL, &list, &n);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_unsafe_recover returned %d (%s)", rc, uwal_strerror(rc));
	cr_assert(list == NULL && n == 0);
	check_unchanged(&before, "failed unsafe recover");
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_ECORRUPT);
	check_recovered(&cfg);
}

/* Guards against a removal that is not durable being reported as done. */
TH_TEST(io_faults, unsafe_recover_fails_when_it_cannot_sync_the_directory)
{
	recover_failure(TIO_DIRSYNC, dir_name(), 1);
	uwal_config cfg;
	small_config(&cfg, NULL);
	check_recovered(&cfg);
}

/* Guards against a gap left unmarked: the next segment's header must say
 * it follows a gap before the log may open. */
TH_TEST(io_faults, unsafe_recover_fails_when_it_cannot_mark_the_gap)
{
	recover_failure(TIO_PWRITE, SEGS, 1);
	uwal_config cfg;
	small_config(&cfg, NULL);
	check_recovered(&cfg);
}

TH_TEST(io_faults, unsafe_recover_fails_when_the_gap_mark_cannot_be_synced)
{
	recover_failure(TIO_FDATASYNC, SEGS, 1);
	uwal_config cfg;
	small_config(&cfg, NULL);
	check_recovered(&cfg);
}

/* Guards against removing files from a log without holding its lock. */
TH_TEST(io_faults, unsafe_recover_fails_when_the_lock_file_cannot_be_opened)
{
	uwal_config cfg;
	struct snap before;
	make_damaged_log(&cfg);
	snap_take(&before);
	tio_arm(TIO_OPEN, "*lock", 1, -EACCES);
	int rc = uwal_unsafe_recover(g_dir, NULL, NULL, NULL);
	tio_clear();
	cr_assert_eq(rc, -EACCES, "uwal_unsafe_recover returned %d (%s)", rc, uwal_strerror(rc));
	check_unchanged(&before, "unsafe recover without its lock");
	check_recovered(&cfg);
}

TH_TEST(io_faults, unsafe_recover_fails_when_the_directory_cannot_be_listed)
{
	uwal_config cfg;
	struct snap before;
	make_damaged_log(&cfg);
	snap_take(&before);
	tio_arm(TIO_LIST, dir_name(), 1, -EIO);
	int rc = uwal_unsafe_recover(g_dir, NULL, NULL, NULL);
	tio_clear();
	cr_assert_eq(rc, -EIO, "uwal_unsafe_recover returned %d (%s)", rc, uwal_strerror(rc));
	check_unchanged(&before, "unsafe recover without a listing");
	check_recovered(&cfg);
}
