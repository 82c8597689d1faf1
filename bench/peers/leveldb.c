/* SPDX-License-Identifier: Apache-2.0 */
/*
 * leveldb.c - engine=leveldb: the same workload through LevelDB's C API.
 *
 * A fresh database in the job's directory (create_if_missing,
 * error_if_exists) with LevelDB's defaults for everything but sync: write
 * buffer, compression, block cache and compaction are as a user who only
 * asks for durability gets them. sync=none writes with sync=false (the
 * record is in LevelDB's log, in the page cache); batch, always and
 * per-write with sync=true (the log is fdatasync'd before the call
 * returns). One record per call is leveldb_put; more is one
 * leveldb_write of a WriteBatch, kept per thread and cleared each call.
 * LevelDB serialises writers itself and commits concurrent ones as a
 * group, so numjobs threads share one handle, as with uwal.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

struct ldb {
	leveldb_t *db;
	leveldb_options_t *opts;
	leveldb_writeoptions_t *wsync, *wnosync;
	bool sync;
	int reported; /* the first failed write's message was printed */
};

static void destroy(struct ldb *l)
{
	if (l->db)
		leveldb_close(l->db);
	if (l->wsync)
		leveldb_writeoptions_destroy(l->wsync);
	if (l->wnosync)
		leveldb_writeoptions_destroy(l->wnosync);
	if (l->opts)
		leveldb_options_destroy(l->opts);
	free(l);
}

static int ldb_open(const struct job *job, const char *dir, void **db, char *what, size_t len)
{
	struct ldb *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->sync = bench_sync_durable(job->sync);
	l->opts = leveldb_options_create();
	l->wsync = leveldb_writeoptions_create();
	l->wnosync = leveldb_writeoptions_create();
	if (!l->opts || !l->wsync || !l->wnosync) {
		destroy(l);
		return -ENOMEM;
	}
	leveldb_options_set_create_if_missing(l->opts, 1);
	leveldb_options_set_error_if_exists(l->opts, 1);
	leveldb_writeoptions_set_sync(l->wsync, 1);
	leveldb_writeoptions_set_sync(l->wnosync, 0);
	char *err = NULL;
	l->db = leveldb_open(l->opts, dir, &err);
	if (err || !l->db) {
		snprintf(what, len, "leveldb_open %s: %s", dir, err ? err : "no handle");
		leveldb_free(err);
		destroy(l);
		return -EIO;
	}
	*db = l;
	return 0;
}

static int ldb_thread_open(void *db, void **tls)
{
	(void)db;
	*tls = leveldb_writebatch_create();
	return *tls ? 0 : -ENOMEM;
}

static void ldb_thread_close(void *db, void *tls)
{
	(void)db;
	leveldb_writebatch_destroy(tls);
}

static int ldb_write(void *db, void *tls, const uwal_record *recs, size_t n, bool force)
{
	struct ldb *l = db;
	const leveldb_writeoptions_t *wo = l->sync || force ? l->wsync : l->wnosync;
	char *err = NULL;
	if (n == 1) {
		leveldb_put(l->db, wo, recs[0].key, recs[0].key_len, recs[0].value,
			    recs[0].value_len, &err);
	} else {
		leveldb_writebatch_clear(tls);
		for (size_t i = 0; i < n; i++)
			leveldb_writebatch_put(tls, recs[i].key, recs[i].key_len, recs[i].value,
					       recs[i].value_len);
		leveldb_write(l->db, wo, tls, &err);
	}
	if (!err)
		return 0;
	/* The status is text only: print the first one, count them all. */
	if (__atomic_exchange_n(&l->reported, 1, __ATOMIC_RELAXED) == 0)
		fprintf(stderr, "uwal-bench: leveldb write failed: %s\n", err);
	leveldb_free(err);
	return -EIO;
}

static int ldb_close(void *db)
{
	destroy(db);
	return 0;
}

const struct engine_ops bench_leveldb_ops = {
	.name = "leveldb",
	.open = ldb_open,
	.thread_open = ldb_thread_open,
	.thread_close = ldb_thread_close,
	.write = ldb_write,
	.close = ldb_close,
};
