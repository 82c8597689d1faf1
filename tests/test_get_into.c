/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_get_into.c - uwal_get_into() (reads into the caller's buffer: exact
 * and short capacities, empty records, frames larger than the stack buffer
 * and than 64 KiB, damaged frames), uwal_health() and uwal_version().
 */
#include "helpers.h"

TH_SUITE(get_into, 60);

static uwal *open_log(void)
{
	uwal_config cfg;
	th_config(&cfg, g_dir);
	return th_open(&cfg);
}

/* Record idx with a value of vlen bytes (th_fill) and key th_key. */
static void write_sized(uwal *w, uint64_t idx, size_t vlen)
{
	char key[TH_KEY_MAX];
	size_t kl = th_key(idx, key);
	unsigned char *val = malloc(vlen ? vlen : 1);
	cr_assert_not_null(val);
	th_fill(idx, val, vlen);
	int rc = uwal_write_sync(w, idx, key, kl, vlen ? val : NULL, vlen, true);
	cr_assert_eq(rc, 0, "write %llu (%zu bytes): %d %s", (unsigned long long)idx, vlen, rc,
		     uwal_strerror(rc));
	free(val);
}

/* Assert that r, filled by uwal_get_into() into buf, is record idx. */
static void check_into(const uwal_record *r, const void *buf, uint64_t idx, size_t vlen)
{
	char key[TH_KEY_MAX];
	size_t kl = th_key(idx, key);
	unsigned char *val = malloc(vlen ? vlen : 1);
	cr_assert_not_null(val);
	th_fill(idx, val, vlen);
	th_check_rec(r, idx, key, kl, val, vlen);
	cr_assert_eq(r->key, buf, "the key is not at buf");
	cr_assert_eq(r->value, (const char *)buf + kl, "the value does not follow the key");
	free(val);
}

/* Read record idx of vlen value bytes with every interesting capacity. */
static void check_caps(uwal *w, uint64_t idx, size_t vlen)
{
	char key[TH_KEY_MAX];
	size_t need = th_key(idx, key) + vlen;
	/* Room for the whole frame too: a large one is read straight into
	 * the buffer. */
	size_t roomy = need + 256;
	unsigned char *buf = malloc(roomy);
	cr_assert_not_null(buf);
	size_t caps[] = {need, need + 1, need + 40, roomy};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		uwal_record r;
		memset(buf, 0xEE, roomy);
		memset(&r, 0, sizeof(r));
		int rc = uwal_get_into(w, idx, buf, caps[i], &r);
		cr_assert_eq(rc, 0, "get_into(%llu, cap %zu of %zu): %d %s",
			     (unsigned long long)idx, caps[i], need, rc, uwal_strerror(rc));
		check_into(&r, buf, idx, vlen);
		if (caps[i] == need)
			cr_assert_eq(buf[need], 0xEE, "wrote past cap");
	}
	/* one byte short, and nothing at all: the sizes, no pointers */
	size_t shorts[] = {need - 1, 0};
	for (size_t i = 0; i < 2; i++) {
		uwal_record r;
		memset(&r, 0xA5, sizeof(r));
		int rc = uwal_get_into(w, idx, shorts[i] ? buf : NULL, shorts[i], &r);
		cr_assert_eq(rc, UWAL_ETOOBIG, "get_into(%llu, cap %zu of %zu): %d %s",
			     (unsigned long long)idx, shorts[i], need, rc, uwal_strerror(rc));
		cr_assert_eq(r.index, idx);
		cr_assert_eq(r.key_len + r.value_len, need);
		cr_assert_eq(r.value_len, vlen);
		cr_assert_null(r.key);
		cr_assert_null(r.value);
	}
	free(buf);
}

/* Guards the round trip of uwal_get_into() at every capacity around the
 * record's size, for small records and for frames larger than the 4 KiB
 * stack buffer and than 64 KiB. */
TH_TEST(get_into, exact_and_short_capacities_small_and_large_records)
{
	uwal *w = open_log();
	size_t sizes[] = {1, 100, 4000, 4096, 5000, 70000, 300000};
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	for (size_t i = 0; i < n; i++)
		write_sized(w, i + 1, sizes[i]);
	for (size_t i = 0; i < n; i++)
		check_caps(w, i + 1, sizes[i]);
	/* and the same after a reopen (sealed or not, read from the file) */
	th_close(w);
	w = open_log();
	for (size_t i = 0; i < n; i++)
		check_caps(w, i + 1, sizes[i]);
	/* uwal_get() agrees */
	for (size_t i = 0; i < n; i++) {
		uwal_record r;
		cr_assert_eq(uwal_get(w, i + 1, &r), 0);
		cr_assert_eq(r.value_len, sizes[i]);
		uwal_record_free(&r);
	}
	th_close(w);
}

/* Guards the edge cases: an empty record needs no buffer at all. */
TH_TEST(get_into, empty_record_fits_in_no_buffer)
{
	uwal *w = open_log();
	cr_assert_eq(uwal_write(w, 7, NULL, 0, NULL, 0), 0);
	uwal_record r;
	memset(&r, 0xA5, sizeof(r));
	cr_assert_eq(uwal_get_into(w, 7, NULL, 0, &r), 0);
	cr_assert_eq(r.index, 7);
	cr_assert_eq(r.key_len, 0);
	cr_assert_eq(r.value_len, 0);
	char b[4];
	cr_assert_eq(uwal_get_into(w, 7, b, sizeof(b), &r), 0);
	cr_assert_eq(r.key_len + r.value_len, 0);
	cr_assert_eq(r.key, b);
	th_close(w);
}

/* Guards the argument checks and the missing index. */
TH_TEST(get_into, bad_arguments_and_missing_index)
{
	uwal *w = open_log();
	cr_assert_eq(th_write_std(w, 1, false), 0);
	char buf[512];
	uwal_record r;
	cr_assert_eq(uwal_get_into(NULL, 1, buf, sizeof(buf), &r), UWAL_EINVAL);
	cr_assert_eq(uwal_get_into(w, 1, buf, sizeof(buf), NULL), UWAL_EINVAL);
	cr_assert_eq(uwal_get_into(w, 1, NULL, 10, &r), UWAL_EINVAL);
	memset(&r, 0xA5, sizeof(r));
	cr_assert_eq(uwal_get_into(w, 2, buf, sizeof(buf), &r), UWAL_ENOTFOUND);
	cr_assert_eq(uwal_get_into(w, 0, buf, sizeof(buf), &r), UWAL_ENOTFOUND);
	cr_assert_eq(r.index, 0xA5A5A5A5A5A5A5A5ull, "rec was changed on failure");
	cr_assert_eq(uwal_get_into(w, 1, buf, sizeof(buf), &r), 0);
	th_check_std_rec(&r, 1);
	th_close(w);
}

/* Offset of record idx's frame in the segment file at path. */
static uint64_t frame_of(const char *path, uint64_t idx, uint32_t *len)
{
	static th_frame f[256];
	size_t n = th_scan(path, f, 256, NULL);
	for (size_t i = 0; i < n; i++) {
		if (f[i].type == TH_FRAME_RECORD && f[i].index == idx) {
			*len = f[i].len;
			return f[i].off;
		}
	}
	cr_assert_fail("record %llu not found in %s", (unsigned long long)idx, path);
	return 0;
}

/* Guards the CRC check of uwal_get_into() (and uwal_get()): a frame
 * damaged on disk after it was written reads as UWAL_ECORRUPT, small or
 * large, and log_fn names the file. */
TH_TEST(get_into, damaged_frame_is_ecorrupt)
{
	th_log lg;
	th_log_init(&lg);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.log_fn = th_log_fn;
	cfg.log_ctx = &lg;
	uwal *w = th_open(&cfg);
	write_sized(w, 1, 50);
	write_sized(w, 2, 20000);
	write_sized(w, 3, 50);
	char path[4352];
	th_last_data_segment(g_dir, "segment_", path, sizeof(path));
	for (uint64_t idx = 1; idx <= 2; idx++) {
		uint32_t len;
		uint64_t off = frame_of(path, idx, &len);
		/* a byte of the value, near the end of the payload */
		th_flip_byte(path, off + TH_FRAME_HEADER + len - 3);
	}
	unsigned char *buf = malloc(30000);
	cr_assert_not_null(buf);
	uwal_record r;
	for (uint64_t idx = 1; idx <= 2; idx++) {
		int rc = uwal_get_into(w, idx, buf, 30000, &r);
		cr_assert_eq(rc, UWAL_ECORRUPT, "record %llu: %d %s", (unsigned long long)idx, rc,
			     uwal_strerror(rc));
		rc = uwal_get_into(w, idx, NULL, 0, &r);
		cr_assert_eq(rc, UWAL_ECORRUPT, "record %llu, no buffer: %d %s",
			     (unsigned long long)idx, rc, uwal_strerror(rc));
		cr_assert_eq(uwal_get(w, idx, &r), UWAL_ECORRUPT);
	}
	cr_assert(th_log_has(&lg, "corrupt frame"), "log: %s", lg.buf);
	cr_assert(th_log_has(&lg, "segment_00000000000000000000"), "log: %s", lg.buf);
	/* the undamaged neighbour still reads */
	cr_assert_eq(uwal_get_into(w, 3, buf, 30000, &r), 0);
	check_into(&r, buf, 3, 50);
	free(buf);
	/* the log itself now holds damage uwal_close() does not look at */
	th_close(w);
	th_log_destroy(&lg);
}

/* Guards uwal_get_into() on a read-only handle. */
TH_TEST(get_into, read_only_handle)
{
	uwal *w = open_log();
	write_sized(w, 1, 9000);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *ro = th_open(&cfg);
	check_caps(ro, 1, 9000);
	th_close(ro);
	th_close(w);
}

/* ---- uwal_health ----------------------------------------------------------- */

/* Guards uwal_health(): 0 while the handle writes, the failed fdatasync's
 * error once it poisoned the handle (writes then return UWAL_EPOISONED,
 * reads go on), UWAL_EINVAL for NULL. */
TH_TEST(get_into, health_says_what_poisoned_the_handle)
{
	cr_assert_eq(uwal_health(NULL), UWAL_EINVAL);
	uwal_config cfg;
	th_config(&cfg, g_dir);
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.durable_write = UWAL_DURABLE_LINKED; /* an fdatasync per batch */
	uwal *w = th_open(&cfg);
	cr_assert_eq(uwal_health(w), 0);
	cr_assert_eq(th_write_std(w, 1, false), 0);
	cr_assert_eq(uwal_health(w), 0);
	tio_arm(TIO_FDATASYNC, NULL, 1, -EIO);
	cr_assert_eq(th_write_std(w, 2, false), -EIO);
	tio_clear();
	cr_assert_eq(uwal_health(w), -EIO);
	cr_assert_eq(th_write_std(w, 3, false), UWAL_EPOISONED);
	cr_assert_eq(uwal_health(w), -EIO, "the first error stays");
	th_check_std(w, 1);
	cr_assert_eq(uwal_close(w), UWAL_EPOISONED);
	/* reopened, the handle is healthy again */
	w = th_open(&cfg);
	cr_assert_eq(uwal_health(w), 0);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *ro = th_open(&cfg);
	cr_assert_eq(uwal_health(ro), 0);
	th_close(ro);
	th_close(w);
}

/* ---- uwal_version -------------------------------------------------------- */

/* Guards uwal_version() against drifting from the header's version. */
TH_TEST(get_into, version_matches_the_header)
{
	const char *v = uwal_version();
	cr_assert_not_null(v);
	cr_assert_str_eq(v, UWAL_VERSION_STRING);
	cr_assert_eq(uwal_version(), v, "a static string");
	unsigned major, minor, patch;
	char end;
	cr_assert_eq(sscanf(v, "%u.%u.%u%c", &major, &minor, &patch, &end), 3,
		     "\"%s\" is not MAJOR.MINOR.PATCH", v);
	cr_assert_eq(major, UWAL_VERSION_MAJOR);
	cr_assert_eq(minor, UWAL_VERSION_MINOR);
	cr_assert_eq(patch, UWAL_VERSION_PATCH);
	cr_assert_eq(major * 1000000u + minor * 1000u + patch, (unsigned)UWAL_VERSION_NUMBER);
}
