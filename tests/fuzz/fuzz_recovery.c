/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_recovery.c - libFuzzer target for the whole recovery path: the input
 * is laid out as 1-3 segment files in a scratch directory (on /dev/shm when
 * it is writable, so that fdatasync costs nothing), then uwal_open(),
 * iteration, reads by index, a write, uwal_close(), and
 * uwal_unsafe_recover() followed by another open.
 *
 * Input: byte 0 = flags:
 *   bits 0-1  number of files - 1 (3 means 3 too)
 *   bit 2     give each file a valid 32-byte header (segment number, salt
 *             from the file's first 4 bytes, flags below) before its bytes
 *   bit 3     give every frame in each file a valid CRC for its salt
 *   bit 4     leave a gap in the segment numbers before the last file
 *   bit 5     flag the files after the first AFTER_GAP (with bit 2)
 *   bit 6     also write a record after a successful open, and reopen
 * then, for each file but the last, a 2-byte length and that many bytes;
 * the last file takes the rest.
 *
 * The contract checked (README, "Recovery"):
 * - uwal_open() returns 0 or UWAL_ECORRUPT, nothing else, and never crashes;
 * - after a successful open every record the iterator returns reads back by
 *   index with the same bytes, the iterator ends cleanly, and close is 0;
 *   a write of a new index succeeds and is there after a reopen;
 * - uwal_unsafe_recover() returns 0, and afterwards uwal_open() succeeds.

 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "uwal.h"

static char g_dir[256];
static char g_log[8192];
static size_t g_log_len;

static void log_fn(void *ctx, int level, const char *msg)
{
	(void)ctx;
	FUZZ_CHECK(msg != NULL && level >= UWAL_LOG_ERROR && level <= UWAL_LOG_INFO);
	size_t n = strlen(msg);
	if (g_log_len + n + 2 < sizeof(g_log)) {
		memcpy(g_log + g_log_len, msg, n);
		g_log_len += n;
		g_log[g_log_len++] = '\n';
		g_log[g_log_len] = '\0';
	}
}

static void clear_dir(void);

static void remove_dir(void)
{
	clear_dir();
	rmdir(g_dir);
}

static void make_dir(void)
{
	const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
	for (size_t i = 0; i < 3; i++) {
		if (!bases[i] || access(bases[i], W_OK) != 0)
			continue;
		snprintf(g_dir, sizeof(g_dir), "%s/uwal-fuzz-XXXXXX", bases[i]);
		if (mkdtemp(g_dir)) {
			atexit(remove_dir);
			return;
		}
	}
	FUZZ_CHECK(!"no scratch directory");
}

static void clear_dir(void)
{
	DIR *d = opendir(g_dir);
	FUZZ_CHECK(d != NULL);
	struct dirent *e;
	char p[512];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void write_file(uint64_t seq, const uint8_t *buf, size_t len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/segment_%020llu", g_dir, (unsigned long long)seq);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* Lay out one file: optional generated header, the input bytes, fix-ups. */
static void lay_out(uint8_t flags, uint64_t seq, bool not_first, const uint8_t *in, size_t n)
{
	bool gen = flags & 4;
	size_t size = (gen ? FMT_SEG_HDR_SIZE : 0) + n;
	uint8_t *buf = calloc(1, size ? size : 1);
	FUZZ_CHECK(buf != NULL);
	if (gen) {
		struct fmt_seg_hdr h = {.version = FMT_VERSION,
					.flags = (flags & 32) && not_first ? FMT_SEG_AFTER_GAP : 0,
					.seq = seq,
					.salt = n >= 4 ? fz_le32(in) : 0x5EED};
		uw_fmt_seg_hdr_encode(buf, &h);
	}
	memcpy(buf + (gen ? FMT_SEG_HDR_SIZE : 0), in, n);
	if ((flags & 8) && size >= FMT_SEG_HDR_SIZE)
		fz_fix_frames(buf, size, FMT_SEG_HDR_SIZE, fz_le32(buf + 12));
	write_file(seq, buf, size);
	free(buf);
}

static void config(uwal_config *cfg)
{
	uwal_config_init(cfg);
	cfg->dir = g_dir;
	cfg->segment_size = 64u << 10;
	cfg->log_fn = log_fn;
	cfg->log_ctx = NULL;
}

/* Walk the open log: iterator and get agree; returns the largest index. */
static uint64_t walk(uwal *w)
{
	uwal_iter *it = NULL;
	FUZZ_CHECK(uwal_iter_open(w, &it) == 0);
	uwal_record r;
	int rc;
	uint64_t max = 0, n = 0;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		uwal_record g;
		memset(&g, 0, sizeof(g));
		FUZZ_CHECK(uwal_get(w, r.index, &g) == 0);
		FUZZ_CHECK(g.key_len == r.key_len && g.value_len == r.value_len);
		FUZZ_CHECK(r.key_len == 0 || memcmp(g.key, r.key, r.key_len) == 0);
		FUZZ_CHECK(r.value_len == 0 || memcmp(g.value, r.value, r.value_len) == 0);
		uwal_record_free(&g);
		if (r.index > max)
			max = r.index;
		n++;
	}
	uwal_iter_close(it);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(uwal_last_index(w) == max);
	uwal_stats st;
	FUZZ_CHECK(uwal_stats_get(w, &st) == 0);
	return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!g_dir[0])
		make_dir();
	clear_dir();
	g_log_len = 0;
	g_log[0] = '\0';

	uint8_t flags = data[0];
	unsigned files = (flags & 3) + 1;
	if (files > 3)
		files = 3;
	const uint8_t *p = data + 1;
	size_t left = size - 1;
	uint64_t seq = 0;
	for (unsigned i = 0; i < files; i++) {
		size_t n = left;
		if (i + 1 < files) {
			if (left < 2)
				break;
			n = (size_t)(p[0] | p[1] << 8);
			p += 2;
			left -= 2;
			if (n > left)
				n = left;
		}
		if ((flags & 16) && i + 1 == files && i > 0)
			seq++; /* a gap before the last file */
		lay_out(flags, seq, i > 0, p, n);
		p += n;
		left -= n;
		seq++;
	}

	uwal_config cfg;
	config(&cfg);
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	FUZZ_CHECK(rc == 0 || rc == UWAL_ECORRUPT);
	if (rc == 0) {
		uint64_t max = walk(w);
		if ((flags & 64) && max < UINT64_MAX) {
			FUZZ_CHECK(uwal_write_sync(w, max + 1, "k", 1, "v", 1, true) == 0);
			FUZZ_CHECK(uwal_close(w) == 0);
			FUZZ_CHECK(uwal_open(&cfg, &w) == 0);
			uwal_record r;
			memset(&r, 0, sizeof(r));
			FUZZ_CHECK(uwal_get(w, max + 1, &r) == 0);
			FUZZ_CHECK(r.key_len == 1 && r.value_len == 1);
			uwal_record_free(&r);
			walk(w);
		}
		FUZZ_CHECK(uwal_close(w) == 0);
	}

	char **removed = NULL;
	size_t nrm = 0;
	FUZZ_CHECK(uwal_unsafe_recover(g_dir, NULL, &removed, &nrm) == 0);
	FUZZ_CHECK((removed == NULL) == (nrm == 0));
	uwal_free_list(removed, nrm);
	g_log_len = 0;
	g_log[0] = '\0';
	rc = uwal_open(&cfg, &w);
	if (rc != 0)
		fprintf(stderr, "open after uwal_unsafe_recover: %d (%s)\n%s", rc,
			uwal_strerror(rc), g_log);
	FUZZ_CHECK(rc == 0);
	walk(w);
	FUZZ_CHECK(uwal_close(w) == 0);
	return 0;
}
