/* SPDX-License-Identifier: Apache-2.0 */
/*
 * raw.c - engine=raw-pwrite and engine=raw-group: the disk with no library.
 *
 * One thread (job_check() refuses numjobs > 1) writes frames of
 * key + value + BENCH_RAW_RECORD_OVERHEAD bytes - the size of uwal's frame
 * for the default 8 + 100 - into one file:
 *   raw-pwrite  one frame per pwrite, records_per_call must be 1;
 *   raw-group   records_per_call frames per pwrite: group commit by hand.
 * With a durable sync= every pwrite is followed by fdatasync; with
 * sync=none it is not. These are the device's limits that a WAL's one
 * record per call and batched jobs are held against.
 *
 * The file is prepared the way uwal prepares a segment, before the
 * measured window: fallocate of segment_size bytes (default 64 MiB), then
 * every byte written with zeros and fdatasync'd, so that no write in the
 * window lands in an unwritten extent or grows the file (both add journal
 * work to each fdatasync on ext4: shared/NOTES.md). Writes go round the
 * file: when the next call would pass its end it starts again at 0.
 * The key and value are copied into each frame; the other bytes of a frame
 * stay zero.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZERO_CHUNK (1u << 20)

struct raw {
	int fd;
	bool sync;
	size_t frame;       /* bytes per record */
	unsigned char *buf; /* records_per_call frames */
	uint64_t off, size;
};

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* fallocate, then zeros over every byte, then fdatasync. */
static int prepare(int fd, uint64_t size, char *what, size_t len)
{
	if (posix_fallocate(fd, 0, (off_t)size) != 0) {
		snprintf(what, len, "fallocate of the raw file");
		return -EIO;
	}
	void *zeros = calloc(1, ZERO_CHUNK);
	if (!zeros)
		return -ENOMEM;
	int rc = 0;
	for (uint64_t off = 0; off < size && rc == 0; off += ZERO_CHUNK) {
		size_t n = size - off < ZERO_CHUNK ? (size_t)(size - off) : ZERO_CHUNK;
		rc = write_all(fd, zeros, n, off);
	}
	free(zeros);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (rc)
		snprintf(what, len, "zero-filling the raw file");
	return rc;
}

static int raw_open(const struct job *job, const char *dir, void **db, char *what, size_t len)
{
	struct raw *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->sync = bench_sync_durable(job->sync);
	r->frame = job->key_size + job->bs + BENCH_RAW_RECORD_OVERHEAD;
	r->size = job->cfg.segment_size;
	size_t call = r->frame * job->records_per_call;
	int rc;
	char path[4200];
	if (call > r->size) {
		snprintf(what, len, "raw: one call's %zu bytes exceed segment_size", call);
		rc = -EINVAL;
		goto err;
	}
	r->buf = calloc(1, call);
	if (!r->buf) {
		rc = -ENOMEM;
		goto err;
	}
	snprintf(path, sizeof(path), "%s/raw.dat", dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(what, len, "mkdir %s", dir);
		goto err;
	}
	r->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (r->fd < 0) {
		rc = -errno;
		snprintf(what, len, "open %s", path);
		goto err;
	}
	rc = prepare(r->fd, r->size, what, len);
	if (rc)
		goto err;
	*db = r;
	return 0;
err:
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r);
	return rc;
}

static int raw_write(void *db, void *tls, const uwal_record *recs, size_t n, bool force)
{
	(void)tls;
	struct raw *r = db;
	for (size_t i = 0; i < n; i++) {
		unsigned char *f = r->buf + i * r->frame;
		if (recs[i].key_len)
			memcpy(f, recs[i].key, recs[i].key_len);
		if (recs[i].value_len)
			memcpy(f + recs[i].key_len, recs[i].value, recs[i].value_len);
	}
	size_t len = n * r->frame;
	if (r->off + len > r->size)
		r->off = 0;
	int rc = write_all(r->fd, r->buf, len, r->off);
	if (rc)
		return rc;
	r->off += len;
	if ((r->sync || force) && fdatasync(r->fd) != 0)
		return -errno;
	return 0;
}

static int raw_close(void *db)
{
	struct raw *r = db;
	int rc = close(r->fd) ? -errno : 0;
	free(r->buf);
	free(r);
	return rc;
}

const struct engine_ops bench_raw_ops = {
	.name = "raw",
	.open = raw_open,
	.write = raw_write,
	.close = raw_close,
};
