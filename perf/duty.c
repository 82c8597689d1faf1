/* SPDX-License-Identifier: Apache-2.0 */
/* perf/duty.c - a CPU load that alternates BUSY_US of spinning with a
 * usleep(IDLE_US): duty BUSY_US IDLE_US [SECONDS]. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t busy = (argc > 1 ? strtoull(argv[1], NULL, 10) : 100) * 1000;
	useconds_t idle = (useconds_t)(argc > 2 ? atoi(argv[2]) : 100);
	double secs = argc > 3 ? atof(argv[3]) : 1e9;
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
	for (;;) {
		uint64_t t = now_ns();
		if (t >= end)
			return 0;
		while (now_ns() - t < busy)
			;
		usleep(idle);
	}
}
