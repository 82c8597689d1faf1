/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_files.c - small files beside the log (uwal_file_put(), _putv(),
 * _get(), _remove()): round trips, bad input, damage refused, a failed
 * step that leaves the old file and a usable handle, a power cut at every
 * step of a put (old or new contents, whole), and gets racing puts.
 */
#include "crashsim.h"
#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>

TH_SUITE(files, 240);

static uwal *open_log(const char *dir, th_log *lg)
{
	uwal_config cfg;
	th_config(&cfg, dir);
	cfg.segment_size = 64u << 10;
	if (lg) {
		cfg.log_fn = th_log_fn;
		cfg.log_ctx = lg;
	}
	return th_open(&cfg);
}

/* uwal_file_get() returns exactly want (wlen bytes). */
static void check_file(uwal *w, const char *name, const void *want, size_t wlen)
{
	void *buf = NULL;
	size_t len = 12345;
	int rc = uwal_file_get(w, name, &buf, &len);
	cr_assert_eq(rc, 0, "get %s: %s", name, uwal_strerror(rc));
	cr_assert_not_null(buf);
	cr_assert_eq(len, wlen);
	cr_assert(wlen == 0 || memcmp(buf, want, wlen) == 0, "contents of %s differ", name);
	free(buf);
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

TH_TEST(files, put_get_replace_remove_and_reopen)
{
	uwal *w = open_log(g_dir, NULL);
	th_write_range(w, 1, 300); /* a log beside them, rotating */
	cr_assert_eq(uwal_file_put(w, "meta", "term=1", 6), 0);
	check_file(w, "meta", "term=1", 6);
	cr_assert_eq(uwal_file_put(w, "meta", "term=22", 7), 0);
	check_file(w, "meta", "term=22", 7);
	cr_assert_eq(uwal_file_put(w, "empty", NULL, 0), 0);
	check_file(w, "empty", "", 0);

	/* Pieces land back to back; a large file. */
	size_t big = 3u << 20;
	unsigned char *b = malloc(big);
	cr_assert_not_null(b);
	pattern(b, big, 5);
	struct iovec v[3] = {{b, 100}, {b + 100, 0}, {b + 100, big - 100}};
	cr_assert_eq(uwal_file_putv(w, "snap.1-2", v, 3), 0);
	check_file(w, "snap.1-2", b, big);

	char path[4352];
	cr_assert(th_exists(th_join(path, sizeof(path), g_dir, "segment_file.meta")));
	cr_assert(!th_exists(th_join(path, sizeof(path), g_dir, "segment_file.meta.tmp")));
	cr_assert_eq(th_file_size(th_join(path, sizeof(path), g_dir, "segment_file.meta")),
		     24 + 7 + 4);

	cr_assert_eq(uwal_file_remove(w, "empty"), 0);
	void *buf;
	size_t len;
	cr_assert_eq(uwal_file_get(w, "empty", &buf, &len), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_file_remove(w, "empty"), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_file_get(w, "never", &buf, &len), UWAL_ENOTFOUND);
	th_close(w);

	/* They outlive the handle, are no segments, and the log is whole. */
	w = open_log(g_dir, NULL);
	check_file(w, "meta", "term=22", 7);
	check_file(w, "snap.1-2", b, big);
	for (uint64_t i = 1; i <= 300; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_truncate_front(w, 301), 0); /* empties the log */
	check_file(w, "meta", "term=22", 7);
	th_close(w);
	char **removed = NULL;
	size_t nrem = 0;
	cr_assert_eq(uwal_unsafe_recover(g_dir, NULL, &removed, &nrem), 0);
	cr_assert_eq(nrem, 0);
	uwal_free_list(removed, nrem);

	/* A read-only handle reads them and writes none. */
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.open_flags = UWAL_OPEN_READONLY;
	w = th_open(&cfg);
	check_file(w, "meta", "term=22", 7);
	cr_assert_eq(uwal_file_put(w, "meta", "x", 1), UWAL_EREADONLY);
	cr_assert_eq(uwal_file_remove(w, "meta"), UWAL_EREADONLY);
	th_close(w);
	free(b);
}

TH_TEST(files, bad_input_gets_einval_and_changes_nothing)
{
	uwal *w = open_log(g_dir, NULL);
	cr_assert_eq(uwal_file_put(w, "ok", "v", 1), 0);
	void *buf;
	size_t len;
	const char *bad[] = {"",      ".hidden", "a/b",  "../x",   "x.tmp",     "sp ace",
			     "tab\t", "é",       "a\\b", "semi;c", "new\nline", NULL};
	for (size_t i = 0; bad[i]; i++) {
		cr_assert_eq(uwal_file_put(w, bad[i], "v", 1), UWAL_EINVAL, "name '%s'", bad[i]);
		cr_assert_eq(uwal_file_get(w, bad[i], &buf, &len), UWAL_EINVAL, "'%s'", bad[i]);
		cr_assert_eq(uwal_file_remove(w, bad[i]), UWAL_EINVAL, "'%s'", bad[i]);
	}
	char longest[65], too_long[66];
	memset(longest, 'a', 64);
	longest[64] = '\0';
	memset(too_long, 'b', 65);
	too_long[65] = '\0';
	cr_assert_eq(uwal_file_put(w, longest, "v", 1), 0);
	cr_assert_eq(uwal_file_put(w, too_long, "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_file_put(NULL, "ok", "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_file_put(w, NULL, "v", 1), UWAL_EINVAL);
	cr_assert_eq(uwal_file_put(w, "ok", NULL, 1), UWAL_EINVAL);
	struct iovec v[2] = {{NULL, 3}, {"x", 1}};
	cr_assert_eq(uwal_file_putv(w, "ok", v, 2), UWAL_EINVAL);
	cr_assert_eq(uwal_file_putv(w, "ok", NULL, 1), UWAL_EINVAL);
	cr_assert_eq(uwal_file_putv(w, "ok", v + 1, -1), UWAL_EINVAL);
	cr_assert_eq(uwal_file_get(w, "ok", NULL, &len), UWAL_EINVAL);
	cr_assert_eq(uwal_file_get(w, "ok", &buf, NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_file_get(NULL, "ok", &buf, &len), UWAL_EINVAL);
	cr_assert_eq(uwal_file_remove(NULL, "ok"), UWAL_EINVAL);
	check_file(w, "ok", "v", 1);
	th_close(w);
}

/* A file cut short, flipped or not uwal's is refused whole, and named. */
TH_TEST(files, damage_is_refused_with_ecorrupt_and_named)
{
	th_log lg;
	th_log_init(&lg);
	uwal *w = open_log(g_dir, &lg);
	unsigned char val[1000];
	pattern(val, sizeof(val), 3);
	char path[4352];
	th_join(path, sizeof(path), g_dir, "segment_file.m");
	void *buf;
	size_t len;
	/* Each byte of the file matters: header, contents, crc. */
	uint64_t offs[] = {0, 7, 8, 12, 16, 23, 24, 500, 24 + 999, 24 + 1000, 24 + 1003};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		cr_assert_eq(uwal_file_put(w, "m", val, sizeof(val)), 0);
		th_flip_byte(path, offs[i]);
		cr_assert_eq(uwal_file_get(w, "m", &buf, &len), UWAL_ECORRUPT, "flip at %llu",
			     (unsigned long long)offs[i]);
	}
	cr_assert(th_log_has(&lg, "segment_file.m"), "log_fn: %s", lg.buf);
	cr_assert_eq(uwal_file_put(w, "m", val, sizeof(val)), 0);
	th_truncate(path, 24 + 1000);
	cr_assert_eq(uwal_file_get(w, "m", &buf, &len), UWAL_ECORRUPT);
	th_truncate(path, 0);
	cr_assert_eq(uwal_file_get(w, "m", &buf, &len), UWAL_ECORRUPT);
	th_create_file(path, "not a uwal file at all, just some bytes.....", 44);
	cr_assert_eq(uwal_file_get(w, "m", &buf, &len), UWAL_ECORRUPT);
	/* A put repairs it; the log was never involved. */
	cr_assert_eq(uwal_file_put(w, "m", val, 10), 0);
	check_file(w, "m", val, 10);
	cr_assert_eq(th_write_std(w, 1, true), 0);
	th_close(w);
	th_log_destroy(&lg);
}

/* A failure at each step of a put: the call fails, the old contents stay,
 * the handle writes on, and the next put succeeds. */
TH_TEST(files, a_failed_step_leaves_the_old_file_and_the_handle_usable)
{
	uwal *w = open_log(g_dir, NULL);
	cr_assert_eq(uwal_file_put(w, "meta", "old", 3), 0);
	struct {
		enum tio_kind kind;
		int err;
	} steps[] = {{TIO_OPEN, -EACCES},   {TIO_PWRITE, -ENOSPC}, {TIO_PWRITE, TIO_SHORT},
		     {TIO_FDATASYNC, -EIO}, {TIO_RENAME, -EIO},    {TIO_DIRSYNC, -EIO}};
	uint64_t idx = 1;
	/* A directory fsync is matched by the directory's name; the
	 * preparer fsyncs it too, but only to make a next segment, which
	 * these few records never need. */
	const char *dirname = strrchr(g_dir, '/') ? strrchr(g_dir, '/') + 1 : g_dir;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		bool dir = steps[i].kind == TIO_DIRSYNC;
		tio_arm(steps[i].kind, dir ? dirname : "*file.meta*", 1, steps[i].err);
		int rc = uwal_file_put(w, "meta", "new", 3);
		tio_clear();
		cr_assert_lt(rc, 0, "step %zu: the put returned %d", i, rc);
		if (steps[i].kind != TIO_DIRSYNC) /* renamed already: new */
			check_file(w, "meta", "old", 3);
		cr_assert_eq(th_write_std(w, idx++, true), 0, "step %zu: the log is poisoned", i);
		cr_assert_eq(uwal_file_put(w, "meta", "old", 3), 0);
		check_file(w, "meta", "old", 3);
	}
	th_close(w);
	char path[4352];
	cr_assert(!th_exists(th_join(path, sizeof(path), g_dir, "segment_file.meta.tmp")));
}

/* ---- power cuts ------------------------------------------------------------- */

/*
 * The file holds "A..." (or nothing, if first), then a put of "B..." runs
 * with the power cut at each step in turn: after the cut the file is A or
 * B, whole (nothing, or B, for a first put); B if the put returned 0.
 */
static void power_cut_case(bool first)
{
	unsigned char a[5000], b[7000];
	pattern(a, sizeof(a), 1);
	pattern(b, sizeof(b), 2);
	bool done = false;
	for (uint64_t cut = 0; !done && cut < 60; cut++) {
		char base[700], log[720], out[720], olog[740];
		snprintf(base, sizeof(base), "%s/sim%llu", g_dir, (unsigned long long)cut);
		cr_assert_eq(th_mkdir_p(base), 0);
		snprintf(log, sizeof(log), "%s/log", base);
		snprintf(out, sizeof(out), "%s/out", base);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));
		uwal *w = open_log(log, NULL);
		cr_assert_eq(th_write_std(w, 1, true), 0);
		if (!first)
			cr_assert_eq(uwal_file_put(w, "meta", a, sizeof(a)), 0);
		crashsim_settle(sim);
		crashsim_arm(sim, cut, NULL, NULL);
		int rc = uwal_file_put(w, "meta", b, sizeof(b));
		crashsim_settle(sim);
		done = !crashsim_is_cut(sim);
		crashsim_cut(sim, cut + 1);
		uwal_close(w);
		for (uint64_t seed = 1; seed <= 4; seed++) {
			cr_assert_eq(crashsim_layout_fresh(sim, seed * 7919 + cut, out), 0);
			tio_select(NULL);
			snprintf(olog, sizeof(olog), "%s/log", out);
			th_log lg;
			th_log_init(&lg);
			w = open_log(olog, &lg);
			void *buf = NULL;
			size_t len = 0;
			int g = uwal_file_get(w, "meta", &buf, &len);
			bool is_a = g == 0 && len == sizeof(a) && memcmp(buf, a, len) == 0;
			bool is_b = g == 0 && len == sizeof(b) && memcmp(buf, b, len) == 0;
			bool none = g == UWAL_ENOTFOUND;
			cr_assert(is_b || (first ? none : is_a),
				  "cut at op %llu, seed %llu: get %d (%s), %zu bytes: neither the "
				  "old file nor the new one (%s)",
				  (unsigned long long)cut, (unsigned long long)seed, g,
				  uwal_strerror(g), len, lg.buf);
			cr_assert(rc != 0 || is_b,
				  "cut at op %llu, seed %llu: the put returned 0, the file is old",
				  (unsigned long long)cut, (unsigned long long)seed);
			free(buf);
			th_check_std(w, 1);
			th_close(w);
			th_log_destroy(&lg);
			tio_select(crashsim_io(sim));
		}
		tio_select(NULL);
		crashsim_free(sim);
		th_rmrf(base);
	}
	cr_assert(done, "the put never completed without a cut");
}

TH_TEST(files, a_power_cut_at_each_step_of_a_replacing_put_leaves_old_or_new)
{
	power_cut_case(false);
}

TH_TEST(files, a_power_cut_at_each_step_of_a_first_put_leaves_nothing_or_new)
{
	power_cut_case(true);
}

/* ---- races ------------------------------------------------------------------ */

struct racer {
	uwal *w;
	int id;
	int bad;
	_Atomic bool *stop;
};

static void *putter(void *arg)
{
	struct racer *r = arg;
	unsigned char v[3000];
	for (unsigned k = 0; k < 200; k++) {
		size_t n = 100 + (k * 37) % 2900;
		memset(v, (int)(k & 0xff), n);
		if (uwal_file_put(r->w, "shared", v, n) != 0)
			r->bad++;
	}
	atomic_store(r->stop, true);
	return NULL;
}

static void *getter(void *arg)
{
	struct racer *r = arg;
	while (!atomic_load(r->stop)) {
		void *buf;
		size_t len;
		int rc = uwal_file_get(r->w, "shared", &buf, &len);
		if (rc != 0) {
			r->bad++;
			continue;
		}
		/* Whole: one put's bytes, all alike, of a length a put wrote. */
		const unsigned char *p = buf;
		for (size_t i = 1; i < len; i++)
			if (p[i] != p[0]) {
				r->bad++;
				break;
			}
		if (len < 100 || len >= 3000)
			r->bad++;
		free(buf);
	}
	return NULL;
}

TH_TEST(files, gets_racing_puts_see_one_whole_version)
{
	uwal *w = open_log(g_dir, NULL);
	unsigned char first[112];
	memset(first, 'x', sizeof(first)); /* one put's bytes, all alike */
	cr_assert_eq(uwal_file_put(w, "shared", first, sizeof(first)), 0);
	_Atomic bool stop = false;
	struct racer r[3];
	for (int i = 0; i < 3; i++)
		r[i] = (struct racer){.w = w, .id = i, .stop = &stop};
	pthread_t t[3];
	cr_assert_eq(pthread_create(&t[0], NULL, putter, &r[0]), 0);
	cr_assert_eq(pthread_create(&t[1], NULL, getter, &r[1]), 0);
	cr_assert_eq(pthread_create(&t[2], NULL, getter, &r[2]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(r[i].bad, 0, "thread %d: %d bad answers", i, r[i].bad);
	th_close(w);
}
