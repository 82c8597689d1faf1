/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_corpus.c - writes the seed corpus of the fuzz targets from real
 * segments: it makes small logs with the library, then cuts their files
 * into the input formats of fuzz_frame, fuzz_scan and fuzz_recovery (see
 * the comment at the top of each). Trailing preallocated zeros are dropped
 * (a few are kept), so the corpus stays small.
 *
 * Usage: gen_corpus CORPUS_DIR   (CORPUS_DIR/<target>/ must exist)
 * build.sh builds it; the corpus in the repository was made with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "uwal.h"

static const char *g_out;
static unsigned g_n;

static void emit(const char *target, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s/seed-%03u", g_out, target, g_n++);
	FILE *f = fopen(p, "wb");
	if (!f) {
		perror(p);
		exit(1);
	}
	if (an)
		fwrite(a, 1, an, f);
	if (bn)
		fwrite(b, 1, bn, f);
	fclose(f);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	/* drop the preallocated zeros, keep 16 */
	size_t k = (size_t)n;
	while (k > 0 && b[k - 1] == 0)
		k--;
	*len = k + 16 < (size_t)n ? k + 16 : (size_t)n;
	return b;
}

/* A log of `records` small records, rotating every `threshold`. */
static void make_log(const char *dir, int records, int threshold, int vmax)
{
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = dir;
	cfg.segment_size = 64u << 10;
	cfg.segment_threshold = (uint64_t)threshold;
	uwal *w;
	if (uwal_open(&cfg, &w) != 0)
		exit(1);
	for (int i = 1; i <= records; i++) {
		char key[16], val[64];
		int kl = snprintf(key, sizeof(key), "k%d", i);
		int vl = i * 7 % vmax;
		memset(val, 'a' + i % 26, sizeof(val));
		if (uwal_write(w, (uint64_t)(i * 3 % 1000 + 1), key, (size_t)kl, val, (size_t)vl) !=
		    0)
			exit(1);
	}
	uwal_close(w);
}

static void seeds_from(const char *dir, int nseg)
{
	uint8_t *seg[3] = {0};
	size_t len[3] = {0};
	for (int i = 0; i < nseg; i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/segment_%020d", dir, i);
		seg[i] = slurp(p, &len[i]);
		if (!seg[i] || len[i] < FMT_SEG_HDR_SIZE)
			exit(1);
	}
	for (int i = 0; i < nseg; i++) {
		uint8_t mode = 0;
		/* fuzz_frame: [mode][salt][frame], each frame of the segment */
		size_t off = FMT_SEG_HDR_SIZE;
		int k = 0;
		while (off + FMT_FRAME_HDR_SIZE <= len[i] && k < 6) {
			size_t fl = FMT_FRAME_HDR_SIZE + fz_le32(seg[i] + off);
			if (fl == FMT_FRAME_HDR_SIZE || off + fl > len[i])
				break;
			uint8_t pre[5] = {(uint8_t)(k % 2 ? 1 : 0)};
			memcpy(pre + 1, seg[i] + 12, 4);
			emit("fuzz_frame", pre, 5, seg[i] + off, fl);
			off += fl;
			k++;
		}
		uint8_t hdr_pre[5] = {4, 0, 0, 0, 0};
		emit("fuzz_frame", hdr_pre, 5, seg[i], FMT_SEG_HDR_SIZE);
		/* fuzz_scan: the whole file, and its frames after a header */
		mode = 1;
		emit("fuzz_scan", &mode, 1, seg[i], len[i]);
		uint8_t pre[5] = {2};
		memcpy(pre + 1, seg[i] + 12, 4);
		emit("fuzz_scan", pre, 5, seg[i] + FMT_SEG_HDR_SIZE, len[i] - FMT_SEG_HDR_SIZE);
	}
	/* fuzz_recovery: the files as they are (no generated headers) */
	for (int files = 1; files <= nseg; files++) {
		uint8_t *buf = malloc(1 + 2 * 3 + len[0] + len[1] + len[2]);
		size_t n = 0;
		buf[n++] = (uint8_t)((files - 1) | (files == 2 ? 64 : 0));
		for (int i = 0; i < files; i++) {
			if (i + 1 < files) {
				buf[n++] = (uint8_t)len[i];
				buf[n++] = (uint8_t)(len[i] >> 8);
			}
			memcpy(buf + n, seg[i], len[i]);
			n += len[i];
		}
		emit("fuzz_recovery", buf, n, NULL, 0);
		free(buf);
	}
	for (int i = 0; i < nseg; i++)
		free(seg[i]);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	g_out = argv[1];
	char dir[] = "/tmp/uwal-corpus-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char a[64], b[64];
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	make_log(a, 10, 4, 40); /* 3 segments: 4, 4, 2 records */
	seeds_from(a, 3);
	make_log(b, 3, 0, 60); /* one segment */
	seeds_from(b, 1);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
