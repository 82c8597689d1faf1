/* SPDX-License-Identifier: Apache-2.0 */
/*
 * async-qd1.c - one durable asynchronous append at a time, as an event
 * loop issues them when one client waits for each (libuwal-raft's leader
 * with one client): uwal_submit(UWAL_SUBMIT_SYNC) of one 100-byte record,
 * poll() on uwal_event_fd(), uwal_reap(); against a raw pwritev2(RWF_DSYNC)
 * of 128 bytes from the same thread on a zero-filled file, alternated.
 *
 *   make -C perf async-qd1   (after building the library in build/)
 *   perf/async-qd1 [DIR [SECONDS [REPS]]]
 *
 * Per variant: appends/s, latency p50 and p99, and per append the
 * process's CPU time and context switches (every thread), then for uwal the writer's
 * write + fdatasync time (uwal_stats.sync_ns per batch), its wake-ups and
 * each thread's share (from /proc/self/task: the loop, uwal's writer and
 * preparer, io_uring's io-wq worker). The difference between the rows is
 * what the design's hand-offs cost one append: loop -> writer -> io-wq
 * worker -> writer -> loop, where the raw row is one thread in one call.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uwal.h>

enum { MAX_SAMPLES = 2000000, RAW_BYTES = 64 << 20 };
static double lat[MAX_SAMPLES];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_us(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 +
	       (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec);
}

static void report(const char *name, int rep, size_t n, double secs, const struct rusage *r0,
		   const struct rusage *r1)
{
	qsort(lat, n, sizeof(lat[0]), cmp_double);
	long ctx = (r1->ru_nvcsw - r0->ru_nvcsw) + (r1->ru_nivcsw - r0->ru_nivcsw);
	printf("%-10s %3d %9.0f %8.1f %8.1f %9.1f %7.2f\n", name, rep, (double)n / secs,
	       lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, (cpu_us(r1) - cpu_us(r0)) / (double)n,
	       (double)ctx / (double)n);
}

/* The loop's share (measured around the run), then each other thread of
 * the process: name, CPU µs and context switches per append since it
 * started (uwal's threads are new in each rep). */
static void threads(size_t n, double loop_cpu_us, long loop_ctx)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long hz = sysconf(_SC_CLK_TCK);
	int self = (int)gettid();
	printf("           threads (CPU µs, ctx per append): loop %.1f/%.2f",
	       loop_cpu_us / (double)n, (double)loop_ctx / (double)n);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		char path[300], line[512], name[64] = "?";
		unsigned long ut = 0, st = 0;
		long vol = 0, invol = 0;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f)) {
			char *open = strchr(line, '('), *close = strrchr(line, ')');
			if (open && close && close > open) {
				snprintf(name, sizeof(name), "%.*s", (int)(close - open - 1),
					 open + 1);
				sscanf(close + 2,
				       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				       &st);
			}
		}
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			sscanf(line, "voluntary_ctxt_switches: %ld", &vol);
			sscanf(line, "nonvoluntary_ctxt_switches: %ld", &invol);
		}
		if (f)
			fclose(f);
		printf(" %s %.1f/%.2f", name, (double)(ut + st) * 1e6 / (double)hz / (double)n,
		       (double)(vol + invol) / (double)n);
	}
	if (d)
		closedir(d);
	printf("\n");
}

static int run_uwal(const char *dir, double secs, int rep)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/uwal-%d", dir, rep);
	uwal_config c;
	uwal_config_init(&c);
	c.dir = sub;
	c.sync_mode = UWAL_SYNC_BATCH;
	uwal *w;
	int rc = uwal_open(&c, &w);
	if (rc != 0) {
		fprintf(stderr, "uwal_open %s: %s\n", sub, uwal_strerror(rc));
		return 1;
	}
	char value[100];
	memset(value, 'v', sizeof(value));
	uwal_record rec = {.value = value, .value_len = sizeof(value)};
	struct pollfd p = {.fd = uwal_event_fd(w), .events = POLLIN};
	usleep(200000); /* the first segment's preparation out of the way */
	uwal_stats s0, s1;
	uwal_stats_get(w, &s0);
	struct rusage r0, r1, l0, l1;
	getrusage(RUSAGE_SELF, &r0);
	getrusage(RUSAGE_THREAD, &l0);
	size_t n = 0;
	double t0 = now(), t;
	while ((t = now()) - t0 < secs && n < MAX_SAMPLES) {
		rc = uwal_submit(w, &rec, 1, UWAL_SUBMIT_SYNC, n);
		uwal_completion done;
		while (rc == 0 && (rc = uwal_reap(w, &done, 1, 0)) == 0)
			if (poll(&p, 1, -1) < 0)
				rc = -1;
		if (rc < 0 || done.result != 0) {
			fprintf(stderr, "append: %s\n", uwal_strerror(rc < 0 ? rc : done.result));
			return 1;
		}
		lat[n++] = now() - t;
	}
	double el = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	getrusage(RUSAGE_THREAD, &l1);
	uwal_stats_get(w, &s1);
	report("uwal", rep, n, el, &r0, &r1);
	uint64_t batches = s1.batches - s0.batches;
	printf("           writer: write+fdatasync %.1f µs per batch, %.2f batches, %.2f wakes "
	       "by the loop, %.2f ring enters per append\n",
	       batches ? (double)(s1.sync_ns - s0.sync_ns) / (double)batches / 1e3 : 0,
	       (double)batches / (double)n,
	       (double)(s1.writer_wakeups - s0.writer_wakeups) / (double)n,
	       (double)(s1.ring_enters - s0.ring_enters) / (double)n);
	threads(n, cpu_us(&l1) - cpu_us(&l0),
		(l1.ru_nvcsw - l0.ru_nvcsw) + (l1.ru_nivcsw - l0.ru_nivcsw));
	uwal_close(w);
	return 0;
}

static int run_raw(const char *dir, double secs, int rep)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/raw-%d", dir, rep);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *buf = calloc(1, 1 << 20);
	if (fd < 0 || !buf) {
		perror(path);
		return 1;
	}
	for (size_t off = 0; off < RAW_BYTES; off += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, (off_t)off) != 1 << 20)
			return 1;
	if (fdatasync(fd) < 0)
		return 1;
	memset(buf, 'v', 128);
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	size_t n = 0;
	off_t off = 0;
	double t0 = now(), t;
	while ((t = now()) - t0 < secs && n < MAX_SAMPLES) {
		struct iovec io = {buf, 128};
		if (off + 128 > RAW_BYTES)
			off = 0;
		if (pwritev2(fd, &io, 1, off, RWF_DSYNC) != 128) {
			perror("pwritev2");
			return 1;
		}
		off += 128;
		lat[n++] = now() - t;
	}
	double el = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	report("raw-dsync", rep, n, el, &r0, &r1);
	close(fd);
	unlink(path);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "build/bench-data/async-qd1";
	double secs = argc > 2 ? atof(argv[2]) : 2;
	int reps = argc > 3 ? atoi(argv[3]) : 3;
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	if (system(cmd) != 0)
		return 1;
	printf("%-10s %3s %9s %8s %8s %9s %7s\n", "variant", "rep", "appends/s", "p50 µs", "p99 µs",
	       "CPU µs/a", "ctx/a");
	for (int rep = 1; rep <= reps; rep++)
		if (run_uwal(dir, secs, rep) != 0 || run_raw(dir, secs, rep) != 0)
			return 1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
