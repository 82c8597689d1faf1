/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hardening.c - what a hostile or merely unlucky environment does to
 * an open log, and what uwal must make of it: more segments than file
 * descriptors, a retention unlink that fails, a lock file removed under a
 * live handle, files in the directory that look like uwal's but are not,
 * and the diagnostics of a cut tail.
 */
#include <sys/resource.h>

#include "helpers.h"

TH_SUITE(hardening, 120);

/* Scan every frame of a segment file into a heap array. */
static th_frame *scan_all(const char *path, size_t *n)
{
	size_t cap = 1u << 14;
	th_frame *f = calloc(cap, sizeof(*f));
	cr_assert_not_null(f);
	*n = th_scan(path, f, cap, NULL);
	return f;
}

/* The offset just past the last nonzero byte of the file. */
static uint64_t last_nonzero(const char *path)
{
	size_t len;
	unsigned char *b = th_read_file(path, &len);
	while (len > 0 && !b[len - 1])
		len--;
	free(b);
	return len;
}

/* ---- names uwal does not own ---------------------------------------------- */

/*
 * Guards against open deleting any "<prefix><20 characters>.tmp": only a
 * name of uwal's own preparation (prefix, 20 digits, .tmp) is a leftover.
 */
TH_TEST(hardening, open_keeps_a_tmp_file_whose_name_is_not_uwals)
{
	char mine[4352], theirs[4352];
	th_join(theirs, sizeof(theirs), g_dir, "segment_my-backup-of-the-log.tmp");
	th_join(mine, sizeof(mine), g_dir, "segment_00000000000000000003.tmp");
	th_create_file(theirs, "precious", 8);
	th_create_file(mine, "partial", 7);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_close(w);
	cr_assert(th_exists(theirs), "open removed %s, a file uwal did not create", theirs);
	cr_assert_not(th_exists(mine), "open kept its own leftover %s", mine);
	size_t len;
	unsigned char *b = th_read_file(theirs, &len);
	cr_assert(len == 8 && memcmp(b, "precious", 8) == 0, "the foreign file was changed");
	free(b);
}

/* ---- what a cut says ---------------------------------------------------- */

static void write_log(uint64_t n, bool batch_at_end)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= n; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	if (batch_at_end) {
		uwal_record r[3];
		for (int i = 0; i < 3; i++)
			r[i] = (uwal_record){n + 1 + (uint64_t)i, "k", 1, "value-of-a-batch", 16};
		cr_assert_eq(uwal_write_batch(w, r, 3, false), 0);
	}
	th_close(w);
}

/*
 * Guards against the torn-tail message counting the preallocated zeros
 * ("4294967235 bytes dropped" for one partial frame): it says how many
 * records were dropped and how many bytes of frames.
 */
TH_TEST(hardening, torn_tail_message_counts_records_and_bytes_of_frames)
{
	write_log(5, false);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	size_t n;
	th_frame *f = scan_all(path, &n);
	uint64_t end = f[n - 1].off + TH_FRAME_HEADER + f[n - 1].len;
	free(f);
	/* A partial frame: a header announcing 100 bytes, 45 of them there. */
	unsigned char torn[61];
	memset(torn, 0xab, sizeof(torn));
	torn[0] = 100;
	torn[1] = torn[2] = torn[3] = 0;
	torn[4] = TH_FRAME_RECORD;
	torn[5] = torn[6] = torn[7] = 0;
	th_write_at(path, end, torn, sizeof(torn));

	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_last_index(w), 5);
	th_close(w);
	char want[256];
	snprintf(want, sizeof(want),
		 "at offset %llu: 1 record dropped (0 whole, of a uwal_write_batch() call cut "
		 "short; 1 torn frame), 61 bytes of frames",
		 (unsigned long long)end);
	cr_assert(th_log_has(&log, want), "want \"%s\" in:\n%s", want, log.buf);
	th_log_destroy(&log);
}

/* Guards against a batch cut short being reported as one torn frame. */
TH_TEST(hardening, cut_of_an_unfinished_batch_counts_its_whole_records)
{
	write_log(4, true);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	th_unvouch_tail(path); /* a power cut, not a close: nothing vouches for the tail */
	size_t n;
	th_frame *f = scan_all(path, &n);
	cr_assert_eq(f[n - 1].index, 7);
	uint64_t first = f[n - 3].off; /* record 5, the batch's first frame */
	/* Zero the second half of the batch's last frame. */
	uint32_t half = f[n - 1].len / 2;
	uint64_t from = f[n - 1].off + TH_FRAME_HEADER + half;
	unsigned char z[256] = {0};
	th_write_at(path, from, z, f[n - 1].len - half);
	free(f);
	uint64_t frames_end = last_nonzero(path);

	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_last_index(w), 4, "the batch was not dropped whole");
	th_close(w);
	char want[256];
	snprintf(want, sizeof(want),
		 "at offset %llu: 3 records dropped (2 whole, of a uwal_write_batch() call cut "
		 "short; 1 torn frame), %llu bytes of frames",
		 (unsigned long long)first, (unsigned long long)(frames_end - first));
	cr_assert(th_log_has(&log, want), "want \"%s\" in:\n%s", want, log.buf);
	th_log_destroy(&log);
}

/* ---- retention ------------------------------------------------------------ */

/* Assert that the segment files of g_dir carry consecutive numbers. */
static void check_no_gap(void)
{
	th_seglist *l = th_segments(g_dir, "segment_");
	for (size_t i = 1; i < l->n; i++) {
		unsigned long long a = strtoull(l->name[i - 1] + 8, NULL, 10);
		unsigned long long b = strtoull(l->name[i] + 8, NULL, 10);
		cr_assert_eq(b, a + 1, "gap in the segments: %s then %s", l->name[i - 1],
			     l->name[i]);
	}
	free(l);
}

/*
 * Guards against retention going on to unlink newer segments when it
 * cannot unlink the oldest: that leaves a gap that makes the log
 * unopenable (UWAL_ECORRUPT). Removal goes oldest first, stops at the
 * failure and is retried at the next rotation.
 */
TH_TEST(hardening, retention_that_cannot_remove_the_oldest_segment_leaves_no_gap)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 4;
	cfg.max_segments = 2;
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	tio_arm(TIO_UNLINK, "segment_00000000000000000000", 1, -EACCES);
	uwal *w = th_open(&cfg);
	/* Three segments: the first round (segment 0) fails. */
	for (uint64_t i = 1; i <= 9; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	for (int k = 0; k < 200 && !th_log_has(&log, "cannot remove"); k++) {
		th_sleep_ms(5);
		th_stats(w); /* hands the preparer's diagnostics to log_fn */
	}
	cr_assert(th_log_has(&log, "cannot remove"), "the failure was not reported:\n%s", log.buf);
	/* More rotations: the next rounds must go oldest first again. */
	for (uint64_t i = 10; i <= 40; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	check_no_gap();
	th_close(w);
	check_no_gap();
	cr_assert_not(
		th_exists(th_join((char[4352]){0}, 4352, g_dir, "segment_00000000000000000000")),
		"segment 0 was never removed: retention did not retry");

	uwal *r = th_open(&cfg);
	uint64_t first = uwal_first_index(r);
	cr_assert_eq(uwal_last_index(r), 40);
	for (uint64_t i = first; i <= 40; i++)
		th_check_std(r, i);
	th_close(r);
	th_log_destroy(&log);
}

/* ---- the lock file -------------------------------------------------------- */

/*
 * Guards against a handle writing on after "<prefix>lock" was unlinked
 * under it: a second open then takes a fresh lock file and both append at
 * the same offsets. The second open cannot know (its lock is real); the
 * first handle finds out at its next rotation and is poisoned.
 */
TH_TEST(hardening, unlinked_lock_file_poisons_the_handle_at_its_next_rotation)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 4;
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 2; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	char lock[4352];
	cr_assert_eq(unlink(th_join(lock, sizeof(lock), g_dir, "segment_lock")), 0);

	/* What is not detectable: the second open succeeds. */
	uwal *w2 = th_open(&cfg);
	th_close(w2);

	int rc = 0;
	uint64_t i = 3;
	for (; i <= 8 && rc == 0; i++)
		rc = th_write_std(w, i, false);
	cr_assert_eq(rc, UWAL_ELOCKED, "write %llu across the rotation: %d (%s)",
		     (unsigned long long)(i - 1), rc, uwal_strerror(rc));
	cr_assert_eq(i - 1, 5, "the rotation was not where the lock was checked");
	cr_assert_eq(th_write_std(w, 100, false), UWAL_EPOISONED);
	cr_assert(th_log_has(&log, "segment_lock was removed or replaced"),
		  "no diagnostic about the lock file:\n%s", log.buf);
	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
	th_log_destroy(&log);
}

/* Guards against a lock file replaced by another file going unnoticed. */
TH_TEST(hardening, replaced_lock_file_poisons_the_handle_at_its_next_rotation)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 2;
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	char lock[4352], other[4352];
	th_join(lock, sizeof(lock), g_dir, "segment_lock");
	th_join(other, sizeof(other), g_dir, "other");
	th_create_file(other, "", 0);
	cr_assert_eq(rename(other, lock), 0);
	int rc = 0;
	for (uint64_t i = 2; i <= 4 && rc == 0; i++)
		rc = th_write_std(w, i, false);
	cr_assert_eq(rc, UWAL_ELOCKED);
	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
}

/* Guards against the lock check confusing logs of two prefixes in one directory. */
TH_TEST(hardening, logs_of_two_prefixes_share_a_directory_and_rotate)
{
	uwal_config a, b;
	th_config(&a, g_dir);
	th_config(&b, g_dir);
	a.segment_size = b.segment_size = 64u << 10;
	a.segment_threshold = b.segment_threshold = 3;
	b.prefix = "other_";
	uwal *wa = th_open(&a);
	uwal *wb = th_open(&b);
	for (uint64_t i = 1; i <= 20; i++) {
		cr_assert_eq(th_write_std(wa, i, false), 0);
		cr_assert_eq(th_write_std(wb, i, false), 0);
	}
	cr_assert_gt(th_stats(wa).rotations, 3);
	cr_assert_gt(th_stats(wb).rotations, 3);
	th_close(wa);
	th_close(wb);
}

/* ---- file descriptors ----------------------------------------------------- */

/* Lower this process's RLIMIT_NOFILE soft limit (each test is its own process). */
static void limit_fds(rlim_t n)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = n;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
}

/* Descriptors open in this process now. */
static unsigned open_fds(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

static void read_all(uwal *w, uint64_t last)
{
	for (uint64_t i = 1; i <= last; i++)
		th_check_std(w, i);
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	uint64_t want = 1;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1)
		th_check_std_rec(&r, want++);
	cr_assert_eq(rc, 0, "iterator: %d %s", rc, uwal_strerror(rc));
	cr_assert_eq(want, last + 1);
	uwal_iter_close(it);
}

/*
 * Guards against every segment keeping a descriptor open: a log of more
 * segments than RLIMIT_NOFILE allows could neither rotate (-EMFILE) nor
 * be reopened. Sealed segments' descriptors are opened on demand through
 * a bounded cache.
 */
TH_TEST(hardening, log_of_more_segments_than_descriptors_rotates_reads_and_reopens)
{
	limit_fds(64);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = 2;
	cfg.prealloc = UWAL_PREALLOC_FALLOCATE;
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 300; i++)
		cr_assert_eq(th_write_std(w, i, false), 0, "write %llu", (unsigned long long)i);
	cr_assert_gt(th_stats(w).segments, 140);
	read_all(w, 300);
	cr_assert_lt(open_fds(), 64);
	/* A second iterator and reads while the first is half way. */
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	for (int k = 0; k < 150; k++)
		cr_assert_eq(uwal_iter_next(it, &r), 1);
	read_all(w, 300);
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	th_check_std_rec(&r, 151);
	uwal_iter_close(it);
	th_close(w);

	w = th_open(&cfg);
	read_all(w, 300);
	for (uint64_t i = 301; i <= 320; i++)
		cr_assert_eq(th_write_std(w, i, false), 0, "write %llu", (unsigned long long)i);
	read_all(w, 320);
	th_close(w);
	char **rm = NULL;
	size_t nrm = 9;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &rm, &nrm), 0);
	cr_assert_eq(nrm, 0);
}

/* Guards against an open that runs out of descriptors failing silently. */
TH_TEST(hardening, open_out_of_descriptors_says_so)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = th_open(&cfg);
	th_close(w);
	th_log log;
	th_log_init(&log);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	limit_fds(open_fds() + 1);
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, -EMFILE, "uwal_open: %d %s", rc, uwal_strerror(rc));
	cr_assert(th_log_has(&log, "out of file descriptors"), "log_fn was silent:\n%s", log.buf);
	th_log_destroy(&log);
}

/* Guards against an open going on when it cannot tell whether the lock
 * file it locked is the one the directory names. */
TH_TEST(hardening, open_fails_when_the_lock_file_identity_cannot_be_read)
{
	tio_arm(TIO_FILE_ID, "segment_lock", 1, -EIO);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), -EIO);
	cr_assert_null(w);
	w = th_open(&cfg);
	th_close(w);
}
