/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.c - every option a uwal-bench job takes, in one table, and the
 * parsers of their values.
 *
 * Names follow fio wherever a fio option means the same thing (name,
 * directory, numjobs, bs, size, number_ios, runtime, time_based,
 * ramp_time, rate_iops, rate_process, cpus_allowed, cpus_allowed_policy,
 * percentile_list, description), so that a storage engineer's job files
 * read the same. uwal's own knobs keep the names of uwal_config's fields.
 * fio's options that are not uwal-bench's own (rw, ioengine, iodepth,
 * fsync, ...) are read by fiocompat.c before this table: mapped, accepted
 * with a warning or refused, never silently ignored.
 *
 * Sizes take fio's suffixes with 1024 as the base (4k = 4KiB = 4096);
 * times take s, ms, us, m (minutes), h; a bare number is in the option's
 * unit (seconds for runtime and ramp_time, microseconds for uwal's *_us
 * knobs).
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/io_uring.h>

const double bench_default_percentiles[17] = {1,  5,  10, 20, 30,   40,   50,    60,   70,
					      80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99};

#define DEFAULT_RUNTIME_S 2.0

const char *bench_sync_name(enum bench_sync s)
{
	switch (s) {
	case BENCH_SYNC_NONE:
		return "none";
	case BENCH_SYNC_BATCH:
		return "batch";
	case BENCH_SYNC_ALWAYS:
		return "always";
	case BENCH_SYNC_PER_WRITE:
		return "per-write";
	}
	return "?";
}

bool bench_sync_durable(enum bench_sync s)
{
	return s != BENCH_SYNC_NONE;
}

static void bench_log(void *ctx, int level, const char *msg)
{
	const char *name = ctx;
	if (level <= UWAL_LOG_WARN)
		fprintf(stderr, "uwal-bench: [%s] uwal %s: %s\n", name ? name : "?",
			level == UWAL_LOG_ERROR ? "error" : "warning", msg);
}

void job_init(struct job *job, const char *directory)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->name, sizeof(job->name), "job");
	snprintf(job->directory, sizeof(job->directory), "%s", directory ? directory : ".");
	job->numjobs = 1;
	job->bs = 100;
	job->key_size = 8;
	job->records_per_call = 1;
	job->iodepth = 1;
	job->sync = BENCH_SYNC_NONE;
	memcpy(job->percentiles, bench_default_percentiles, sizeof(bench_default_percentiles));
	job->npercentiles = 17;
	uwal_config_init(&job->cfg);
	job->cfg.log_fn = bench_log;
	/* log_ctx is pointed at the job's name by run_job(). */
}

bool job_is_timed(const struct job *job)
{
	return job->time_based || (job->size == 0 && job->number_ios == 0);
}

uint64_t job_calls_per_thread(const struct job *job)
{
	if (job->number_ios)
		return job->number_ios;
	uint64_t per_call = (uint64_t)job->bs * job->records_per_call;
	if (job->size == 0 || per_call == 0)
		return 0;
	uint64_t n = job->size / per_call;
	return n ? n : 1;
}

double job_runtime(const struct job *job)
{
	return job->runtime_s > 0 ? job->runtime_s : DEFAULT_RUNTIME_S;
}

/* ---- value parsers ------------------------------------------------------ */

static bool suffix_is(const char *s, const char *const *names)
{
	for (; *names; names++)
		if (strcasecmp(s, *names) == 0)
			return true;
	return false;
}

int parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (end == s || errno)
		return -1;
	unsigned shift = 0;
	if (*end) {
		static const char units[] = "kmgtp";
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			return -1;
		shift = 10u * (unsigned)(u - units + 1);
		end++;
		/* k, kb, kib (fio: KiB and kB are both 1024 by default) */
		if (tolower((unsigned char)*end) == 'i')
			end++;
		if (tolower((unsigned char)*end) == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_time_ns(const char *s, uint64_t unit_ns, uint64_t *out)
{
	static const char *const ns[] = {"ns", "nsec", NULL};
	static const char *const us[] = {"us", "usec", NULL};
	static const char *const ms[] = {"ms", "msec", NULL};
	static const char *const sec[] = {"s", "sec", NULL};
	static const char *const min[] = {"m", "min", NULL};
	static const char *const hour[] = {"h", "hour", NULL};
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -1;
	double unit = (double)unit_ns;
	if (*end) {
		if (suffix_is(end, ns))
			unit = 1;
		else if (suffix_is(end, us))
			unit = 1e3;
		else if (suffix_is(end, ms))
			unit = 1e6;
		else if (suffix_is(end, sec))
			unit = 1e9;
		else if (suffix_is(end, min))
			unit = 60e9;
		else if (suffix_is(end, hour))
			unit = 3600e9;
		else
			return -1;
	}
	double t = v * unit;
	if (t > 1e18)
		return -1;
	*out = (uint64_t)llround(t);
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on", NULL};
	static const char *const no[] = {"0", "false", "no", "off", NULL};
	if (!s) {
		*out = true; /* a bare flag, as fio's "time_based" */
		return 0;
	}
	if (suffix_is(s, yes))
		*out = true;
	else if (suffix_is(s, no))
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_cpu_no(const char *s, char **end, unsigned *out)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, end, 10);
	if (errno || v >= CPU_SETSIZE)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int parse_cpus(const char *s, cpu_set_t *out)
{
	CPU_ZERO(out);
	if (!s || !*s)
		return -1;
	while (*s) {
		char *end;
		unsigned lo, hi;
		if (parse_cpu_no(s, &end, &lo))
			return -1;
		hi = lo;
		if (*end == '-' && parse_cpu_no(end + 1, &end, &hi))
			return -1;
		if (hi < lo)
			return -1;
		for (unsigned c = lo; c <= hi; c++)
			CPU_SET(c, out);
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return CPU_COUNT(out) ? 0 : -1;
}

int parse_percentiles(const char *s, double *out, unsigned *n)
{
	unsigned k = 0;
	if (!s || !*s)
		return -1;
	while (*s) {
		char *end;
		errno = 0;
		double v = strtod(s, &end);
		if (end == s || errno || !(v > 0 && v <= 100) || k == BENCH_MAX_PERCENTILES)
			return -1;
		out[k++] = v;
		if (*end == ':' && end[1])
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	*n = k;
	return 0;
}

/* ---- the option table ---------------------------------------------------- */

enum opt_type {
	OT_STR,    /* char array at off, of size max */
	OT_U32,    /* unsigned / uint32_t at off, decimal, in [min, max] */
	OT_U64,    /* uint64_t at off, decimal */
	OT_SIZE,   /* size suffixes; size_t or uint64_t (width) */
	OT_SECS,   /* time into a double of seconds; bare number = seconds */
	OT_USEC,   /* time into a uint32_t of microseconds; bare = us */
	OT_BOOL,   /* bool at off */
	OT_CUSTOM, /* parse() */
};

struct opt_def {
	const char *name;
	const char *alias; /* another accepted spelling, or NULL */
	enum opt_type type;
	size_t off;
	unsigned width; /* OT_SIZE: sizeof the field */
	uint64_t min, max;
	int (*parse)(struct job *job, const char *v);
	const char *help;
};

static int set_sync(struct job *job, const char *v)
{
	if (!strcmp(v, "none") || !strcmp(v, "nosync"))
		job->sync = BENCH_SYNC_NONE;
	else if (!strcmp(v, "batch") || !strcmp(v, "sync"))
		job->sync = BENCH_SYNC_BATCH;
	else if (!strcmp(v, "always"))
		job->sync = BENCH_SYNC_ALWAYS;
	else if (!strcmp(v, "per-write") || !strcmp(v, "per_write"))
		job->sync = BENCH_SYNC_PER_WRITE;
	else
		return -1;
	return 0;
}

static int set_rate_process(struct job *job, const char *v)
{
	if (!strcmp(v, "linear"))
		job->rate_poisson = false;
	else if (!strcmp(v, "poisson"))
		job->rate_poisson = true;
	else
		return -1;
	return 0;
}

static int set_cpus(struct job *job, const char *v)
{
	if (parse_cpus(v, &job->cpus))
		return -1;
	job->cpus_set = true;
	return 0;
}

static int set_cpus_policy(struct job *job, const char *v)
{
	if (!strcmp(v, "shared"))
		job->cpus_split = false;
	else if (!strcmp(v, "split"))
		job->cpus_split = true;
	else
		return -1;
	return 0;
}

static int set_percentiles(struct job *job, const char *v)
{
	return parse_percentiles(v, job->percentiles, &job->npercentiles);
}

static int set_prealloc(struct job *job, const char *v)
{
	if (!strcmp(v, "zero"))
		job->cfg.prealloc = UWAL_PREALLOC_ZERO;
	else if (!strcmp(v, "fallocate"))
		job->cfg.prealloc = UWAL_PREALLOC_FALLOCATE;
	else if (!strcmp(v, "auto"))
		job->cfg.prealloc = UWAL_PREALLOC_AUTO;
	else
		return -1;
	return 0;
}

static int set_write_path(struct job *job, const char *v)
{
	if (!strcmp(v, "pwrite"))
		job->cfg.write_path = UWAL_WRITE_PWRITE;
	else if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
		job->cfg.write_path = UWAL_WRITE_URING;
	else
		return -1;
	return 0;
}

static int set_durable_write(struct job *job, const char *v)
{
	if (!strcmp(v, "linked"))
		job->cfg.durable_write = UWAL_DURABLE_LINKED;
	else if (!strcmp(v, "dsync"))
		job->cfg.durable_write = UWAL_DURABLE_DSYNC;
	else
		return -1;
	return 0;
}

/* "sqpoll", "sqpoll,coop_taskrun", "0x2", "0" */
static int set_ring_flags(struct job *job, const char *v)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} names[] = {
		{"iopoll", IORING_SETUP_IOPOLL},
		{"sqpoll", IORING_SETUP_SQPOLL},
		{"sq_aff", IORING_SETUP_SQ_AFF},
		{"submit_all", IORING_SETUP_SUBMIT_ALL},
		{"coop_taskrun", IORING_SETUP_COOP_TASKRUN},
		{"taskrun_flag", IORING_SETUP_TASKRUN_FLAG},
		{"single_issuer", IORING_SETUP_SINGLE_ISSUER},
		{"defer_taskrun", IORING_SETUP_DEFER_TASKRUN},
	};
	uint32_t flags = 0;
	char buf[224];
	if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf) || !*buf)
		return -1;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",|+", &save); tok; tok = strtok_r(NULL, ",|+", &save)) {
		if (isdigit((unsigned char)*tok)) {
			char *end;
			errno = 0;
			unsigned long x = strtoul(tok, &end, 0);
			if (*end || errno || x > UINT32_MAX)
				return -1;
			flags |= (uint32_t)x;
			continue;
		}
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcasecmp(tok, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		flags |= names[i].flag;
	}
	job->cfg.ring_flags = flags;
	return 0;
}

static int set_engine(struct job *job, const char *v)
{
	for (int e = 0; e < BENCH_ENGINE_COUNT; e++) {
		if (!strcmp(v, bench_engine_name((enum bench_engine)e))) {
			job->engine = (enum bench_engine)e;
			return 0;
		}
	}
	return -1;
}

#define J(f) offsetof(struct job, f)
#define C(f) offsetof(struct job, cfg.f)
#define SZ(f) sizeof(((struct job *)0)->f)

static const struct opt_def opts[] = {
	{"name", NULL, OT_STR, J(name), 0, 1, SZ(name) - 1, NULL,
	 "job name; a job file's section name sets it"},
	{"description", NULL, OT_STR, J(description), 0, 0, SZ(description) - 1, NULL,
	 "text printed with the job's results"},
	{"directory", NULL, OT_STR, J(directory), 0, 1, SZ(directory) - 1, NULL,
	 "parent directory of the job's log (a fresh subdirectory per job)"},
	{"numjobs", "threads", OT_U32, J(numjobs), 0, 1, BENCH_MAX_THREADS, NULL,
	 "submitter threads, each with one write call in flight"},
	{"bs", "value_size", OT_SIZE, J(bs), SZ(bs), 0, 64u << 20, NULL,
	 "bytes of each record's value (default 100)"},
	{"key_size", NULL, OT_SIZE, J(key_size), SZ(key_size), 0, 1u << 20, NULL,
	 "bytes of each record's key; its first 8 hold the index (default 8)"},
	{"records_per_call", "batch", OT_U32, J(records_per_call), 0, 1, 65536, NULL,
	 "records per write call: 1 = uwal_write, more = uwal_write_batch"},
	{"iodepth", NULL, OT_U32, J(iodepth), 0, 1, 65536, NULL,
	 "submissions in flight per thread: 1 (default) = one blocking call at a time; more "
	 "(engine=uwal) = uwal_submit of records_per_call records, completions taken with "
	 "uwal_reap"},
	{"sync", "mode", OT_CUSTOM, 0, 0, 0, 0, set_sync,
	 "none | batch (group commit) | always (fdatasync per call) | per-write "
	 "(sync=none + uwal_write_sync(..., true))"},
	{"size", NULL, OT_SIZE, J(size), SZ(size), 1, UINT64_MAX, NULL,
	 "value bytes each thread writes (size / (bs * records_per_call) calls)"},
	{"number_ios", NULL, OT_U64, J(number_ios), 0, 1, UINT64_MAX, NULL,
	 "write calls per thread (wins over size)"},
	{"runtime", NULL, OT_SECS, J(runtime_s), 0, 0, 86400, NULL,
	 "measured time (default 2s when no size or number_ios is given)"},
	{"time_based", NULL, OT_BOOL, J(time_based), 0, 0, 1, NULL,
	 "run for runtime even when size or number_ios is set"},
	{"ramp_time", NULL, OT_SECS, J(ramp_s), 0, 0, 3600, NULL,
	 "warm-up before the measured window (writes, not measured)"},
	{"rate_iops", NULL, OT_U64, J(rate_iops), 0, 0, 100000000, NULL,
	 "open loop: calls per second per thread at scheduled times; latency is "
	 "measured from the scheduled time"},
	{"rate_process", NULL, OT_CUSTOM, 0, 0, 0, 0, set_rate_process,
	 "linear (evenly spaced arrivals) | poisson (exponential gaps)"},
	{"cpus_allowed", NULL, OT_CUSTOM, 0, 0, 0, 0, set_cpus,
	 "CPUs the submitter threads may run on, e.g. 0-1,3"},
	{"cpus_allowed_policy", NULL, OT_CUSTOM, 0, 0, 0, 0, set_cpus_policy,
	 "shared (every thread gets the whole set) | split (one CPU each, round robin)"},
	{"engine", NULL, OT_CUSTOM, 0, 0, 0, 0, set_engine,
	 "uwal (default) | leveldb | rocksdb (their C APIs; sync=none: sync=false, "
	 "batch/always/per-write: sync=true) | raw-pwrite (one thread: pwrite of one record's "
	 "frame + fdatasync) | raw-group (one thread: records_per_call frames per pwrite + "
	 "fdatasync)"},
	{"contention", NULL, OT_BOOL, J(contention), 0, 0, 1, NULL,
	 "1: a busy process (a spin loop) keeps one CPU busy for the job's duration"},
	{"percentile_list", NULL, OT_CUSTOM, 0, 0, 0, 0, set_percentiles,
	 "latency percentiles to report, e.g. 50:99:99.9 (default fio's 17)"},
	/* uwal's knobs */
	{"segment_size", NULL, OT_SIZE, C(segment_size), sizeof(uint64_t), 64u << 10,
	 (UINT64_C(4) << 30) - 1, NULL, "bytes preallocated per segment (default 64m)"},
	{"segment_threshold", NULL, OT_U64, C(segment_threshold), 0, 0, UINT64_MAX, NULL,
	 "records per segment before rotation; 0 = no limit"},
	{"max_segments", NULL, OT_U32, C(max_segments), 0, 0, UINT32_MAX, NULL,
	 "keep at most N segments (deletes the oldest); 0 = keep all"},
	{"max_batch_size", NULL, OT_U32, C(max_batch_size), 0, 1, 65536, NULL,
	 "records per batch (default 1024)"},
	{"max_batch_delay", "max_batch_delay_us", OT_USEC, C(max_batch_delay_us), 0, 0, 1000000,
	 NULL, "wait up to this long for a batch to fill; 0 = adaptive"},
	{"queue_capacity", NULL, OT_U32, C(queue_capacity), 0, 2, 1048576, NULL,
	 "slots per per-CPU submission queue (default 1024)"},
	{"ring_entries", NULL, OT_U32, C(ring_entries), 0, 8, 4096, NULL,
	 "io_uring SQ size (default 64)"},
	{"ring_flags", NULL, OT_CUSTOM, 0, 0, 0, 0, set_ring_flags,
	 "extra IORING_SETUP_* flags: sqpoll, iopoll, coop_taskrun, ... or a number"},
	{"prealloc", NULL, OT_CUSTOM, 0, 0, 0, 0, set_prealloc,
	 "auto (default: zero when every write is durable, fallocate with sync=none) | zero "
	 "(fallocate + zero-fill) | fallocate"},
	{"write_path", NULL, OT_CUSTOM, 0, 0, 0, 0, set_write_path,
	 "pwrite (default) | uring: how unsynced batches are written"},
	{"wait_nap", "wait_nap_pct", OT_U32, C(wait_nap_pct), 0, 0, 100, NULL,
	 "percent of the recent write + fdatasync time at which a durable waiter wakes "
	 "from a nap to spin (default 0: no nap)"},
	{"durable_write", NULL, OT_CUSTOM, 0, 0, 0, 0, set_durable_write,
	 "dsync (default: one RWF_DSYNC write, linked after unsynced writes) | linked (a write "
	 "and a linked fdatasync): how durable batches are written"},
	{"writer_spin", "writer_spin_us", OT_USEC, C(writer_spin_us), 0, 0, 10000000, NULL,
	 "how long the idle writer polls before it sleeps (default 50us)"},
	{"wait_spin", "wait_spin_us", OT_USEC, C(wait_spin_us), 0, 0, 10000000, NULL,
	 "how long a waiting submitter yields before it sleeps (default 200us)"},
	{"ring_poll", "ring_poll_us", OT_USEC, C(ring_poll_us), 0, 0, 1000000, NULL,
	 "while more blocking durable writers wait than there are CPUs, the writer polls for "
	 "its batch's completion up to N us before it sleeps (default 300us, 0: never)"},
	{"async_window", NULL, OT_U32, C(async_window), 0, 1, 1u << 20, NULL,
	 "uwal_submit submissions accepted and not reaped (default 1024; raised to "
	 "numjobs x iodepth when that is more)"},
	{"writeback", "writeback_kib", OT_U32, C(writeback_kib), 0, 0, 4u << 20, NULL,
	 "KiB of unsynced writes after which the writer starts their writeback (default "
	 "8192; 0 = never)"},
	{"rejoin", "rejoin_us", OT_USEC, C(rejoin_us), 0, 0, 10000, NULL,
	 "how long the writer waits, after a durable batch, for its woken writers to write "
	 "again (default 100us; 0 = never)"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Lower case, '-' -> '_'. */
static void normalise(const char *key, char *out, size_t len)
{
	size_t i = 0;
	for (; key[i] && i + 1 < len; i++)
		out[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
	out[i] = '\0';
}

static const struct opt_def *find_opt(const char *key)
{
	char k[64];
	normalise(key, k, sizeof(k));
	for (size_t i = 0; i < NOPTS; i++)
		if (!strcmp(k, opts[i].name) || (opts[i].alias && !strcmp(k, opts[i].alias)))
			return &opts[i];
	return NULL;
}

bool job_option_known(const char *key)
{
	return find_opt(key) != NULL;
}

bool job_option_is_flag(const char *key)
{
	const struct opt_def *o = find_opt(key);
	return o && o->type == OT_BOOL;
}

const char *job_option_name(const char *key)
{
	const struct opt_def *o = find_opt(key);
	return o ? o->name : key;
}

/* Edit distance of a and b, at most 63 characters each counted. */
static unsigned distance(const char *a, const char *b)
{
	unsigned row[64], la = (unsigned)strnlen(a, 63), lb = (unsigned)strnlen(b, 63);
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned sub = diag + (a[i - 1] != b[j - 1]);
			unsigned best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			diag = up;
		}
	}
	return row[lb];
}

const char *job_option_nearest(const char *key)
{
	char k[64];
	normalise(key, k, sizeof(k));
	const char *best = NULL;
	unsigned best_d = 3; /* suggest only within two edits */
	for (size_t i = 0; i < NOPTS; i++) {
		unsigned d = distance(k, opts[i].name);
		if (d < best_d) {
			best_d = d;
			best = opts[i].name;
		}
	}
	return best;
}

static void expect(const struct opt_def *o, char *err, size_t errlen, const char *value)
{
	char what[160];
	switch (o->type) {
	case OT_STR:
		snprintf(what, sizeof(what), "text of %llu to %llu bytes",
			 (unsigned long long)o->min, (unsigned long long)o->max);
		break;
	case OT_U32:
	case OT_U64:
		snprintf(what, sizeof(what), "an integer from %llu to %llu",
			 (unsigned long long)o->min, (unsigned long long)o->max);
		break;
	case OT_SIZE:
		snprintf(what, sizeof(what), "a size like 4k or 64m, from %llu to %llu bytes",
			 (unsigned long long)o->min, (unsigned long long)o->max);
		break;
	case OT_SECS:
		snprintf(what, sizeof(what), "a time like 5s, 500ms or 1m (at most %llu s)",
			 (unsigned long long)o->max);
		break;
	case OT_USEC:
		snprintf(what, sizeof(what), "a time like 100us or 2ms (at most %llu us)",
			 (unsigned long long)o->max);
		break;
	case OT_BOOL:
		snprintf(what, sizeof(what), "0 or 1");
		break;
	case OT_CUSTOM:
		snprintf(what, sizeof(what), "%s", o->help);
		break;
	}
	snprintf(err, errlen, "bad value '%s' for option '%s': expected %s", value ? value : "",
		 o->name, what);
}

static int set_typed(struct job *job, const struct opt_def *o, const char *v)
{
	char *base = (char *)job;
	uint64_t x;
	bool b;
	switch (o->type) {
	case OT_STR:
		if (!v || strlen(v) < o->min || strlen(v) > o->max)
			return -1;
		memcpy(base + o->off, v, strlen(v) + 1);
		return 0;
	case OT_U32:
	case OT_U64: {
		if (!v || !isdigit((unsigned char)*v))
			return -1;
		char *end;
		errno = 0;
		unsigned long long u = strtoull(v, &end, 10);
		if (*end || errno || u < o->min || u > o->max)
			return -1;
		if (o->type == OT_U32)
			*(uint32_t *)(void *)(base + o->off) = (uint32_t)u;
		else
			*(uint64_t *)(void *)(base + o->off) = (uint64_t)u;
		return 0;
	}
	case OT_SIZE:
		if (parse_size(v, &x) || x < o->min || x > o->max)
			return -1;
		if (o->width == sizeof(uint64_t))
			*(uint64_t *)(void *)(base + o->off) = x;
		else
			*(size_t *)(void *)(base + o->off) = (size_t)x;
		return 0;
	case OT_SECS:
		if (parse_time_ns(v, 1000000000u, &x) || x > o->max * 1000000000u)
			return -1;
		*(double *)(void *)(base + o->off) = (double)x / 1e9;
		return 0;
	case OT_USEC:
		if (parse_time_ns(v, 1000u, &x) || x / 1000u > o->max || x % 1000u)
			return -1;
		*(uint32_t *)(void *)(base + o->off) = (uint32_t)(x / 1000u);
		return 0;
	case OT_BOOL:
		if (parse_bool(v, &b))
			return -1;
		*(bool *)(void *)(base + o->off) = b;
		return 0;
	case OT_CUSTOM:
		return v ? o->parse(job, v) : o->parse(job, "1");
	}
	return -1;
}

void optlist_set(struct optlist *l, const char *key, const char *value)
{
	unsigned i;
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			break;
	if (i == l->n) {
		if (l->n == BENCH_MAX_OPTS)
			return;
		l->n++;
	}
	snprintf(l->v[i].key, sizeof(l->v[i].key), "%s", key);
	snprintf(l->v[i].value, sizeof(l->v[i].value), "%s", value ? value : "1");
}

int job_set_option(struct job *job, const char *key, const char *value, char *err, size_t errlen)
{
	const struct opt_def *o = find_opt(key);
	if (!o) {
		snprintf(err, errlen, "unknown option '%s' (uwal-bench --cmdhelp lists them)", key);
		return -1;
	}
	if (!value && o->type != OT_BOOL) {
		snprintf(err, errlen, "option '%s' needs a value (%s=...)", o->name, o->name);
		return -1;
	}
	if (set_typed(job, o, value)) {
		expect(o, err, errlen, value);
		return -1;
	}
	optlist_set(&job->opts, o->name, value);
	return 0;
}

int job_check(const struct job *job, char *err, size_t errlen)
{
	if (job->size && !job->number_ios && (uint64_t)job->bs * job->records_per_call == 0) {
		snprintf(err, errlen, "size needs bs > 0 (or give number_ios)");
		return -1;
	}
	bool raw = job->engine == BENCH_ENGINE_RAW_PWRITE || job->engine == BENCH_ENGINE_RAW_GROUP;
	if (raw && job->numjobs != 1) {
		snprintf(err, errlen, "engine=%s is one thread: numjobs must be 1 (got %u)",
			 bench_engine_name(job->engine), job->numjobs);
		return -1;
	}
	if (job->iodepth > 1 && job->engine != BENCH_ENGINE_UWAL) {
		snprintf(err, errlen,
			 "iodepth=%u needs engine=uwal (uwal_submit); engine=%s makes one blocking "
			 "call at a time: iodepth must be 1",
			 job->iodepth, bench_engine_name(job->engine));
		return -1;
	}
	if (job->iodepth > 1 && job->rate_iops) {
		snprintf(err, errlen,
			 "rate_iops with iodepth=%u is not supported: the open loop issues one "
			 "blocking call at a time (iodepth=1)",
			 job->iodepth);
		return -1;
	}
	if (job->engine == BENCH_ENGINE_RAW_PWRITE && job->records_per_call != 1) {
		snprintf(err, errlen,
			 "engine=raw-pwrite writes one record per call: records_per_call must be "
			 "1 (got %u; engine=raw-group writes several)",
			 job->records_per_call);
		return -1;
	}
	return 0;
}

void job_options_help(FILE *f)
{
	fprintf(f, "Job options (job files: key=value; command line: --key=value):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64];
		if (opts[i].alias)
			snprintf(name, sizeof(name), "%s (%s)", opts[i].name, opts[i].alias);
		else
			snprintf(name, sizeof(name), "%s", opts[i].name);
		fprintf(f, "  %-30s %s\n", name, opts[i].help);
	}
}
