/*
 * workload.c - run one job of uwal-bench.
 *
 * Flow of run_job():
 *   1. remove any leftover of directory/name and open a fresh log there;
 *   2. start job->numjobs submitter threads; each waits at a start gate
 *      until all of them are ready, then the main thread opens the gate;
 *   3. time-based job: the window [T0 + ramp, T0 + ramp + runtime] is fixed
 *      before the gate opens. A call counts if it returned 0 and completed
 *      inside the window (so records / window length is a completion rate);
 *      each thread stops after its first call that completes past the end.
 *      The main thread sleeps to the window's edges and snapshots
 *      uwal_stats and getrusage there.
 *      Record-count job: every successful call counts; the window runs from
 *      the gate to the last thread's last completion;
 *   4. join, merge the per-thread histograms, close the log, remove the
 *      directory.
 * Each thread keeps its counters in locals and its own histogram, so the
 * hot path shares nothing but the uwal handle. A watchdog ends the process
 * if open, the write calls or close stall long past their time.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* State shared by the threads of one job; written by the main thread
 * before the gate opens and read-only afterwards (the gate's mutex orders
 * those writes before the workers' reads). */
struct run {
	const struct job *job;
	uwal *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;   /* workers waiting at the gate */
	bool go;          /* the gate is open */
	bool abort;       /* setup failed: leave without writing */
	uint64_t win_start, win_end;
};

struct worker {
	struct run *run;
	unsigned id;
	pthread_t tid;
	uint64_t quota;        /* records to write; 0 = time-based */
	void *value;           /* value_size bytes */
	unsigned char *keys;   /* per_call * key_size bytes */
	uwal_record *recs;     /* per_call records */
	struct hist *lat;
	/* results, written once when the thread ends */
	uint64_t records, calls, errors;
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

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
	                       .tv_nsec = (long)(t % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

const char *sync_mode_name(enum uwal_sync_mode m)
{
	switch (m) {
	case UWAL_SYNC_NONE:
		return "nosync";
	case UWAL_SYNC_BATCH:
		return "sync";
	case UWAL_SYNC_ALWAYS:
		return "always";
	}
	return "?";
}

static void bench_log(void *ctx, int level, const char *msg)
{
	const char *name = ctx;
	if (level <= UWAL_LOG_WARN)
		fprintf(stderr, "uwal-bench: [%s] uwal %s: %s\n", name,
		        level == UWAL_LOG_ERROR ? "error" : "warning", msg);
}

void job_init(struct job *job)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->name, sizeof(job->name), "job");
	job->directory = "uwal-bench-data";
	job->numjobs = 1;
	job->value_size = 100;
	job->key_size = 8;
	job->per_call = 1;
	job->runtime_s = 1.0;
	uwal_config_init(&job->cfg);
	job->cfg.log_fn = bench_log;
	/* log_ctx is pointed at the job's name by run_job(). */
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

/* Put index into the first (up to) 8 bytes of key. */
static void fill_key(unsigned char *key, size_t key_size, uint64_t index)
{
	memcpy(key, &index, key_size < sizeof(index) ? key_size : sizeof(index));
}

/*
 * Watchdog: a benchmark must not hang silently if the engine does. The main
 * thread arms a deadline around each blocking phase (open, the write calls,
 * close); a helper thread checks it once a second and, if it passes, says
 * which job and phase stalled and ends the process with status 3 (the log
 * cannot be closed safely then).
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
			        "uwal-bench: [%s] %s has not finished %.0f s after it should have: "
			        "the engine looks hung; giving up\n",
			        watch_job, watch_phase, WATCHDOG_GRACE_S);
			fflush(stdout);
			_exit(3);
		}
		pthread_mutex_unlock(&watch_lock);
	}
	return NULL;
}

/* Arm the watchdog: phase must be over by t + WATCHDOG_GRACE_S; t = 0 disarms. */
static void watchdog_arm(const char *job, const char *phase, uint64_t t)
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

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct run *run = wk->run;
	const struct job *job = run->job;
	uint64_t records = 0, calls = 0, errors = 0, last_done = 0, first_error_t = 0;
	int first_error = 0;

	if (!gate_wait(run))
		return NULL;

	const bool timed = wk->quota == 0;
	const uint64_t win_start = run->win_start, win_end = run->win_end;
	const size_t ks = job->key_size, vs = job->value_size;
	uint64_t next = (uint64_t)wk->id * BENCH_INDEX_STRIDE + 1;
	uint64_t left = wk->quota;

	for (;;) {
		size_t n = job->per_call;
		if (!timed && left < n)
			n = (size_t)left;
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (ks)
				fill_key(wk->keys + i * ks, ks, next + i);
			wk->recs[i].index = next + i;
		}

		uint64_t t0 = now_ns();
		int rc;
		if (job->per_call == 1)
			rc = uwal_write(run->w, next, ks ? wk->keys : NULL, ks, wk->value, vs);
		else
			rc = uwal_write_batch(run->w, wk->recs, n, false);
		uint64_t t1 = now_ns();

		next += n;
		left -= timed ? 0 : n;
		last_done = t1;
		if (rc == 0) {
			if (t1 >= win_start && t1 <= win_end) {
				hist_record(wk->lat, t1 - t0);
				records += n;
				calls++;
			}
		} else {
			if (errors++ == 0) {
				first_error = rc;
				first_error_t = t1;
			}
		}
		if (timed && t1 >= win_end)
			break;
	}
	wk->records = records;
	wk->calls = calls;
	wk->errors = errors;
	wk->first_error = first_error;
	wk->first_error_t = first_error_t;
	wk->last_done = last_done;
	return NULL;
}

static void free_workers(struct worker *wks, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(wks[i].value);
		free(wks[i].keys);
		free(wks[i].recs);
		free(wks[i].lat);
	}
	free(wks);
}

/* Allocate and fill each worker's buffers. */
static struct worker *make_workers(const struct job *job, struct run *run)
{
	unsigned n = job->numjobs;
	struct worker *wks = calloc(n, sizeof(*wks));
	if (!wks)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		struct worker *wk = &wks[i];
		wk->run = run;
		wk->id = i;
		if (job->nrecords)
			wk->quota = job->nrecords / n + (i < job->nrecords % n ? 1 : 0);
		wk->value = malloc(job->value_size ? job->value_size : 1);
		wk->keys = calloc(job->per_call, job->key_size ? job->key_size : 1);
		wk->recs = calloc(job->per_call, sizeof(*wk->recs));
		wk->lat = malloc(sizeof(*wk->lat));
		if (!wk->value || !wk->keys || !wk->recs || !wk->lat) {
			free_workers(wks, n);
			return NULL;
		}
		/* Values differ between threads and are not all zeros or all one
		 * byte, in case anything below compresses or dedups. */
		for (size_t b = 0; b < job->value_size; b++)
			((unsigned char *)wk->value)[b] = (unsigned char)(i * 31 + b * 7 + 1);
		for (unsigned r = 0; r < job->per_call; r++) {
			wk->recs[r].key = job->key_size ? wk->keys + (size_t)r * job->key_size : NULL;
			wk->recs[r].key_len = job->key_size;
			wk->recs[r].value = job->value_size ? wk->value : NULL;
			wk->recs[r].value_len = job->value_size;
		}
		if (job->value_size == 0) {
			free(wk->value);
			wk->value = NULL;
		}
		hist_init(wk->lat);
	}
	return wks;
}

struct snapshot {
	uwal_stats st;
	struct rusage ru;
};

static void take_snapshot(uwal *w, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	uwal_stats_get(w, &s->st);
	getrusage(RUSAGE_SELF, &s->ru);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* res->stats and CPU figures = b - a. */
static void snapshot_delta(const struct snapshot *a, const struct snapshot *b,
                           struct job_result *res)
{
	uwal_stats *d = &res->stats;
	*d = b->st;
	d->records = b->st.records - a->st.records;
	d->batches = b->st.batches - a->st.batches;
	d->fsyncs = b->st.fsyncs - a->st.fsyncs;
	d->bytes = b->st.bytes - a->st.bytes;
	d->rotations = b->st.rotations - a->st.rotations;
	d->ring_enters = b->st.ring_enters - a->st.ring_enters;
	d->writer_wakeups = b->st.writer_wakeups - a->st.writer_wakeups;
	d->queue_full = b->st.queue_full - a->st.queue_full;
	d->prealloc_waits = b->st.prealloc_waits - a->st.prealloc_waits;
	d->deleted_segments = b->st.deleted_segments - a->st.deleted_segments;
	res->usr_s = tv_s(b->ru.ru_utime) - tv_s(a->ru.ru_utime);
	res->sys_s = tv_s(b->ru.ru_stime) - tv_s(a->ru.ru_stime);
	res->vcsw = b->ru.ru_nvcsw - a->ru.ru_nvcsw;
	res->ivcsw = b->ru.ru_nivcsw - a->ru.ru_nivcsw;
}

/* Start the threads, open the gate, measure, join. Returns 0 or -errno. */
static int drive(const struct job *job, struct run *run, struct worker *wks,
                 struct job_result *res)
{
	unsigned started = 0;
	int err = 0;
	for (; started < job->numjobs; started++) {
		err = pthread_create(&wks[started].tid, NULL, worker_main, &wks[started]);
		if (err)
			break;
	}

	struct snapshot a, b;
	pthread_mutex_lock(&run->lock);
	while (!err && run->ready < started)
		pthread_cond_wait(&run->cond, &run->lock);
	uint64_t t0 = now_ns();
	if (job->nrecords) {
		run->win_start = 0;
		run->win_end = UINT64_MAX;
	} else {
		run->win_start = t0 + (uint64_t)(job->ramp_s * 1e9);
		run->win_end = run->win_start + (uint64_t)(job->runtime_s * 1e9);
	}
	if (!err && job->nrecords)
		take_snapshot(run->w, &a);
	run->abort = err != 0;
	run->go = true;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);

	if (!err && !job->nrecords) {
		sleep_until(run->win_start);
		take_snapshot(run->w, &a);
		sleep_until(run->win_end);
		take_snapshot(run->w, &b);
		watchdog_arm(job->name, "a write call", run->win_end);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(wks[i].tid, NULL);
	watchdog_arm(job->name, "", 0);
	if (err)
		return -err;

	uint64_t end = run->win_end;
	if (job->nrecords) {
		take_snapshot(run->w, &b);
		end = t0;
		for (unsigned i = 0; i < started; i++)
			if (wks[i].last_done > end)
				end = wks[i].last_done;
		run->win_start = t0;
	}
	res->runtime_ns = end - run->win_start;
	snapshot_delta(&a, &b, res);
	return 0;
}

static void collect(const struct job *job, const struct worker *wks, struct job_result *res)
{
	uint64_t first_t = UINT64_MAX;
	for (unsigned i = 0; i < job->numjobs; i++) {
		const struct worker *wk = &wks[i];
		res->records += wk->records;
		res->calls += wk->calls;
		if (wk->errors && wk->first_error_t < first_t) {
			first_t = wk->first_error_t;
			res->first_error = wk->first_error;
		}
		res->errors += wk->errors;
		hist_merge(&res->lat, wk->lat);
	}
	double secs = (double)res->runtime_ns / 1e9;
	if (secs > 0) {
		res->records_per_s = (double)res->records / secs;
		res->calls_per_s = (double)res->calls / secs;
	}
}

static int run_job_in(const struct job *job, struct job_result *res)
{
	if (job->numjobs < 1 || job->numjobs > BENCH_MAX_THREADS || job->per_call < 1)
		return -EINVAL;

	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s/%s", job->directory, job->name) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int rc = remove_tree(dir);
	if (rc) {
		fprintf(stderr, "uwal-bench: cannot remove old %s: %s\n", dir, strerror(-rc));
		return rc;
	}

	uwal_config cfg = job->cfg;
	cfg.dir = dir;
	if (cfg.log_fn == bench_log)
		cfg.log_ctx = (void *)job->name;
	struct run run = { .job = job };
	watchdog_arm(job->name, "uwal_open", now_ns());
	rc = uwal_open(&cfg, &run.w);
	watchdog_arm(job->name, "", 0);
	if (rc) {
		remove_tree(dir);
		return rc;
	}
	res->ran = true;
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);

	struct worker *wks = make_workers(job, &run);
	if (!wks)
		rc = -ENOMEM;
	else
		rc = drive(job, &run, wks, res);
	if (rc == 0)
		collect(job, wks, res);
	if (wks)
		free_workers(wks, job->numjobs);

	watchdog_arm(job->name, "uwal_close", now_ns());
	res->close_error = uwal_close(run.w);
	watchdog_arm(job->name, "", 0);
	pthread_cond_destroy(&run.cond);
	pthread_mutex_destroy(&run.lock);
	int rm = remove_tree(dir);
	if (rm)
		fprintf(stderr, "uwal-bench: cannot remove %s: %s\n", dir, strerror(-rm));
	return rc;
}

int run_job(const struct job *job, struct job_result *res)
{
	memset(res, 0, sizeof(*res));
	hist_init(&res->lat);
	int rc = run_job_in(job, res);
	if (rc) {
		res->ran = false;
		res->setup_error = rc;
	}
	return rc;
}
