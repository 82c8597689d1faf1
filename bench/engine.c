/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.c - the engines a job can write through, and uwal's.
 *
 * engine=uwal (default) is the library under test; raw-pwrite and
 * raw-group (raw.c) are what the disk does with no library at all; leveldb
 * and rocksdb (peers/) are the alternatives a user would pick instead. All
 * run the same workload through struct engine_ops, so workload.c measures
 * them the same way. The peers are compiled in only when CMake found their
 * libraries; asking for one that was not says which package to install.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const enum uwal_sync_mode uwal_mode[] = {
	[BENCH_SYNC_NONE] = UWAL_SYNC_NONE,
	[BENCH_SYNC_BATCH] = UWAL_SYNC_BATCH,
	[BENCH_SYNC_ALWAYS] = UWAL_SYNC_ALWAYS,
	[BENCH_SYNC_PER_WRITE] = UWAL_SYNC_NONE,
};

/* db is the uwal handle itself: workload.c reads uwal_stats from it. */
static int uwal_eng_open(const struct job *job, const char *dir, void **db, char *what, size_t len)
{
	uwal_config cfg = job->cfg;
	cfg.dir = dir;
	cfg.sync_mode = uwal_mode[job->sync];
	cfg.log_ctx = (void *)job->name;
	/* iodepth > 1: room for every thread's submissions in flight */
	uint64_t inflight = (uint64_t)job->numjobs * job->iodepth;
	if (job->iodepth > 1 && cfg.async_window < inflight)
		cfg.async_window = inflight > (1u << 20) ? 1u << 20 : (uint32_t)inflight;
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	if (rc) {
		snprintf(what, len, "uwal_open");
		return rc;
	}
	*db = w;
	return 0;
}

static int uwal_eng_write(void *db, void *tls, const uwal_record *recs, size_t n, bool force)
{
	(void)tls;
	if (n == 1)
		return uwal_write_sync(db, recs[0].index, recs[0].key, recs[0].key_len,
				       recs[0].value, recs[0].value_len, force);
	return uwal_write_batch(db, recs, n, force);
}

static int uwal_eng_close(void *db)
{
	return uwal_close(db);
}

const struct engine_ops bench_uwal_ops = {
	.name = "uwal",
	.open = uwal_eng_open,
	.write = uwal_eng_write,
	.close = uwal_eng_close,
};

const char *bench_engine_name(enum bench_engine e)
{
	switch (e) {
	case BENCH_ENGINE_UWAL:
		return "uwal";
	case BENCH_ENGINE_LEVELDB:
		return "leveldb";
	case BENCH_ENGINE_ROCKSDB:
		return "rocksdb";
	case BENCH_ENGINE_RAW_PWRITE:
		return "raw-pwrite";
	case BENCH_ENGINE_RAW_GROUP:
		return "raw-group";
	case BENCH_ENGINE_COUNT:
		break;
	}
	return "?";
}

const char *engine_package(enum bench_engine e)
{
	switch (e) {
	case BENCH_ENGINE_LEVELDB:
		return "libleveldb-dev";
	case BENCH_ENGINE_ROCKSDB:
		return "librocksdb-dev";
	default:
		return "";
	}
}

static const struct engine_ops *lookup(enum bench_engine e)
{
	switch (e) {
	case BENCH_ENGINE_UWAL:
		return &bench_uwal_ops;
	case BENCH_ENGINE_RAW_PWRITE:
	case BENCH_ENGINE_RAW_GROUP:
		return &bench_raw_ops;
#ifdef UWAL_BENCH_HAVE_LEVELDB
	case BENCH_ENGINE_LEVELDB:
		return &bench_leveldb_ops;
#endif
#ifdef UWAL_BENCH_HAVE_ROCKSDB
	case BENCH_ENGINE_ROCKSDB:
		return &bench_rocksdb_ops;
#endif
	default:
		return NULL;
	}
}

bool engine_built(enum bench_engine e)
{
	return lookup(e) != NULL;
}

const struct engine_ops *engine_get(enum bench_engine e, char *why, size_t len)
{
	const struct engine_ops *ops = lookup(e);
	if (!ops)
		snprintf(why, len,
			 "engine=%s was not built into this uwal-bench: install %s "
			 "(scripts/setup.sh) and run cmake again",
			 bench_engine_name(e), engine_package(e));
	return ops;
}
