/* SPDX-License-Identifier: Apache-2.0 */
/*
 * files.c - the metadata and snapshot files of libuwal-raft, with plain
 * system calls: written to a temporary name, fdatasynced, renamed into
 * place and the directory fsynced, so that a crash leaves the old file or
 * the new one, whole. Each carries a magic, a version and a CRC32C; a file
 * that fails a check is an error, never taken for a missing one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t ur_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int io_error(int e)
{
	return e == ENOSPC || e == EDQUOT ? RAFT_NOSPACE : RAFT_IOERR;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to len bytes; returns the count or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

struct piece {
	const void *base;
	size_t len;
};

/* Write the pieces to tmp, make them durable and rename tmp to name. */
static int replace_file(int dirfd, const char *tmp, const char *name, const struct piece *pieces,
			size_t n, char *err)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "create %s: %s", tmp, strerror(e));
		return io_error(e);
	}
	int rc = 0;
	const char *what = "write";
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = write_full(fd, pieces[i].base, pieces[i].len);
	if (rc == 0) {
		what = "fdatasync";
		if (fdatasync(fd) != 0)
			rc = -errno;
	}
	if (close(fd) != 0 && rc == 0) {
		what = "close";
		rc = -errno;
	}
	if (rc == 0) {
		what = "rename";
		if (renameat(dirfd, tmp, dirfd, name) != 0)
			rc = -errno;
	}
	if (rc == 0) {
		what = "fsync of the directory";
		if (fsync(dirfd) != 0)
			rc = -errno;
	}
	if (rc != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: %s: %s", name, what, strerror(-rc));
		if (strcmp(what, "rename") != 0 && strcmp(what, "fsync of the directory") != 0)
			unlinkat(dirfd, tmp, 0);
		return io_error(-rc);
	}
	return 0;
}

int ur_meta_write(int dirfd, uint64_t term, uint64_t vote, char *err)
{
	unsigned char buf[UR_META_SIZE];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "UWRM", 4);
	ur_put32(buf + 4, UR_META_VERSION);
	ur_put64(buf + 8, term);
	ur_put64(buf + 16, vote);
	ur_put32(buf + 24, ur_crc32c(0, buf, 24));
	struct piece p = {buf, sizeof(buf)};
	return replace_file(dirfd, UR_META_TMP, UR_META_NAME, &p, 1, err);
}

/*
 * The metadata files raft_uv keeps in its directory (its log segments and
 * snapshots sit beside them). A directory raft_uv wrote has no raft-meta:
 * taken for a pristine one, it would be bootstrapped again or loaded as
 * term 0, and its log and vote lost.
 */
static const char *const raft_uv_meta[] = {"metadata1", "metadata2"};

int ur_meta_read(int dirfd, uint64_t *term, uint64_t *vote, char *err)
{
	int fd = openat(dirfd, UR_META_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "open %s: %s", UR_META_NAME, strerror(e));
		if (e != ENOENT)
			return RAFT_IOERR;
		for (size_t i = 0; i < sizeof(raft_uv_meta) / sizeof(raft_uv_meta[0]); i++) {
			if (faccessat(dirfd, raft_uv_meta[i], F_OK, 0) == 0) {
				snprintf(err, RAFT_ERRMSG_BUF_SIZE,
					 "no %s, but raft_uv's %s: a raft_uv directory, not "
					 "a uwal raft one",
					 UR_META_NAME, raft_uv_meta[i]);
				return RAFT_CORRUPT;
			}
		}
		return RAFT_NOTFOUND;
	}
	unsigned char buf[UR_META_SIZE + 1];
	ssize_t n = read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "read %s: %s", UR_META_NAME, strerror((int)-n));
		return RAFT_IOERR;
	}
	if (n >= 4 && memcmp(buf, "UWRM", 4) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: not a uwal raft metadata file",
			 UR_META_NAME);
		return RAFT_CORRUPT;
	}
	if (n != UR_META_SIZE) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: %zd bytes, expected %u (cut short?)",
			 UR_META_NAME, n, UR_META_SIZE);
		return RAFT_CORRUPT;
	}
	if (ur_get32(buf + 24) != ur_crc32c(0, buf, 24) || ur_get32(buf + 28) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: checksum mismatch (damaged)",
			 UR_META_NAME);
		return RAFT_CORRUPT;
	}
	if (ur_get32(buf + 4) != UR_META_VERSION) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: format version %u, this library reads %u",
			 UR_META_NAME, ur_get32(buf + 4), UR_META_VERSION);
		return RAFT_CORRUPT;
	}
	*term = ur_get64(buf + 8);
	*vote = ur_get64(buf + 16);
	return 0;
}

/*
 * Snapshot file: a 64-byte header
 *   0 "UWRS", 4 u32 version, 8 u64 index, 16 u64 term, 24 u64 conf_index,
 *   32 u64 gen, 40 u64 conf_len, 48 u64 data_len, 56 u32 crc, 60 u32 0
 * (crc: CRC32C of header bytes 0..55, then the configuration, then the
 * data), the configuration (u32 n; n times u64 id, u32 role, u32 length,
 * the address without its NUL), the data.
 */
static int conf_encode(const struct raft_configuration *c, unsigned char **out, size_t *len)
{
	size_t n = 4;
	for (unsigned i = 0; i < c->n; i++)
		n += 16 + strlen(c->servers[i].address);
	unsigned char *b = malloc(n);
	if (b == NULL)
		return RAFT_NOMEM;
	unsigned char *p = b;
	ur_put32(p, c->n);
	p += 4;
	for (unsigned i = 0; i < c->n; i++) {
		size_t al = strlen(c->servers[i].address);
		ur_put64(p, c->servers[i].id);
		ur_put32(p + 8, (uint32_t)c->servers[i].role);
		ur_put32(p + 12, (uint32_t)al);
		memcpy(p + 16, c->servers[i].address, al);
		p += 16 + al;
	}
	*out = b;
	*len = n;
	return 0;
}

static int conf_decode(const unsigned char *p, size_t len, struct raft_configuration *c, char *err)
{
	raft_configuration_init(c);
	if (len < 4)
		goto bad;
	uint32_t n = ur_get32(p);
	size_t off = 4;
	for (uint32_t i = 0; i < n; i++) {
		if (len - off < 16)
			goto bad;
		uint64_t id = ur_get64(p + off);
		uint32_t role = ur_get32(p + off + 8);
		uint32_t al = ur_get32(p + off + 12);
		off += 16;
		if (len - off < al)
			goto bad;
		char *addr = malloc((size_t)al + 1);
		if (addr == NULL) {
			raft_configuration_close(c);
			raft_configuration_init(c);
			return RAFT_NOMEM;
		}
		memcpy(addr, p + off, al);
		addr[al] = '\0';
		off += al;
		int rv = raft_configuration_add(c, id, addr, (int)role);
		free(addr);
		if (rv != 0) {
			raft_configuration_close(c);
			raft_configuration_init(c);
			snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: bad configuration (%s)",
				 UR_SNAP_NAME, raft_strerror(rv));
			return rv == RAFT_NOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
		}
	}
	if (off != len)
		goto bad;
	return 0;
bad:
	raft_configuration_close(c);
	raft_configuration_init(c);
	snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: malformed configuration", UR_SNAP_NAME);
	return RAFT_CORRUPT;
}

int ur_snap_write(int dirfd, const struct raft_snapshot *snap, uint64_t gen, char *err)
{
	unsigned char *conf;
	size_t conf_len;
	int rv = conf_encode(&snap->configuration, &conf, &conf_len);
	if (rv != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return rv;
	}
	size_t n = 2 + snap->n_bufs;
	struct piece *pieces = calloc(n, sizeof(*pieces));
	if (pieces == NULL) {
		free(conf);
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return RAFT_NOMEM;
	}
	uint64_t data_len = 0;
	for (unsigned i = 0; i < snap->n_bufs; i++)
		data_len += snap->bufs[i].len;
	unsigned char hdr[UR_SNAP_HEADER];
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, "UWRS", 4);
	ur_put32(hdr + 4, UR_SNAP_VERSION);
	ur_put64(hdr + 8, snap->index);
	ur_put64(hdr + 16, snap->term);
	ur_put64(hdr + 24, snap->configuration_index);
	ur_put64(hdr + 32, gen);
	ur_put64(hdr + 40, conf_len);
	ur_put64(hdr + 48, data_len);
	uint32_t crc = ur_crc32c(0, hdr, 56);
	crc = ur_crc32c(crc, conf, conf_len);
	for (unsigned i = 0; i < snap->n_bufs; i++)
		crc = ur_crc32c(crc, snap->bufs[i].base, snap->bufs[i].len);
	ur_put32(hdr + 56, crc);
	pieces[0] = (struct piece){hdr, sizeof(hdr)};
	pieces[1] = (struct piece){conf, conf_len};
	for (unsigned i = 0; i < snap->n_bufs; i++)
		pieces[2 + i] = (struct piece){snap->bufs[i].base, snap->bufs[i].len};
	rv = replace_file(dirfd, UR_SNAP_TMP, UR_SNAP_NAME, pieces, n, err);
	free(pieces);
	free(conf);
	return rv;
}

void ur_snap_free(struct raft_snapshot *snap)
{
	if (snap == NULL)
		return;
	raft_configuration_close(&snap->configuration);
	for (unsigned i = 0; i < snap->n_bufs; i++)
		raft_free(snap->bufs[i].base);
	raft_free(snap->bufs);
	raft_free(snap);
}

int ur_snap_read(int dirfd, struct raft_snapshot **out, uint64_t *gen, char *err)
{
	int fd = openat(dirfd, UR_SNAP_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "open %s: %s", UR_SNAP_NAME, strerror(e));
		return e == ENOENT ? RAFT_NOTFOUND : RAFT_IOERR;
	}
	int rv = RAFT_CORRUPT;
	unsigned char hdr[UR_SNAP_HEADER];
	unsigned char *conf = NULL;
	struct raft_snapshot *snap = NULL;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "stat %s: %s", UR_SNAP_NAME, strerror(errno));
		rv = RAFT_IOERR;
		goto out;
	}
	ssize_t n = read_full(fd, hdr, sizeof(hdr));
	if (n < 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "read %s: %s", UR_SNAP_NAME, strerror((int)-n));
		rv = RAFT_IOERR;
		goto out;
	}
	if (n >= 4 && memcmp(hdr, "UWRS", 4) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: not a uwal raft snapshot file",
			 UR_SNAP_NAME);
		goto out;
	}
	uint64_t conf_len = n == (ssize_t)sizeof(hdr) ? ur_get64(hdr + 40) : 0;
	uint64_t data_len = n == (ssize_t)sizeof(hdr) ? ur_get64(hdr + 48) : 0;
	if (n != (ssize_t)sizeof(hdr) || conf_len > (uint64_t)st.st_size ||
	    data_len > (uint64_t)st.st_size ||
	    (uint64_t)st.st_size != UR_SNAP_HEADER + conf_len + data_len) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE,
			 "%s: %lld bytes, not what its header says (cut short?)", UR_SNAP_NAME,
			 (long long)st.st_size);
		goto out;
	}
	if (ur_get32(hdr + 4) != UR_SNAP_VERSION) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: format version %u, this library reads %u",
			 UR_SNAP_NAME, ur_get32(hdr + 4), UR_SNAP_VERSION);
		goto out;
	}
	conf = malloc(conf_len ? conf_len : 1);
	snap = raft_malloc(sizeof(*snap));
	void *data = raft_malloc(data_len ? data_len : 1);
	struct raft_buffer *bufs = raft_malloc(sizeof(*bufs));
	if (conf == NULL || snap == NULL || data == NULL || bufs == NULL) {
		raft_free(snap);
		raft_free(data);
		raft_free(bufs);
		snap = NULL;
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		rv = RAFT_NOMEM;
		goto out;
	}
	memset(snap, 0, sizeof(*snap));
	raft_configuration_init(&snap->configuration);
	bufs[0].base = data;
	bufs[0].len = data_len;
	snap->bufs = bufs;
	snap->n_bufs = 1;
	ssize_t nc = read_full(fd, conf, conf_len);
	ssize_t nd = nc == (ssize_t)conf_len ? read_full(fd, data, data_len) : 0;
	if (nc < 0 || nd < 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "read %s: %s", UR_SNAP_NAME,
			 strerror((int)-(nc < 0 ? nc : nd)));
		rv = RAFT_IOERR;
		goto out;
	}
	if (nc != (ssize_t)conf_len || nd != (ssize_t)data_len) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: cut short while read", UR_SNAP_NAME);
		goto out;
	}
	uint32_t crc = ur_crc32c(0, hdr, 56);
	crc = ur_crc32c(crc, conf, conf_len);
	crc = ur_crc32c(crc, data, data_len);
	if (crc != ur_get32(hdr + 56) || ur_get32(hdr + 60) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: checksum mismatch (damaged)",
			 UR_SNAP_NAME);
		goto out;
	}
	snap->index = ur_get64(hdr + 8);
	snap->term = ur_get64(hdr + 16);
	snap->configuration_index = ur_get64(hdr + 24);
	if (snap->index == 0 || snap->term == 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: index or term 0", UR_SNAP_NAME);
		goto out;
	}
	rv = conf_decode(conf, conf_len, &snap->configuration, err);
	if (rv != 0)
		goto out;
	*gen = ur_get64(hdr + 32);
	*out = snap;
	snap = NULL;
	rv = 0;
out:
	ur_snap_free(snap);
	free(conf);
	close(fd);
	return rv;
}
