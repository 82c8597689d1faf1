/* SPDX-License-Identifier: Apache-2.0 */
/*
 * follow-latency.c - how soon a follower (uwal_iter_open_at with
 * UWAL_ITER_FOLLOW) sees a record: the time from uwal_write() returning
 * (and from the call) to the follower's uwal_iter_next() returning it,
 * 10,000 records, one at a time, the follower asleep in uwal_iter_wait()
 * before each (a gap after it took the last one).
 *
 *   make -C perf follow-latency   (after building the library in build/)
 *   perf/follow-latency [DIR [SYNC_MODE (0 none, 1 batch) [GAP_US]]]
 *
 * Negative times: the writer publishes a batch and wakes the followers
 * before it completes the writer's call, so a follower often has the
 * record before uwal_write() returns.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uwal.h>

#define N 10000
static uint64_t t_call[N + 1], t_ack[N + 1], t_seen[N + 1];
static _Atomic uint64_t seen_upto;
static uwal_iter *it;

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *follower(void *arg)
{
	(void)arg;
	uwal_record r;
	uint64_t got = 0;
	while (got < N) {
		int rc = uwal_iter_next(it, &r);
		if (rc == 1) {
			t_seen[r.index] = now();
			got++;
			atomic_store(&seen_upto, r.index);
			continue;
		}
		if (rc < 0 || (rc = uwal_iter_wait(it, -1)) < 0) {
			fprintf(stderr, "follower: %s\n", uwal_strerror(rc));
			exit(1);
		}
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/follow-lat";
	int mode = argc > 2 ? atoi(argv[2]) : UWAL_SYNC_NONE;
	unsigned gap_us = argc > 3 ? (unsigned)atoi(argv[3]) : 200;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = dir;
	cfg.segment_size = 16u << 20;
	cfg.sync_mode = mode;
	uwal *w;
	int rc = uwal_open(&cfg, &w);
	if (rc < 0 || (rc = uwal_iter_open_at(w, 0, UWAL_ITER_FOLLOW, &it)) < 0) {
		fprintf(stderr, "%s\n", uwal_strerror(rc));
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, follower, NULL);
	char val[100];
	memset(val, 'v', sizeof(val));
	for (uint64_t i = 1; i <= N; i++) {
		/* The follower has taken the previous one and, after the gap,
		 * most likely sleeps in uwal_iter_wait(). */
		while (atomic_load(&seen_upto) < i - 1)
			;
		struct timespec ts = {0, (long)gap_us * 1000};
		nanosleep(&ts, NULL);
		t_call[i] = now();
		rc = uwal_write(w, i, "key12345", 8, val, sizeof(val));
		t_ack[i] = now();
		if (rc < 0) {
			fprintf(stderr, "write: %s\n", uwal_strerror(rc));
			return 1;
		}
	}
	pthread_join(t, NULL);
	printf("sync_mode=%d gap=%uus\n", mode, gap_us);
	static int64_t d[N];
	int neg = 0;
	for (int i = 0; i < N; i++) {
		d[i] = (int64_t)(t_seen[i + 1] - t_ack[i + 1]);
		neg += d[i] < 0;
	}
	qsort(d, N, sizeof(d[0]), cmp);
	static int64_t c[N];
	for (int i = 0; i < N; i++)
		c[i] = (int64_t)(t_seen[i + 1] - t_call[i + 1]);
	qsort(c, N, sizeof(c[0]), cmp);
	printf("  from the call: p50 %.1f us, p99 %.1f us\n", c[N / 2] / 1000.0,
	       c[N * 99 / 100] / 1000.0);
	printf("  from the return: p50 %.1f us, p99 %.1f us, max %.1f us (%d of %d seen before "
	       "the write returned)\n",
	       d[N / 2] / 1000.0, d[N * 99 / 100] / 1000.0, d[N - 1] / 1000.0, neg, N);
	uwal_iter_close(it);
	uwal_close(w);
	return 0;
}
