/* SPDX-License-Identifier: Apache-2.0 */
/*
 * workload.c - run one job of uwal-bench.
 *
 * Flow of run_job():
 *   1. remove any leftover of directory/name and open a fresh store there
 *      through the job's engine (engine.c: uwal, a peer, a raw loop),
 *      after starting the busy process of contention=1;
 *   2. start numjobs submitter threads (pinned if cpus_allowed says so);
 *      each waits at a start gate until all are ready, then the main
 *      thread opens the gate at T0;
 *   3. the window starts at T0 + ramp_time. A call counts if it returned 0
 *      and completed inside the window, so calls / window is a completion
 *      rate. Time based: the window ends at T0 + ramp + runtime and each
 *      thread stops after its first call that completes past it. Count
 *      based (number_ios or size): each thread makes its quota of calls
 *      inside the window, and the window ends at the last completion (or
 *      at runtime, if that comes first). monitor.c snapshots uwal_stats,
 *      rusage, /proc/self/io and the device at the window's edges;
 *   4. join, merge the per-thread histograms, close the store, stop the
 *      busy process, remove the directory.
 *
 * Closed loop (default): a thread issues its next call as soon as the last
 * one returns; latency = return - issue. Open loop (rate_iops): thread i
 * has its own schedule of arrivals (evenly spaced, staggered by i/numjobs
 * of an interval, or Poisson), sleeps until each one and issues it, late
 * if it is behind; latency = return - scheduled arrival, so a stall shows
 * in the latency of every arrival it delayed (no coordinated omission).
 *
 * iodepth > 1 (engine=uwal): each thread keeps up to iodepth submissions
 * in flight with uwal_submit() and reaps their completions with
 * uwal_reap() (async_loop(): latency = reap - submission, counted in the
 * window as a call is; at the window's end it stops submitting and reaps
 * what is outstanding).
 *
 * Each thread keeps its counters in locals and its own histograms, so the
 * hot path shares nothing but the uwal handle and one published counter
 * line per thread (struct worker_pub).
 */
#include "bench.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* State shared by the threads of one job; written by the main thread
 * before the gate opens and read-only afterwards (the gate's mutex orders
 * those writes before the workers' reads). */
struct run {
	const struct job *job;
	const struct engine_ops *eng;
	void *db;           /* the engine's store */
	uwal *w;            /* engine=uwal: the same handle, for uwal_stats; else NULL */
	struct worker *wks; /* every worker (iodepth > 1: a completion's submitter) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready; /* workers waiting at the gate */
	bool go;        /* the gate is open */
	bool abort;     /* setup failed: leave without writing */
	uint64_t t0, win_start, win_end;
};

struct worker {
	struct run *run;
	unsigned id;
	pthread_t tid;
	struct worker_pub *pub;
	void *tls;           /* the engine's per-thread state */
	uint64_t quota;      /* calls to make in the window; 0 = time based */
	void *value;         /* bs bytes */
	unsigned char *keys; /* records_per_call * key_size bytes */
	uwal_record *recs;   /* records_per_call records */
	struct hist *lat, *svc;
	/* iodepth > 1: room for a reap; counters of this thread's submissions,
	 * updated by whichever thread reaps their completions */
	uwal_completion *comps;
	size_t ncomps;
	uint64_t inflight;  /* accepted, completion not yet counted */
	uint64_t in_window; /* completed (or failed to submit) inside the window */
	/* results, written once when the thread ends */
	uint64_t records, calls, errors, late;
	int first_error;
	uint64_t first_error_t; /* when it returned */
	uint64_t last_done;
};

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
			      .tv_nsec = (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int rc = (type == FTW_DP) ? rmdir(path) : unlink(path);
	return rc ? -errno : 0;
}

int remove_tree(const char *path)
{
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc > 0)
		return -EIO;
	return rc;
}

int make_dirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		if (saved == '\0')
			break;
		*p = saved;
	}
	return 0;
}

int job_dir(const struct job *job, char *buf, size_t len)
{
	char name[sizeof(job->name)];
	size_t i;
	for (i = 0; job->name[i]; i++) {
		char c = job->name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		name[i] = ok ? c : '_';
	}
	name[i] = '\0';
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		name[0] = '_';
	if (snprintf(buf, len, "%s/%s", job->directory, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* Put index into the first (up to) 8 bytes of key. */
static void fill_key(unsigned char *key, size_t key_size, uint64_t index)
{
	memcpy(key, &index, key_size < sizeof(index) ? key_size : sizeof(index));
}

/*
 * Watchdog: a benchmark must not hang silently if the engine does. The main
 * thread arms a deadline around each blocking phase (open, the write calls
 * - re-armed by monitor.c whenever a call returns -, close); a helper
 * thread checks it once a second and, if it passes, says which job and
 * phase stalled and ends the process with status 3 (the log cannot be
 * closed safely then).
 */
#define WATCHDOG_GRACE_S 30.0

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t watch_deadline; /* 0 = disarmed; under watch_lock */
static const char *watch_job, *watch_phase;
static bool watch_started;

static void *watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		sleep(1);
		pthread_mutex_lock(&watch_lock);
		if (watch_deadline && now_ns() > watch_deadline) {
			fprintf(stderr,
				"\nuwal-bench: [%s] %s has not finished %.0f s after it should "
				"have: "
				"the engine looks hung; giving up\n",
				watch_job, watch_phase, WATCHDOG_GRACE_S);
			fflush(stdout);
			_exit(3);
		}
		pthread_mutex_unlock(&watch_lock);
	}
	return NULL;
}

void watchdog_arm(const char *job, const char *phase, uint64_t t)
{
	pthread_mutex_lock(&watch_lock);
	if (!watch_started) {
		pthread_t tid;
		watch_started = pthread_create(&tid, NULL, watchdog_main, NULL) == 0;
		if (watch_started)
			pthread_detach(tid);
	}
	watch_job = job;
	watch_phase = phase;
	watch_deadline = t ? t + (uint64_t)(WATCHDOG_GRACE_S * 1e9) : 0;
	pthread_mutex_unlock(&watch_lock);
}

static bool gate_wait(struct run *run)
{
	pthread_mutex_lock(&run->lock);
	run->ready++;
	pthread_cond_broadcast(&run->cond);
	while (!run->go)
		pthread_cond_wait(&run->cond, &run->lock);
	bool abort = run->abort;
	pthread_mutex_unlock(&run->lock);
	return !abort;
}

/* xorshift64*: the Poisson schedule's uniform numbers, one stream per thread. */
static double uniform01(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	uint64_t x = *s * UINT64_C(2685821657736338717);
	return ((double)(x >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
}

static int do_call(const struct run *run, struct worker *wk, size_t n)
{
	const bool force = run->job->sync == BENCH_SYNC_PER_WRITE;
	return run->eng->write(run->db, wk->tls, wk->recs, n, force);
}

/*
 * iodepth > 1 (engine=uwal): the thread keeps up to iodepth submissions of
 * records_per_call records in flight with uwal_submit() and takes their
 * completions with uwal_reap(). Each submission carries its submitter and
 * its submission time in user_data (the submitter in the top
 * ASYNC_OWNER_SHIFT bits, the time since T0 below), because a completion
 * goes to whichever thread reaps it: with numjobs > 1 the threads share the
 * handle's completions, and each counts what it reaps (records, latency),
 * while the submitter's inflight and in_window counters say what it may
 * still submit. A completion counts as the blocking loop counts a call: it
 * is in the window if it was reaped inside it, and its latency is reap
 * time - submission time. Submitting stops at the window's end (or once
 * the quota of completions inside the window is met, or the handle is
 * poisoned or shut down); then what is outstanding is reaped.
 */
#define ASYNC_OWNER_SHIFT 54
#define ASYNC_TIME_MASK ((UINT64_C(1) << ASYNC_OWNER_SHIFT) - 1)
#define ASYNC_REAP_MAX 4096
/* With numjobs > 1 another thread may take the completion a thread waits
 * for: wait in slices of this, then look again. */
#define ASYNC_SHARED_WAIT_US 1000

struct tally {
	uint64_t records, calls, errors, all, ok, last_done, first_error_t;
	int first_error;
	bool fatal; /* poisoned or shut down: every later submission would fail */
};

static void tally_error(struct tally *t, int rc, uint64_t when)
{
	if (t->errors++ == 0) {
		t->first_error = rc;
		t->first_error_t = when;
	}
	if (rc == UWAL_EPOISONED || rc == UWAL_ESHUTDOWN)
		t->fatal = true;
}

static void tally_publish(const struct worker *wk, const struct tally *t)
{
	/* Relaxed: these only feed the progress line and the stall watchdog. */
	__atomic_store_n(&wk->pub->ok_calls, t->ok, __ATOMIC_RELAXED);
	__atomic_store_n(&wk->pub->all_calls, t->all, __ATOMIC_RELAXED);
}

/* Reap what is there, waiting up to timeout_us for the first. Returns the
 * number of completions, or uwal_reap()'s error. */
static int reap_some(struct worker *wk, struct tally *t, int64_t timeout_us)
{
	struct run *run = wk->run;
	int k = uwal_reap(run->w, wk->comps, wk->ncomps, timeout_us);
	if (k <= 0)
		return k;
	uint64_t t1 = now_ns();
	bool window = t1 >= run->win_start && t1 <= run->win_end;
	for (int i = 0; i < k; i++) {
		const uwal_completion *c = &wk->comps[i];
		struct worker *owner = &run->wks[c->user_data >> ASYNC_OWNER_SHIFT];
		uint64_t t0 = run->t0 + (c->user_data & ASYNC_TIME_MASK);
		t->all++;
		if (c->result == 0) {
			t->ok++;
			if (window) {
				hist_record(wk->lat, t1 > t0 ? t1 - t0 : 0);
				t->records += c->count;
				t->calls++;
			}
		} else {
			tally_error(t, c->result, t1);
		}
		if (window)
			__atomic_add_fetch(&owner->in_window, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&owner->inflight, 1, __ATOMIC_RELEASE);
	}
	t->last_done = t1;
	tally_publish(wk, t);
	return k;
}

static void async_loop(struct worker *wk, struct tally *t)
{
	struct run *run = wk->run;
	const struct job *job = run->job;
	const unsigned flags = job->sync == BENCH_SYNC_PER_WRITE ? UWAL_SUBMIT_SYNC : 0;
	const int64_t wait_us = job->numjobs == 1 ? -1 : ASYNC_SHARED_WAIT_US;
	const size_t n = job->records_per_call, ks = job->key_size;
	uint64_t next = (uint64_t)wk->id * BENCH_INDEX_STRIDE + 1;

	for (;;) {
		uint64_t inflight = __atomic_load_n(&wk->inflight, __ATOMIC_ACQUIRE);
		uint64_t in_window = __atomic_load_n(&wk->in_window, __ATOMIC_RELAXED);
		uint64_t now = now_ns();
		bool done =
			now >= run->win_end || t->fatal || (wk->quota && in_window >= wk->quota);
		if (done && inflight == 0)
			break;
		bool room =
			inflight < job->iodepth && (!wk->quota || in_window + inflight < wk->quota);
		if (done || !room) {
			int k = reap_some(wk, t, wait_us);
			if (k < 0) {
				/* EFORKED and the like: nothing more can be reaped
				 * (uwal_close() completes what is left). */
				tally_error(t, k, now_ns());
				break;
			}
			continue;
		}

		for (size_t i = 0; i < n; i++) {
			if (ks)
				fill_key(wk->keys + i * ks, ks, next + i);
			wk->recs[i].index = next + i;
		}
		/* The submission time is the clock read above (filling the keys
		 * takes nanoseconds): one read per submission. */
		uint64_t ud = ((uint64_t)wk->id << ASYNC_OWNER_SHIFT) |
			      ((now - run->t0) & ASYNC_TIME_MASK);
		/* Counted before the call: another thread may reap the completion
		 * before uwal_submit() returns. */
		__atomic_add_fetch(&wk->inflight, 1, __ATOMIC_RELAXED);
		int rc = uwal_submit(run->w, wk->recs, n, flags, ud);
		if (rc == 0) {
			next += n;
			continue;
		}
		__atomic_sub_fetch(&wk->inflight, 1, __ATOMIC_RELAXED);
		if (rc == UWAL_EAGAIN) {
			/* The handle's window is full (other threads' submissions):
			 * make room. */
			reap_some(wk, t, ASYNC_SHARED_WAIT_US);
			continue;
		}
		/* Refused: a failed call, as in the blocking loop. */
		uint64_t t1 = now_ns();
		t->all++;
		t->last_done = t1;
		tally_error(t, rc, t1);
		if (t1 >= run->win_start && t1 <= run->win_end)
			__atomic_add_fetch(&wk->in_window, 1, __ATOMIC_RELAXED);
		tally_publish(wk, t);
	}
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct run *run = wk->run;
	const struct job *job = run->job;
	uint64_t records = 0, calls = 0, errors = 0, late = 0, last_done = 0, first_error_t = 0;
	uint64_t all = 0, ok = 0, in_window = 0;
	int first_error = 0;

	/* Arrivals are scheduled to the nanosecond: do not let the kernel's
	 * default 50 us timer slack add to every open-loop latency. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	int trc = run->eng->thread_open ? run->eng->thread_open(run->db, &wk->tls) : 0;
	if (!gate_wait(run) || trc) {
		wk->errors = trc != 0;
		wk->first_error = trc;
		wk->first_error_t = now_ns();
		__atomic_store_n(&wk->pub->finished, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	if (job->iodepth > 1) {
		struct tally t = {0};
		async_loop(wk, &t);
		if (run->eng->thread_close)
			run->eng->thread_close(run->db, wk->tls);
		wk->records = t.records;
		wk->calls = t.calls;
		wk->errors = t.errors;
		wk->first_error = t.first_error;
		wk->first_error_t = t.first_error_t;
		wk->last_done = t.last_done;
		__atomic_store_n(&wk->pub->finished, 1, __ATOMIC_RELEASE);
		return NULL;
	}

	const uint64_t win_start = run->win_start, win_end = run->win_end;
	const size_t ks = job->key_size;
	const bool rated = job->rate_iops > 0;
	const double interval = rated ? 1e9 / (double)job->rate_iops : 0;
	uint64_t seed = UINT64_C(0x9E3779B97F4A7C15) * (wk->id + 1);
	double sched = (double)run->t0;
	if (rated)
		sched += job->rate_poisson ? -log(uniform01(&seed)) * interval
					   : interval * wk->id / job->numjobs;
	uint64_t next = (uint64_t)wk->id * BENCH_INDEX_STRIDE + 1;

	for (;;) {
		if (wk->quota && in_window >= wk->quota)
			break;
		size_t n = job->records_per_call;
		for (size_t i = 0; i < n; i++) {
			if (ks)
				fill_key(wk->keys + i * ks, ks, next + i);
			wk->recs[i].index = next + i;
		}

		uint64_t start = 0, t0;
		bool was_late = false;
		if (rated) {
			start = (uint64_t)sched;
			t0 = now_ns();
			if (t0 < start) {
				sleep_until(start);
				t0 = now_ns();
			} else if ((double)(t0 - start) >= interval) {
				was_late = true;
			}
			sched += job->rate_poisson ? -log(uniform01(&seed)) * interval : interval;
		} else {
			t0 = start = now_ns();
		}
		int rc = do_call(run, wk, n);
		uint64_t t1 = now_ns();

		next += n;
		last_done = t1;
		all++;
		bool window = t1 >= win_start && t1 <= win_end;
		if (rc == 0) {
			ok++;
			if (window) {
				hist_record(wk->lat, t1 - start);
				if (rated)
					hist_record(wk->svc, t1 - t0);
				records += n;
				calls++;
				late += was_late;
			}
		} else if (errors++ == 0) {
			first_error = rc;
			first_error_t = t1;
		}
		in_window += window;
		/* Relaxed: these only feed the progress line and the stall
		 * watchdog; the final counts are read after pthread_join. */
		__atomic_store_n(&wk->pub->ok_calls, ok, __ATOMIC_RELAXED);
		__atomic_store_n(&wk->pub->all_calls, all, __ATOMIC_RELAXED);
		if (t1 >= win_end)
			break;
		if (rc == UWAL_EPOISONED || rc == UWAL_ESHUTDOWN)
			break; /* every later call would fail the same way */
	}
	if (run->eng->thread_close)
		run->eng->thread_close(run->db, wk->tls);
	wk->records = records;
	wk->calls = calls;
	wk->errors = errors;
	wk->late = late;
	wk->first_error = first_error;
	wk->first_error_t = first_error_t;
	wk->last_done = last_done;
	__atomic_store_n(&wk->pub->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void free_workers(struct worker *wks, struct worker_pub *pubs, unsigned n)
{
	for (unsigned i = 0; wks && i < n; i++) {
		free(wks[i].value);
		free(wks[i].keys);
		free(wks[i].recs);
		free(wks[i].lat);
		free(wks[i].svc);
		free(wks[i].comps);
	}
	free(wks);
	free(pubs);
}

/* Allocate and fill each worker's buffers. */
static struct worker *make_workers(const struct job *job, struct run *run,
				   struct worker_pub **pubs_out)
{
	unsigned n = job->numjobs;
	size_t rpc = job->records_per_call;
	struct worker *wks = calloc(n, sizeof(*wks));
	/* one cache line per thread's published counters */
	struct worker_pub *pubs = aligned_alloc(64, n * sizeof(*pubs));
	if (!wks || !pubs) {
		free(wks);
		free(pubs);
		return NULL;
	}
	memset(pubs, 0, n * sizeof(*pubs));
	uint64_t quota = job_is_timed(job) ? 0 : job_calls_per_thread(job);
	for (unsigned i = 0; i < n; i++) {
		struct worker *wk = &wks[i];
		wk->run = run;
		wk->id = i;
		wk->pub = &pubs[i];
		wk->quota = quota;
		wk->value = malloc(job->bs ? job->bs : 1);
		wk->keys = calloc(rpc, job->key_size ? job->key_size : 1);
		wk->recs = calloc(rpc, sizeof(*wk->recs));
		wk->lat = malloc(sizeof(*wk->lat));
		wk->svc = malloc(sizeof(*wk->svc));
		if (job->iodepth > 1) {
			wk->ncomps = job->iodepth < ASYNC_REAP_MAX ? job->iodepth : ASYNC_REAP_MAX;
			wk->comps = calloc(wk->ncomps, sizeof(*wk->comps));
		}
		if (!wk->value || !wk->keys || !wk->recs || !wk->lat || !wk->svc ||
		    (job->iodepth > 1 && !wk->comps)) {
			free_workers(wks, pubs, n);
			return NULL;
		}
		/* Values differ between threads and are not all zeros or all one
		 * byte, in case anything below compresses or dedups. */
		for (size_t b = 0; b < job->bs; b++)
			((unsigned char *)wk->value)[b] = (unsigned char)(i * 31 + b * 7 + 1);
		for (size_t r = 0; r < rpc; r++) {
			wk->recs[r].key = job->key_size ? wk->keys + r * job->key_size : NULL;
			wk->recs[r].key_len = job->key_size;
			wk->recs[r].value = job->bs ? wk->value : NULL;
			wk->recs[r].value_len = job->bs;
		}
		if (job->bs == 0) {
			free(wk->value);
			wk->value = NULL;
		}
		hist_init(wk->lat);
		hist_init(wk->svc);
	}
	*pubs_out = pubs;
	return wks;
}

/* res->stats = b - a for the counters; the rest as at b. */
static void stats_delta(const uwal_stats *a, const uwal_stats *b, uwal_stats *d)
{
	*d = *b;
	d->records = b->records - a->records;
	d->batches = b->batches - a->batches;
	d->fsyncs = b->fsyncs - a->fsyncs;
	d->bytes = b->bytes - a->bytes;
	d->rotations = b->rotations - a->rotations;
	d->ring_enters = b->ring_enters - a->ring_enters;
	d->writer_wakeups = b->writer_wakeups - a->writer_wakeups;
	d->queue_full = b->queue_full - a->queue_full;
	d->prealloc_waits = b->prealloc_waits - a->prealloc_waits;
	d->deleted_segments = b->deleted_segments - a->deleted_segments;
	d->waiter_sleeps = b->waiter_sleeps - a->waiter_sleeps;
	d->waiter_wakes = b->waiter_wakes - a->waiter_wakes;
	d->writer_sleeps = b->writer_sleeps - a->writer_sleeps;
	d->sync_ns = b->sync_ns - a->sync_ns;
	d->rejoin_waits = b->rejoin_waits - a->rejoin_waits;
	d->rejoin_timeouts = b->rejoin_timeouts - a->rejoin_timeouts;
	for (unsigned i = 0; i < UWAL_HIST_BUCKETS; i++)
		d->sync_hist[i] = b->sync_hist[i] - a->sync_hist[i];
}

/* The CPU set thread i gets, or NULL for no pinning. */
static const cpu_set_t *cpus_for(const struct job *job, unsigned i, cpu_set_t *one)
{
	if (!job->cpus_set)
		return NULL;
	if (!job->cpus_split)
		return &job->cpus;
	unsigned want = i % (unsigned)CPU_COUNT(&job->cpus), seen = 0;
	CPU_ZERO(one);
	for (unsigned c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &job->cpus))
			continue;
		if (seen++ == want) {
			CPU_SET(c, one);
			break;
		}
	}
	return one;
}

static int start_thread(const struct job *job, struct worker *wk)
{
	pthread_attr_t attr;
	cpu_set_t one;
	int err = pthread_attr_init(&attr);
	if (err)
		return err;
	const cpu_set_t *set = cpus_for(job, wk->id, &one);
	if (set)
		err = pthread_attr_setaffinity_np(&attr, sizeof(*set), set);
	if (!err)
		err = pthread_create(&wk->tid, &attr, worker_main, wk);
	pthread_attr_destroy(&attr);
	return err;
}

/* Start the threads, open the gate, measure, join. Returns 0 or -errno. */
static int drive(const struct job *job, const struct run_ctx *ctx, struct run *run,
		 struct worker *wks, struct worker_pub *pubs, struct job_result *res)
{
	unsigned started = 0;
	int err = 0;
	for (; started < job->numjobs; started++) {
		err = start_thread(job, &wks[started]);
		if (err)
			break;
	}

	pthread_mutex_lock(&run->lock);
	while (!err && run->ready < started)
		pthread_cond_wait(&run->cond, &run->lock);
	run->t0 = now_ns();
	run->win_start = run->t0 + (uint64_t)(job->ramp_s * 1e9);
	if (job_is_timed(job) || job->runtime_s > 0)
		run->win_end = run->win_start + (uint64_t)(job_runtime(job) * 1e9);
	else
		run->win_end = UINT64_MAX;
	run->abort = err != 0;
	run->go = true;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);

	struct monitor_out mon;
	memset(&mon, 0, sizeof(mon));
	if (!err) {
		struct worker_pub **pp = malloc(started * sizeof(*pp));
		if (pp) {
			for (unsigned i = 0; i < started; i++)
				pp[i] = &pubs[i];
			struct monitor_args ma = {
				.job = job,
				.ctx = ctx,
				.dev = &res->dev,
				.w = run->w,
				.pubs = pp,
				.nthreads = started,
				.t0 = run->t0,
				.win_start = run->win_start,
				.win_end = run->win_end,
				.total_calls = (uint64_t)started * wks[0].quota,
			};
			monitor_run(&ma, &mon);
			free(pp);
		} else {
			err = ENOMEM; /* the threads still run to their end */
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(wks[i].tid, NULL);
	watchdog_arm(job->name, "", 0);
	if (err) {
		snprintf(res->setup_what, sizeof(res->setup_what), "starting thread %u%s", started,
			 job->cpus_set ? " (check cpus_allowed)" : "");
		return -err;
	}

	uint64_t end = run->win_end;
	if (!mon.took1) {
		if (run->w)
			uwal_stats_get(run->w, &mon.st1);
		sysio_take(&res->dev, &mon.io1);
		end = run->win_start;
		for (unsigned i = 0; i < started; i++)
			if (wks[i].last_done > end)
				end = wks[i].last_done;
	}
	res->runtime_ns = end > run->win_start ? end - run->win_start : 0;
	stats_delta(&mon.st0, &mon.st1, &res->stats);
	res->io0 = mon.io0;
	res->io1 = mon.io1;
	res->iops_samples = mon.samples;
	if (mon.samples) {
		double n = (double)mon.samples;
		res->iops_min = mon.smin;
		res->iops_max = mon.smax;
		res->iops_mean = mon.ssum / n;
		double var = mon.ssq / n - res->iops_mean * res->iops_mean;
		res->iops_stddev = var > 0 ? sqrt(var) : 0;
	}
	return 0;
}

static void collect(const struct job *job, const struct worker *wks, struct job_result *res)
{
	uint64_t first_t = UINT64_MAX;
	for (unsigned i = 0; i < job->numjobs; i++) {
		const struct worker *wk = &wks[i];
		res->records += wk->records;
		res->calls += wk->calls;
		res->late_calls += wk->late;
		if (wk->errors && wk->first_error_t < first_t) {
			first_t = wk->first_error_t;
			res->first_error = wk->first_error;
		}
		res->errors += wk->errors;
		hist_merge(&res->lat, wk->lat);
		hist_merge(&res->svc, wk->svc);
	}
	double secs = (double)res->runtime_ns / 1e9;
	if (secs > 0) {
		res->records_per_s = (double)res->records / secs;
		res->calls_per_s = (double)res->calls / secs;
	}
}

static int run_job_in(const struct job *job, const struct run_ctx *ctx, struct job_result *res,
		      int *busy)
{
	if (job->numjobs < 1 || job->numjobs > BENCH_MAX_THREADS || job->records_per_call < 1 ||
	    job->iodepth < 1 || (job->iodepth > 1 && job->engine != BENCH_ENGINE_UWAL)) {
		snprintf(res->setup_what, sizeof(res->setup_what), "checking the job");
		return -EINVAL;
	}
	char dir[4096];
	int rc = job_dir(job, dir, sizeof(dir));
	if (rc == 0)
		rc = make_dirs(job->directory);
	if (rc == 0)
		rc = remove_tree(dir);
	if (rc) {
		snprintf(res->setup_what, sizeof(res->setup_what), "preparing its directory");
		return rc;
	}
	devinfo_find(job->directory, &res->dev);

	struct run run = {.job = job};
	run.eng = engine_get(job->engine, res->setup_what, sizeof(res->setup_what));
	if (!run.eng)
		return -ENOTSUP;
	if (job->contention) {
		*busy = contention_start();
		if (*busy < 0) {
			snprintf(res->setup_what, sizeof(res->setup_what),
				 "starting the contention process");
			return *busy;
		}
	}
	uint64_t t_open = now_ns();
	watchdog_arm(job->name, "opening the store", t_open);
	rc = run.eng->open(job, dir, &run.db, res->setup_what, sizeof(res->setup_what));
	watchdog_arm(job->name, "", 0);
	if (rc) {
		if (!res->setup_what[0])
			snprintf(res->setup_what, sizeof(res->setup_what), "%s open",
				 bench_engine_name(job->engine));
		remove_tree(dir);
		return rc;
	}
	if (job->engine == BENCH_ENGINE_UWAL)
		run.w = run.db;
	res->ran = true;
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);

	struct worker_pub *pubs = NULL;
	struct worker *wks = make_workers(job, &run, &pubs);
	run.wks = wks;
	if (!wks) {
		snprintf(res->setup_what, sizeof(res->setup_what), "allocating threads' buffers");
		rc = -ENOMEM;
	} else {
		rc = drive(job, ctx, &run, wks, pubs, res);
	}
	if (rc == 0)
		collect(job, wks, res);
	if (wks)
		free_workers(wks, pubs, job->numjobs);

	watchdog_arm(job->name, "closing the store", now_ns());
	res->close_error = run.eng->close(run.db);
	watchdog_arm(job->name, "", 0);
	res->elapsed_ns = now_ns() - t_open;
	pthread_cond_destroy(&run.cond);
	pthread_mutex_destroy(&run.lock);
	int rm = remove_tree(dir);
	if (rm)
		fprintf(stderr, "uwal-bench: cannot remove %s: %s\n", dir, strerror(-rm));
	return rc;
}

int run_job(const struct job *job, const struct run_ctx *ctx, struct job_result *res)
{
	memset(res, 0, sizeof(*res));
	hist_init(&res->lat);
	hist_init(&res->svc);
	res->start_time = time(NULL);
	int busy = 0;
	int rc = run_job_in(job, ctx, res, &busy);
	contention_stop(busy);
	if (rc) {
		res->ran = false;
		res->setup_error = rc;
	}
	return rc;
}
