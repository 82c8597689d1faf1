/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fiocompat.c - fio's job files as they are: what uwal-bench does with
 * the fio options that are not its own.
 *
 * Every option goes through bench_set_option(), which sorts it into one of
 * four outcomes before options.c's table sees it:
 *
 *   mapped   fio's way of asking for durability becomes uwal's: sync=1
 *            (O_SYNC), sync=dsync, fsync=1 and fdatasync=1 (an fdatasync
 *            after every write) are uwal's sync=always, where every write
 *            call is written and fdatasynced on its own, never grouped with
 *            another: the same promise per write as fio's. The caller
 *            prints the mapping.
 *   ignored  fio options that do not apply to a log (ioengine, direct,
 *            filename, group_reporting, thread, stonewall, ...):
 *            accepted, with one warning each saying what uwal does
 *            instead. An option whose value is already true of uwal-bench
 *            (ioengine=uwal, direct=0) is accepted quietly.
 *   refused  fio options that would change what is measured and have no
 *            uwal equivalent: fsync=N / fdatasync=N for N > 1, rw= other
 *            than write, and every other option in fio's list
 *            (fio --cmdhelp, fio 3.33), each with a hint.
 *   set      anything else goes to job_set_option() (options.c): uwal-bench's
 *            own options, whose names are fio's where they mean the same
 *            (iodepth: submissions in flight per thread, uwal_submit when
 *            above 1).
 */
#include "bench.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fio options that do not apply, and what uwal does instead. quiet: the one
 * value that is already true of uwal-bench (NULL: none). */
static const struct {
	const char *name;
	const char *quiet;
	const char *instead;
} ignored[] = {
	{"ioengine", "uwal",
	 "uwal writes through its own io_uring ring: a linked write + fdatasync per durable "
	 "batch, pwrite(2) for unsynced ones (write_path=)"},
	{"iodepth_batch", NULL, "uwal's writer forms batches itself (max_batch_size=)"},
	{"iodepth_batch_complete_min", NULL,
	 "uwal's writer forms batches itself (max_batch_size=)"},
	{"iodepth_batch_complete_max", NULL,
	 "uwal's writer forms batches itself (max_batch_size=)"},
	{"iodepth_low", NULL, "uwal's writer forms batches itself (max_batch_size=)"},
	{"io_submit_mode", NULL, "uwal's writer thread submits every batch"},
	{"direct", "0",
	 "uwal writes through the page cache and makes records durable with fdatasync; it does "
	 "not use O_DIRECT"},
	{"buffered", "1",
	 "uwal writes through the page cache and makes records durable with fdatasync; it does "
	 "not use O_DIRECT"},
	{"filename", NULL,
	 "each job writes a fresh log (its segment files) in a subdirectory of directory=, "
	 "removed after the job"},
	{"filename_format", NULL, "uwal names its segment files itself (<prefix><number>)"},
	{"unique_filename", NULL, "uwal names its segment files itself (<prefix><number>)"},
	{"nrfiles", NULL, "a log is a directory of segment files; segment_size= sets their size"},
	{"openfiles", NULL, "uwal keeps the active segment open and opens others to read"},
	{"file_service_type", NULL, "uwal appends to one active segment at a time"},
	{"filesize", NULL, "a log is a directory of segment files; segment_size= sets their size"},
	{"lockfile", NULL, "uwal locks the log's directory itself (flock on <prefix>lock)"},
	{"fallocate", NULL,
	 "uwal preallocates every segment itself (prealloc=zero, the default, or "
	 "prealloc=fallocate)"},
	{"overwrite", NULL,
	 "uwal zero-fills each segment before it takes writes (prealloc=zero), as overwrite=1 "
	 "lays out a file"},
	{"create_on_open", NULL, "the log is created fresh for each job and removed afterwards"},
	{"create_serialize", NULL, "the log is created fresh for each job and removed afterwards"},
	{"create_fsync", NULL, "uwal fsyncs the directory after creating each segment"},
	{"unlink", NULL, "the log is created fresh for each job and removed afterwards"},
	{"unlink_each_loop", NULL, "the log is created fresh for each job and removed afterwards"},
	{"allow_file_create", NULL, "the log is created fresh for each job and removed afterwards"},
	{"invalidate", NULL, "uwal-bench only writes; nothing is read back from the cache"},
	{"pre_read", NULL, "uwal-bench only writes; nothing is read"},
	{"fadvise_hint", NULL, "uwal-bench only writes; nothing is read"},
	{"group_reporting", NULL,
	 "a job's numjobs threads are always reported together, as one group; each section is "
	 "its own group"},
	{"thread", NULL, "submitters are always threads of one process"},
	{"stonewall", NULL, "jobs always run one after another, each on a fresh log"},
	{"new_group", NULL, "jobs always run one after another, each on a fresh log"},
	{"wait_for", NULL, "jobs always run one after another, each on a fresh log"},
	{"end_fsync", NULL, "uwal_close() fdatasyncs the active segment at the end of every job"},
	{"fsync_on_close", NULL,
	 "uwal_close() fdatasyncs the active segment at the end of every job"},
	{"randrepeat", NULL, "records are appended in log order; nothing is random"},
	{"allrandrepeat", NULL, "records are appended in log order; nothing is random"},
	{"randseed", NULL, "records are appended in log order; nothing is random"},
	{"norandommap", NULL, "records are appended in log order; nothing is random"},
	{"refill_buffers", NULL,
	 "record values are written as uwal-bench fills them, uncompressed"},
	{"scramble_buffers", NULL,
	 "record values are written as uwal-bench fills them, uncompressed"},
	{"zero_buffers", NULL, "record values are written as uwal-bench fills them, uncompressed"},
	{"buffer_compress_percentage", NULL,
	 "record values are written as uwal-bench fills them, uncompressed"},
	{"buffer_compress_chunk", NULL,
	 "record values are written as uwal-bench fills them, uncompressed"},
	{"lat_percentiles", NULL,
	 "uwal-bench reports the whole call's latency (clat = lat, no slat) at percentile_list="},
	{"clat_percentiles", NULL,
	 "uwal-bench reports the whole call's latency (clat = lat, no slat) at percentile_list="},
	{"slat_percentiles", NULL,
	 "uwal-bench reports the whole call's latency (clat = lat, no slat) at percentile_list="},
	{"disable_lat", NULL, "uwal-bench always measures every call's latency"},
	{"disable_clat", NULL, "uwal-bench always measures every call's latency"},
	{"disable_slat", NULL, "uwal-bench always measures every call's latency"},
	{"disable_bw_measurement", NULL, "uwal-bench always samples IOPS and bandwidth"},
	{"gtod_reduce", NULL, "uwal-bench always measures every call's latency"},
	{"disk_util", NULL, "the block device's counters are reported whenever it is found"},
	{"write_bw_log", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"write_lat_log", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"write_iops_log", NULL,
	 "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"write_hist_log", NULL,
	 "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"log_avg_msec", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"log_hist_msec", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"per_job_logs", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"log_offset", NULL, "uwal-bench writes no per-I/O logs; json+ has the whole histogram"},
	{"significant_figures", NULL, "uwal-bench prints fio's default precision"},
	{"kb_base", NULL, "sizes are always base 1024 (4k = 4096), fio's default"},
	{"unit_base", NULL, "bandwidth is always reported in bytes, fio's default"},
};

/* Every option of fio 3.33 (fio --cmdhelp), for "a fio option that does
 * not apply" instead of "unknown option". */
static const char *const fio_names[] = {
	"allow_file_create",
	"allow_mounted_write",
	"allrandrepeat",
	"atomic",
	"ba",
	"block_error_percentiles",
	"bs",
	"bs_unaligned",
	"bsrange",
	"bssplit",
	"buffer_compress_chunk",
	"buffer_compress_percentage",
	"buffer_pattern",
	"buffered",
	"bwavgtime",
	"cgroup",
	"cgroup_nodelete",
	"cgroup_weight",
	"clat_percentiles",
	"clocksource",
	"continue_on_error",
	"cpumask",
	"cpus_allowed",
	"cpus_allowed_policy",
	"create_fsync",
	"create_on_open",
	"create_only",
	"create_serialize",
	"dedupe_global",
	"dedupe_mode",
	"dedupe_percentage",
	"dedupe_working_set_percentage",
	"description",
	"direct",
	"directory",
	"disable_bw_measurement",
	"disable_clat",
	"disable_lat",
	"disable_slat",
	"disk_util",
	"do_verify",
	"end_fsync",
	"error_dump",
	"exec_postrun",
	"exec_prerun",
	"exit_what",
	"exitall",
	"exitall_on_error",
	"experimental_verify",
	"fadvise_hint",
	"fallocate",
	"fdatasync",
	"file_append",
	"file_service_type",
	"filename",
	"filename_format",
	"filesize",
	"fill_device",
	"flow",
	"flow_id",
	"flow_sleep",
	"fsync",
	"fsync_on_close",
	"gid",
	"group_reporting",
	"gtod_cpu",
	"gtod_reduce",
	"ignore_error",
	"ignore_zone_limits",
	"invalidate",
	"io_size",
	"io_submit_mode",
	"iodepth",
	"iodepth_batch",
	"iodepth_batch_complete_max",
	"iodepth_batch_complete_min",
	"iodepth_low",
	"ioengine",
	"iopsavgtime",
	"ioscheduler",
	"job_max_open_zones",
	"kb_base",
	"lat_percentiles",
	"latency_percentile",
	"latency_run",
	"latency_target",
	"latency_window",
	"lockfile",
	"lockmem",
	"log_alternate_epoch",
	"log_alternate_epoch_clock_id",
	"log_avg_msec",
	"log_compression",
	"log_compression_cpus",
	"log_entries",
	"log_hist_coarseness",
	"log_hist_msec",
	"log_max_value",
	"log_offset",
	"log_prio",
	"log_store_compressed",
	"log_unix_epoch",
	"loops",
	"max_latency",
	"max_open_zones",
	"mem",
	"merge_blktrace_file",
	"merge_blktrace_iters",
	"merge_blktrace_scalars",
	"name",
	"new_group",
	"nice",
	"norandommap",
	"nrfiles",
	"numa_cpu_nodes",
	"numa_mem_policy",
	"number_ios",
	"numjobs",
	"offset",
	"offset_align",
	"offset_increment",
	"opendir",
	"openfiles",
	"overwrite",
	"per_job_logs",
	"percentage_random",
	"percentile_list",
	"pre_read",
	"prio",
	"prioclass",
	"profile",
	"ramp_time",
	"random_distribution",
	"random_generator",
	"randrepeat",
	"randseed",
	"rate",
	"rate_cycle",
	"rate_ignore_thinktime",
	"rate_iops",
	"rate_iops_min",
	"rate_min",
	"rate_process",
	"read_beyond_wp",
	"read_iolog",
	"read_iolog_chunked",
	"refill_buffers",
	"replay_align",
	"replay_no_stall",
	"replay_redirect",
	"replay_scale",
	"replay_skip",
	"replay_time_scale",
	"runtime",
	"rw",
	"rw_sequencer",
	"rwmixread",
	"rwmixwrite",
	"scramble_buffers",
	"serialize_overlap",
	"significant_figures",
	"size",
	"slat_percentiles",
	"startdelay",
	"stats",
	"steadystate",
	"steadystate_duration",
	"steadystate_ramp_time",
	"stonewall",
	"sync",
	"sync_file_range",
	"thinktime",
	"thinktime_blocks",
	"thinktime_blocks_type",
	"thinktime_iotime",
	"thinktime_spin",
	"thread",
	"time_based",
	"trim_backlog",
	"trim_backlog_batch",
	"trim_percentage",
	"trim_verify_zero",
	"uid",
	"unified_rw_reporting",
	"unique_filename",
	"unit_base",
	"unlink",
	"unlink_each_loop",
	"verify",
	"verify_async",
	"verify_backlog",
	"verify_backlog_batch",
	"verify_dump",
	"verify_fatal",
	"verify_interval",
	"verify_offset",
	"verify_only",
	"verify_pattern",
	"verify_state_load",
	"verify_state_save",
	"wait_for",
	"write_barrier",
	"write_bw_log",
	"write_hint",
	"write_hist_log",
	"write_iolog",
	"write_iops_log",
	"write_lat_log",
	"zero_buffers",
	"zone_reset_frequency",
	"zone_reset_threshold",
	"zonecapacity",
	"zonemode",
	"zonerange",
	"zonesize",
	"zoneskip",
	"readwrite",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* fio_sync(): the value is not fio's, let options.c read it. */
#define NOT_FIO 100

/* The ignored options that fio takes without a value. */
static const char *const fio_flags[] = {"group_reporting", "thread", "stonewall", "new_group",
					NULL};

/* Lower case, '-' -> '_' (as options.c reads names). */
static void normalise(const char *key, char *out, size_t len)
{
	size_t i = 0;
	for (; key[i] && i + 1 < len; i++)
		out[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
	out[i] = '\0';
}

static int ignored_at(const char *k)
{
	for (size_t i = 0; i < NELEM(ignored); i++)
		if (!strcmp(k, ignored[i].name))
			return (int)i;
	return -1;
}

static bool is_fio_name(const char *k)
{
	for (size_t i = 0; i < NELEM(fio_names); i++)
		if (!strcmp(k, fio_names[i]))
			return true;
	return false;
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcasecmp(v, *set))
			return true;
	return false;
}

static int refuse(struct opt_note *n, const char *hint, const char *fmt, const char *a,
		  const char *b)
{
	snprintf(n->text, sizeof(n->text), fmt, a, b);
	snprintf(n->hint, sizeof(n->hint), "%s", hint);
	return BENCH_OPT_ERROR;
}

/* Apply key=value as uwal's option ukey=uvalue, and say so. */
static int map_to(struct job *job, const char *key, const char *value, const char *ukey,
		  const char *uvalue, const char *why, struct opt_note *n)
{
	char err[512];
	if (job_set_option(job, ukey, uvalue, err, sizeof(err)))
		return refuse(n, "", "%s%s", err, ""); /* not reached with the table's values */
	snprintf(n->text, sizeof(n->text), "%s=%s -> %s=%s: %s", key, value, ukey, uvalue, why);
	snprintf(n->key, sizeof(n->key), "%s", ukey);
	snprintf(n->value, sizeof(n->value), "%s", uvalue);
	return BENCH_OPT_MAPPED;
}

static const char *const yes[] = {"1", "true", "yes", "on", NULL};
static const char *const no[] = {"0", "false", "no", "off", NULL};

/* fio's sync=: none|0, sync|1 (O_SYNC), dsync (O_DSYNC). uwal's own values
 * (none, batch, always, per-write) go on to options.c. */
static int fio_sync(struct job *job, const char *key, const char *v, struct opt_note *n)
{
	if (one_of(v, yes) || !strcasecmp(v, "sync") || !strcasecmp(v, "dsync"))
		return map_to(job, key, v, "sync", "always",
			      "fio's synchronous writes (each durable on its own before the next): "
			      "uwal writes and fdatasyncs every call on its own, never grouped",
			      n);
	if (one_of(v, no))
		return map_to(job, key, v, "sync", "none",
			      "fio's buffered writes: uwal acknowledges each record once it is in "
			      "the page cache",
			      n);
	return NOT_FIO; /* uwal's own value: options.c decides */
}

/* fio's fsync=N / fdatasync=N: a sync after every N writes. */
static int fio_fsync(struct job *job, const char *key, const char *v, struct opt_note *n)
{
	char *end;
	unsigned long long x = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
	if (!isdigit((unsigned char)*v) || *end)
		return refuse(n, "fio counts writes: fsync=1 is a sync after every write",
			      "bad value '%s' for option '%s': expected a number of writes", v,
			      key);
	if (x == 0) {
		snprintf(n->text, sizeof(n->text),
			 "%s=0 ignored: fio's default, no sync; uwal's sync= decides (sync=none "
			 "unless set)",
			 key);
		return BENCH_OPT_IGNORED;
	}
	if (x == 1)
		return map_to(job, key, v, "sync", "always",
			      strcmp(key, "fsync")
				      ? "fio's fdatasync after every write: uwal writes and "
					"fdatasyncs every call on its own, never grouped"
				      : "fio's fsync after every write: uwal writes and fdatasyncs "
					"every call on its own, never grouped (its segments are "
					"preallocated, so fdatasync is all a record needs)",
			      n);
	snprintf(n->text, sizeof(n->text),
		 "%s=%s is not supported: uwal has no sync after every %s writes", key, v, v);
	snprintf(n->hint, sizeof(n->hint),
		 "for %s records per fdatasync use records_per_call=%s with sync=always (one "
		 "uwal_write_batch of %s records, one fdatasync); for uwal's group commit, "
		 "sync=batch",
		 v, v, v);
	return BENCH_OPT_ERROR;
}

static int fio_rw(const char *key, const char *v, struct opt_note *n)
{
	if (strcasecmp(v, "write"))
		return refuse(n,
			      "use rw=write or leave it out: uwal-bench only appends records, and "
			      "reads are not benchmarked",
			      "rw=%s is not supported%s: a log only appends, in log order", v, "");
	snprintf(n->text, sizeof(n->text),
		 "%s=write accepted: uwal-bench only appends records, in log order (fio's "
		 "sequential write)",
		 key);
	return BENCH_OPT_IGNORED;
}

int bench_set_option(struct job *job, const char *key, const char *value, struct opt_note *note)
{
	struct opt_note scratch;
	struct opt_note *n = note ? note : &scratch;
	memset(n, 0, sizeof(*n));
	char k[64];
	normalise(key, k, sizeof(k));

	if (value && !strcmp(k, "sync")) {
		int rc = fio_sync(job, k, value, n);
		if (rc != NOT_FIO)
			return rc;
	}
	if (!strcmp(k, "fsync") || !strcmp(k, "fdatasync")) {
		if (!value)
			return refuse(n, "fsync=1 asks for a sync after every write",
				      "option '%s' needs a value (%s=N)", k, k);
		return fio_fsync(job, k, value, n);
	}
	if (!strcmp(k, "rw") || !strcmp(k, "readwrite")) {
		if (!value)
			return refuse(n, "write rw=write or leave it out",
				      "option '%s' needs a value (%s=write)", k, k);
		return fio_rw(k, value, n);
	}
	int i = ignored_at(k);
	if (i >= 0) {
		if (ignored[i].quiet && value && !strcasecmp(value, ignored[i].quiet))
			return BENCH_OPT_IGNORED;
		if (value)
			snprintf(n->text, sizeof(n->text), "%s=%s ignored: %s", k, value,
				 ignored[i].instead);
		else
			snprintf(n->text, sizeof(n->text), "%s ignored: %s", k, ignored[i].instead);
		return BENCH_OPT_IGNORED;
	}
	if (!job_option_known(k) && is_fio_name(k))
		return refuse(n,
			      "remove it: uwal-bench --cmdhelp lists the options that apply to a "
			      "log",
			      "fio option '%s' does not apply to a log: uwal-bench has no "
			      "equivalent%s",
			      k, "");

	char err[512];
	if (job_set_option(job, key, value, err, sizeof(err)) == 0)
		return BENCH_OPT_SET;
	snprintf(n->text, sizeof(n->text), "%s", err);
	if (!job_option_known(k)) {
		const char *near = job_option_nearest(k);
		snprintf(n->text, sizeof(n->text), "unknown option '%s'", key);
		if (near)
			snprintf(n->hint, sizeof(n->hint),
				 "did you mean '%s'? (uwal-bench --cmdhelp lists every option)",
				 near);
		else
			snprintf(n->hint, sizeof(n->hint),
				 "uwal-bench --cmdhelp lists every option");
	} else if (!value) {
		snprintf(n->hint, sizeof(n->hint), "write %s=VALUE", job_option_name(k));
	} else {
		snprintf(n->hint, sizeof(n->hint), "uwal-bench --cmdhelp says what '%s' takes",
			 job_option_name(k));
	}
	return BENCH_OPT_ERROR;
}

bool bench_option_known(const char *key)
{
	char k[64];
	normalise(key, k, sizeof(k));
	return job_option_known(k) || is_fio_name(k) || ignored_at(k) >= 0;
}

bool bench_option_is_flag(const char *key)
{
	char k[64];
	normalise(key, k, sizeof(k));
	return job_option_is_flag(k) || one_of(k, fio_flags);
}

void fio_options_help(FILE *f)
{
	fprintf(f, "\nfio options accepted with a warning (what uwal does instead):\n");
	for (size_t i = 0; i < NELEM(ignored); i++)
		fprintf(f, "  %-30s %s\n", ignored[i].name, ignored[i].instead);
	fprintf(f, "  %-30s %s\n", "rw", "write only (uwal-bench only appends)");
	fprintf(f, "\nfio options mapped to uwal's:\n");
	fprintf(f, "  %-30s %s\n", "sync=1, sync=sync, sync=dsync", "sync=always");
	fprintf(f, "  %-30s %s\n", "sync=0", "sync=none");
	fprintf(f, "  %-30s %s\n", "fsync=1, fdatasync=1", "sync=always");
	fprintf(f, "  %-30s %s\n", "fsync=N, fdatasync=N (N > 1)",
		"refused: records_per_call=N with sync=always is N records per fdatasync");
	fprintf(f, "Every other fio option is refused: it has no equivalent in a log.\n");
}
