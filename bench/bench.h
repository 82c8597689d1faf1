/*
 * bench.h - the pieces of uwal-bench and what they share.
 *
 *   main.c      options, the list of jobs of a run, the exit status
 *   workload.c  runs one job: fresh log, submitter threads, measurement
 *   report.c    prints results as tables
 *   fio.c       runs fio for the raw device figure and reads its JSON
 *   json.c      a minimal JSON reader (a number at a path)
 *   hist.c      the latency histogram (hist.h)
 *
 * A job describes one run of the workload; run_job() turns it into a
 * job_result. Jobs are plain data so that a job file parser or another
 * output format can produce or consume them without touching the runner.
 */
#ifndef UWAL_BENCH_H
#define UWAL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "uwal.h"

/* Thread t writes indexes t * BENCH_INDEX_STRIDE + 1, + 2, ... */
#define BENCH_INDEX_STRIDE (UINT64_C(1) << 40)
#define BENCH_MAX_THREADS 1024

/* One run of the workload. */
struct job {
	char name[64];          /* label, e.g. "sync-t16"; also names the job's
	                           subdirectory */
	const char *directory;  /* parent directory; the job uses a fresh
	                           subdirectory of it and removes it afterwards */
	unsigned numjobs;       /* submitter threads, 1..BENCH_MAX_THREADS */
	size_t value_size;      /* bytes of each record's value */
	size_t key_size;        /* bytes of each key; the first (up to) 8 bytes
	                           hold the record's index */
	unsigned per_call;      /* records per call: 1 = uwal_write,
	                           > 1 = uwal_write_batch */
	double runtime_s;       /* measured window of a time-based job */
	double ramp_s;          /* warm-up before the window, not measured */
	uint64_t nrecords;      /* > 0: write this many records in all (split
	                           across threads) instead of running for a time */
	uwal_config cfg;        /* every uwal knob, sync_mode included; cfg.dir
	                           is set by run_job() */
};

/* What one job measured. */
struct job_result {
	bool ran;               /* false if the job could not be set up */
	int setup_error;        /* why not: uwal_open()'s error or -errno */
	int close_error;        /* uwal_close()'s error, or 0 */
	uint64_t records;       /* records of successful calls in the window */
	uint64_t calls;         /* successful calls in the window */
	uint64_t errors;        /* failed calls, ramp and window alike */
	int first_error;        /* the first failed call's return value */
	uint64_t runtime_ns;    /* length of the measured window */
	double records_per_s;
	double calls_per_s;
	struct hist lat;        /* latency of each successful call, ns */
	uwal_stats stats;       /* counters gained during the window (records,
	                           batches, fsyncs, bytes, ring_enters, ...);
	                           segments, ring_* and uring as at its end */
	double usr_s, sys_s;    /* CPU time of the whole process in the window */
	long vcsw, ivcsw;       /* voluntary / involuntary context switches */
};

/* A job with uwal's defaults and the benchmark's (100-byte values, 8-byte
 * keys, one thread, one record per call, 1 s). */
void job_init(struct job *job);

/*
 * Run one job: open a fresh log in directory/name, start job->numjobs
 * threads together, measure, close the log and remove its directory.
 * Fills *res. Returns 0, or a negative error if the job could not be set up
 * (also in res->setup_error). Errors of individual
 * calls do not fail run_job(): they are counted in res.
 */
int run_job(const struct job *job, struct job_result *res);

/* Remove path and everything under it; 0 if it does not exist. -errno. */
int remove_tree(const char *path);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* The name of a sync mode as the options spell it. */
const char *sync_mode_name(enum uwal_sync_mode m);

/* ---- report.c --------------------------------------------------------- */

void report_header(const char *directory, size_t value_size, size_t key_size);
void report_table_head(void);
void report_row(const struct job *job, const struct job_result *res);
void report_details(const struct job *jobs, const struct job_result *res, size_t n);

/* ---- fio.c ------------------------------------------------------------ */

struct fio_result {
	double iops;            /* jobs[0].write.iops */
	double sync_p50_ns;     /* jobs[0].sync.lat_ns.percentile["50.000000"] */
	double sync_p99_ns;     /* ... ["99.000000"] */
};

/* Whether an executable "fio" is on PATH. */
bool fio_available(void);

/*
 * Run fio's raw 128-byte write + fdatasync job in a fresh subdirectory of
 * directory for runtime_s seconds and read its JSON. Returns 0 or -1 (after
 * printing why on stderr).
 */
int fio_run_raw(const char *directory, unsigned runtime_s, struct fio_result *out);

/* Print the fio figures beside uwal's single durable writer (sync1 may be
 * NULL if that job was not run). */
void report_fio(const struct fio_result *fio, unsigned runtime_s,
                const struct job_result *sync1);

/* ---- json.c ----------------------------------------------------------- */

/*
 * Find the number at path in the JSON text. path is a NULL-terminated list
 * of steps: an object member's name, or an array position written in
 * decimal (the container's type decides how a step is read). Returns 0 and
 * sets *out, or -1 if the text is not valid JSON up to there, the path does
 * not exist or the value is not a number.
 */
int json_find_number(const char *text, const char *const *path, double *out);

#endif /* UWAL_BENCH_H */
