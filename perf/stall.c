/* SPDX-License-Identifier: Apache-2.0 */
/* perf/stall.c - attribute the periodic fdatasync stall.
 *
 * One thread loops { write 132 B ; fdatasync } on a preallocated, zero-filled
 * file and records every call (start time, latency).  A sampler thread wakes
 * every 10 ms (absolute deadlines) and records /proc/stat (total and per CPU:
 * user, system, idle, iowait, steal ticks), the process's CPU time, the loop
 * thread's CPU time and run delay (/proc/<tid>/schedstat) and the number of
 * calls completed.  While a call has been in flight for more than 5 ms it
 * also snapshots the kernel stacks of every thread of the process (loop,
 * io-wq workers).  An optional probe thread spins on one CPU reading the
 * clock and records every gap > 200 us (the vCPU was not running).
 *
 *   stall [-d DIR] [-t SECONDS] [-m MODE] [-o PREFIX] [-p CPU] [-c CPU]
 *   MODE: uring       linked write+fdatasync, SINGLE_ISSUER|DEFER_TASKRUN,
 *                     io_uring_submit_and_wait (sleeps in io_uring_enter)
 *         uring-nd    the same chain on a ring without DEFER_TASKRUN, sleeps
 *         uring-spin  ring without DEFER_TASKRUN; submit, then spin on the
 *                     CQ tail in user space (no syscall) until both CQEs
 *         pwrite      pwrite(2) + fdatasync(2)
 *   -p CPU  start the clock-gap probe, pinned to CPU (it keeps CPU busy)
 *   -c CPU  pin the loop thread to CPU
 * Output: PREFIX.calls.csv, PREFIX.timeline.csv, PREFIX.stacks.txt and a
 * summary on stdout whose last line is "SUMMARY key=value ...".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REC 132
#define FILE_SIZE (64u << 20)
#define STALL_NS 5000000ull
#define SAMPLE_NS 10000000ull
#define MAX_SAMPLES 20000
#define MAX_GAPS 100000
#define NCPU_MAX 8

enum { F_USER, F_NICE, F_SYS, F_IDLE, F_IOWAIT, F_IRQ, F_SOFTIRQ, F_STEAL, NF };

struct sample {
	uint64_t t;                     /* ns since start */
	uint64_t cpu[NCPU_MAX + 1][NF]; /* [0] = total, [1+i] = cpu i */
	uint64_t proc_cpu_ns, loop_cpu_ns, loop_delay_ns, calls;
	uint64_t probe_maxgap_ns;             /* max probe gap in this window */
	uint64_t inflight_ns;                 /* age of the call in flight */
	uint64_t disk_wr, disk_wsec, disk_fl; /* /proc/diskstats of the file's disk:
						writes, sectors written, flushes */
};

struct call {
	uint64_t t, lat;
};
struct gap {
	uint64_t t, len;
};

static struct sample *samples;
static size_t nsamples;
static struct call *calls;
static size_t ncalls_cap;
static _Atomic size_t ncalls;
static _Atomic uint64_t inflight_since; /* 0: none */
static _Atomic int stop, probe_stop;
static _Atomic uint64_t probe_maxgap;
static struct gap *gaps;
static _Atomic size_t ngaps;
static int ncpu;
static pid_t loop_tid;
static pthread_t loop_thread;
static uint64_t t0;
static FILE *stacks;
static char diskname[64];
static int nstackdumps;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "stall: %s: %s\n", what, strerror(err));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	int e = pthread_setaffinity_np(pthread_self(), sizeof s, &s);
	if (e)
		die("pthread_setaffinity_np", e);
}

static ssize_t slurp(int fd, char *buf, size_t n)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, n - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == n - 1)
			break;
	}
	buf[got] = 0;
	return (ssize_t)got;
}

static void parse_stat(const char *buf, struct sample *s)
{
	const char *p = buf;
	while (*p) {
		if (strncmp(p, "cpu", 3))
			break;
		int idx;
		const char *q = p + 3;
		if (*q == ' ')
			idx = 0;
		else
			idx = 1 + atoi(q);
		while (*q && *q != ' ')
			q++;
		if (idx <= NCPU_MAX) {
			char *e;
			for (int f = 0; f < NF; f++) {
				s->cpu[idx][f] = strtoull(q, &e, 10);
				q = e;
			}
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

static void dump_stacks(uint64_t t, uint64_t age)
{
	if (!stacks || nstackdumps >= 400)
		return;
	nstackdumps++;
	fprintf(stacks, "== t=%.3f ms in flight %.3f ms\n", t / 1e6, age / 1e6);
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	struct dirent *de;
	char path[300], buf[4096];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = slurp(fd, buf, sizeof buf);
		close(fd);
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = 0;
		if (!strcmp(buf, "sampler") || !strcmp(buf, "probe"))
			continue;
		fprintf(stacks, "-- %s %s\n", de->d_name, buf);
		snprintf(path, sizeof path, "/proc/self/task/%s/stack", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = slurp(fd, buf, sizeof buf);
		close(fd);
		if (n > 0)
			fputs(buf, stacks);
	}
	closedir(d);
}

static void *sampler(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sampler");
	int sfd = open("/proc/stat", O_RDONLY);
	int dfd = open("/proc/diskstats", O_RDONLY);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)loop_tid);
	int lfd = open(path, O_RDONLY);
	clockid_t lclk;
	char buf[8192];
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_getcpuclockid(loop_thread, &lclk);
	while (!atomic_load(&stop) && nsamples < MAX_SAMPLES) {
		struct sample *s = &samples[nsamples];
		memset(s, 0, sizeof *s);
		s->t = now_ns() - t0;
		if (slurp(sfd, buf, sizeof buf) > 0)
			parse_stat(buf, s);
		s->proc_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		s->loop_cpu_ns = clock_ns(lclk);
		if (lfd >= 0 && slurp(lfd, buf, sizeof buf) > 0) {
			unsigned long long a, b;
			if (sscanf(buf, "%llu %llu", &a, &b) == 2)
				s->loop_delay_ns = b;
		}
		if (dfd >= 0 && diskname[0] && slurp(dfd, buf, sizeof buf) > 0) {
			char *p = buf;
			while (p && *p) {
				unsigned ma, mi;
				char nm[64];
				unsigned long long f[17] = {0};
				int k = sscanf(p,
					       "%u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu "
					       "%llu %llu %llu %llu %llu %llu %llu %llu %llu",
					       &ma, &mi, nm, &f[0], &f[1], &f[2], &f[3], &f[4],
					       &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11],
					       &f[12], &f[13], &f[14], &f[15], &f[16]);
				if (k >= 10 && !strcmp(nm, diskname)) {
					s->disk_wr = f[4];
					s->disk_wsec = f[6];
					s->disk_fl = k >= 18 ? f[15] : 0;
					break;
				}
				p = strchr(p, '\n');
				if (p)
					p++;
			}
		}
		s->calls = atomic_load(&ncalls);
		s->probe_maxgap_ns = atomic_exchange(&probe_maxgap, 0);
		uint64_t since = atomic_load(&inflight_since);
		uint64_t tn = now_ns();
		s->inflight_ns = since ? tn - since : 0;
		nsamples++;
		if (s->inflight_ns > STALL_NS)
			dump_stacks(tn - t0, s->inflight_ns);
		next.tv_nsec += SAMPLE_NS;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	close(sfd);
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
	return NULL;
}

static int probe_cpu = -1;

static void *probe(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "probe");
	pin(probe_cpu);
	uint64_t prev = now_ns();
	while (!atomic_load(&probe_stop)) {
		uint64_t t = now_ns();
		uint64_t g = t - prev;
		if (g > 200000) {
			size_t i = atomic_load(&ngaps);
			if (i < MAX_GAPS) {
				gaps[i].t = prev - t0;
				gaps[i].len = g;
				atomic_store(&ngaps, i + 1);
			}
		}
		if (g > atomic_load_explicit(&probe_maxgap, memory_order_relaxed))
			atomic_store_explicit(&probe_maxgap, g, memory_order_relaxed);
		prev = t;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void prepare_file(const char *dir, char *path, size_t n)
{
	mkdir(dir, 0755);
	snprintf(path, n, "%s/stall.dat", dir);
	struct stat st;
	if (stat(path, &st) == 0 && (size_t)st.st_size == FILE_SIZE)
		return; /* already zero-filled (and written since: no unwritten extents) */
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		die(path, errno);
	static char z[1 << 20];
	for (size_t off = 0; off < FILE_SIZE; off += sizeof z)
		if (pwrite(fd, z, sizeof z, (off_t)off) != (ssize_t)sizeof z)
			die("zero-fill", errno);
	if (fsync(fd))
		die("fsync", errno);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *dir = "/var/tmp/uwal-stall", *mode = "uring", *prefix = NULL;
	double secs = 4;
	int loop_cpu = -1, opt;
	while ((opt = getopt(argc, argv, "d:t:m:o:p:c:")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'o':
			prefix = optarg;
			break;
		case 'p':
			probe_cpu = atoi(optarg);
			break;
		case 'c':
			loop_cpu = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: stall [-d DIR] [-t S] [-m "
					"uring|uring-nd|uring-spin|pwrite] [-o PREFIX] [-p CPU] "
					"[-c CPU]\n");
			return 2;
		}
	}
	int m_uring = !strcmp(mode, "uring"), m_nd = !strcmp(mode, "uring-nd");
	int m_spin = !strcmp(mode, "uring-spin"), m_pw = !strcmp(mode, "pwrite");
	if (!(m_uring || m_nd || m_spin || m_pw)) {
		fprintf(stderr, "stall: unknown mode %s\n", mode);
		return 2;
	}
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > NCPU_MAX)
		ncpu = NCPU_MAX;
	char path[512];
	prepare_file(dir, path, sizeof path);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		die(path, errno);
	struct stat fst;
	if (fstat(fd, &fst) == 0) {
		char lnk[128], tgt[256];
		snprintf(lnk, sizeof lnk, "/sys/dev/block/%u:%u", major(fst.st_dev),
			 minor(fst.st_dev));
		ssize_t k = readlink(lnk, tgt, sizeof tgt - 1);
		if (k > 0) {
			tgt[k] = 0;
			const char *b = strrchr(tgt, '/');
			snprintf(diskname, sizeof diskname, "%.63s", b ? b + 1 : tgt);
		}
	}

	ncalls_cap = (size_t)(secs * 100000) + 1000;
	calls = calloc(ncalls_cap, sizeof *calls);
	samples = calloc(MAX_SAMPLES, sizeof *samples);
	gaps = calloc(MAX_GAPS, sizeof *gaps);
	if (!calls || !samples || !gaps)
		die("calloc", ENOMEM);
	if (prefix) {
		snprintf(path, sizeof path, "%s.stacks.txt", prefix);
		stacks = fopen(path, "w");
	}
	loop_thread = pthread_self();
	loop_tid = (pid_t)syscall(SYS_gettid);
	if (loop_cpu >= 0)
		pin(loop_cpu);

	struct io_uring ring;
	if (!m_pw) {
		unsigned flags =
			m_uring ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0;
		int e = io_uring_queue_init(8, &ring, flags);
		if (e < 0)
			die("io_uring_queue_init", -e);
	}
	char buf[REC];
	memset(buf, 'x', sizeof buf);

	t0 = now_ns();
	pthread_t st, pt;
	if (probe_cpu >= 0)
		pthread_create(&pt, NULL, probe, NULL);
	pthread_create(&st, NULL, sampler, NULL);
	uint64_t end = t0 + (uint64_t)(secs * 1e9);
	uint64_t off = 0;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	for (;;) {
		uint64_t ts = now_ns();
		if (ts >= end)
			break;
		atomic_store(&inflight_since, ts);
		if (m_pw) {
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
			int e;
			if (m_spin) {
				e = io_uring_submit(&ring);
				if (e != 2)
					die("io_uring_submit", e < 0 ? -e : EIO);
				uint64_t spin0 = now_ns();
				while (io_uring_cq_ready(&ring) < 2) {
					if (now_ns() - spin0 > 1000000000ull) { /* safety */
						io_uring_submit_and_wait(&ring, 2);
						break;
					}
				}
			} else {
				e = io_uring_submit_and_wait(&ring, 2);
				if (e < 0)
					die("io_uring_submit_and_wait", -e);
			}
			for (int got = 0; got < 2;) {
				struct io_uring_cqe *cqe;
				e = io_uring_wait_cqe(&ring, &cqe);
				if (e < 0)
					die("io_uring_wait_cqe", -e);
				if (cqe->res < 0)
					die("cqe", -cqe->res);
				io_uring_cqe_seen(&ring, cqe);
				got++;
			}
		}
		uint64_t te = now_ns();
		atomic_store(&inflight_since, 0);
		size_t i = atomic_load(&ncalls);
		if (i < ncalls_cap) {
			calls[i].t = ts - t0;
			calls[i].lat = te - ts;
			atomic_store(&ncalls, i + 1);
		}
		off += REC;
		if (off + REC > FILE_SIZE)
			off = 0;
	}
	getrusage(RUSAGE_SELF, &ru1);
	uint64_t wall = now_ns() - t0;
	atomic_store(&stop, 1);
	pthread_join(st, NULL);
	atomic_store(&probe_stop, 1);
	if (probe_cpu >= 0)
		pthread_join(pt, NULL);
	if (stacks)
		fclose(stacks);

	size_t n = atomic_load(&ncalls), ng = atomic_load(&ngaps);
	/* files */
	if (prefix) {
		snprintf(path, sizeof path, "%s.calls.csv", prefix);
		FILE *f = fopen(path, "w");
		if (f) {
			fprintf(f, "t_ns,lat_ns\n");
			for (size_t i = 0; i < n; i++)
				fprintf(f, "%llu,%llu\n", (unsigned long long)calls[i].t,
					(unsigned long long)calls[i].lat);
			fclose(f);
		}
		snprintf(path, sizeof path, "%s.timeline.csv", prefix);
		f = fopen(path, "w");
		if (f) {
			fprintf(f, "t_ns,calls,proc_cpu_ns,loop_cpu_ns,loop_delay_ns,probe_maxgap_"
				   "ns,inflight_ns,disk_writes,disk_wsectors,disk_flushes");
			static const char *fn[NF] = {"user",   "nice", "sys",     "idle",
						     "iowait", "irq",  "softirq", "steal"};
			for (int c = 0; c <= ncpu; c++)
				for (int k = 0; k < NF; k++)
					if (k != F_NICE) {
						if (c)
							fprintf(f, ",cpu%d_%s", c - 1, fn[k]);
						else
							fprintf(f, ",all_%s", fn[k]);
					}
			fprintf(f, "\n");
			for (size_t i = 0; i < nsamples; i++) {
				struct sample *s = &samples[i];
				fprintf(f, "%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu",
					(unsigned long long)s->t, (unsigned long long)s->calls,
					(unsigned long long)s->proc_cpu_ns,
					(unsigned long long)s->loop_cpu_ns,
					(unsigned long long)s->loop_delay_ns,
					(unsigned long long)s->probe_maxgap_ns,
					(unsigned long long)s->inflight_ns,
					(unsigned long long)s->disk_wr,
					(unsigned long long)s->disk_wsec,
					(unsigned long long)s->disk_fl);
				for (int c = 0; c <= ncpu; c++)
					for (int k = 0; k < NF; k++)
						if (k != F_NICE)
							fprintf(f, ",%llu",
								(unsigned long long)s->cpu[c][k]);
				fprintf(f, "\n");
			}
			fclose(f);
		}
		if (ng) {
			snprintf(path, sizeof path, "%s.gaps.csv", prefix);
			f = fopen(path, "w");
			if (f) {
				fprintf(f, "t_ns,gap_ns\n");
				for (size_t i = 0; i < ng; i++)
					fprintf(f, "%llu,%llu\n", (unsigned long long)gaps[i].t,
						(unsigned long long)gaps[i].len);
				fclose(f);
			}
		}
	}

	/* summary: latencies */
	uint64_t *lat = malloc((n + 1) * sizeof *lat);
	for (size_t i = 0; i < n; i++)
		lat[i] = calls[i].lat;
	qsort(lat, n, sizeof *lat, cmp_u64);
#define PCT(p) (n ? lat[(size_t)((double)(n - 1) * (p))] : 0)
	/* stalls */
	size_t nst = 0;
	uint64_t *stend = malloc((n + 1) * sizeof *stend), stall_ns = 0;
	for (size_t i = 0; i < n; i++)
		if (calls[i].lat > STALL_NS) {
			stend[nst++] = calls[i].t + calls[i].lat;
			stall_ns += calls[i].lat;
		}
	uint64_t *gp = malloc((nst + 1) * sizeof *gp);
	for (size_t i = 1; i < nst; i++)
		gp[i - 1] = stend[i] - stend[i - 1];
	size_t ngp = nst ? nst - 1 : 0;
	qsort(gp, ngp, sizeof *gp, cmp_u64);
	double gap_med = ngp ? gp[ngp / 2] / 1e6 : NAN;
	/* phase of stall ends on a 100 ms grid: resultant length R (1 = locked) */
	double cs = 0, sn = 0;
	for (size_t i = 0; i < nst; i++) {
		double ph = 2 * M_PI * (double)((t0 + stend[i]) % 100000000ull) / 1e8;
		cs += cos(ph);
		sn += sin(ph);
	}
	double R = nst ? sqrt(cs * cs + sn * sn) / (double)nst : NAN;

	/* windows: does a stall overlap window (s[i-1].t, s[i].t]? */
	double st_steal = 0, ot_steal = 0, st_idle = 0, ot_idle = 0, st_io = 0, ot_io = 0;
	double st_delay = 0, ot_delay = 0, st_pgap = 0, ot_pgap = 0, st_kb = 0, ot_kb = 0;
	size_t nw_st = 0, nw_ot = 0, j = 0;
	for (size_t i = 1; i < nsamples; i++) {
		uint64_t a = samples[i - 1].t, b = samples[i].t;
		int hit = 0;
		while (j < n && calls[j].t + calls[j].lat <= a)
			j++;
		for (size_t k = j; k < n && calls[k].t < b; k++)
			if (calls[k].lat > STALL_NS) {
				hit = 1;
				break;
			}
		double steal =
			(double)(samples[i].cpu[0][F_STEAL] - samples[i - 1].cpu[0][F_STEAL]);
		double idle = (double)(samples[i].cpu[0][F_IDLE] - samples[i - 1].cpu[0][F_IDLE]);
		double iow =
			(double)(samples[i].cpu[0][F_IOWAIT] - samples[i - 1].cpu[0][F_IOWAIT]);
		double dl = (double)(samples[i].loop_delay_ns - samples[i - 1].loop_delay_ns) / 1e3;
		double pg = (double)samples[i].probe_maxgap_ns / 1e3;
		/* KiB written to the disk beyond this loop's own 4 KiB per call */
		double own = 4.0 * (double)(samples[i].calls - samples[i - 1].calls);
		double kb = (double)(samples[i].disk_wsec - samples[i - 1].disk_wsec) / 2 - own;
		if (kb < 0)
			kb = 0;
		if (hit) {
			nw_st++;
			st_steal += steal;
			st_idle += idle;
			st_io += iow;
			st_delay += dl;
			st_pgap += pg;
			st_kb += kb;
		} else {
			nw_ot++;
			ot_steal += steal;
			ot_idle += idle;
			ot_io += iow;
			ot_delay += dl;
			ot_pgap += pg;
			ot_kb += kb;
		}
	}
#define AVG(x, n) ((n) ? (x) / (double)(n) : NAN)
	/* probe gaps that overlap a stall */
	size_t gaps_in_stall = 0;
	uint64_t gap_total = 0, gap_max = 0;
	for (size_t g = 0; g < ng; g++) {
		gap_total += gaps[g].len;
		if (gaps[g].len > gap_max)
			gap_max = gaps[g].len;
		for (size_t i = 0; i < n; i++)
			if (calls[i].lat > STALL_NS && gaps[g].t < calls[i].t + calls[i].lat &&
			    gaps[g].t + gaps[g].len > calls[i].t) {
				gaps_in_stall++;
				break;
			}
	}
	double cpu_loop = 0;
	if (nsamples > 1)
		cpu_loop = (double)(samples[nsamples - 1].loop_cpu_ns - samples[0].loop_cpu_ns) /
			   (double)(samples[nsamples - 1].t - samples[0].t);
	double ucpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 +
		      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec);
	double scpu = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
		      (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	long vcs = ru1.ru_nvcsw - ru0.ru_nvcsw, ivcs = ru1.ru_nivcsw - ru0.ru_nivcsw;
	double rate = (double)n / (wall / 1e9);
	/* CPU used by everything else on the machine, in % of one CPU (ticks are 10 ms) */
	double foreign = NAN;
	if (nsamples > 1) {
		struct sample *a = &samples[0], *b = &samples[nsamples - 1];
		double busy = 0;
		for (int k = 0; k < NF; k++)
			if (k != F_IDLE && k != F_IOWAIT)
				busy += (double)(b->cpu[0][k] - a->cpu[0][k]);
		double span = (double)(b->t - a->t);
		foreign = 100 * (busy * 1e7 - (double)(b->proc_cpu_ns - a->proc_cpu_ns)) / span;
	}

	printf("mode %s, %.1f s, %zu calls, %.0f/s; latency us p50 %.0f p99 %.0f p99.9 %.0f max "
	       "%.0f\n",
	       mode, wall / 1e9, n, rate, PCT(0.5) / 1e3, PCT(0.99) / 1e3, PCT(0.999) / 1e3,
	       n ? lat[n - 1] / 1e3 : 0);
	printf("stalls > 5 ms: %zu (%.1f%% of wall time), median gap between stall ends %.1f ms, "
	       "100 ms phase R %.2f\n",
	       nst, 100.0 * (double)stall_ns / (double)wall, gap_med, R);
	printf("10 ms windows: %zu with a stall, %zu without; per window (ticks of 10 ms, all "
	       "CPUs): steal %.3f vs %.3f, idle %.2f vs %.2f, iowait %.2f vs %.2f; loop run-delay "
	       "us %.1f vs %.1f; other writes to %s KiB %.0f vs %.0f\n",
	       nw_st, nw_ot, AVG(st_steal, nw_st), AVG(ot_steal, nw_ot), AVG(st_idle, nw_st),
	       AVG(ot_idle, nw_ot), AVG(st_io, nw_st), AVG(ot_io, nw_ot), AVG(st_delay, nw_st),
	       AVG(ot_delay, nw_ot), diskname, AVG(st_kb, nw_st), AVG(ot_kb, nw_ot));
	if (probe_cpu >= 0)
		printf("probe on cpu%d: %zu gaps > 200 us (total %.1f ms, max %.1f ms), %zu "
		       "overlap a stall; mean max-gap per window %.0f us (stall) vs %.0f us\n",
		       probe_cpu, ng, gap_total / 1e6, gap_max / 1e6, gaps_in_stall,
		       AVG(st_pgap, nw_st), AVG(ot_pgap, nw_ot));
	printf("CPU: loop thread %.1f%% of one CPU; process user %.0f us + sys %.0f us = %.1f "
	       "us/call; ctx switches vol %ld invol %ld (%.2f/call)\n",
	       100 * cpu_loop, ucpu, scpu, n ? (ucpu + scpu) / (double)n : 0, vcs, ivcs,
	       n ? (double)(vcs + ivcs) / (double)n : 0);
	printf("SUMMARY mode=%s rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f "
	       "stalls=%zu stall_pct=%.1f gap_ms=%.1f R=%.2f "
	       "w_stall=%zu steal_st=%.3f steal_ot=%.3f idle_st=%.2f idle_ot=%.2f iow_st=%.2f "
	       "iow_ot=%.2f delay_st_us=%.1f delay_ot_us=%.1f "
	       "kb_st=%.0f kb_ot=%.0f probe_gaps=%zu probe_gaps_in_stall=%zu probe_gap_max_ms=%.2f "
	       "cpu_us_call=%.1f loop_cpu_pct=%.1f cs_call=%.2f foreign_cpu_pct=%.0f t0_ns=%llu\n",
	       mode, rate, PCT(0.5) / 1e3, PCT(0.99) / 1e3, PCT(0.999) / 1e3,
	       n ? lat[n - 1] / 1e3 : 0, nst, 100.0 * (double)stall_ns / (double)wall, gap_med, R,
	       nw_st, AVG(st_steal, nw_st), AVG(ot_steal, nw_ot), AVG(st_idle, nw_st),
	       AVG(ot_idle, nw_ot), AVG(st_io, nw_st), AVG(ot_io, nw_ot), AVG(st_delay, nw_st),
	       AVG(ot_delay, nw_ot), AVG(st_kb, nw_st), AVG(ot_kb, nw_ot), ng, gaps_in_stall,
	       gap_max / 1e6, n ? (ucpu + scpu) / (double)n : 0, 100 * cpu_loop,
	       n ? (double)(vcs + ivcs) / (double)n : 0, foreign, (unsigned long long)t0);
	return 0;
}
