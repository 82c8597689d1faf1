/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open-time.c - how long uwal_open() takes on a big log: builds the log
 * (if DIR holds none) of RECORDS records of 100-byte values in 64 MiB
 * segments, waits for its sealed segments' index files, then opens and
 * closes it REPS times warm and, as root, REPS times after dropping the
 * page cache (sync; echo 3 > /proc/sys/vm/drop_caches).
 *
 *   make -C perf open-time   (after building the library in build/)
 *   perf/open-time DIR [RECORDS [REPS]]
 *
 * Prints one line per open, then the medians, per GB of segment files and
 * per million records. Point LD_LIBRARY_PATH at another build's libuwal.so
 * to time that library on the same log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uwal.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void config(uwal_config *c, const char *dir)
{
	uwal_config_init(c);
	c->dir = dir;
	c->segment_size = 64u << 20;
}

static int build(const char *dir, uint64_t records)
{
	uwal_config c;
	config(&c, dir);
	uwal *w;
	int err = uwal_open(&c, &w);
	if (err < 0)
		return err;
	enum { BATCH = 256 };
	uint8_t value[100];
	memset(value, 'v', sizeof(value));
	uwal_record recs[BATCH];
	for (uint64_t i = 0; i < records && err == 0; i += BATCH) {
		size_t n = records - i < BATCH ? (size_t)(records - i) : BATCH;
		for (size_t k = 0; k < n; k++)
			recs[k] = (uwal_record){
				.index = i + k + 1, .value = value, .value_len = sizeof(value)};
		err = uwal_write_batch(w, recs, n, false);
	}
	int e = uwal_close(w);
	return err < 0 ? err : e;
}

/* Bytes of segment files in dir, and how many sealed ones lack an index. */
static uint64_t log_bytes(const char *dir, size_t *segs, size_t *idx)
{
	DIR *d = opendir(dir);
	uint64_t bytes = 0;
	*segs = *idx = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strncmp(e->d_name, "segment_", 8) || stat(path, &st))
			continue;
		if (l == 28) {
			bytes += (uint64_t)st.st_size;
			(*segs)++;
		} else if (l == 32 && !strcmp(e->d_name + 28, ".idx")) {
			(*idx)++;
		}
	}
	closedir(d);
	return bytes;
}

/* Open the log and wait (up to 2 minutes) until every sealed segment has
 * its index file, which the library writes in the background. A library
 * without index files leaves none: then this gives up at once. */
static void wait_indexes(const char *dir)
{
	uwal_config c;
	config(&c, dir);
	uwal *w;
	if (uwal_open(&c, &w) < 0)
		return;
	size_t segs, idx, idx0 = 0;
	for (int i = 0; i < 1200; i++) {
		log_bytes(dir, &segs, &idx);
		if (idx + 1 >= segs || (i == 20 && idx == idx0))
			break;
		if (i == 0)
			idx0 = idx;
		usleep(100000);
	}
	uwal_close(w);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double time_opens(const char *dir, int reps, bool cold, uint64_t *recs)
{
	double t[64];
	for (int i = 0; i < reps; i++) {
		if (cold) {
			sync();
			FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
			if (!f || fputs("3\n", f) < 0 || fclose(f) != 0) {
				fprintf(stderr, "cannot drop caches (not root?)\n");
				return -1;
			}
		}
		uwal_config c;
		config(&c, dir);
		uwal *w;
		double t0 = now_ms();
		int err = uwal_open(&c, &w);
		t[i] = now_ms() - t0;
		if (err < 0) {
			fprintf(stderr, "uwal_open: %s\n", uwal_strerror(err));
			return -1;
		}
		*recs = uwal_last_index(w) - uwal_first_index(w) + 1;
		uwal_close(w);
		printf("%s open %d: %.1f ms\n", cold ? "cold" : "warm", i + 1, t[i]);
	}
	qsort(t, (size_t)reps, sizeof(*t), cmp_d);
	return t[reps / 2];
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [RECORDS [REPS]]\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	uint64_t records = argc > 2 ? strtoull(argv[2], NULL, 0) : 16u << 20;
	int reps = argc > 3 ? atoi(argv[3]) : 5;
	if (reps < 1 || reps > 64)
		reps = 5;
	size_t segs, idx;
	if (log_bytes(dir, &segs, &idx) == 0) {
		double t0 = now_ms();
		int err = build(dir, records);
		if (err < 0) {
			fprintf(stderr, "build: %s\n", uwal_strerror(err));
			return 1;
		}
		printf("built %llu records in %.1f s\n", (unsigned long long)records,
		       (now_ms() - t0) / 1e3);
	}
	wait_indexes(dir);
	uint64_t bytes = log_bytes(dir, &segs, &idx);
	printf("%s: %zu segment files, %.3f GB, %zu index files\n", dir, segs, (double)bytes / 1e9,
	       idx);
	uint64_t n = 0;
	double warm = time_opens(dir, reps, false, &n);
	double cold = geteuid() == 0 ? time_opens(dir, reps, true, &n) : -1;
	if (warm < 0)
		return 1;
	double gb = (double)bytes / 1e9, mrec = (double)n / 1e6;
	printf("records %llu; warm median %.1f ms (%.1f ms/GB, %.2f ms per M records)\n",
	       (unsigned long long)n, warm, warm / gb, warm / mrec);
	if (cold >= 0)
		printf("cold median %.1f ms (%.1f ms/GB, %.2f ms per M records)\n", cold, cold / gb,
		       cold / mrec);
	return 0;
}
