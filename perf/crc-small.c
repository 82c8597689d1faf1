/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc-small.c - isa-l's CRC32C on frame-sized buffers: its dispatched
 * crc32_iscsi() (here the AVX-512 carry-less-multiply version,
 * by16_10) against its SSE4.2 crc32-instruction version crc32_iscsi_00(),
 * as uwal calls them: a 12-byte frame header, then the payload, each
 * frame freshly written just before (as the encoder does). The variants
 * alternate within each round, rounds repeat, and the spread is printed.
 *
 *   make -C perf crc-small && perf/crc-small [rounds]
 */
#define _GNU_SOURCE
#include <isa-l/crc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exported by libisal (its multibinary variants), not declared in crc.h. */
unsigned int crc32_iscsi_00(unsigned char *buf, int len, unsigned int init);

typedef unsigned int (*crc_fn)(unsigned char *buf, int len, unsigned int init);

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static unsigned char arena[4 << 20];
static volatile unsigned sink;

/* ns per frame of payload bytes, over n frames laid out back to back. */
static double run(crc_fn f, size_t payload, unsigned n)
{
	size_t frame = 16 + payload;
	size_t span = sizeof(arena) / frame;
	unsigned c = 0;
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < n; i++) {
		unsigned char *p = arena + (i % span) * frame;
		memset(p + 16, (int)i, payload); /* the encoder just wrote it */
		c = f(p, 12, c);
		c = f(p + 16, (int)payload, c);
	}
	uint64_t t1 = now_ns();
	sink = c;
	return (double)(t1 - t0) / n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7;
	if (rounds < 1 || rounds > 64)
		rounds = 7;
	static const size_t sizes[] = {24, 124, 500, 1000, 4000, 16000};
	printf("payload  dispatch ns/frame (min med max)   _00 ns/frame (min med max)\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double a[64], b[64];
		unsigned n = (unsigned)(64000000 / (sizes[s] + 64));
		for (int r = 0; r < rounds; r++) {
			/* Alternate which goes first. */
			if (r & 1) {
				b[r] = run(crc32_iscsi_00, sizes[s], n);
				a[r] = run((crc_fn)crc32_iscsi, sizes[s], n);
			} else {
				a[r] = run((crc_fn)crc32_iscsi, sizes[s], n);
				b[r] = run(crc32_iscsi_00, sizes[s], n);
			}
		}
		qsort(a, (size_t)rounds, sizeof(a[0]), cmp);
		qsort(b, (size_t)rounds, sizeof(b[0]), cmp);
		printf("%7zu  %8.1f %8.1f %8.1f          %8.1f %8.1f %8.1f\n", sizes[s], a[0],
		       a[rounds / 2], a[rounds - 1], b[0], b[rounds / 2], b[rounds - 1]);
	}
	return 0;
}
