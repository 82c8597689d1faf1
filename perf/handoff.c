/* SPDX-License-Identifier: Apache-2.0 */
/* perf/handoff.c - the cost of one submitter -> writer -> submitter round trip.
 *
 *   handoff [-w POLICY] [-s POLICY] [-n SUBMITTERS] [-i IO] [-t SECONDS]
 *           [-d DIR] [-S SPIN_US] [-v NAME]
 *
 * Each submitter owns a slot: it bumps slot.req, bumps the writer's word wq
 * and wakes the writer if the writer sleeps; then waits until the writer
 * copies req to slot.done.  The writer scans the slots, does the I/O for
 * each request found (-i), publishes done and wakes that submitter if it
 * sleeps; with nothing to do it waits on wq.  POLICY (-w: how the writer
 * waits for a request, -s: how a submitter waits for its completion):
 *   spin      re-read the word, with the pause instruction
 *   yield     re-read, sched_yield() between reads
 *   futex     announce "sleeping" in a flag, re-check, FUTEX_WAIT; the
 *             other side calls FUTEX_WAKE only when the flag is set
 *   eventfd   the same protocol with a blocking read(2) of an eventfd and
 *             write(2) of 1 by the other side
 *   sfN       spin up to N us (default -S, 50), then futex as above
 * IO (the writer's work per request):
 *   none        nothing: the pure hand-off
 *   pwrite      pwrite(2) 132 B + fdatasync(2)
 *   uring       linked io_uring write 132 B + fdatasync, SINGLE_ISSUER |
 *               DEFER_TASKRUN, io_uring_submit_and_wait (sleeps in the kernel)
 *   bare-pwrite / bare-uring  the same I/O in a one-thread loop, no hand-off
 * I/O goes to DIR/handoff.dat (64 MiB, zero-filled once; 132-byte records).
 * Latency is the submitter's: from its request to seeing the completion.
 * CPU is getrusage(RUSAGE_SELF) of the whole process (io-wq workers too).
 * The last line: "RESULT variant=... rt_s=... p50_us=... ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REC 132
#define FILE_SIZE (64u << 20)
#define MAXSUB 8
#define NB (64 * 16)

enum pol { P_SPIN, P_YIELD, P_FUTEX, P_EVENTFD, P_SF };
enum io { IO_NONE, IO_PWRITE, IO_URING, IO_BARE_PWRITE, IO_BARE_URING };

struct waitq {                 /* one side's wake-up channel */
	_Atomic uint32_t word; /* futex word / the value waited on */
	_Atomic int sleeping;
	int efd;
	enum pol pol;
	unsigned spin_us;
};

struct slot {
	_Alignas(64) _Atomic uint32_t req;
	struct waitq done; /* done.word = last request completed */
	uint64_t hist[NB];
	uint64_t n;
	char pad[64];
};

static struct slot slots[MAXSUB];
static _Alignas(64) struct waitq wq; /* wq.word: requests posted */
static _Atomic int stop_sub, stop_writer;
static int nsub = 1, fd = -1;
static enum io io = IO_NONE;
static uint64_t nfsync;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "handoff: %s: %s\n", what, strerror(err));
	exit(1);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static unsigned bucket(uint64_t v)
{
	if (v < 16)
		return (unsigned)v;
	unsigned lg = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
	unsigned b = (lg - 3) * 16 + (unsigned)((v >> (lg - 4)) & 15);
	return b < NB ? b : NB - 1;
}

static double bucket_value(unsigned b)
{
	if (b < 16)
		return b;
	unsigned lg = b / 16 + 3, m = b % 16;
	return (double)((16u + m) * (1ull << (lg - 4))) + (double)(1ull << (lg - 4)) / 2;
}

static void futex_wait(_Atomic uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleep until q->word != v (or *stop).  Caller re-checks. */
static void wait_ne(struct waitq *q, uint32_t v, _Atomic int *stop)
{
	enum pol p = q->pol;
	if (p == P_SPIN) {
		while (atomic_load_explicit(&q->word, memory_order_acquire) == v &&
		       !atomic_load(stop))
			cpu_relax();
		return;
	}
	if (p == P_YIELD) {
		while (atomic_load_explicit(&q->word, memory_order_acquire) == v &&
		       !atomic_load(stop))
			sched_yield();
		return;
	}
	if (p == P_SF) {
		uint64_t end = now_ns() + (uint64_t)q->spin_us * 1000;
		unsigned k = 0;
		while (atomic_load_explicit(&q->word, memory_order_acquire) == v &&
		       !atomic_load(stop)) {
			cpu_relax();
			if ((++k & 63) == 0 && now_ns() > end)
				break;
		}
	}
	while (atomic_load(&q->word) == v && !atomic_load(stop)) {
		atomic_store(&q->sleeping, 1);
		if (atomic_load(&q->word) == v && !atomic_load(stop)) {
			if (p == P_EVENTFD) {
				uint64_t x;
				if (read(q->efd, &x, sizeof x) < 0 && errno != EINTR)
					die("eventfd read", errno);
			} else {
				futex_wait(&q->word, v);
			}
		}
		atomic_store(&q->sleeping, 0);
	}
}

static void wake(struct waitq *q)
{
	if (q->pol == P_SPIN || q->pol == P_YIELD)
		return;
	if (!atomic_load(&q->sleeping))
		return;
	if (q->pol == P_EVENTFD) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof one) < 0)
			die("eventfd write", errno);
	} else {
		futex_wake(&q->word);
	}
}

static void wake_force(struct waitq *q)
{
	if (q->pol == P_EVENTFD) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof one) < 0)
			die("eventfd write", errno);
	} else {
		syscall(SYS_futex, (uint32_t *)&q->word, FUTEX_WAKE_PRIVATE, 1 << 30, NULL, NULL,
			0);
	}
}

static struct io_uring ring;
static char buf[REC];
static uint64_t off;

static void do_io(int uring)
{
	if (!uring) {
		if (pwrite(fd, buf, REC, (off_t)off) != REC)
			die("pwrite", errno);
		if (fdatasync(fd))
			die("fdatasync", errno);
	} else {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_write(sqe, fd, buf, REC, off);
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		int e = io_uring_submit_and_wait(&ring, 2);
		if (e < 0)
			die("io_uring_submit_and_wait", -e);
		for (int got = 0; got < 2; got++) {
			struct io_uring_cqe *cqe;
			e = io_uring_wait_cqe(&ring, &cqe);
			if (e < 0)
				die("io_uring_wait_cqe", -e);
			if (cqe->res < 0)
				die("cqe", -cqe->res);
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	nfsync++;
	off += REC;
	if (off + REC > FILE_SIZE)
		off = 0;
}

static void ring_init(void)
{
	int e = io_uring_queue_init(8, &ring,
				    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (e < 0)
		die("io_uring_queue_init", -e);
}

static void *writer(void *arg)
{
	(void)arg;
	uint32_t served[MAXSUB] = {0};
	if (io == IO_URING)
		ring_init();
	for (;;) {
		uint32_t seen = atomic_load(&wq.word);
		int found = 0;
		for (int i = 0; i < nsub; i++) {
			uint32_t r = atomic_load_explicit(&slots[i].req, memory_order_acquire);
			if (r != served[i]) {
				if (io != IO_NONE)
					do_io(io == IO_URING);
				served[i] = r;
				atomic_store(&slots[i].done.word, r);
				wake(&slots[i].done);
				found = 1;
			}
		}
		if (found)
			continue;
		if (atomic_load(&stop_writer))
			break;
		wait_ne(&wq, seen, &stop_writer);
	}
	if (io == IO_URING)
		io_uring_queue_exit(&ring);
	return NULL;
}

static void *submitter(void *arg)
{
	struct slot *s = arg;
	uint32_t seq = 0;
	while (!atomic_load(&stop_sub)) {
		uint64_t t = now_ns();
		seq++;
		atomic_store_explicit(&s->req, seq, memory_order_release);
		atomic_fetch_add(&wq.word, 1);
		wake(&wq);
		while (atomic_load_explicit(&s->done.word, memory_order_acquire) != seq)
			wait_ne(&s->done, seq - 1, &stop_writer);
		s->hist[bucket(now_ns() - t)]++;
		s->n++;
	}
	return NULL;
}

static int parse_pol(const char *p, unsigned *spin_us)
{
	if (!strcmp(p, "spin"))
		return P_SPIN;
	if (!strcmp(p, "yield"))
		return P_YIELD;
	if (!strcmp(p, "futex"))
		return P_FUTEX;
	if (!strcmp(p, "eventfd"))
		return P_EVENTFD;
	if (!strncmp(p, "sf", 2)) {
		if (p[2])
			*spin_us = (unsigned)atoi(p + 2);
		return P_SF;
	}
	fprintf(stderr, "handoff: unknown policy %s\n", p);
	exit(2);
}

static void prepare_file(const char *dir)
{
	char path[512];
	mkdir(dir, 0755);
	snprintf(path, sizeof path, "%s/handoff.dat", dir);
	struct stat st;
	if (stat(path, &st) != 0 || (size_t)st.st_size != FILE_SIZE) {
		int f = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		if (f < 0)
			die(path, errno);
		static char z[1 << 20];
		for (size_t o = 0; o < FILE_SIZE; o += sizeof z)
			if (pwrite(f, z, sizeof z, (off_t)o) != (ssize_t)sizeof z)
				die("zero-fill", errno);
		if (fsync(f))
			die("fsync", errno);
		close(f);
	}
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die(path, errno);
}

static uint64_t stat_busy_ticks(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[10] = {0};
	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = 0;
	fclose(f);
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* all but idle and iowait */
}

static double tv_us(struct timeval a, struct timeval b)
{
	return (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_usec - a.tv_usec);
}

int main(int argc, char **argv)
{
	const char *dir = "/var/tmp/uwal-stall", *wp = "futex", *sp = "futex", *name = NULL,
		   *ios = "none";
	double secs = 2;
	unsigned spin_us = 50;
	int opt;
	while ((opt = getopt(argc, argv, "w:s:n:i:t:d:S:v:")) != -1) {
		switch (opt) {
		case 'w':
			wp = optarg;
			break;
		case 's':
			sp = optarg;
			break;
		case 'n':
			nsub = atoi(optarg);
			break;
		case 'i':
			ios = optarg;
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'S':
			spin_us = (unsigned)atoi(optarg);
			break;
		case 'v':
			name = optarg;
			break;
		default:
			fprintf(stderr, "usage: handoff [-w POL] [-s POL] [-n N] [-i "
					"none|pwrite|uring|bare-pwrite|bare-uring] [-t S] [-d DIR] "
					"[-S US] [-v NAME]\n");
			return 2;
		}
	}
	if (nsub < 1 || nsub > MAXSUB)
		die("-n", EINVAL);
	if (!strcmp(ios, "none"))
		io = IO_NONE;
	else if (!strcmp(ios, "pwrite"))
		io = IO_PWRITE;
	else if (!strcmp(ios, "uring"))
		io = IO_URING;
	else if (!strcmp(ios, "bare-pwrite"))
		io = IO_BARE_PWRITE;
	else if (!strcmp(ios, "bare-uring"))
		io = IO_BARE_URING;
	else
		die("-i", EINVAL);
	unsigned wsp = spin_us, ssp = spin_us;
	wq.pol = (enum pol)parse_pol(wp, &wsp);
	wq.spin_us = wsp;
	wq.efd = eventfd(0, EFD_CLOEXEC);
	enum pol spol = (enum pol)parse_pol(sp, &ssp);
	for (int i = 0; i < nsub; i++) {
		slots[i].done.pol = spol;
		slots[i].done.spin_us = ssp;
		slots[i].done.efd = eventfd(0, EFD_CLOEXEC);
	}
	if (io != IO_NONE)
		prepare_file(dir);
	memset(buf, 'x', sizeof buf);

	struct rusage r0, r1;
	uint64_t b0 = stat_busy_ticks();
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	if (io == IO_BARE_PWRITE || io == IO_BARE_URING) {
		if (io == IO_BARE_URING)
			ring_init();
		uint64_t t = t0;
		while (t < end) {
			do_io(io == IO_BARE_URING);
			uint64_t t2 = now_ns();
			slots[0].hist[bucket(t2 - t)]++;
			slots[0].n++;
			t = t2;
		}
		nsub = 1;
	} else {
		pthread_t w, s[MAXSUB];
		pthread_create(&w, NULL, writer, NULL);
		for (int i = 0; i < nsub; i++)
			pthread_create(&s[i], NULL, submitter, &slots[i]);
		struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
		nanosleep(&ts, NULL);
		atomic_store(&stop_sub, 1);
		for (int i = 0; i < nsub; i++)
			pthread_join(s[i], NULL);
		atomic_store(&stop_writer, 1);
		wake_force(&wq);
		pthread_join(w, NULL);
	}
	uint64_t wall = now_ns() - t0;
	getrusage(RUSAGE_SELF, &r1);
	uint64_t b1 = stat_busy_ticks();

	uint64_t hist[NB] = {0}, n = 0;
	for (int i = 0; i < nsub; i++) {
		for (int b = 0; b < NB; b++)
			hist[b] += slots[i].hist[b];
		n += slots[i].n;
	}
	double q[2] = {0.5, 0.99}, qv[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		uint64_t target = (uint64_t)((double)n * q[k]), acc = 0;
		for (int b = 0; b < NB; b++) {
			acc += hist[b];
			if (acc > target) {
				qv[k] = bucket_value((unsigned)b) / 1e3;
				break;
			}
		}
	}
	double cpu = tv_us(r0.ru_utime, r1.ru_utime) + tv_us(r0.ru_stime, r1.ru_stime);
	long cs = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw);
	double foreign = 100 * ((double)(b1 - b0) * 1e4 - cpu) / (wall / 1e3);
	char vname[128];
	if (!name) {
		snprintf(vname, sizeof vname, "%s/w=%s/s=%s/n=%d", ios, wp, sp, nsub);
		name = vname;
	}
	printf("RESULT variant=%s rt_s=%.0f p50_us=%.2f p99_us=%.2f cpu_us_rt=%.2f cs_rt=%.3f "
	       "fsync_s=%.0f "
	       "cpu_pct=%.0f foreign_cpu_pct=%.0f\n",
	       name, (double)n / (wall / 1e9), qv[0], qv[1], n ? cpu / (double)n : 0,
	       n ? (double)cs / (double)n : 0, (double)nfsync / (wall / 1e9),
	       100 * cpu / (wall / 1e3), foreign);
	return 0;
}
