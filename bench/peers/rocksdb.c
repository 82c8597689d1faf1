/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rocksdb.c - engine=rocksdb: the same workload through RocksDB's C API.
 *
 * A twin of leveldb.c. A fresh database in the job's directory
 * (create_if_missing, error_if_exists) with RocksDB's defaults for
 * everything but sync: write buffer, compression, its WAL and background
 * threads are as a user who only asks for durability gets them.
 * sync=none writes with sync=false (the record is in RocksDB's WAL, in the
 * page cache; the WAL is not disabled); batch, always and per-write with
 * sync=true (the WAL is fsync'd before the call returns). One record per
 * call is rocksdb_put; more is one rocksdb_write of a WriteBatch, kept per
 * thread and cleared each call. RocksDB groups concurrent writers' WAL
 * writes itself, so numjobs threads share one handle, as with uwal.
 * librocksdb's C API is C: linking needs only -lrocksdb.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wsync, *wnosync;
	bool sync;
	int reported; /* the first failed write's message was printed */
};

static void destroy(struct rdb *l)
{
	if (l->db)
		rocksdb_close(l->db);
	if (l->wsync)
		rocksdb_writeoptions_destroy(l->wsync);
	if (l->wnosync)
		rocksdb_writeoptions_destroy(l->wnosync);
	if (l->opts)
		rocksdb_options_destroy(l->opts);
	free(l);
}

static int rdb_open(const struct job *job, const char *dir, void **db, char *what, size_t len)
{
	struct rdb *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->sync = bench_sync_durable(job->sync);
	l->opts = rocksdb_options_create();
	l->wsync = rocksdb_writeoptions_create();
	l->wnosync = rocksdb_writeoptions_create();
	if (!l->opts || !l->wsync || !l->wnosync) {
		destroy(l);
		return -ENOMEM;
	}
	rocksdb_options_set_create_if_missing(l->opts, 1);
	rocksdb_options_set_error_if_exists(l->opts, 1);
	rocksdb_writeoptions_set_sync(l->wsync, 1);
	rocksdb_writeoptions_set_sync(l->wnosync, 0);
	char *err = NULL;
	l->db = rocksdb_open(l->opts, dir, &err);
	if (err || !l->db) {
		snprintf(what, len, "rocksdb_open %s: %s", dir, err ? err : "no handle");
		rocksdb_free(err);
		destroy(l);
		return -EIO;
	}
	*db = l;
	return 0;
}

static int rdb_thread_open(void *db, void **tls)
{
	(void)db;
	*tls = rocksdb_writebatch_create();
	return *tls ? 0 : -ENOMEM;
}

static void rdb_thread_close(void *db, void *tls)
{
	(void)db;
	rocksdb_writebatch_destroy(tls);
}

static int rdb_write(void *db, void *tls, const uwal_record *recs, size_t n, bool force)
{
	struct rdb *l = db;
	const rocksdb_writeoptions_t *wo = l->sync || force ? l->wsync : l->wnosync;
	char *err = NULL;
	if (n == 1) {
		rocksdb_put(l->db, wo, recs[0].key, recs[0].key_len, recs[0].value,
			    recs[0].value_len, &err);
	} else {
		rocksdb_writebatch_clear(tls);
		for (size_t i = 0; i < n; i++)
			rocksdb_writebatch_put(tls, recs[i].key, recs[i].key_len, recs[i].value,
					       recs[i].value_len);
		rocksdb_write(l->db, wo, tls, &err);
	}
	if (!err)
		return 0;
	/* The status is text only: print the first one, count them all. */
	if (__atomic_exchange_n(&l->reported, 1, __ATOMIC_RELAXED) == 0)
		fprintf(stderr, "uwal-bench: rocksdb write failed: %s\n", err);
	rocksdb_free(err);
	return -EIO;
}

static int rdb_close(void *db)
{
	destroy(db);
	return 0;
}

const struct engine_ops bench_rocksdb_ops = {
	.name = "rocksdb",
	.open = rdb_open,
	.thread_open = rdb_thread_open,
	.thread_close = rdb_thread_close,
	.write = rdb_write,
	.close = rdb_close,
};
