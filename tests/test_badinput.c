/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_badinput.c - every public function given bad input: NULL pointers,
 * zero and maximal lengths, records larger than a segment, bad
 * prefixes and directories, out-of-range configuration, a second handle on
 * the same log, and writes racing with uwal_close(). Table-driven where the
 * cases share a shape.
 *
 * Each call must return its documented error (include/uwal.h) and leave the
 * log intact: after every case the log opens and holds exactly its records.
 */
#include "helpers.h"

#include <sys/mman.h>

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/wait.h>

static char *g_dir;

static void setup(void)
{
	g_dir = th_tmpdir();
	tio_clear();
}

static void teardown(void)
{
	if (g_dir) {
		th_rmrf(g_dir);
		free(g_dir);
		g_dir = NULL;
	}
}

TestSuite(badinput, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the base log --------------------------------------------------------- */

enum { BASE = 10 };
#define SEG_SIZE (64u << 10)

static void base_config(uwal_config *cfg)
{
	th_config(cfg, g_dir);
	cfg->segment_size = SEG_SIZE;
}

/* A log with records 1..BASE. */
static void make_base(void)
{
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= BASE; i++)
		cr_assert_eq(th_write_std(w, i, false), 0);
	th_close(w);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The log opens and holds records 1..BASE plus the extra ones (sorted here),
 * nothing else. */
static void check_base_plus(uint64_t *extra, size_t n_extra, const char *after)
{
	if (n_extra)
		qsort(extra, n_extra, sizeof(*extra), cmp_u64);
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, 0, "after %s the log does not open: %d (%s)", after, rc,
		     uwal_strerror(rc));
	for (uint64_t i = 1; i <= BASE; i++)
		th_check_std(w, i);
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t n = 0;
	while (uwal_iter_next(it, &r) == 1) {
		bool known =
			(r.index >= 1 && r.index <= BASE) ||
			(n_extra && bsearch(&r.index, extra, n_extra, sizeof(*extra), cmp_u64));
		cr_assert(known, "after %s the log holds an unexpected record %llu", after,
			  (unsigned long long)r.index);
		n++;
	}
	uwal_iter_close(it);
	cr_assert_eq(n, BASE + n_extra, "after %s the log holds %zu records, want %zu", after, n,
		     BASE + n_extra);
	th_close(w);
}

static void check_base(const char *after)
{
	check_base_plus(NULL, 0, after);
}

/* Number of entries in a directory. */
static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	size_t n = 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* ---- configuration ---------------------------------------------------- */

static char g_prefix64[65], g_prefix65[66];

struct cfg_case {
	const char *name;
	void (*mutate)(uwal_config *c);
	int want;
};

#define MUT(name, body)                                                                            \
	static void mut_##name(uwal_config *c)                                                     \
	{                                                                                          \
		body;                                                                              \
	}

MUT(dir_null, c->dir = NULL)
MUT(dir_empty, c->dir = "")
MUT(prefix_null, c->prefix = NULL)
MUT(prefix_empty, c->prefix = "")
MUT(prefix_slash, c->prefix = "a/b")
MUT(prefix_only_slash, c->prefix = "/")
MUT(prefix_trailing_slash, c->prefix = "seg/")
MUT(prefix_dot, c->prefix = ".")
MUT(prefix_dotdot, c->prefix = "..")
MUT(prefix_dotdot_slash, c->prefix = "../segment_")
MUT(prefix_65, c->prefix = g_prefix65)
MUT(prefix_64, c->prefix = g_prefix64)
MUT(prefix_dotdotx, c->prefix = "..x")
MUT(prefix_hidden, c->prefix = ".wal_")
MUT(seg_size_0, c->segment_size = 0)
MUT(seg_size_64k_minus_1, c->segment_size = (64u << 10) - 1)
MUT(seg_size_64k, c->segment_size = 64u << 10)
MUT(seg_size_4g, c->segment_size = 4ull << 30)
MUT(seg_size_max, c->segment_size = UINT64_MAX)
MUT(sync_mode_7, c->sync_mode = (enum uwal_sync_mode)7)
MUT(sync_mode_neg, c->sync_mode = (enum uwal_sync_mode) - 1)
MUT(prealloc_3, c->prealloc = (enum uwal_prealloc)3)
MUT(write_path_2, c->write_path = (enum uwal_write_path)2)
MUT(batch_0, c->max_batch_size = 0)
MUT(batch_1, c->max_batch_size = 1)
MUT(batch_65536, c->max_batch_size = 65536)
MUT(batch_65537, c->max_batch_size = 65537)
MUT(batch_max, c->max_batch_size = UINT32_MAX)
MUT(delay_1s, c->max_batch_delay_us = 1000000)
MUT(delay_over_1s, c->max_batch_delay_us = 1000001)
MUT(queue_0, c->queue_capacity = 0)
MUT(queue_1, c->queue_capacity = 1)
MUT(queue_2, c->queue_capacity = 2)
MUT(queue_3, c->queue_capacity = 3)
MUT(queue_over_max, c->queue_capacity = (1u << 20) + 1)
MUT(ring_0, c->ring_entries = 0)
MUT(ring_4, c->ring_entries = 4)
MUT(ring_7, c->ring_entries = 7)
MUT(ring_8, c->ring_entries = 8)
MUT(ring_4096, c->ring_entries = 4096)
MUT(ring_4097, c->ring_entries = 4097)
MUT(ring_flags_unknown, c->ring_flags = 0x80000000u)
MUT(ring_flags_iopoll, c->ring_flags = 1u << 0)
MUT(ring_flags_r_disabled, c->ring_flags = 1u << 6)
MUT(ring_flags_no_sqarray, c->ring_flags = 1u << 16)
MUT(ring_flags_sqpoll, c->ring_flags = 1u << 1)
MUT(ring_flags_coop, c->ring_flags = (1u << 8) | (1u << 9))
MUT(ring_flags_defer_sqpoll, c->ring_flags = (1u << 13) | (1u << 1))
MUT(config_not_initialised, c->size = 0)
MUT(spins_0, {
	c->writer_spin_us = 0;
	c->wait_spin_us = 0;
})
MUT(spins_max, {
	c->writer_spin_us = UINT32_MAX;
	c->wait_spin_us = 1;
})
MUT(threshold_1, c->segment_threshold = 1)
MUT(ring_poll_1s, c->ring_poll_us = 1000000)
MUT(ring_poll_over_1s, c->ring_poll_us = 1000001)

static const struct cfg_case cfg_cases[] = {
	{"dir NULL", mut_dir_null, UWAL_EINVAL},
	{"dir \"\"", mut_dir_empty, UWAL_EINVAL},
	{"prefix NULL", mut_prefix_null, UWAL_EINVAL},
	{"prefix \"\"", mut_prefix_empty, UWAL_EINVAL},
	{"prefix with '/'", mut_prefix_slash, UWAL_EINVAL},
	{"prefix \"/\"", mut_prefix_only_slash, UWAL_EINVAL},
	{"prefix ending in '/'", mut_prefix_trailing_slash, UWAL_EINVAL},
	{"prefix \".\"", mut_prefix_dot, UWAL_EINVAL},
	{"prefix \"..\"", mut_prefix_dotdot, UWAL_EINVAL},
	{"prefix \"../segment_\"", mut_prefix_dotdot_slash, UWAL_EINVAL},
	{"prefix of 65 bytes", mut_prefix_65, UWAL_EINVAL},
	{"prefix of 64 bytes", mut_prefix_64, 0},
	{"prefix \"..x\"", mut_prefix_dotdotx, 0},
	{"prefix \".wal_\"", mut_prefix_hidden, 0},
	{"segment_size 0", mut_seg_size_0, UWAL_EINVAL},
	{"segment_size 64 KiB - 1", mut_seg_size_64k_minus_1, UWAL_EINVAL},
	{"segment_size 64 KiB", mut_seg_size_64k, 0},
	{"segment_size 4 GiB", mut_seg_size_4g, UWAL_EINVAL},
	{"segment_size UINT64_MAX", mut_seg_size_max, UWAL_EINVAL},
	{"sync_mode 7", mut_sync_mode_7, UWAL_EINVAL},
	{"sync_mode -1", mut_sync_mode_neg, UWAL_EINVAL},
	{"prealloc 3", mut_prealloc_3, UWAL_EINVAL},
	{"write_path 2", mut_write_path_2, UWAL_EINVAL},
	{"max_batch_size 0", mut_batch_0, UWAL_EINVAL},
	{"max_batch_size 1", mut_batch_1, 0},
	{"max_batch_size 65536", mut_batch_65536, 0},
	{"max_batch_size 65537", mut_batch_65537, UWAL_EINVAL},
	{"max_batch_size UINT32_MAX", mut_batch_max, UWAL_EINVAL},
	{"max_batch_delay_us 1 s", mut_delay_1s, 0},
	{"max_batch_delay_us 1 s + 1", mut_delay_over_1s, UWAL_EINVAL},
	{"queue_capacity 0", mut_queue_0, UWAL_EINVAL},
	{"queue_capacity 1", mut_queue_1, UWAL_EINVAL},
	{"queue_capacity 2", mut_queue_2, 0},
	{"queue_capacity 3", mut_queue_3, 0},
	{"queue_capacity 2^20 + 1", mut_queue_over_max, UWAL_EINVAL},
	{"ring_entries 0", mut_ring_0, UWAL_EINVAL},
	{"ring_entries 4", mut_ring_4, UWAL_EINVAL},
	{"ring_entries 7", mut_ring_7, UWAL_EINVAL},
	{"ring_entries 8", mut_ring_8, 0},
	{"ring_entries 4096", mut_ring_4096, 0},
	{"ring_entries 4097", mut_ring_4097, UWAL_EINVAL},
	{"ring_flags unknown to uwal", mut_ring_flags_unknown, UWAL_EINVAL},
	{"ring_flags IOPOLL (hangs durable writes)", mut_ring_flags_iopoll, UWAL_EINVAL},
	{"ring_flags R_DISABLED (every write -EBADFD)", mut_ring_flags_r_disabled, UWAL_EINVAL},
	{"ring_flags NO_SQARRAY (never returns)", mut_ring_flags_no_sqarray, UWAL_EINVAL},
	{"ring_flags SQPOLL", mut_ring_flags_sqpoll, 0},
	{"ring_flags COOP_TASKRUN | TASKRUN_FLAG", mut_ring_flags_coop, 0},
	{"ring_flags DEFER_TASKRUN | SQPOLL", mut_ring_flags_defer_sqpoll, UWAL_EINVAL},
	{"config not filled by uwal_config_init", mut_config_not_initialised, UWAL_EINVAL},
	{"no spinning", mut_spins_0, 0},
	{"spin limits at their maximum", mut_spins_max, 0},
	{"segment_threshold 1", mut_threshold_1, 0},
	{"ring_poll_us 1 s", mut_ring_poll_1s, 0},
	{"ring_poll_us 1 s + 1", mut_ring_poll_over_1s, UWAL_EINVAL},
};

/*
 * Guards against a bad configuration being accepted (or a good one
 * refused), a refused open creating or changing anything, or a valid one
 * harming the log. Accepted configurations also write and read a record.
 */
TH_TEST(badinput, configuration_table)
{
	memset(g_prefix64, 'p', 64);
	g_prefix64[64] = '\0';
	memset(g_prefix65, 'p', 65);
	g_prefix65[65] = '\0';
	make_base();
	uint64_t extra[64];
	size_t n_extra = 0;
	for (size_t k = 0; k < sizeof(cfg_cases) / sizeof(cfg_cases[0]); k++) {
		const struct cfg_case *c = &cfg_cases[k];
		uwal_config cfg;
		base_config(&cfg);
		c->mutate(&cfg);
		size_t before = dir_entries(g_dir);
		uwal *w = (uwal *)&cfg; /* must stay untouched on failure */
		int rc = uwal_open(&cfg, &w);
		cr_assert_eq(rc, c->want, "%s: uwal_open returned %d (%s), want %d (%s)", c->name,
			     rc, uwal_strerror(rc), c->want, uwal_strerror(c->want));
		if (rc != 0) {
			cr_assert_eq(w, (uwal *)&cfg, "%s: *out changed on failure", c->name);
			cr_assert_eq(dir_entries(g_dir), before,
				     "%s: a refused open changed the dir", c->name);
		} else {
			bool same_log = strcmp(cfg.prefix, "segment_") == 0;
			uint64_t idx = 1000 + k;
			cr_assert_eq(th_write_std(w, idx, true), 0, "%s: write", c->name);
			th_check_std(w, idx);
			if (same_log) {
				th_check_std(w, 1);
				th_check_std(w, BASE);
				extra[n_extra++] = idx;
			}
			th_close(w);
		}
		check_base_plus(extra, n_extra, c->name);
	}
}

/* Guards against a NULL config or result pointer being dereferenced. */
TH_TEST(badinput, open_with_null_pointers)
{
	make_base();
	uwal *w = NULL;
	cr_assert_eq(uwal_open(NULL, &w), UWAL_EINVAL);
	cr_assert_null(w);
	uwal_config cfg;
	base_config(&cfg);
	cr_assert_eq(uwal_open(&cfg, NULL), UWAL_EINVAL);
	check_base("uwal_open with NULL pointers");
}

/* Guards against a dir that cannot be a directory being accepted. */
TH_TEST(badinput, dir_that_is_a_file_or_too_long)
{
	make_base();
	char file[4352], sub[4400];
	th_join(file, sizeof(file), g_dir, "plain");
	th_create_file(file, "x", 1);
	snprintf(sub, sizeof(sub), "%s/log", file);
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = NULL;
	static const struct {
		const char *what;
		int want;
	} cases[] = {{"a regular file", -ENOTDIR}, {"a path below a regular file", -ENOTDIR}};
	const char *dirs[] = {file, sub};
	for (int i = 0; i < 2; i++) {
		cfg.dir = dirs[i];
		int rc = uwal_open(&cfg, &w);
		cr_assert_eq(rc, cases[i].want, "dir is %s: %d (%s)", cases[i].what, rc,
			     uwal_strerror(rc));
	}
	/* a segment file name is 20 digits longer than the dir's path */
	char *longdir = malloc(PATH_MAX + 64);
	cr_assert_not_null(longdir);
	memset(longdir, 'd', PATH_MAX + 32);
	longdir[0] = '/';
	longdir[PATH_MAX + 32] = '\0';
	cfg.dir = longdir;
	int rc = uwal_open(&cfg, &w);
	cr_assert(rc == -ENAMETOOLONG, "dir longer than PATH_MAX: %d (%s)", rc, uwal_strerror(rc));
	free(longdir);
	size_t len;
	unsigned char *b = th_read_file(file, &len);
	cr_assert(len == 1 && b[0] == 'x', "the regular file was changed");
	free(b);
	cr_assert_eq(unlink(file), 0);
	check_base("dir that is a file");
}

/*
 * A directory the process may not write to. As root, permissions do not
 * apply, so the log is reached through a read-only bind mount (in a
 * private mount namespace) instead.
 *
 * Guards against an unwritable dir crashing the open, being reported as
 * anything but an errno, or harming the log.
 */
TH_TEST(badinput, dir_without_write_permission)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = NULL;
	if (geteuid() != 0) {
		char parent[4352], sub[4400];
		th_join(parent, sizeof(parent), g_dir, "locked");
		cr_assert_eq(mkdir(parent, 0500), 0);
		snprintf(sub, sizeof(sub), "%s/log", parent);
		cfg.dir = sub;
		int rc = uwal_open(&cfg, &w);
		cr_assert_eq(rc, -EACCES, "new log in an unwritable dir: %d (%s)", rc,
			     uwal_strerror(rc));
		chmod(parent, 0700);
		check_base("unwritable dir");
		return;
	}
	/* (a skipped test's .fini does not run: clean up first) */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		int e = errno;
		teardown();
		cr_skip_test("SKIP: root, and no private mount namespace: %s", strerror(e));
	}
	char ro[4352];
	char *view = th_tmpdir(); /* the log, read-only */
	if (mount(g_dir, view, NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, view, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) {
		int e = errno;
		umount2(view, MNT_DETACH);
		rmdir(view);
		free(view);
		teardown();
		cr_skip_test("SKIP: read-only bind mount: %s", strerror(e));
	}
	cfg.dir = view;
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, -EROFS, "the log on a read-only view: %d (%s)", rc, uwal_strerror(rc));
	cr_assert_eq(uwal_unsafe_recover(view, NULL, NULL, NULL), -EROFS);
	snprintf(ro, sizeof(ro), "%s/new", view);
	cfg.dir = ro;
	rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, -EROFS, "a new log on a read-only view: %d (%s)", rc, uwal_strerror(rc));
	umount2(view, MNT_DETACH);
	rmdir(view);
	free(view);
	check_base("read-only dir");
}

/* ---- one log, one handle ------------------------------------------------ */

/* Guards against two handles (in this process or another) writing one log. */
TH_TEST(badinput, second_handle_on_the_same_log_is_refused)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	uwal *w2 = NULL;
	cr_assert_eq(uwal_open(&cfg, &w2), UWAL_ELOCKED);
	cr_assert_null(w2);
	cr_assert_eq(uwal_open(&cfg, &w2), UWAL_ELOCKED, "refusing is stable");
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), UWAL_ELOCKED);
	/* another process */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uwal *w3 = NULL;
		int rc = uwal_open(&cfg, &w3);
		_exit(rc == UWAL_ELOCKED ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "another process opened a locked log");
	/* another prefix in the same dir is another log */
	uwal_config other = cfg;
	other.prefix = "other_";
	uwal *w4 = th_open(&other);
	cr_assert_eq(th_write_std(w4, 1, false), 0);
	th_close(w4);
	/* the first handle is unharmed */
	cr_assert_eq(th_write_std(w, BASE + 1, false), 0);
	th_close(w);
	uint64_t extra = BASE + 1;
	check_base_plus(&extra, 1, "a second handle");
}

/* ---- writes --------------------------------------------------------------- */

struct write_case {
	const char *name;
	uint64_t index;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	int want;
};

static unsigned char g_big[SEG_SIZE + 64];

/* Largest value (key empty, index < 128) one 64 KiB segment can hold: the
 * segment minus its 32-byte header and room for a 35-byte seal frame, minus
 * the frame header (16) and the payload's array (1), index (1), empty key
 * (2) and bin16 value header (3). */
#define MAX_VALUE (SEG_SIZE - 32 - 35 - 16 - 1 - 1 - 2 - 3)

/*
 * Guards against bad arguments to uwal_write/_sync being written, crashing,
 * or reported with the wrong error, and against boundary sizes being
 * refused.
 */
TH_TEST(badinput, write_table)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_write(NULL, 100, "k", 1, "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_write_sync(NULL, 100, "k", 1, "v", 1, true), UWAL_EINVAL);
	memset(g_big, 0x5A, sizeof(g_big));
	const struct write_case cases[] = {
		{"NULL key, length 1", 20, NULL, 1, "v", 1, UWAL_EINVAL},
		{"NULL value, length 1", 21, "k", 1, NULL, 1, UWAL_EINVAL},
		{"NULL key, length SIZE_MAX", 22, NULL, SIZE_MAX, "v", 1, UWAL_EINVAL},
		{"key of SIZE_MAX bytes", 23, "k", SIZE_MAX, "v", 1, UWAL_ETOOBIG},
		{"value of SIZE_MAX bytes", 24, "k", 1, "v", SIZE_MAX, UWAL_ETOOBIG},
		{"value as large as a segment", 25, NULL, 0, g_big, SEG_SIZE, UWAL_ETOOBIG},
		{"value one byte too large", 26, NULL, 0, g_big, MAX_VALUE + 1, UWAL_ETOOBIG},
		{"key one byte too large", 27, g_big, MAX_VALUE + 1, NULL, 0, UWAL_ETOOBIG},
		{"duplicate of an existing index", 1, "k", 1, "v", 1, UWAL_EEXIST},
		{"NULL key and value, lengths 0", 30, NULL, 0, NULL, 0, 0},
		{"empty non-NULL key and value", 31, "", 0, "", 0, 0},
		{"largest value that fits a segment", 32, NULL, 0, g_big, MAX_VALUE, 0},
		{"index UINT64_MAX", UINT64_MAX, "max", 3, "v", 1, 0},
		{"index UINT64_MAX again", UINT64_MAX, "max", 3, "v", 1, UWAL_EEXIST},
	};
	uint64_t extra[32];
	size_t n_extra = 0;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct write_case *c = &cases[k];
		for (int sync = 0; sync < 2; sync++) {
			int rc = uwal_write_sync(w, c->index, c->key, c->key_len, c->value,
						 c->value_len, sync);
			int want = c->want;
			if (sync && want == 0)
				want = UWAL_EEXIST; /* the first pass wrote it */
			cr_assert_eq(rc, want, "%s (sync %d): %d (%s), want %d (%s)", c->name, sync,
				     rc, uwal_strerror(rc), want, uwal_strerror(want));
		}
		uwal_record r;
		memset(&r, 0, sizeof(r));
		int g = uwal_get(w, c->index, &r);
		if (c->want == 0) {
			cr_assert_eq(g, 0, "%s: not readable", c->name);
			cr_assert_eq(r.key_len, c->key_len);
			cr_assert_eq(r.value_len, c->value_len);
			cr_assert(c->value_len == 0 ||
				  memcmp(r.value, c->value, c->value_len) == 0);
			cr_assert(r.key != NULL && ((const char *)r.key)[r.key_len] == '\0');
			cr_assert(r.value != NULL && ((const char *)r.value)[r.value_len] == '\0');
			uwal_record_free(&r);
			extra[n_extra++] = c->index;
		} else if (c->index > BASE && c->want != UWAL_EEXIST) {
			cr_assert_eq(g, UWAL_ENOTFOUND, "%s: refused record is readable", c->name);
		} else if (g == 0) {
			uwal_record_free(&r);
		}
	}
	/* the refused duplicate did not replace the original */
	th_check_std(w, 1);
	th_close(w);
	check_base_plus(extra, n_extra, "bad writes");
}

/* ---- batches -------------------------------------------------------------- */

/*
 * Guards against a batch with one bad record being partly written, against
 * batches too large for a segment, and against NULL or empty batches.
 */
TH_TEST(badinput, write_batch_table)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	uwal_record ok[3] = {{40, "a", 1, "x", 1}, {41, "b", 1, "y", 1}, {42, "c", 1, "z", 1}};
	cr_assert_eq(uwal_write_batch(NULL, ok, 3, false), UWAL_EINVAL);
	cr_assert_eq(uwal_write_batch(w, NULL, 3, false), UWAL_EINVAL);
	cr_assert_eq(uwal_write_batch(w, ok, 0, false), UWAL_EINVAL);
	if (sizeof(size_t) > 4)
		cr_assert_eq(uwal_write_batch(w, ok, (size_t)UINT32_MAX + 1, false), UWAL_ETOOBIG);

	memset(g_big, 0x3C, sizeof(g_big));
	struct {
		const char *name;
		uwal_record r[3];
		int want;
	} cases[] = {
		{"NULL key with a length last",
		 {{53, "a", 1, "x", 1}, {54, "b", 1, "y", 1}, {55, NULL, 4, "z", 1}},
		 UWAL_EINVAL},
		{"NULL value with a length first",
		 {{56, "a", 1, NULL, 9}, {57, "b", 1, "y", 1}, {58, "c", 1, "z", 1}},
		 UWAL_EINVAL},
		{"duplicate within the batch",
		 {{59, "a", 1, "x", 1}, {60, "b", 1, "y", 1}, {59, "c", 1, "z", 1}},
		 UWAL_EEXIST},
		{"an index already in the log",
		 {{61, "a", 1, "x", 1}, {BASE, "b", 1, "y", 1}, {62, "c", 1, "z", 1}},
		 UWAL_EEXIST},
		{"together larger than a segment",
		 {{63, NULL, 0, g_big, MAX_VALUE / 2},
		  {64, NULL, 0, g_big, MAX_VALUE / 2},
		  {65, NULL, 0, g_big, MAX_VALUE / 2}},
		 UWAL_ETOOBIG},
		{"one record larger than a segment",
		 {{66, "a", 1, "x", 1}, {67, NULL, 0, g_big, MAX_VALUE + 1}, {68, "c", 1, "z", 1}},
		 UWAL_ETOOBIG},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (int sync = 0; sync < 2; sync++) {
			int rc = uwal_write_batch(w, cases[k].r, 3, sync);
			cr_assert_eq(rc, cases[k].want, "%s (sync %d): %d (%s), want %d (%s)",
				     cases[k].name, sync, rc, uwal_strerror(rc), cases[k].want,
				     uwal_strerror(cases[k].want));
		}
		for (int i = 0; i < 3; i++) {
			uint64_t idx = cases[k].r[i].index;
			if (idx > BASE)
				th_check_absent(w, idx);
		}
	}
	/* nothing above was written; a good batch still is, all of it */
	cr_assert_eq(th_stats(w).records, 0);
	cr_assert_eq(uwal_write_batch(w, ok, 3, true), 0);
	cr_assert_eq(uwal_write_batch(w, ok, 3, true), UWAL_EEXIST);
	th_close(w);
	uint64_t extra[3] = {40, 41, 42};
	check_base_plus(extra, 3, "bad batches");
}

/* ---- reads, iterators and the rest ---------------------------------------- */

/* Guards against reads with bad arguments crashing or touching *out. */
TH_TEST(badinput, reads_iterators_and_counters)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	uwal_record r, sentinel;
	memset(&sentinel, 0xEE, sizeof(sentinel));
	static const uint64_t missing[] = {0, BASE + 1, 1000, UINT64_MAX};
	for (size_t i = 0; i < 4; i++) {
		r = sentinel;
		cr_assert_eq(uwal_get(w, missing[i], &r), UWAL_ENOTFOUND, "get(%llu)",
			     (unsigned long long)missing[i]);
		cr_assert(memcmp(&r, &sentinel, sizeof(r)) == 0, "get changed *out on failure");
	}
	cr_assert_eq(uwal_get(NULL, 1, &r), UWAL_EINVAL);
	cr_assert_eq(uwal_get(w, 1, NULL), UWAL_EINVAL);

	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(NULL, &it), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open(w, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_next(NULL, &r), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	cr_assert_eq(uwal_iter_next(it, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_iter_next(it, &r), 1, "a NULL rec must not consume a record");
	cr_assert_eq(r.index, 1);
	for (uint64_t i = 2; i <= BASE; i++)
		cr_assert_eq(uwal_iter_next(it, &r), 1);
	cr_assert_eq(uwal_iter_next(it, &r), 0);
	cr_assert_eq(uwal_iter_next(it, &r), 0, "the end is stable");
	uwal_iter_close(it);
	uwal_iter_close(NULL);

	uwal_record_free(NULL);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 1, &r), 0);
	uwal_record_free(&r);
	uwal_record_free(&r); /* zeroed by the first call */

	cr_assert_eq(uwal_first_index(NULL), 0);
	cr_assert_eq(uwal_last_index(NULL), 0);
	cr_assert_eq(uwal_first_index(w), 1);
	cr_assert_eq(uwal_last_index(w), BASE);
	uwal_stats s;
	cr_assert_eq(uwal_stats_get(NULL, &s), UWAL_EINVAL);
	cr_assert_eq(uwal_stats_get(w, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_close(NULL), UWAL_EINVAL);
	th_close(w);
	check_base("bad reads");
}

/* Guards against an error code without a description. */
TH_TEST(badinput, strerror_describes_everything)
{
	static const int codes[] = {UWAL_EINVAL,    UWAL_EEXIST,  UWAL_ENOTFOUND, UWAL_ETOOBIG,
				    UWAL_ESHUTDOWN, UWAL_ELOCKED, UWAL_ECORRUPT,  UWAL_EPOISONED};
	for (size_t i = 0; i < 8; i++) {
		const char *s = uwal_strerror(codes[i]);
		cr_assert(s != NULL && s[0] != '\0', "uwal_strerror(%d)", codes[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(s, uwal_strerror(codes[j]),
					  "codes %d and %d read the same", codes[i], codes[j]);
	}
	static const int others[] = {0,      -EIO, -ENOSPC, -EACCES, -30000,  -30009,
				     -40000, 1,    12345,   INT_MAX, INT_MIN, -4096};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		const char *s = uwal_strerror(others[i]);
		cr_assert(s != NULL && s[0] != '\0', "uwal_strerror(%d)", others[i]);
	}
	uwal_free_list(NULL, 0);
	uwal_free_list(NULL, 5);
}

/* Guards against uwal_unsafe_recover() with bad arguments touching the log,
 * or leaving its outputs unset. */
TH_TEST(badinput, unsafe_recover_arguments)
{
	make_base();
	char **list = (char **)&list;
	size_t n = 77;
	cr_assert_eq(uwal_unsafe_recover(NULL, NULL, &list, &n), UWAL_EINVAL);
	cr_assert(list == NULL && n == 0, "outputs not reset on failure");
	static const char *bad[] = {"", "/", "a/b", ".", "..", "../x"};
	for (size_t i = 0; i < 6; i++) {
		list = (char **)&list;
		n = 77;
		cr_assert_eq(uwal_unsafe_recover(g_dir, bad[i], &list, &n), UWAL_EINVAL,
			     "prefix %s", bad[i]);
		cr_assert(list == NULL && n == 0);
	}
	char missing[4352], file[4352];
	th_join(missing, sizeof(missing), g_dir, "nope");
	cr_assert_eq(uwal_unsafe_recover(missing, NULL, &list, &n), -ENOENT);
	th_join(file, sizeof(file), g_dir, "plain");
	th_create_file(file, "x", 1);
	cr_assert_eq(uwal_unsafe_recover(file, NULL, &list, &n), -ENOTDIR);
	unlink(file);
	/* a healthy log: nothing to remove, outputs optional */
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, NULL, NULL), 0);
	cr_assert_eq(uwal_unsafe_recover(g_dir, "segment_", &list, &n), 0);
	cr_assert(list == NULL && n == 0);
	/* another prefix: no log there, nothing happens */
	cr_assert_eq(uwal_unsafe_recover(g_dir, "other_", &list, &n), 0);
	cr_assert_eq(n, 0);
	check_base("bad unsafe recover calls");
}

/* ---- writes racing with close ---------------------------------------------- */

enum { RACE_T = 8, RACE_MAX = 100000 };

struct race_arg {
	uwal *w;
	int t;
	bool sync;
	atomic_int started;
	int n;                /* calls made */
	int last_rc;          /* the result of the last call */
	int bad_rc;           /* a result other than 0 and UWAL_ESHUTDOWN, or 0 */
	uint64_t acked_until; /* indexes base+1 .. base+acked_until returned 0 */
};

static uint64_t race_base(int t)
{
	return (uint64_t)(t + 1) * 1000000;
}

/*
 * Each thread writes until it gets UWAL_ESHUTDOWN, so some of its calls
 * begin while uwal_close() runs. What is defined (include/uwal.h): a call
 * in progress when uwal_close() begins returns 0 or UWAL_ESHUTDOWN, and a
 * call that begins after uwal_close() began but before it returned is
 * refused with UWAL_ESHUTDOWN; a call after uwal_close() returned is
 * undefined. To keep every call before that return, the test holds the
 * close in the fault backend at the writer's last step, the end of its
 * ring (after it wrote every request it took, before uwal_close() waits
 * for the callers still inside and frees the handle), and lets the close
 * go on only once every thread has returned from its last call.
 */
static void *race_thread(void *p)
{
	struct race_arg *a = p;
	atomic_store(&a->started, 1);
	for (int i = 1; i < RACE_MAX; i++) {
		int rc = th_write_std(a->w, race_base(a->t) + (uint64_t)i, a->sync);
		a->n = i;
		a->last_rc = rc;
		if (rc == 0) {
			a->acked_until = (uint64_t)i; /* every earlier call returned 0 too */
			continue;
		}
		if (rc != UWAL_ESHUTDOWN)
			a->bad_rc = rc;
		break;
	}
	return NULL;
}

struct close_arg {
	uwal *w;
	int rc;
};

static void *close_thread(void *p)
{
	struct close_arg *c = p;
	c->rc = uwal_close(c->w);
	return NULL;
}

static void close_race(enum uwal_sync_mode mode)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	cfg.sync_mode = mode;
	uwal *w = th_open(&cfg);
	struct race_arg *a = calloc(RACE_T, sizeof(*a));
	cr_assert_not_null(a);
	pthread_t t[RACE_T];
	for (int i = 0; i < RACE_T; i++) {
		a[i].w = w;
		a[i].t = i;
		a[i].sync = i % 2 == 0;
		cr_assert_eq(pthread_create(&t[i], NULL, race_thread, &a[i]), 0);
	}
	for (int i = 0; i < RACE_T; i++)
		while (!atomic_load(&a[i].started))
			sched_yield();
	th_sleep_ms(20); /* let them write */
	tio_pause(TIO_RING_CLOSE, NULL, 1);
	struct close_arg ca = {w, 1};
	pthread_t tc;
	cr_assert_eq(pthread_create(&tc, NULL, close_thread, &ca), 0);
	cr_assert(tio_wait_paused(20000), "uwal_close never stopped the writer");
	for (int i = 0; i < RACE_T; i++)
		pthread_join(t[i], NULL);
	tio_release();
	pthread_join(tc, NULL);
	int crc = ca.rc;
	cr_assert_eq(crc, 0, "uwal_close while writing: %d (%s)", crc, uwal_strerror(crc));

	uint64_t *extra = calloc(RACE_T * RACE_MAX, sizeof(*extra));
	cr_assert_not_null(extra);
	size_t n_extra = 0;
	for (int i = 0; i < RACE_T; i++) {
		cr_assert_eq(a[i].bad_rc, 0,
			     "thread %d: a write racing with close returned %d (%s)", i,
			     a[i].bad_rc, uwal_strerror(a[i].bad_rc));
		cr_assert_eq(a[i].last_rc, UWAL_ESHUTDOWN, "thread %d ended without UWAL_ESHUTDOWN",
			     i);
		for (uint64_t k = 1; k <= a[i].acked_until; k++)
			extra[n_extra++] = race_base(i) + k;
	}
	cr_assert_gt(n_extra, 0, "no write went through before the close");
	/* acknowledged ones present, the refused one of each thread absent */
	cfg.sync_mode = UWAL_SYNC_NONE;
	w = th_open(&cfg);
	for (int i = 0; i < RACE_T; i++) {
		for (uint64_t k = 1; k <= a[i].acked_until; k++)
			th_check_std(w, race_base(i) + k);
		th_check_absent(w, race_base(i) + a[i].acked_until + 1);
	}
	th_close(w);
	check_base_plus(extra, n_extra, "writes racing with close");
	free(extra);
	free(a);
}

/* Guards against a write racing with close returning anything but 0 or
 * UWAL_ESHUTDOWN, losing an acknowledged record or keeping a refused one. */
TH_TEST(badinput, writes_racing_with_close_none_mode)
{
	close_race(UWAL_SYNC_NONE);
}

TH_TEST(badinput, writes_racing_with_close_batch_mode)
{
	close_race(UWAL_SYNC_BATCH);
}

/* Guards against a refused ring flag being refused silently: the user must
 * learn which flag is wrong. */
TH_TEST(badinput, refused_ring_flag_is_named_in_log_fn)
{
	make_base();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	base_config(&cfg);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	cfg.ring_flags = 1u << 0;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
	cr_assert(th_log_has(&log, "IORING_SETUP_IOPOLL"), "log_fn did not name the flag");
	th_log_destroy(&log);
}

/* Guards against an out-of-range field being refused without saying which. */
TH_TEST(badinput, out_of_range_field_is_named_with_its_range)
{
	make_base();
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	base_config(&cfg);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &log;
	cfg.max_batch_size = 70000;
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_EINVAL);
	cr_assert(th_log_has(&log, "max_batch_size = 70000, allowed 1..65536"),
		  "log_fn did not name the field and its range");
	th_log_destroy(&log);
}

/* The size scheme: a program built against an older, shorter uwal_config
 * gets defaults for the fields it lacks; one built against a newer header
 * is accepted while it leaves the fields this library does not know zero,
 * and refused (never misread) once it sets one. */
TH_TEST(badinput, config_of_another_size_is_read_by_its_size)
{
	make_base();
	struct {
		uwal_config cfg;
		uint64_t newer_field;
	} big;
	uwal_config_init_sized(&big.cfg, sizeof(big)); /* as a newer header would */
	big.cfg.dir = g_dir;
	cr_assert_eq(big.cfg.size, sizeof(big));
	uwal *w = NULL;
	cr_assert_eq(uwal_open(&big.cfg, &w), 0, "a larger struct with zero extras");
	cr_assert_eq(uwal_close(w), 0);
	big.newer_field = 1;
	w = NULL;
	cr_assert_eq(uwal_open(&big.cfg, &w), UWAL_EINVAL, "a field this library does not know");

	/* An older, shorter struct: everything after dir keeps its default. */
	uwal_config small;
	memset(&small, 0xff, sizeof(small));
	uwal_config_init_sized(&small, offsetof(uwal_config, segment_threshold));
	small.dir = g_dir;
	cr_assert_eq(small.size, offsetof(uwal_config, segment_threshold));
	cr_assert_eq(uwal_open(&small, &w), 0, "a shorter struct gets defaults");
	uwal_stats st;
	cr_assert_eq(uwal_stats_get(w, &st), 0);
	cr_assert_eq(uwal_write(w, BASE + 1, "k", 1, "v", 1), 0);
	cr_assert_eq(uwal_close(w), 0);
}

/* uwal_stats_get_sized never writes past the caller's struct, and zeroes
 * what the library has no field for. */
TH_TEST(badinput, stats_fill_only_the_callers_size)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	uwal *w = th_open(&cfg);
	cr_assert_eq(th_write_std(w, BASE + 1, false), 0);
	uint8_t buf[sizeof(uwal_stats) + 16];
	memset(buf, 0xab, sizeof(buf));
	cr_assert_eq(uwal_stats_get_sized(w, (uwal_stats *)buf, 8), 0);
	cr_assert_eq(((uwal_stats *)buf)->records, 1);
	for (size_t i = 8; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0xab, "byte %zu past the caller's 8 was written", i);
	memset(buf, 0xab, sizeof(buf));
	cr_assert_eq(uwal_stats_get_sized(w, (uwal_stats *)buf, sizeof(buf)), 0);
	for (size_t i = sizeof(uwal_stats); i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0, "byte %zu of a newer struct not zeroed", i);
	cr_assert_eq(uwal_close(w), 0);
}

/* Guards against a record that fits a 4 GiB segment but not one write call
 * (Linux writes at most 0x7ffff000 bytes per call): it used to come back
 * as a short write and poison the handle. It is refused before any I/O. */
TH_TEST(badinput, record_larger_than_one_write_call_is_refused_not_poisoning)
{
	make_base();
	uwal_config cfg;
	base_config(&cfg);
	cfg.segment_size = (4ull << 30) - 1;
	cfg.prealloc = UWAL_PREALLOC_FALLOCATE;
	uwal *w = th_open(&cfg);
	size_t big = 0x7ffff000u - 16; /* fits the segment, not one call with its frame */
	/* Never touched: untouched anonymous pages cost no memory. */
	void *v = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(v, MAP_FAILED);
	cr_assert_eq(uwal_write(w, BASE + 1, "k", 1, v, big), UWAL_ETOOBIG);
	uwal_record two[2] = {{BASE + 1, "a", 1, v, big / 2 + 8},
			      {BASE + 2, "b", 1, v, big / 2 + 8}};
	cr_assert_eq(uwal_write_batch(w, two, 2, false), UWAL_ETOOBIG);
	cr_assert_eq(th_write_std(w, BASE + 1, true), 0, "the handle is not poisoned");
	munmap(v, big);
	cr_assert_eq(uwal_close(w), 0);
}
