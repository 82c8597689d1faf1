/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crashwal - crash, power-loss and fault testing of uwal.
 *
 *   crashwal [--iterations N] [--seed S] [--start I] [--dir DIR] [-v]
 *       Process crash: per iteration a fresh log in DIR, a writer child
 *       (fork) that writes with many threads and reports every call in
 *       shared memory, SIGKILL at a seeded random moment, then the parent
 *       reopens the log and judges it (verify.c): a process crash loses
 *       nothing that was acknowledged, durable or not.
 *
 *   crashwal --power-loss --fs ext4|xfs --image PATH --mnt DIR
 *            [--dev /dev/loopN] [--image-mb M] [--iterations N] ...
 *       Power loss (root): a small filesystem on a loop device. Per
 *       iteration the parent notes the sequence number, shuts the
 *       filesystem down without a log flush (FS_IOC_SHUTDOWN), waits for the
 *       child to see its errors and exit on its own, remounts and judges
 *       the durable acknowledgments taken before the shutdown began.
 *
 *   crashwal --mode sim [--forget MODE] [--dir DIR] [--iterations N] ...
 *       Simulated power loss (no root): the writer child runs on the
 *       crash-simulating backend (tests/io/crashsim.c, sim.c), which cuts
 *       the power after a seeded number of operations and lays out the
 *       files as the power loss left them; the parent judges that image
 *       like a power loss, every durable acknowledgment included (the cut
 *       is instantaneous). --forget MODE runs a deliberately broken engine
 *       (crashsim_forget_name()); --expect-failures then exits 0 only if
 *       some iteration failed. DIR defaults to /dev/shm (fdatasync is free
 *       there), else $UWAL_TEST_DIR.
 *
 *   --truncating makes every iteration's plan a truncation plan (1 in 4
 *   are: one writer thread that truncates too, judged by trunc.c).
 *
 * Everything random (configuration, workload, record contents, when to
 * strike) comes from the iteration's seed, mix(S + I), so a failure is
 * reproduced with --seed S --start I --iterations 1 (only thread timing
 * differs from run to run). Exit status 0 when every iteration passed; the
 * last line says "<mode>: N passed, M failed".
 */
#include "crash.h"
#include "crashsim.h"
#include "fs.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 20000 /* fork to an open log, even under sanitizers */
#define EXIT_TIMEOUT_MS 10000  /* shutdown to the child's exit */

struct opts {
	bool power;
	bool sim;
	int forget;
	bool expect_failures;
	bool truncating;
	long iterations;
	long start;
	uint64_t seed;
	const char *dir;
	bool keep_going;
	int verbose;
	struct fs fs;
};

static struct fs *g_fs; /* for the signal handler's teardown */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: crashwal [--iterations N] [--seed S] [--start I] [--dir DIR] "
		"[--keep-going] [--truncating] "
		"[-v]\n"
		"       crashwal --power-loss --fs ext4|xfs --image PATH --mnt DIR [--dev DEV]\n"
		"                [--truncating]\n"
		"                [--image-mb M] [--iterations N] [--seed S] [--start I] [-v]\n"
		"       crashwal --mode sim [--forget MODE [--expect-failures]] [--dir DIR]\n"
		"                [--iterations N] [--seed S] [--start I] [--keep-going] [-v]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"iterations", required_argument, 0, 'n'},
		{"seed", required_argument, 0, 's'},
		{"start", required_argument, 0, 'S'},
		{"dir", required_argument, 0, 'd'},
		{"power-loss", no_argument, 0, 'p'},
		{"fs", required_argument, 0, 'f'},
		{"image", required_argument, 0, 'i'},
		{"mnt", required_argument, 0, 'm'},
		{"dev", required_argument, 0, 'D'},
		{"image-mb", required_argument, 0, 'M'},
		{"keep-going", no_argument, 0, 'k'},
		{"mode", required_argument, 0, 'o'},
		{"forget", required_argument, 0, 'F'},
		{"expect-failures", no_argument, 0, 'E'},
		{"truncating", no_argument, 0, 'T'},
		{"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	bool seeded = false;
	int c;
	memset(o, 0, sizeof(*o));
	o->iterations = -1;
	o->fs.type = "ext4";
	o->fs.image_mb = 64;
	while ((c = getopt_long(argc, argv, "n:s:vkh", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->iterations = strtol(optarg, NULL, 0);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'S':
			o->start = strtol(optarg, NULL, 0);
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'p':
			o->power = true;
			break;
		case 'f':
			o->fs.type = optarg;
			break;
		case 'i':
			o->fs.image = optarg;
			break;
		case 'm':
			o->fs.mnt = optarg;
			break;
		case 'D':
			snprintf(o->fs.dev, sizeof(o->fs.dev), "%s", optarg);
			break;
		case 'M':
			o->fs.image_mb = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			o->keep_going = true;
			break;
		case 'o':
			if (!strcmp(optarg, "sim"))
				o->sim = true;
			else if (!strcmp(optarg, "power"))
				o->power = true;
			else if (strcmp(optarg, "crash"))
				usage();
			break;
		case 'F':
			o->forget = crashsim_forget_parse(optarg);
			if (o->forget < 0) {
				fprintf(stderr, "crashwal: unknown --forget %s; one of:", optarg);
				for (int i = 0; crashsim_forget_name(i); i++)
					fprintf(stderr, " %s", crashsim_forget_name(i));
				fputc('\n', stderr);
				exit(2);
			}
			break;
		case 'E':
			o->expect_failures = true;
			o->keep_going = true;
			break;
		case 'T':
			o->truncating = true;
			break;
		case 'v':
			o->verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (o->sim && o->power) ||
	    ((o->forget || o->expect_failures) && !o->sim))
		usage();
	if (o->iterations < 0)
		o->iterations = o->power ? 100 : o->sim ? 5000 : 200;
	if (!seeded)
		o->seed = cw_mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
	if (o->power) {
		if (strcmp(o->fs.type, "ext4") && strcmp(o->fs.type, "xfs"))
			usage();
		if (!o->fs.mnt || (!o->fs.image && !o->fs.dev[0]))
			usage();
	} else if (!o->dir && o->sim && access("/dev/shm", W_OK) == 0) {
		static char buf[4096];
		snprintf(buf, sizeof(buf), "/dev/shm/crashwal-sim-%d", (int)getpid());
		o->dir = buf;
	} else if (!o->dir) {
		const char *t = getenv("UWAL_TEST_DIR");
		static char buf[4096];
		snprintf(buf, sizeof(buf), "%s/crashwal", t && *t ? t : "/tmp");
		o->dir = buf;
	}
}

/* Wait for the child to have its log open (or to die). 1 ready, 0 dead, -1 timeout. */
static int wait_ready(struct cw_shm *shm, pid_t pid, int *status)
{
	uint64_t t0 = now_ms();
	for (;;) {
		if (atomic_load(&shm->ready))
			return 1;
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (now_ms() - t0 > READY_TIMEOUT_MS)
			return -1;
		usleep(200);
	}
}

/* Wait for the child to exit on its own: ms it took, or -1 on timeout. */
static long wait_exit(pid_t pid, int *status, uint64_t timeout_ms)
{
	uint64_t t0 = now_ms();
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return (long)(now_ms() - t0);
		if (now_ms() - t0 > timeout_ms)
			return -1;
		usleep(500);
	}
}

/* In a child: never outlive crashwal (killed outright, it cannot reap). */
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

static void kill_wait(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

static void reset_shm(struct cw_shm *shm)
{
	/* The entries need no reset: a thread writes each one before its nsub
	 * covers it, and nothing past nsub is read. */
	memset(shm, 0, offsetof(struct cw_shm, ent));
	atomic_store(&shm->open_err, 1);
	atomic_store(&shm->close_err, 1);
	atomic_store(&shm->probe_err, 1);
}

static void print_threads(const struct cw_shm *shm, const struct cw_plan *p)
{
	if (p->trunc_pct) {
		uint64_t n = shm->ntrunc, ok = 0;
		char tn[200];
		for (uint64_t m = 0; m < n; m++)
			ok += shm->trunc[m].done && shm->trunc[m].ret == 0;
		fprintf(stderr, "  truncations: %" PRIu64 " submitted, %" PRIu64 " returned 0%s\n",
			n, ok, n > 8 ? "; the last 8:" : "");
		for (uint64_t m = n > 8 ? n - 8 : 0; m < n; m++)
			fprintf(stderr, "    %s\n", cw_trunc_name(shm, m, tn, sizeof(tn)));
	}
	for (unsigned t = 0; t < p->nthreads; t++) {
		const struct cw_thr *th = &shm->thr[t];
		fprintf(stderr,
			"  thread %u: %" PRIu64 " calls, %" PRIu64 " records submitted, %" PRIu64
			" acknowledged, error %s, longest call %.1f ms\n",
			t, (uint64_t)th->calls, (uint64_t)th->nsub, (uint64_t)th->nack,
			th->err ? uwal_strerror(th->err) : "none", (double)th->max_call_ns / 1e6);
	}
}

struct iter_ctx {
	struct opts *o;
	struct cw_shm *shm;
	struct cw_plan plan;
	long i;
	char what[160];
	char dir[4096];
	struct cw_totals tot;
	uint64_t acked, durable;
	uint64_t close_ok_after_shutdown;
	uint64_t early_open_failed;
	uint64_t rec_strikes, rec_during_open;
	long max_exit_ms;
	uint64_t sim_ops, sim_forgotten, sim_idle_cuts, sim_trunc_cuts;
	long sim_kept; /* failed images kept */
};

static void ifail(struct iter_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ifail(struct iter_ctx *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s: ", c->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void count_acks(struct iter_ctx *c)
{
	for (unsigned t = 0; t < c->plan.nthreads; t++)
		for (uint64_t k = 0; k < c->shm->thr[t].nsub; k++) {
			uint32_t f = c->shm->ent[t][k].flags;
			c->acked += !!(f & CW_ACKED);
			c->durable += (f & (CW_ACKED | CW_DURABLE)) == (CW_ACKED | CW_DURABLE);
		}
}

/* Fork the writer and wait for the moment to strike. 0, or -1 (failed). */
static int start_child(struct iter_ctx *c, pid_t *pid_out)
{
	struct cw_shm *shm = c->shm;
	reset_shm(shm);
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		ifail(c, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		die_with_parent(parent);
		cw_child_run(shm, &c->plan, c->dir, c->o->power);
	}
	*pid_out = pid;
	if (!c->plan.early) {
		int st = 0;
		int r = wait_ready(shm, pid, &st);
		if (r == 0) {
			ifail(c,
			      "the writer child died before its log was open (status 0x%x, "
			      "uwal_open: %s)",
			      st, uwal_strerror(shm->open_err));
			*pid_out = 0;
			return -1;
		}
		if (r < 0) {
			ifail(c, "the writer child did not open its log within %d ms",
			      READY_TIMEOUT_MS);
			return -1;
		}
	}
	usleep(c->plan.delay_us);
	if (c->plan.on_ack) {
		/* Power loss: a durable one (what the check judges). Spin, to
		 * strike within microseconds; give up once the budget is spent
		 * (no more acks come) or after 200 ms. */
		_Atomic uint64_t *ctr = c->o->power ? &shm->durable_acks : &shm->acks;
		uint64_t a0 = atomic_load(ctr), t0 = now_ms();
		while (atomic_load(ctr) == a0 && now_ms() - t0 < 200 &&
		       atomic_load_explicit(&shm->bytes, memory_order_relaxed) < c->plan.budget)
			;
	}
	return 0;
}

/*
 * Strike a second time, while a fresh process opens (recovers) the log:
 * SIGKILL (root < 0) or a shutdown through root. Whatever recovery had
 * done by then, the checks that follow must still hold. 0 or -1.
 */
static int recovery_strike(struct iter_ctx *c, int root)
{
	struct cw_shm *shm = c->shm;
	int st;
	atomic_store(&shm->rec_open_err, 1);
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		ifail(c, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		die_with_parent(parent);
		cw_recoverer_run(shm, &c->plan, c->dir);
	}
	usleep(c->plan.rec_delay_us);
	if (root < 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	} else {
		int e = fs_shutdown(root);
		if (e < 0 || wait_exit(pid, &st, EXIT_TIMEOUT_MS) < 0) {
			ifail(c, "recovery strike: %s",
			      e < 0 ? strerror(-e)
				    : "the recovering child still runs after the shutdown");
			kill_wait(pid);
			return -1;
		}
	}
	int oe = atomic_load(&shm->rec_open_err);
	c->rec_strikes++;
	c->rec_during_open += oe != 0; /* not yet returned, or failed by the shutdown */
	if (root < 0 && oe != 1 && oe != 0) {
		ifail(c, "recovering after the crash: uwal_open: %s", uwal_strerror(oe));
		return -1;
	}
	return 0;
}

static int crash_iteration(struct iter_ctx *c)
{
	struct cw_shm *shm = c->shm;
	pid_t pid = 0;
	if (rm_rf(c->dir) < 0) {
		ifail(c, "cannot remove %s", c->dir);
		return -1;
	}
	if (start_child(c, &pid) < 0) {
		if (pid)
			kill_wait(pid);
		return -1;
	}
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		ifail(c, "the writer child exited by itself (status 0x%x; uwal_open: %s)", st,
		      uwal_strerror(shm->open_err));
		print_threads(shm, &c->plan);
		return -1;
	}
	int oe = atomic_load(&shm->open_err);
	if (oe < 0) {
		ifail(c, "the writer's uwal_open failed: %s", uwal_strerror(oe));
		return -1;
	}
	for (unsigned t = 0; t < c->plan.nthreads; t++)
		if (shm->thr[t].err) {
			uint64_t m = shm->ntrunc;
			char tn[200];
			if (c->plan.trunc_pct && m &&
			    shm->trunc[m - 1].sub_seq == shm->thr[t].err_sub_seq)
				ifail(c, "thread %u: %s without any fault", t,
				      cw_trunc_name(shm, m - 1, tn, sizeof(tn)));
			else
				ifail(c, "thread %u: a write failed without any fault: %s", t,
				      uwal_strerror(shm->thr[t].err));
			print_threads(shm, &c->plan);
			return -1;
		}
	count_acks(c);
	if (c->plan.rec_strike && recovery_strike(c, -1) < 0)
		return -1;
	if (cw_verify(shm, &c->plan, c->dir, UINT64_MAX, false, c->what, &c->tot) < 0) {
		print_threads(shm, &c->plan);
		fprintf(stderr, "  the log is kept in %s\n", c->dir);
		return -1;
	}
	return rm_rf(c->dir);
}

/* After the shutdown: how the child behaved. 0 or -1. */
static int judge_child(struct iter_ctx *c, uint64_t snap, uint64_t cut, int st)
{
	struct cw_shm *shm = c->shm;
	const struct cw_plan *p = &c->plan;
	int oe = atomic_load(&shm->open_err);

	if (WIFEXITED(st) && WEXITSTATUS(st) == 3 && oe < 0) {
		/* uwal_open met the shutdown (or failed before it: judged
		 * below by the remount's open succeeding, nothing acked). */
		c->early_open_failed++;
		return 0;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		ifail(c, "the writer child crashed after the shutdown (status 0x%x)", st);
		print_threads(shm, p);
		return -1;
	}
	for (unsigned t = 0; t < p->nthreads; t++) {
		const struct cw_thr *th = &shm->thr[t];
		if (!th->err) {
			ifail(c, "thread %u: no call failed after the shutdown", t);
			print_threads(shm, p);
			return -1;
		}
		if (th->err_ret_seq < snap) {
			ifail(c, "thread %u: a write failed before the shutdown: %s", t,
			      uwal_strerror(th->err));
			print_threads(shm, p);
			return -1;
		}
		for (uint64_t k = 0; k < th->nsub; k++) {
			const struct cw_ent *e = &shm->ent[t][k];
			if ((e->flags & CW_ACKED) && e->sub_seq > cut) {
				ifail(c,
				      "index %" PRIu64 " (thread %u) was submitted after the "
				      "shutdown returned, and acknowledged",
				      cw_index(t, k), t);
				return -1;
			}
		}
	}
	for (uint64_t m = 0; p->trunc_pct && m < shm->ntrunc; m++) {
		const struct cw_trunc *tr = &shm->trunc[m];
		char tn[200];
		/* One that removes nothing does no I/O, and may. */
		if (tr->done && tr->ret == 0 && tr->sub_seq > cut && tr->removes) {
			ifail(c, "%s was submitted after the shutdown returned, and returned 0",
			      cw_trunc_name(shm, m, tn, sizeof(tn)));
			return -1;
		}
	}
	int pe = atomic_load(&shm->probe_err), ce = atomic_load(&shm->close_err);
	if (pe >= 0) {
		ifail(c, "a write made after the shutdown returned %d", pe);
		return -1;
	}
	if (pe == UWAL_EPOISONED && ce == 0) {
		ifail(c, "uwal_close returned 0 on a poisoned handle");
		return -1;
	}
	/* Allowed: every error came from preparing a segment (README rule 6:
	 * not poisoned) and nothing was left unsynced. */
	if (ce == 0) {
		c->close_ok_after_shutdown++;
		if (c->o->verbose) {
			fprintf(stderr, "note %s: uwal_close returned 0 after the shutdown\n",
				c->what);
			print_threads(shm, p);
		}
	} else if (ce > 0) {
		ifail(c, "the child exited without a result from uwal_close");
		return -1;
	}
	return 0;
}

static int power_iteration(struct iter_ctx *c)
{
	struct cw_shm *shm = c->shm;
	struct fs *f = &c->o->fs;
	pid_t pid = 0;
	int st = 0;

	/* A fresh directory per iteration, and the removal of the last one
	 * made durable: a shutdown loses whatever the journal had not
	 * committed, the removal of an old log included. */
	snprintf(c->dir, sizeof(c->dir), "%s/log-%ld", f->mnt, c->i);
	if (rm_rf(c->dir) < 0 || fs_sync(f) < 0) {
		ifail(c, "cannot remove %s", c->dir);
		return -1;
	}
	/* Opened ahead, so that nothing delays the shutdown once it is time. */
	int root = fs_open_root(f);
	if (root < 0) {
		ifail(c, "open %s: %s", f->mnt, strerror(-root));
		return -1;
	}
	if (start_child(c, &pid) < 0) {
		close(root);
		if (pid)
			kill_wait(pid);
		return -1;
	}
	/* Judge only what was acknowledged before the shutdown began. */
	shm->snap_ns = now_ns();
	uint64_t snap = atomic_fetch_add(&shm->seq, 1) + 1;
	int e = fs_shutdown(root);
	uint64_t cut = atomic_fetch_add(&shm->seq, 1) + 1;
	shm->cut_ns = now_ns();
	atomic_store(&shm->cut_seq, cut);
	atomic_store(&shm->shut, 1);
	close(root);
	if (e < 0) {
		ifail(c, "FS_IOC_SHUTDOWN on %s: %s", f->mnt, strerror(-e));
		kill_wait(pid);
		return -1;
	}
	long ms = wait_exit(pid, &st, EXIT_TIMEOUT_MS);
	if (ms < 0) {
		ifail(c, "writer did not fail after shutdown: the child still runs %d ms later",
		      EXIT_TIMEOUT_MS);
		print_threads(shm, &c->plan);
		kill_wait(pid);
		return -1;
	}
	if (ms > c->max_exit_ms)
		c->max_exit_ms = ms;
	int rc = judge_child(c, snap, cut, st);
	count_acks(c);
	if (fs_umount(f) < 0 || fs_mount(f) < 0) {
		ifail(c, "cannot remount %s", f->mnt);
		return -2; /* fatal: nothing more can run */
	}
	if (rc < 0)
		return -1;
	if (c->plan.rec_strike) {
		/* No sync before it: recovery works on the state as it is. */
		root = fs_open_root(f);
		rc = root < 0 ? -1 : recovery_strike(c, root);
		if (root >= 0)
			close(root);
		if (fs_umount(f) < 0 || fs_mount(f) < 0) {
			ifail(c, "cannot remount %s", f->mnt);
			return -2;
		}
		if (rc < 0)
			return -1;
	}
	if (cw_verify(shm, &c->plan, c->dir, snap, true, c->what, &c->tot) < 0) {
		print_threads(shm, &c->plan);
		char to[4200];
		snprintf(to, sizeof(to), "%s.fail-%ld", f->image ? f->image : f->mnt, c->i);
		rm_rf(to);
		if (copy_tree(c->dir, to) == 0)
			fprintf(stderr, "  the log is copied to %s\n", to);
		return -1;
	}
	return rm_rf(c->dir);
}

/* Keep a failed iteration's image (a few of them) for a look. */
static void sim_keep(struct iter_ctx *c, const char *img)
{
	char to[4200];
	if (c->sim_kept >= 8)
		return;
	snprintf(to, sizeof(to), "%s/fail-%ld", c->o->dir, c->i);
	rm_rf(to);
	if (rename(img, to) == 0) {
		c->sim_kept++;
		fprintf(stderr, "  the image is kept in %s\n", to);
	}
}

static int sim_iteration(struct iter_ctx *c)
{
	struct cw_shm *shm = c->shm;
	char live[2048], img[2048], img2[2048];
	struct cw_sim_dirs d = {live, img, img2, c->o->forget};
	int st = 0;

	snprintf(live, sizeof(live), "%s/live", c->o->dir);
	snprintf(img, sizeof(img), "%s/img", c->o->dir);
	snprintf(img2, sizeof(img2), "%s/img2", c->o->dir);
	if (rm_rf(live) < 0 || rm_rf(img) < 0 || rm_rf(img2) < 0 || mkdir(live, 0755) < 0) {
		ifail(c, "cannot clean %s", c->o->dir);
		return -2;
	}
	reset_shm(shm);
	atomic_store(&shm->rec_open_err, 1);
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		ifail(c, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		die_with_parent(parent);
		cw_sim_child(shm, &c->plan, &d);
	}
	if (wait_exit(pid, &st, READY_TIMEOUT_MS) < 0) {
		ifail(c, "the simulated writer still runs %d ms later (cut: %s)", READY_TIMEOUT_MS,
		      atomic_load(&shm->shut) ? "yes" : "no");
		print_threads(shm, &c->plan);
		kill_wait(pid);
		return -1;
	}
	uint64_t cut = atomic_load(&shm->cut_seq);
	c->sim_ops += atomic_load(&shm->sim_ops);
	c->sim_forgotten += atomic_load(&shm->sim_forgotten);
	c->sim_trunc_cuts += atomic_load(&shm->sim_trunc_cut);
	c->sim_idle_cuts +=
		!atomic_load(&shm->sim_trunc_cut) && atomic_load(&shm->sim_ops) < c->plan.cut_ops;
	if (c->o->verbose)
		fprintf(stderr, "  layout: %s\n", shm->sim_note);
	if (!atomic_load(&shm->shut)) {
		ifail(c, "the power was never cut (writer status 0x%x, uwal_open: %s)", st,
		      uwal_strerror(shm->open_err));
		print_threads(shm, &c->plan);
		return -1;
	}
	int rc = judge_child(c, cut, cut, st);
	count_acks(c);
	if (rc == 0 && shm->sim_layout_err) {
		ifail(c, "crashsim_layout: %s", strerror(-shm->sim_layout_err));
		rc = -1;
	}
	if (rc == 0 && c->plan.rec_strike) {
		int oe = atomic_load(&shm->rec_open_err);
		c->rec_strikes++;
		c->rec_during_open += oe != 0;
	}
	const char *judged_img = c->plan.rec_strike ? img2 : img;
	snprintf(c->dir, sizeof(c->dir), "%s/log", judged_img);
	/* Every durable acknowledgment is judged: at an instantaneous cut
	 * none can be in a race with it. */
	if (rc == 0 && cw_verify(shm, &c->plan, c->dir, UINT64_MAX, true, c->what, &c->tot) < 0) {
		print_threads(shm, &c->plan);
		rc = -1;
	}
	if (rc < 0) {
		fprintf(stderr, "  layout: %s\n", shm->sim_note);
		sim_keep(c, judged_img);
	}
	return rc;
}

static void on_signal(int sig)
{
	if (g_fs)
		fs_teardown(g_fs);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	struct opts o;
	parse(argc, argv, &o);
	const char *mode =
		o.power ? (strcmp(o.fs.type, "xfs") ? "power-loss ext4" : "power-loss xfs")
		: o.sim ? "sim"
			: "crash";

	struct cw_shm *shm =
		mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("crashwal: mmap");
		return 1;
	}
	struct iter_ctx c = {.o = &o, .shm = shm};
	if (o.power) {
		if (geteuid() != 0) {
			printf("SKIP: power loss needs root\n");
			return 0;
		}
		g_fs = &o.fs;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (fs_setup(&o.fs) < 0) {
			fs_teardown(&o.fs);
			return 1;
		}
	} else {
		if (mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "crashwal: mkdir %s: %s\n", o.dir, strerror(errno));
			return 1;
		}
		snprintf(c.dir, sizeof(c.dir), "%s/log", o.dir);
	}
	if (o.sim && o.forget)
		printf("sim: a broken engine: it forgets %s\n", crashsim_forget_name(o.forget));
	printf("%s: seed 0x%016" PRIx64 ", iterations %ld..%ld (reproduce one: --seed 0x%016" PRIx64
	       " --start I --iterations 1)\n",
	       mode, o.seed, o.start, o.start + o.iterations - 1, o.seed);
	fflush(stdout);

	long passed = 0, failed = 0;
	uint64_t t0 = now_ms();
	for (long i = o.start; i < o.start + o.iterations; i++) {
		uint64_t it0 = now_ms();
		char plan[320];
		c.i = i;
		if (o.sim)
			cw_plan_make_sim(&c.plan, cw_mix(o.seed + (uint64_t)i));
		else
			cw_plan_make(&c.plan, cw_mix(o.seed + (uint64_t)i), o.power);
		if (o.truncating && !c.plan.trunc_pct)
			cw_plan_truncating(&c.plan);
		cw_plan_print(&c.plan, plan, sizeof(plan));
		snprintf(c.what, sizeof(c.what), "seed=0x%016" PRIx64 " iteration=%ld", o.seed, i);
		cw_log_reset();
		uint64_t acked0 = c.acked, durable0 = c.durable, present0 = c.tot.present;
		int r = o.power ? power_iteration(&c)
			: o.sim ? sim_iteration(&c)
				: crash_iteration(&c);
		if (r == 0) {
			passed++;
		} else {
			failed++;
			fprintf(stderr, "  plan: %s\n", plan);
		}
		if (o.verbose || r)
			printf("%s %ld: %s; %" PRIu64 " acked (%" PRIu64 " durable), %" PRIu64
			       " present; %" PRIu64 " ms%s\n",
			       mode, i, plan, c.acked - acked0, c.durable - durable0,
			       c.tot.present - present0, now_ms() - it0, r ? " FAILED" : "");
		fflush(stdout);
		if (r == -2 || (r && !o.keep_going))
			break;
	}
	printf("%s: %" PRIu64 " acknowledgments (%" PRIu64 " durable), %" PRIu64 " judged, %" PRIu64
	       " records found, %" PRIu64 " logs ended in a cut-short batch that was not judged",
	       mode, c.acked, c.durable, c.tot.judged, c.tot.present, c.tot.partial_tail);
	if (o.power)
		printf(", %" PRIu64 " durable acknowledgments taken during a shutdown lost (not "
		       "judged; %" PRIu64 " recorded after the ioctl returned), %" PRIu64
		       " shutdowns during uwal_open, %" PRIu64
		       " uwal_close returned 0 after the shutdown, child exit after shutdown <= "
		       "%ld ms, "
		       "%lu umount EBUSY retries, %lu waits for the device after umount",
		       c.tot.lost_unjudged, c.tot.lost_after_cut, c.early_open_failed,
		       c.close_ok_after_shutdown, c.max_exit_ms, o.fs.ebusy_retries, o.fs.sb_waits);
	if (o.sim)
		printf(", %" PRIu64 " backend operations before the cuts, %" PRIu64
		       " cuts during uwal_open, %" PRIu64
		       " cuts once the writers were idle, %" PRIu64
		       " cuts the instant a truncation returned, %" PRIu64
		       " judged records dropped by retention, %" PRIu64 " operations forgotten",
		       c.sim_ops, c.early_open_failed, c.sim_idle_cuts, c.sim_trunc_cuts,
		       c.tot.retention_gone, c.sim_forgotten);
	printf(", %" PRIu64 " strikes during recovery (%" PRIu64 " before uwal_open succeeded)",
	       c.rec_strikes, c.rec_during_open);
	printf(", %" PRIu64 " logs with truncations judged: %" PRIu64 " truncations, %" PRIu64
	       " returned 0 before the strike (%" PRIu64 " records they removed checked absent), "
	       "of those that may have taken effect %" PRIu64 " had not, %" PRIu64 " had, %" PRIu64
	       " changed nothing either way",
	       c.tot.trunc_plans, c.tot.truncs, c.tot.truncs_judged, c.tot.truncs_gone,
	       c.tot.truncs_before, c.tot.truncs_after, c.tot.truncs_either);
	printf("; %.1f s\n", (double)(now_ms() - t0) / 1000.0);
	if (o.power)
		fs_teardown(&o.fs);
	printf("%s: %ld passed, %ld failed\n", mode, passed, failed);
	if (o.sim && !failed && c.sim_kept == 0)
		rm_rf(o.dir);
	if (o.expect_failures) {
		printf("%s: the broken engine (%s) was %s\n", mode, crashsim_forget_name(o.forget),
		       failed ? "caught" : "NOT caught");
		return failed ? 0 : 1;
	}
	return failed ? 1 : 0;
}
