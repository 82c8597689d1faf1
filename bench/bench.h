/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench.h - the pieces of uwal-bench, the fio-style benchmark, and what
 * they share.
 *
 *   options.c   every job option (fio's names where fio means the same),
 *               value parsers (sizes, times, CPU lists), job defaults
 *   jobfile.c   fio-style INI job files: [global] plus one section per job
 *   fiocompat.c fio's options that are not uwal-bench's: mapped, accepted
 *               with a warning, or refused with a hint
 *   workload.c  runs one job: fresh log, submitter threads, measurement
 *   engine.c    what a job writes through: the engine table and uwal
 *   raw.c       the raw loops: pwrite (+ fdatasync) with no library
 *   peers/      LevelDB and RocksDB through their C APIs (built only when
 *               the libraries are found)
 *   contention.c the busy process of contention=1
 *   monitor.c   the main thread during a job: window edges, IOPS samples,
 *               the progress line on stderr, the stall watchdog
 *   sysio.c     CPU, context switches, /proc/stat steal, /proc/self/io and
 *               /sys/dev/block/M:m/stat snapshots; a job's cost per record
 *   report.c    fio's human layout (--output-format=normal)
 *   terse.c     fio's terse layout (--output-format=terse)
 *   jsonw.c     a small streaming JSON writer
 *   jsonout.c   fio's JSON layout (--output-format=json / json+)
 *   json.c      a minimal JSON reader (a number at a path; for fio's output)
 *   fio.c       runs fio's raw-device jobs and reads their JSON
 *   compare.c   the side by side: every job against the raw loops, uwal
 *               against its peers, and fio's raw figures
 *   hist.c      the latency histogram (hist.h)
 *   main.c      the command line, the embedded default job, the run
 *
 * A job is plain data (struct job); run_job() turns it into a job_result,
 * and the reporters only read results. Everything but main.c is also
 * compiled into the bench's unit tests (tests/test_bench_*.c).
 */
#ifndef UWAL_BENCH_H
#define UWAL_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "hist.h"
#include "uwal.h"

#define BENCH_VERSION "uwal-bench-0.1.0"

/* Thread t writes indexes t * BENCH_INDEX_STRIDE + 1, + 2, ... */
#define BENCH_INDEX_STRIDE (UINT64_C(1) << 40)
#define BENCH_MAX_THREADS 1024
#define BENCH_MAX_PERCENTILES 32
#define BENCH_MAX_OPTS 64

/* Durability of one write call (option sync=). */
enum bench_sync {
	BENCH_SYNC_NONE = 0,  /* UWAL_SYNC_NONE */
	BENCH_SYNC_BATCH,     /* UWAL_SYNC_BATCH: group commit */
	BENCH_SYNC_ALWAYS,    /* UWAL_SYNC_ALWAYS: one fdatasync per call */
	BENCH_SYNC_PER_WRITE, /* UWAL_SYNC_NONE + uwal_write_sync(..., true) */
};

/* What a job writes through (option engine=). */
enum bench_engine {
	BENCH_ENGINE_UWAL = 0,
	BENCH_ENGINE_LEVELDB,    /* leveldb/c.h: Put or WriteBatch */
	BENCH_ENGINE_ROCKSDB,    /* rocksdb/c.h: Put or WriteBatch */
	BENCH_ENGINE_RAW_PWRITE, /* one thread: pwrite of one frame (+ fdatasync) */
	BENCH_ENGINE_RAW_GROUP,  /* one thread: pwrite of records_per_call frames */
	BENCH_ENGINE_COUNT,
};

/* One option as it was given (for "job options" in the JSON output). */
struct job_opt {
	char key[32];
	char value[224];
};

struct optlist {
	struct job_opt v[BENCH_MAX_OPTS];
	unsigned n;
};

/* One job: what one section of a job file describes. */
struct job {
	char name[64];
	char description[160];
	char directory[1024];      /* parent directory; the job uses a fresh
				      subdirectory named after the job and removes
				      it afterwards */
	unsigned numjobs;          /* submitter threads */
	size_t bs;                 /* bytes of each record's value */
	size_t key_size;           /* bytes of each key; the first (up to) 8 hold
				      the record's index */
	unsigned records_per_call; /* 1 = uwal_write, > 1 = uwal_write_batch */
	unsigned iodepth;          /* submissions in flight per thread: 1 = blocking
				      calls, > 1 = uwal_submit + uwal_reap
				      (engine=uwal only) */
	enum bench_sync sync;
	enum bench_engine engine;
	bool contention;     /* a busy process beside the job (contention.c) */
	uint64_t size;       /* value bytes per thread; 0 = not set */
	uint64_t number_ios; /* write calls per thread; 0 = not set */
	double runtime_s;    /* 0 = not set */
	bool time_based;
	double ramp_s;
	uint64_t rate_iops; /* calls per second per thread; 0 = closed loop */
	bool rate_poisson;  /* rate_process=poisson (else linear) */
	bool cpus_set;      /* cpus_allowed given */
	bool cpus_split;    /* cpus_allowed_policy=split */
	cpu_set_t cpus;
	double percentiles[BENCH_MAX_PERCENTILES];
	unsigned npercentiles;
	uwal_config cfg;     /* every uwal knob; sync_mode and dir are set
				by run_job() from sync and directory */
	struct optlist opts; /* options as given, later ones replacing */
};

/* ---- options.c -------------------------------------------------------- */

/* A job with the benchmark's defaults (100-byte values, 8-byte keys, one
 * thread, one record per call, sync=none) and uwal's own defaults. */
void job_init(struct job *job, const char *directory);

/*
 * Set one option by name (fio's spelling; '-' and '_' are the same, and
 * a few aliases are known). value may be NULL for a flag ("time_based").
 * Returns 0, or -1 with a message in err (no file or line: the caller
 * knows those), e.g. "unknown option 'foo'".
 */
int job_set_option(struct job *job, const char *key, const char *value, char *err, size_t errlen);

/* Whether key names a job option (after normalising). */
bool job_option_known(const char *key);
/* Whether the option may be given without a value ("time_based"). */
bool job_option_is_flag(const char *key);
/* The option's canonical name (key itself if unknown). */
const char *job_option_name(const char *key);
/* The option name closest to an unknown key (a typo), or NULL. */
const char *job_option_nearest(const char *key);

/* Set key=value in l, replacing an earlier value of key (value NULL = "1"). */
void optlist_set(struct optlist *l, const char *key, const char *value);

/* Check a whole job once all its options are set (e.g. size needs bs).
 * Returns 0 or -1 with a message in err. */
int job_check(const struct job *job, char *err, size_t errlen);

/* The measured window: time based (true) or a number of calls. */
bool job_is_timed(const struct job *job);
/* Calls per thread of a count-based job (from number_ios or size). */
uint64_t job_calls_per_thread(const struct job *job);
/* Effective runtime in seconds (the default when not set). */
double job_runtime(const struct job *job);

/* Print every option with its help (--cmdhelp). */
void job_options_help(FILE *f);

const char *bench_sync_name(enum bench_sync s);
const char *bench_engine_name(enum bench_engine e);
bool bench_sync_durable(enum bench_sync s);

/* Value parsers, shared with the program options. Each returns 0 or -1. */
/* 4k = 4 KiB = 4096; k, m, g, t, p with optional "i" and "b" (any case). */
int parse_size(const char *s, uint64_t *out);
/* A time; a bare number is in units of unit_ns. Suffixes ns, us, ms, s, m
 * (minutes), h; also usec, msec, sec, min. Fractions allowed ("0.5s"). */
int parse_time_ns(const char *s, uint64_t unit_ns, uint64_t *out);
int parse_bool(const char *s, bool *out);
/* "0-3,5": CPUs 0..CPU_SETSIZE-1. */
int parse_cpus(const char *s, cpu_set_t *out);
/* "1:50:99.9": up to BENCH_MAX_PERCENTILES values in (0, 100]. */
int parse_percentiles(const char *s, double *out, unsigned *n);

/* fio's default percentile list: 1, 5, 10, ..., 99.99. */
extern const double bench_default_percentiles[17];

/* ---- fiocompat.c: fio's options that are not uwal-bench's own --------- */

enum bench_opt_result {
	BENCH_OPT_ERROR = -1,  /* refused: note->text says why, note->hint how to fix it */
	BENCH_OPT_SET = 0,     /* a uwal-bench option, set */
	BENCH_OPT_MAPPED = 1,  /* a fio option turned into uwal's note->key=note->value */
	BENCH_OPT_IGNORED = 2, /* a fio option that does not apply; note->text says what
				  uwal does instead (empty when the value is already true of
				  uwal-bench, e.g. iodepth=1) */
};

struct opt_note {
	char text[512];
	char hint[320];
	char key[32], value[224]; /* BENCH_OPT_MAPPED: the uwal option set */
};

/*
 * Set one option of a fio job file or command line: fio's durability
 * options are mapped to uwal's sync= (sync=1, fsync=1, fdatasync=1 ->
 * sync=always), fio options that do not apply are accepted with a note,
 * fio options that would change what is measured are refused with a hint,
 * and everything else goes to job_set_option(). note may be NULL.
 * Returns an enum bench_opt_result.
 */
int bench_set_option(struct job *job, const char *key, const char *value, struct opt_note *note);
/* Whether key is an option bench_set_option() knows (uwal-bench's or fio's). */
bool bench_option_known(const char *key);
/* Whether it may be given without a value. */
bool bench_option_is_flag(const char *key);
/* The fio options and what becomes of them (--cmdhelp, after job_options_help). */
void fio_options_help(FILE *f);

/* ---- jobfile.c -------------------------------------------------------- */

/* What parsing job files found: errors, warnings (fio options that do not
 * apply) and notes (fio options mapped to uwal's). */
enum jobmsg_kind { JOBMSG_ERROR, JOBMSG_WARNING, JOBMSG_NOTE };

struct jobmsg {
	enum jobmsg_kind kind;
	char file[256];
	unsigned line; /* 0: about the whole file */
	char text[512];
	char hint[320]; /* errors: how to fix it */
};

struct jobmsgs {
	struct jobmsg *v;
	size_t n, cap;
	size_t errors; /* errors found, also those that could not be stored */
};

void jobmsgs_free(struct jobmsgs *m);
void jobmsgs_add(struct jobmsgs *m, enum jobmsg_kind kind, const char *file, unsigned line,
		 const char *text, const char *hint);
/* "file:line: text" (errors), "file:line: warning: text", "file:line: note:
 * text", then "  hint: ..." on a line of its own when there is one. */
void jobmsg_format(const struct jobmsg *m, char *buf, size_t len);
/* Every message, each line led by prefix (e.g. "uwal-bench: "). */
void jobmsgs_print(FILE *f, const struct jobmsgs *m, const char *prefix);

/* A growable list of jobs. */
struct joblist {
	struct job *v;
	size_t n, cap;
};

void joblist_free(struct joblist *l);
/* Append a copy of job; returns the copy or NULL (out of memory). */
struct job *joblist_add(struct joblist *l, const struct job *job);

/*
 * Parse a fio-style job file held in text. fname is used in messages.
 * [global] sections set defaults for the sections that follow them; every
 * other section is one job, named after the section. Lines are
 * "key=value", "key" (a flag), comments start with ';' or '#'.
 * Options go through bench_set_option(), so fio's own job files load.
 * base holds the defaults the file starts from; the file's jobs are
 * appended to out, the options of its [global] sections to globals (may
 * be NULL). Every error, warning and note, each with its line, is appended
 * to msgs: parsing goes on after an error so that all are reported at once.
 * Returns 0, or -1 if there was any error (then no job of the file is
 * added).
 */
int jobfile_parse_text(const char *text, const char *fname, const struct job *base,
		       struct joblist *out, struct optlist *globals, struct jobmsgs *msgs);

/* The same for a file on disk. */
int jobfile_parse_file(const char *path, const struct job *base, struct joblist *out,
		       struct optlist *globals, struct jobmsgs *msgs);

/* ---- sysio.c ---------------------------------------------------------- */

/* /sys/block/<dev>/stat fields we use (sectors are 512 bytes). */
struct devstat {
	uint64_t rd_ios, rd_merges, rd_sectors, rd_ticks;
	uint64_t wr_ios, wr_merges, wr_sectors, wr_ticks;
	uint64_t in_flight, io_ticks, time_in_queue;
	uint64_t flush_ios, flush_ticks; /* 0 on kernels without them */
	bool has_flush;
};

/* The block device under a directory, if there is one. */
struct devinfo {
	bool ok;
	char name[64];  /* e.g. "vda" */
	char path[128]; /* e.g. "/sys/dev/block/254:0/stat" */
	char why[128];  /* when !ok: why there is none */
};

struct sysio {
	struct rusage ru; /* RUSAGE_SELF */
	bool proc_ok;
	uint64_t proc_write_bytes; /* /proc/self/io write_bytes */
	bool dev_ok;
	struct devstat dev;
	bool stat_ok;
	uint64_t steal_ticks; /* /proc/stat "cpu" line, all CPUs, USER_HZ */
	uint64_t t_ns;
};

void devinfo_find(const char *dir, struct devinfo *out);
int devstat_read(const char *path, struct devstat *out);
void sysio_take(const struct devinfo *dev, struct sysio *out);

/* ---- engine.c, raw.c, peers/: what a job writes through ---------------- */

/*
 * One engine. workload.c calls open once, then thread_open on each
 * submitter thread, write for every call, thread_close, and close. Every
 * function returns 0 or a negative error (-errno, or uwal's own codes);
 * open says in what (e.g. "leveldb_open: <the library's message>") which
 * step failed. write gets the call's records (key, value) and whether the
 * job asked for sync=per-write. thread_open/thread_close may be NULL.
 */
struct engine_ops {
	const char *name;
	int (*open)(const struct job *job, const char *dir, void **db, char *what, size_t len);
	int (*thread_open)(void *db, void **tls);
	void (*thread_close)(void *db, void *tls);
	int (*write)(void *db, void *tls, const uwal_record *recs, size_t n, bool force);
	int (*close)(void *db);
};

/* The engine's operations, or NULL when it was not built; then why says
 * which package to install. */
const struct engine_ops *engine_get(enum bench_engine e, char *why, size_t len);
/* Whether the engine was built into this binary. */
bool engine_built(enum bench_engine e);
/* The Debian package an engine needs ("" for those always built). */
const char *engine_package(enum bench_engine e);

/* The raw loops' bytes per record: key + value + this (the frame header
 * and msgpack framing uwal adds: 132 bytes for 8 + 100). */
#define BENCH_RAW_RECORD_OVERHEAD 24

extern const struct engine_ops bench_uwal_ops, bench_raw_ops;
#ifdef UWAL_BENCH_HAVE_LEVELDB
extern const struct engine_ops bench_leveldb_ops;
#endif
#ifdef UWAL_BENCH_HAVE_ROCKSDB
extern const struct engine_ops bench_rocksdb_ops;
#endif

/* ---- contention.c ------------------------------------------------------ */

/* Fork a process that keeps one CPU busy until contention_stop(). Returns
 * its pid, or -errno. */
int contention_start(void);
/* Kill and reap it; pid <= 0 does nothing. */
void contention_stop(int pid);

/* ---- workload.c ------------------------------------------------------- */

/* What one job measured. */
struct job_result {
	bool ran;             /* false if the job could not be set up */
	int setup_error;      /* why not: uwal_open()'s error or -errno */
	char setup_what[256]; /* what failed, e.g. "uwal_open" */
	int close_error;      /* uwal_close()'s error, or 0 */
	time_t start_time;
	uint64_t records;    /* records of successful calls in the window */
	uint64_t calls;      /* successful calls in the window */
	uint64_t errors;     /* failed calls, ramp and window alike */
	int first_error;     /* the first failed call's return value */
	uint64_t runtime_ns; /* length of the measured window */
	uint64_t elapsed_ns; /* whole job: open to close */
	double records_per_s;
	double calls_per_s;
	struct hist lat;       /* per successful call: completion minus issue,
				  or minus the scheduled time when rate_iops */
	struct hist svc;       /* rate_iops only: completion minus actual issue */
	uint64_t late_calls;   /* rate_iops only: issued a whole interval or
				  more after their scheduled time */
	struct devinfo dev;    /* the block device under the job's directory */
	uwal_stats stats;      /* counters gained during the window (records,
				  batches, fsyncs, bytes, ring_enters, ...);
				  segments, ring_* and uring as at its end */
	struct sysio io0, io1; /* at the window's edges */
	/* IOPS sampled every BENCH_SAMPLE_MS inside the window */
	uint64_t iops_samples;
	double iops_min, iops_max, iops_mean, iops_stddev;
};

#define BENCH_SAMPLE_MS 500

/* What the window cost the system, per record (sysio.c). CPU and context
 * switches are the whole process's (getrusage(RUSAGE_SELF): every thread,
 * the engine's own and io_uring's workers, not the contention process);
 * steal is the whole machine's, summed over CPUs. */
struct job_cost {
	double cpu_s; /* user + system */
	double cpu_us_per_record;
	uint64_t nvcsw, nivcsw; /* voluntary, involuntary context switches */
	double ctx_per_record;
	bool steal_ok;
	double steal_ms;  /* CPU time the hypervisor gave to others */
	double steal_pct; /* steal_ms in % of the window's wall time */
};

void job_cost(const struct job_result *res, struct job_cost *out);

/* What run_job() needs beyond the job: the progress line. */
struct run_ctx {
	bool progress;        /* draw the progress line on stderr */
	size_t job_no, njobs; /* this job's position, for the line */
	double later_s;       /* expected seconds of the jobs after it */
};

/*
 * Run one job: open a fresh store (the job's engine) in directory/name,
 * start numjobs threads together, measure, close it and remove its
 * directory; with contention=1, beside a busy process. Fills *res.
 * Returns 0, or a negative error if the job could not be set up (also in
 * res->setup_error). Errors of individual calls do not fail run_job():
 * they are counted in res.
 */
int run_job(const struct job *job, const struct run_ctx *ctx, struct job_result *res);

/* Remove path and everything under it; 0 if it does not exist. -errno. */
int remove_tree(const char *path);
/* mkdir -p. -errno. */
int make_dirs(const char *path);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
void sleep_until(uint64_t t);

/* The job's subdirectory: directory/name with unsafe characters replaced. */
int job_dir(const struct job *job, char *buf, size_t len);

/* ---- monitor.c -------------------------------------------------------- */

/* Counters a worker publishes for the main thread, one cache line each. */
struct worker_pub {
	_Alignas(64) uint64_t ok_calls; /* successful calls so far (any time) */
	uint64_t all_calls;             /* every call returned so far */
	uint64_t finished;              /* 1 once the thread has left its loop */
};

/*
 * The main thread's loop while a job's threads run: snapshot at the
 * window's edges, sample IOPS, draw the progress line, re-arm the stall
 * watchdog on progress. Returns when every thread has finished.
 * *snap0 is taken at win_start, *snap1 at win_end if the window ends on
 * time (*took1 says whether it was).
 */
struct monitor_args {
	const struct job *job;
	const struct run_ctx *ctx;
	const struct devinfo *dev;
	uwal *w; /* NULL unless engine=uwal */
	struct worker_pub *const *pubs;
	unsigned nthreads;
	uint64_t t0, win_start, win_end; /* win_end UINT64_MAX: count based */
	uint64_t total_calls;            /* count based: calls in all */
};

struct monitor_out {
	uwal_stats st0, st1;
	struct sysio io0, io1;
	bool took1;
	uint64_t samples;
	double smin, smax, ssum, ssq;
};

void monitor_run(const struct monitor_args *a, struct monitor_out *out);

/* The watchdog (workload.c): ends the process with status 3 if phase has
 * not finished WATCHDOG_GRACE_S seconds after t; t = 0 disarms. */
void watchdog_arm(const char *job, const char *phase, uint64_t t);

/* ---- report.c: --output-format=normal ---------------------------------- */

/* fio's one-line description of each job, before the run. */
void report_job_line(FILE *f, const struct job *job, size_t groupid);
void report_job(FILE *f, const struct job *job, const struct job_result *res, size_t groupid);
/* The one-line summary: engine, records/s, p50, p99.9, max, cost. */
void report_summary(FILE *f, const struct job *job, const struct job_result *res);
/* fio's closing "Disk stats" over the whole run. */
void report_disk(FILE *f, const struct devinfo *dev, const struct devstat *a,
		 const struct devstat *b, uint64_t elapsed_ns);

/* fio's number formatting: "2907", "79.4k", "363KiB". base 1000 or 1024. */
void fmt_num(char *buf, size_t len, double v, unsigned base, const char *unit);
/* A duration: "850ns", "12.3us", "180us", "15.2ms", "1.20s". */
void fmt_ns(char *buf, size_t len, double ns);

/* The p-th percentile (0 < p <= 100) of a uwal_stats.sync_hist, as the top
 * of its bucket (never below the true value, at most ~19% above); 0 when
 * empty. */
uint64_t sync_hist_percentile(const uwal_stats *st, double p);
/* Number of timed chains in the histogram. */
uint64_t sync_hist_count(const uwal_stats *st);

/* ---- terse.c: --output-format=terse ------------------------------------- */

/* fio's terse version 3 line for one job: 121 ';'-separated fields, 130 when
 * the job's block device is known, one more when it has a description. */
#define TERSE_VERSION 3
#define TERSE_FIELDS 121
#define TERSE_DISK_FIELDS 9
void terse_write(FILE *f, const struct job *job, const struct job_result *res, size_t groupid);

/* ---- jsonw.c: a streaming JSON writer ----------------------------------- */

#define JSONW_MAX_DEPTH 32

struct jsonw {
	FILE *f;
	int depth;
	bool first[JSONW_MAX_DEPTH]; /* no member written yet at that depth */
};

void jw_init(struct jsonw *w, FILE *f);
/* key is NULL inside arrays and for the document itself. */
void jw_object(struct jsonw *w, const char *key);
void jw_array(struct jsonw *w, const char *key);
void jw_end_object(struct jsonw *w);
void jw_end_array(struct jsonw *w);
void jw_string(struct jsonw *w, const char *key, const char *v);
void jw_u64(struct jsonw *w, const char *key, uint64_t v);
void jw_i64(struct jsonw *w, const char *key, int64_t v);
/* %f like fio; NaN and infinities are written as 0. */
void jw_double(struct jsonw *w, const char *key, double v);
void jw_bool(struct jsonw *w, const char *key, bool v);
/* Finish the document (newline). */
void jw_finish(struct jsonw *w);

/* ---- fio.c and compare.c ------------------------------------------------ */

/* One fio raw-device run and what we read from its JSON. */
struct fio_result {
	char name[32];
	uint64_t bs;         /* bytes per write */
	unsigned records;    /* uwal records one write stands for */
	double iops;         /* jobs[0].write.iops: write + fdatasync pairs/s */
	double clat_p50_ns;  /* jobs[0].write.clat_ns.percentile["50.000000"] */
	double sync_mean_ns; /* jobs[0].sync.lat_ns.mean */
	double sync_p50_ns, sync_p99_ns;
	double sync_p999_ns;       /* 0 when fio's list lacks 99.9 */
	double iops_min, iops_max; /* over fio's 500 ms samples */
	double runtime_s;
	bool ok;
	char cmd[1024]; /* the fio command line, for the report */
};

/* Whether an executable "fio" is on PATH. */
bool fio_available(void);
/* fio's version string ("fio-3.33"), or "fio". */
void fio_version(char *buf, size_t len);

/*
 * Run fio in a fresh subdirectory of directory: rw=write, bs, fdatasync=1,
 * ioengine=io_uring, iodepth=1, overwrite=1 (the file is written once
 * before the run, as uwal zero-fills its segments), time based. Returns 0
 * or -1 (after printing why on stderr).
 */
int fio_run_raw(const char *directory, const char *name, uint64_t bs, unsigned records,
		double runtime_s, double ramp_s, struct fio_result *out);

/* The side by side: every job against the raw loops and uwal against its
 * peers (from the results alone), and fio's raw figures when fio ran. */
struct compare {
	bool ran;      /* fio ran */
	char why[160]; /* when !ran: why fio did not */
	char fio_version[32];
	char directory[1024];
	uint64_t record_bytes;    /* bytes per uwal record, as fio's bs */
	char record_source[128];  /* where record_bytes came from */
	struct fio_result fio[2]; /* one record per write; batch_records */
	unsigned batch_records;
};

/* Run the fio side for these results (record size from the first durable
 * uwal job that ran). The table needs no fio: without it, it says why. */
void compare_run(const struct job *jobs, const struct job_result *res, size_t n,
		 unsigned batch_records, bool run_fio, double runtime_s, double ramp_s,
		 struct compare *out);
void compare_print(FILE *f, const struct compare *c, const struct job *jobs,
		   const struct job_result *res, size_t n);
void compare_json(struct jsonw *w, const struct compare *c, const struct job *jobs,
		  const struct job_result *res, size_t n);

/* ---- jsonout.c --------------------------------------------------------- */

struct json_doc {
	const struct job *jobs;
	const struct job_result *res;
	size_t n;
	const struct optlist *globals;
	bool plus;                         /* json+: histogram bins */
	const struct devinfo *dev;         /* for disk_util, may be NULL */
	const struct devstat *dev0, *dev1; /* whole run */
	uint64_t elapsed_ns;
	const struct compare *cmp; /* NULL: no side by side */
};

void json_write(FILE *f, const struct json_doc *d);

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
