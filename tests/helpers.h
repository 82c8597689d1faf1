/* SPDX-License-Identifier: Apache-2.0 */
/*
 * helpers.h - shared helpers of uwal's Criterion tests: fresh scratch
 * directories, a default configuration, a log_fn that captures messages,
 * deterministic record contents, and helpers that read and damage segment
 * files the way a crash or a bad disk would.
 *
 * Include this file first in every test (it sets _GNU_SOURCE). Helpers that
 * assert (th_check_*) use Criterion's cr_assert and must only be called from
 * the test's own thread; worker threads record results and the test thread
 * checks them.
 *
 * On-disk facts the damage helpers rely on: a segment file is
 * "<prefix><20 decimal digits>"; it starts with a 32-byte header, then frames
 * of a 16-byte header {u32 LE payload length, u8 type (1 record, 2 seal,
 * 6 mark), u8 flags, u16 reserved, u32 epoch, u32 crc} and the payload, a
 * msgpack array [index, key bin, value bin]. Zeros follow the last frame.
 * Mark frames (the durable watermark: a 16-byte payload) lie between
 * batches and after the last one once the log is closed.
 */
#ifndef UWAL_TESTS_HELPERS_H
#define UWAL_TESTS_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "faultio.h"
#include "uwal.h"

/* ---- sanitizers -------------------------------------------------------- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#ifdef __SANITIZE_THREAD__
/*
 * Criterion records a test's result before the test's process exits, so a
 * race that TSan reports (and only turns into exit code 66 at exit) would
 * not fail the test. Halting at the first report makes it a crash, which
 * Criterion does count. TSAN_OPTIONS still overrides this.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
#endif

/* Fail the test if LeakSanitizer finds unreachable memory now. */
static inline void th_leak_check(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "LeakSanitizer found leaks (see the report on stderr)");
#endif
}

/*
 * Define a Criterion test whose body is followed by a leak check. Criterion
 * records the result before .fini runs and before the process exits, so
 * leaks found at exit (or in .fini) never fail a test; checking at the end
 * of the body does. Use it exactly like Test(Suite, Name) { ... }.
 */
#define TH_TEST(Suite, Name)                                                                       \
	static void Suite##_##Name##_body(void);                                                   \
	Test(Suite, Name)                                                                          \
	{                                                                                          \
		Suite##_##Name##_body();                                                           \
		th_leak_check();                                                                   \
	}                                                                                          \
	static void Suite##_##Name##_body(void)

#define TH_SEG_HEADER 32u
#define TH_FRAME_HEADER 16u
#define TH_FRAME_RECORD 1u
#define TH_FRAME_SEAL 2u
#define TH_FRAME_MARK 6u
#define TH_DIGITS 20u

/* ---- scratch directories --------------------------------------------- */

/* mkdir -p; returns 0 or -errno. */
static inline int th_mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	return 0;
}

/* A fresh, empty directory under $UWAL_TEST_DIR (or /tmp); malloc'd path. */
static inline char *th_tmpdir(void)
{
	const char *base = getenv("UWAL_TEST_DIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	cr_assert_eq(th_mkdir_p(base), 0, "cannot create %s", base);
	size_t n = strlen(base) + 32;
	char *path = malloc(n);
	cr_assert_not_null(path);
	snprintf(path, n, "%s/uwal-test-XXXXXX", base);
	cr_assert_not_null(mkdtemp(path), "mkdtemp in %s: %s", base, strerror(errno));
	return path;
}

/* rm -rf path (files and directories below it). Missing path is fine. */
static inline void th_rmrf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d != NULL) {
			struct dirent *e;
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
					continue;
				size_t n = strlen(path) + strlen(e->d_name) + 2;
				char *child = malloc(n);
				if (child == NULL)
					break;
				snprintf(child, n, "%s/%s", path, e->d_name);
				th_rmrf(child);
				free(child);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

/* "<dir>/<name>" into buf. */
static inline const char *th_join(char *buf, size_t n, const char *dir, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
	return buf;
}

static inline bool th_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- configuration and log capture ------------------------------------ */

/* Captures every log_fn message; thread safe (log_fn runs on uwal threads). */
typedef struct th_log {
	pthread_mutex_t mu;
	char buf[16384];
	size_t len;
	unsigned calls;
} th_log;

static inline void th_log_init(th_log *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
}

static inline void th_log_fn(void *ctx, int level, const char *msg)
{
	th_log *l = ctx;
	pthread_mutex_lock(&l->mu);
	l->calls++;
	size_t room = sizeof(l->buf) - l->len;
	if (room > 1) {
		int n = snprintf(l->buf + l->len, room, "[%d] %s\n", level, msg ? msg : "(null)");
		if (n > 0)
			l->len += (size_t)n < room ? (size_t)n : room - 1;
	}
	pthread_mutex_unlock(&l->mu);
}

/* true if some captured message contains needle. */
static inline bool th_log_has(th_log *l, const char *needle)
{
	pthread_mutex_lock(&l->mu);
	bool found = strstr(l->buf, needle) != NULL;
	pthread_mutex_unlock(&l->mu);
	return found;
}

/* Number of log_fn calls so far. */
static inline unsigned th_log_calls(th_log *l)
{
	pthread_mutex_lock(&l->mu);
	unsigned n = l->calls;
	pthread_mutex_unlock(&l->mu);
	return n;
}

static inline void th_log_destroy(th_log *l)
{
	pthread_mutex_destroy(&l->mu);
}

/*
 * Defaults for tests: the library defaults, but 1 MiB segments (the default
 * 64 MiB would be zero-filled at every open and make the suite slow).
 */
static inline void th_config(uwal_config *cfg, const char *dir)
{
	uwal_config_init(cfg);
	cfg->dir = dir;
	cfg->segment_size = 1u << 20;
}

/* Open or fail the test. */
static inline uwal *th_open(const uwal_config *cfg)
{
	uwal *w = NULL;
	int rc = uwal_open(cfg, &w);
	cr_assert_eq(rc, 0, "uwal_open(%s): %d %s", cfg->dir, rc, uwal_strerror(rc));
	cr_assert_not_null(w);
	return w;
}

static inline void th_close(uwal *w)
{
	int rc = uwal_close(w);
	cr_assert_eq(rc, 0, "uwal_close: %d %s", rc, uwal_strerror(rc));
}

/* ---- deterministic record contents ------------------------------------ */

#define TH_KEY_MAX 32u
#define TH_VAL_MAX 256u

/* Key of record idx, e.g. "k42"; returns its length. */
static inline size_t th_key(uint64_t idx, char *buf)
{
	return (size_t)snprintf(buf, TH_KEY_MAX, "k%llu", (unsigned long long)idx);
}

/* Value length of record idx: 0..TH_VAL_MAX-1, varies with idx. */
static inline size_t th_vlen(uint64_t idx)
{
	return (size_t)((idx * 2654435761u) >> 7) % TH_VAL_MAX;
}

/* Fill buf with value byte pattern of record idx, length len. */
static inline void th_fill(uint64_t idx, unsigned char *buf, size_t len)
{
	uint64_t x = idx * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

/* Write the standard record for idx (key th_key, value th_fill/th_vlen). */
static inline int th_write_std(uwal *w, uint64_t idx, bool sync)
{
	char key[TH_KEY_MAX];
	unsigned char val[TH_VAL_MAX];
	size_t kl = th_key(idx, key);
	size_t vl = th_vlen(idx);
	th_fill(idx, val, vl);
	return uwal_write_sync(w, idx, key, kl, vl ? val : NULL, vl, sync);
}

/* Write the standard records from..to, not synced, or fail the test. */
static inline void th_write_range(uwal *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		int rc = th_write_std(w, i, false);
		cr_assert_eq(rc, 0, "write %llu: %s", (unsigned long long)i, uwal_strerror(rc));
	}
}

/* Assert that rec holds exactly the given key and value, NUL-terminated. */
static inline void th_check_rec(const uwal_record *r, uint64_t idx, const void *key, size_t kl,
				const void *val, size_t vl)
{
	cr_assert_eq(r->index, idx, "index %llu, want %llu", (unsigned long long)r->index,
		     (unsigned long long)idx);
	cr_assert_eq(r->key_len, kl, "record %llu: key_len %zu, want %zu", (unsigned long long)idx,
		     r->key_len, kl);
	cr_assert_eq(r->value_len, vl, "record %llu: value_len %zu, want %zu",
		     (unsigned long long)idx, r->value_len, vl);
	if (kl > 0)
		cr_assert(r->key != NULL && memcmp(r->key, key, kl) == 0,
			  "record %llu: key bytes differ", (unsigned long long)idx);
	if (vl > 0)
		cr_assert(r->value != NULL && memcmp(r->value, val, vl) == 0,
			  "record %llu: value bytes differ", (unsigned long long)idx);
}

/* Assert that rec is the standard record of idx. */
static inline void th_check_std_rec(const uwal_record *r, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[TH_VAL_MAX];
	size_t kl = th_key(idx, key);
	size_t vl = th_vlen(idx);
	th_fill(idx, val, vl);
	th_check_rec(r, idx, key, kl, val, vl);
}

/* Assert that uwal_get(idx) returns the standard record of idx. */
static inline void th_check_std(uwal *w, uint64_t idx)
{
	uwal_record r;
	memset(&r, 0, sizeof(r));
	int rc = uwal_get(w, idx, &r);
	cr_assert_eq(rc, 0, "uwal_get(%llu): %d %s", (unsigned long long)idx, rc,
		     uwal_strerror(rc));
	th_check_std_rec(&r, idx);
	uwal_record_free(&r);
}

/* Assert that uwal_get(idx) finds nothing. */
static inline void th_check_absent(uwal *w, uint64_t idx)
{
	uwal_record r;
	memset(&r, 0, sizeof(r));
	int rc = uwal_get(w, idx, &r);
	if (rc == 0)
		uwal_record_free(&r);
	cr_assert_eq(rc, UWAL_ENOTFOUND, "uwal_get(%llu): %d (%s), want UWAL_ENOTFOUND",
		     (unsigned long long)idx, rc, uwal_strerror(rc));
}

static inline uwal_stats th_stats(uwal *w)
{
	uwal_stats s;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(uwal_stats_get(w, &s), 0);
	return s;
}

/* ---- segment files ----------------------------------------------------- */

#define TH_MAX_SEGS 512
#define TH_NAME_MAX 256

/* Sorted names of the segment files ("<prefix><20 digits>") of a dir. */
typedef struct th_seglist {
	size_t n;
	char name[TH_MAX_SEGS][TH_NAME_MAX];
} th_seglist;

static inline bool th_is_segment_name(const char *name, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + TH_DIGITS)
		return false;
	for (size_t i = pl; i < pl + TH_DIGITS; i++)
		if (!isdigit((unsigned char)name[i]))
			return false;
	return true;
}

static inline int th_cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* List segment files; names sort numerically (fixed-width digits). Heap. */
static inline th_seglist *th_segments(const char *dir, const char *prefix)
{
	th_seglist *l = calloc(1, sizeof(*l));
	cr_assert_not_null(l);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!th_is_segment_name(e->d_name, prefix))
			continue;
		cr_assert(l->n < TH_MAX_SEGS);
		snprintf(l->name[l->n++], TH_NAME_MAX, "%s", e->d_name);
	}
	closedir(d);
	qsort(l->name, l->n, TH_NAME_MAX, th_cmp_names);
	return l;
}

static inline size_t th_segment_count(const char *dir, const char *prefix)
{
	th_seglist *l = th_segments(dir, prefix);
	size_t n = l->n;
	free(l);
	return n;
}

/* Count the files of dir whose name ends with suffix. */
static inline size_t th_count_suffix(const char *dir, const char *suffix)
{
	size_t n = 0, sl = strlen(suffix);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Remove the index files ("<segment>.idx") of dir. A sealed segment's index
 * file lets a default open skip reading its frames, so damage in them then
 * shows only when they are read (or under UWAL_OPEN_VERIFY); tests of what
 * reading every frame finds remove them first. (Whether the preparer wrote
 * one before close is a matter of timing.)
 */
static inline void th_remove_indexes(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	char path[4352];
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".idx") == 0)
			cr_assert_eq(unlink(th_join(path, sizeof(path), dir, e->d_name)), 0);
	}
	closedir(d);
}

/* Read a whole file; *len receives its size. malloc'd. */
static inline unsigned char *th_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	size_t n = (size_t)st.st_size;
	unsigned char *buf = malloc(n ? n : 1);
	cr_assert_not_null(buf);
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, buf + done, n - done, (off_t)done);
		cr_assert(r > 0, "read %s: %s", path, strerror(errno));
		done += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

/* Overwrite len bytes of a file at off. */
static inline void th_write_at(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len, "pwrite %s: %s", path,
		     strerror(errno));
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

/* Invert every bit of the byte at off. */
static inline void th_flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	unsigned char b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1, "read %s at %llu", path,
		     (unsigned long long)off);
	b ^= 0xFF;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

static inline void th_truncate(const char *path, uint64_t len)
{
	cr_assert_eq(truncate(path, (off_t)len), 0, "truncate %s: %s", path, strerror(errno));
}

static inline uint64_t th_file_size(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* Create (or replace) a file with the given contents. */
static inline void th_create_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	if (len > 0)
		cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* ---- frames ------------------------------------------------------------ */

/* One frame found by th_scan: where it is and, for records, its index. */
typedef struct th_frame {
	uint64_t off;   /* offset of the frame header in the file */
	uint32_t len;   /* payload length */
	uint8_t type;   /* TH_FRAME_RECORD or TH_FRAME_SEAL */
	uint64_t index; /* record index decoded from the payload (0 if none) */
} th_frame;

static inline uint32_t th_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t th_be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The index (first element) of a msgpack [index, key, value] payload; 0 if unreadable. */
static inline uint64_t th_payload_index(const unsigned char *p, size_t len)
{
	size_t i;
	if (len < 2)
		return 0;
	if ((p[0] & 0xF0) == 0x90)
		i = 1;
	else if (p[0] == 0xdc && len >= 4)
		i = 3;
	else if (p[0] == 0xdd && len >= 6)
		i = 5;
	else
		return 0;
	unsigned char t = p[i];
	if (t < 0x80)
		return t;
	unsigned n = t == 0xcc ? 1 : t == 0xcd ? 2 : t == 0xce ? 4 : t == 0xcf ? 8 : 0;
	if (n == 0 || i + 1 + n > len)
		return 0;
	return th_be(p + i + 1, n);
}

/*
 * Scan the frames of a segment file from offset 32, up to max of them.
 * Steps over mark frames (not listed). Stops at the first header that is
 * not a record, seal or mark or does not fit in the file. *end receives
 * the offset just after the last record or seal frame found.
 */
static inline size_t th_scan(const char *path, th_frame *out, size_t max, uint64_t *end)
{
	size_t size;
	unsigned char *buf = th_read_file(path, &size);
	size_t n = 0;
	uint64_t off = TH_SEG_HEADER, last_end = TH_SEG_HEADER;
	while (n < max && off + TH_FRAME_HEADER <= size) {
		uint32_t len = th_le32(buf + off);
		uint8_t type = buf[off + 4];
		if (type == TH_FRAME_MARK && len == 16 && off + TH_FRAME_HEADER + len <= size) {
			off += TH_FRAME_HEADER + len;
			continue;
		}
		if (type != TH_FRAME_RECORD && type != TH_FRAME_SEAL)
			break;
		if (off + TH_FRAME_HEADER + len > size)
			break;
		out[n].off = off;
		out[n].len = len;
		out[n].type = type;
		out[n].index = type == TH_FRAME_RECORD
				       ? th_payload_index(buf + off + TH_FRAME_HEADER, len)
				       : 0;
		n++;
		off += TH_FRAME_HEADER + len;
		last_end = off;
	}
	free(buf);
	if (end != NULL)
		*end = last_end;
	return n;
}

/*
 * Cut the segment file at path just after its last record frame, so that
 * no mark frame vouches for that record any more: the file as a power cut
 * may leave it when the batch after the last one never reached the disk.
 */
static inline void th_unvouch_tail(const char *path)
{
	static th_frame f[8192];
	uint64_t end;
	size_t n = th_scan(path, f, 8192, &end);
	cr_assert_gt(n, 0, "no frame in %s", path);
	cr_assert_eq(truncate(path, (off_t)end), 0, "truncate %s: %s", path, strerror(errno));
}

/* Number of record frames in a segment file. */
static inline size_t th_record_frames(const char *path)
{
	static th_frame f[8192];
	size_t n = th_scan(path, f, 8192, NULL), r = 0;
	for (size_t i = 0; i < n; i++)
		r += f[i].type == TH_FRAME_RECORD;
	return r;
}

/*
 * Path of the last segment file that holds at least one record frame
 * (a segment prepared ahead of time may follow it, empty). Fails the test
 * if none has records.
 */
static inline void th_last_data_segment(const char *dir, const char *prefix, char *path, size_t n)
{
	th_seglist *l = th_segments(dir, prefix);
	for (size_t i = l->n; i-- > 0;) {
		th_join(path, n, dir, l->name[i]);
		if (th_record_frames(path) > 0) {
			free(l);
			return;
		}
	}
	free(l);
	cr_assert_fail("no segment with records in %s", dir);
}

/* ---- threads ------------------------------------------------------------ */

/* Start n threads running fn(&args[i]) with args of size sz; join them all. */
static inline void th_run_threads(unsigned n, void *(*fn)(void *), void *args, size_t sz)
{
	pthread_t *t = calloc(n, sizeof(*t));
	cr_assert_not_null(t);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, fn, (char *)args + i * sz), 0);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* Sleep for ms milliseconds (scheduling aid only; nothing asserts on time). */
static inline void th_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Wait (up to 2 s) for the writer to go to sleep after what the caller
 * wrote: it writes its idle mark frame first (format.c), so a fault armed
 * after this is not taken by that write. If the writer slept already
 * before the first look, the wait ends after 50 ms without a change. */
static inline void th_wait_writer_idle(uwal *w)
{
	uint64_t s0 = th_stats(w).writer_sleeps;
	for (int i = 0; i < 2000; i++) {
		th_sleep_ms(1);
		uint64_t s = th_stats(w).writer_sleeps;
		if (s != s0 || (i >= 50 && s > 0))
			return;
	}
}

/*
 * Wait (10 s at most) until every sealed segment of w, a log in dir, has
 * its index file, or fail. The preparer reads each sealed segment to
 * build it: a read fault armed before it is done could be its read.
 */
static inline void th_wait_indexes(uwal *w, const char *dir)
{
	for (int tries = 0;; tries++) {
		uwal_segment_info *v;
		size_t n, missing = 0;
		cr_assert_eq(uwal_segments(w, &v, &n), 0);
		for (size_t i = 0; i < n; i++) {
			char name[300], path[4700];
			snprintf(name, sizeof(name), "%s.idx", v[i].name);
			if (v[i].sealed && !th_exists(th_join(path, sizeof(path), dir, name)))
				missing++;
		}
		uwal_segments_free(v);
		if (missing == 0)
			return;
		cr_assert_lt(tries, 2000, "%zu index files not written", missing);
		th_sleep_ms(5);
	}
}

/* Wait (10 s at most) until retention removed n segments of w, or fail. */
static inline void th_wait_deleted(uwal *w, uint64_t n)
{
	for (int i = 0; i < 2000 && th_stats(w).deleted_segments < n; i++)
		th_sleep_ms(5);
	cr_assert_geq(th_stats(w).deleted_segments, n, "retention did not run");
}

/*
 * The usual suite: each test gets a fresh scratch directory g_dir, removed
 * after it, and starts and ends with every injected fault disarmed.
 */
#define TH_SUITE(name, timeout_s)                                                                  \
	static char *g_dir;                                                                        \
	static void th_suite_setup(void)                                                           \
	{                                                                                          \
		g_dir = th_tmpdir();                                                               \
		tio_clear();                                                                       \
	}                                                                                          \
	static void th_suite_teardown(void)                                                        \
	{                                                                                          \
		tio_clear();                                                                       \
		th_rmrf(g_dir);                                                                    \
		free(g_dir);                                                                       \
	}                                                                                          \
	TestSuite(name, .init = th_suite_setup, .fini = th_suite_teardown, .timeout = timeout_s)

#endif /* UWAL_TESTS_HELPERS_H */
