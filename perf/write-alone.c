/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/write-alone.c - the writer's durable write by itself, one at a time
 * (queue depth 1), in the variants a ring could use, on one zero-filled
 * file (written blocks: no extent conversion in any variant):
 *
 *   write-alone FILE [SECONDS [REPS]]
 *
 *   uring-buffered-128   io_uring write of 128 bytes with RWF_DSYNC, buffered
 *                        (what uwal's writer submits for a one-record batch)
 *   uring-registered-128 the same through a registered file and buffer
 *                        (IORING_REGISTER_FILES/BUFFERS, WRITE_FIXED)
 *   uring-iowq-same-128  the same, io-wq workers bound to this thread's CPU
 *                        (IORING_REGISTER_IOWQ_AFF)
 *   uring-iowq-other-128 the same, io-wq workers bound to the other CPUs
 *   uring-direct-512     io_uring write of one 512-byte logical block,
 *                        O_DIRECT, RWF_DSYNC (a record padded to the block)
 *   uring-direct-4k      the same with 4 KiB
 *   pwrite-buffered-128  pwritev2(RWF_DSYNC) of 128 bytes, buffered
 *   pwrite-direct-512    pwritev2(RWF_DSYNC) of 512 bytes, O_DIRECT
 *
 * The thread runs on CPU 0 (so that "same" and "other" mean something; on
 * a one-CPU machine the io-wq variants are skipped). Each write starts
 * where the last one ended (4 KiB aligned at each variant's start), so no
 * block that holds an earlier write is written again within a variant. The
 * variants alternate, SECONDS each (default 2), REPS times (default 3).
 * Per variant: writes/s, latency p50 and p99, the process's CPU per write,
 * the whole machine's CPU per write (from /proc/stat: it counts the kernel
 * workers that finish a direct write's flush, which the process's own
 * figure does not) and the process's context switches per write.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { FILE_BYTES = 256 << 20, MAX_SAMPLES = 4000000 };

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Busy time of all CPUs so far, in µs (user, nice, system, irq, softirq). */
static double machine_busy_us(void)
{
	unsigned long long u, n, s, idle, io, irq, sirq;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle, &io, &irq,
		       &sirq);
	fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	return k == 7 ? (double)(u + n + s + irq + sirq) * 1e6 / (double)hz : 0;
}

static double process_cpu_us(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 +
	       (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum setup { PLAIN, REGISTERED, IOWQ_SAME, IOWQ_OTHER };

struct variant {
	const char *name;
	int direct;
	size_t len;
	int uring;
	enum setup setup;
};

/* A ring for variant v, set up as it says; 0 or -errno. */
static int ring_for(struct io_uring *ring, const struct variant *v, int fd, void *buf, int ncpu)
{
	int e = io_uring_queue_init(8, ring,
				    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (e < 0)
		return e;
	if (v->setup == REGISTERED) {
		struct iovec io = {buf, 4096};
		e = io_uring_register_files(ring, &fd, 1);
		if (e == 0)
			e = io_uring_register_buffers(ring, &io, 1);
	} else if (v->setup == IOWQ_SAME || v->setup == IOWQ_OTHER) {
		cpu_set_t m;
		CPU_ZERO(&m);
		for (int c = 0; c < ncpu && c < CPU_SETSIZE; c++)
			if ((c == 0) == (v->setup == IOWQ_SAME))
				CPU_SET(c, &m);
		e = io_uring_register_iowq_aff(ring, sizeof(m), &m);
	}
	if (e < 0)
		io_uring_queue_exit(ring);
	return e;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: write-alone FILE [SECONDS [REPS]]\n");
		return 2;
	}
	const char *path = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 2;
	int reps = argc > 3 ? atoi(argv[3]) : 3;
	static double lat[MAX_SAMPLES];

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *zeros = calloc(1, 1 << 20);
	if (fd < 0 || !zeros) {
		perror(path);
		return 1;
	}
	for (size_t off = 0; off < FILE_BYTES; off += 1 << 20)
		if (pwrite(fd, zeros, 1 << 20, (off_t)off) != 1 << 20) {
			perror("zero-fill");
			return 1;
		}
	if (fdatasync(fd) < 0) {
		perror("fdatasync");
		return 1;
	}
	close(fd);
	free(zeros);
	int fds[2] = {open(path, O_RDWR), open(path, O_RDWR | O_DIRECT)};
	if (fds[0] < 0 || fds[1] < 0) {
		perror("open (O_DIRECT)");
		return 1;
	}
	void *buf;
	if (posix_memalign(&buf, 4096, 4096) != 0)
		return 1;
	memset(buf, 'x', 4096);
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t cpu0;
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0) < 0)
		perror("sched_setaffinity (CPU 0)");
	static const struct variant vs[] = {
		{"uring-buffered-128", 0, 128, 1, PLAIN},
		{"uring-registered-128", 0, 128, 1, REGISTERED},
		{"uring-iowq-same-128", 0, 128, 1, IOWQ_SAME},
		{"uring-iowq-other-128", 0, 128, 1, IOWQ_OTHER},
		{"uring-direct-512", 1, 512, 1, PLAIN},
		{"uring-direct-4k", 1, 4096, 1, PLAIN},
		{"pwrite-buffered-128", 0, 128, 0, PLAIN},
		{"pwrite-direct-512", 1, 512, 0, PLAIN},
	};
	printf("%-21s %4s %9s %8s %8s %10s %10s %7s\n", "variant", "rep", "writes/s", "p50 us",
	       "p99 us", "cpu us/w", "host us/w", "ctx/w");
	off_t off = 0;
	for (int rep = 1; rep <= reps; rep++) {
		for (size_t k = 0; k < sizeof(vs) / sizeof(vs[0]); k++) {
			const struct variant *v = &vs[k];
			int vfd = fds[v->direct];
			if ((v->setup == IOWQ_SAME || v->setup == IOWQ_OTHER) && ncpu < 2)
				continue;
			struct io_uring ring;
			int e = v->uring ? ring_for(&ring, v, vfd, buf, ncpu) : 0;
			if (e < 0) {
				fprintf(stderr, "%s: ring setup: %s\n", v->name, strerror(-e));
				return 1;
			}
			struct rusage r0, r1;
			size_t n = 0;
			off = (off + 4095) & ~(off_t)4095;
			double busy0 = machine_busy_us();
			getrusage(RUSAGE_SELF, &r0);
			double t0 = now(), t;
			while ((t = now()) - t0 < secs && n < MAX_SAMPLES) {
				if (off + 4096 > FILE_BYTES)
					off = 0;
				ssize_t got;
				if (v->uring) {
					struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
					if (v->setup == REGISTERED) {
						io_uring_prep_write_fixed(sqe, 0, buf,
									  (unsigned)v->len,
									  (__u64)off, 0);
						sqe->flags |= IOSQE_FIXED_FILE;
					} else {
						io_uring_prep_write(sqe, vfd, buf, (unsigned)v->len,
								    (__u64)off);
					}
					sqe->rw_flags = RWF_DSYNC;
					struct io_uring_cqe *cqe;
					e = io_uring_submit_and_wait(&ring, 1);
					if (e >= 0)
						e = io_uring_wait_cqe(&ring, &cqe);
					if (e < 0) {
						fprintf(stderr, "io_uring: %s\n", strerror(-e));
						return 1;
					}
					got = cqe->res;
					io_uring_cqe_seen(&ring, cqe);
				} else {
					struct iovec io = {buf, v->len};
					got = pwritev2(vfd, &io, 1, off, RWF_DSYNC);
				}
				if (got != (ssize_t)v->len) {
					fprintf(stderr, "%s: write returned %zd\n", v->name, got);
					return 1;
				}
				off += (off_t)v->len;
				lat[n++] = now() - t;
			}
			double el = now() - t0;
			getrusage(RUSAGE_SELF, &r1);
			double host = machine_busy_us() - busy0;
			if (v->uring)
				io_uring_queue_exit(&ring);
			qsort(lat, n, sizeof(lat[0]), cmp_double);
			long ctx = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw);
			printf("%-21s %4d %9.0f %8.1f %8.1f %10.1f %10.1f %7.2f\n", v->name, rep,
			       (double)n / el, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6,
			       (process_cpu_us(&r1) - process_cpu_us(&r0)) / (double)n,
			       host / (double)n, (double)ctx / (double)n);
			fflush(stdout);
		}
	}
	close(fds[0]);
	close(fds[1]);
	unlink(path);
	return 0;
}
