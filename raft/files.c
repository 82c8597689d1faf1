/* SPDX-License-Identifier: Apache-2.0 */
/*
 * files.c - the metadata and snapshot files of libuwal-raft: files beside
 * the node's uwal log (uwal_file_put(), "<log>/segment_file.raft-meta" and
 * "<log>/segment_file.raft-snapshot"), so they are replaced atomically and
 * durably through the log's I/O backend (the crash simulator covers them)
 * and checked with uwal's CRC32C when read. Each starts with its own magic
 * and version; a file that fails a check is an error, never taken for a
 * missing one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "uwal.h"

int ur_raft_code(int rc)
{
	switch (rc) {
	case -ENOSPC:
	case -EDQUOT:
		return RAFT_NOSPACE;
	case -ENOMEM:
		return RAFT_NOMEM;
	case UWAL_ECORRUPT:
	case UWAL_EVERSION:
		return RAFT_CORRUPT;
	case UWAL_ELOCKED:
		return RAFT_BUSY;
	case UWAL_ETOOBIG:
		return RAFT_TOOBIG;
	default:
		return RAFT_IOERR;
	}
}

/* A uwal error of a file as a raft code, with what it was about in err. */
static int file_error(int rc, const char *name, const char *what, char *err)
{
	if (rc == UWAL_ECORRUPT) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE,
			 "%s: bad header, length or checksum (damaged, cut short, or not a uwal "
			 "file)",
			 name);
		return RAFT_CORRUPT;
	}
	snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s %s: %s", what, name, uwal_strerror(rc));
	return ur_raft_code(rc);
}

int ur_meta_write(uwal *w, uint64_t term, uint64_t vote, char *err)
{
	unsigned char buf[UR_META_SIZE];
	memcpy(buf, "UWRM", 4);
	ur_put32(buf + 4, UR_META_VERSION);
	ur_put64(buf + 8, term);
	ur_put64(buf + 16, vote);
	int rc = uwal_file_put(w, UR_META_NAME, buf, sizeof(buf));
	return rc == 0 ? 0 : file_error(rc, UR_META_NAME, "write", err);
}

/*
 * The metadata files raft_uv keeps in its directory (its log segments and
 * snapshots sit beside them). A directory raft_uv wrote has no raft-meta:
 * taken for a pristine one, it would be bootstrapped again or loaded as
 * term 0, and its log and vote lost.
 */
static const char *const raft_uv_meta[] = {"metadata1", "metadata2"};

int ur_meta_read(uwal *w, int dirfd, uint64_t *term, uint64_t *vote, char *err)
{
	void *p = NULL;
	size_t n = 0;
	int rc = uwal_file_get(w, UR_META_NAME, &p, &n);
	if (rc == UWAL_ENOTFOUND) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "no %s", UR_META_NAME);
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
	if (rc != 0)
		return file_error(rc, UR_META_NAME, "read", err);
	const unsigned char *buf = p;
	int rv = RAFT_CORRUPT;
	if (n < 8 || memcmp(buf, "UWRM", 4) != 0)
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: not a uwal raft metadata file",
			 UR_META_NAME);
	else if (ur_get32(buf + 4) != UR_META_VERSION)
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: format version %u, this library reads %u",
			 UR_META_NAME, ur_get32(buf + 4), UR_META_VERSION);
	else if (n != UR_META_SIZE)
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: %zu bytes, expected %u", UR_META_NAME, n,
			 UR_META_SIZE);
	else
		rv = 0;
	if (rv == 0) {
		*term = ur_get64(buf + 8);
		*vote = ur_get64(buf + 16);
	}
	free(p);
	return rv;
}

/*
 * Snapshot file contents: a 48-byte header
 *   0 "UWRS", 4 u32 version, 8 u64 index, 16 u64 term, 24 u64 conf_index,
 *   32 u64 gen, 40 u32 conf_len, 44 u32 0
 * then the configuration (u32 n; n times u64 id, u32 role, u32 length,
 * the address without its NUL), then the data (the rest of the file).
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

int ur_snap_write(uwal *w, const struct raft_snapshot *snap, uint64_t gen, char *err)
{
	unsigned char *conf;
	size_t conf_len;
	int rv = conf_encode(&snap->configuration, &conf, &conf_len);
	if (rv != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return rv;
	}
	size_t n = 2 + snap->n_bufs;
	struct iovec *iov = calloc(n, sizeof(*iov));
	if (iov == NULL) {
		free(conf);
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return RAFT_NOMEM;
	}
	unsigned char hdr[UR_SNAP_HEADER];
	memcpy(hdr, "UWRS", 4);
	ur_put32(hdr + 4, UR_SNAP_VERSION);
	ur_put64(hdr + 8, snap->index);
	ur_put64(hdr + 16, snap->term);
	ur_put64(hdr + 24, snap->configuration_index);
	ur_put64(hdr + 32, gen);
	ur_put32(hdr + 40, (uint32_t)conf_len);
	ur_put32(hdr + 44, 0);
	iov[0] = (struct iovec){hdr, sizeof(hdr)};
	iov[1] = (struct iovec){conf, conf_len};
	for (unsigned i = 0; i < snap->n_bufs; i++)
		iov[2 + i] = (struct iovec){snap->bufs[i].base, snap->bufs[i].len};
	int rc = uwal_file_putv(w, UR_SNAP_NAME, iov, (int)n);
	free(iov);
	free(conf);
	return rc == 0 ? 0 : file_error(rc, UR_SNAP_NAME, "write", err);
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

int ur_snap_read(uwal *w, struct raft_snapshot **out, uint64_t *gen, char *err)
{
	void *p = NULL;
	size_t len = 0;
	int rc = uwal_file_get(w, UR_SNAP_NAME, &p, &len);
	if (rc == UWAL_ENOTFOUND) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "no %s", UR_SNAP_NAME);
		return RAFT_NOTFOUND;
	}
	if (rc != 0)
		return file_error(rc, UR_SNAP_NAME, "read", err);
	const unsigned char *hdr = p;
	struct raft_snapshot *snap = NULL;
	int rv = RAFT_CORRUPT;
	uint32_t conf_len = len >= UR_SNAP_HEADER ? ur_get32(hdr + 40) : 0;
	if (len < 8 || memcmp(hdr, "UWRS", 4) != 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: not a uwal raft snapshot file",
			 UR_SNAP_NAME);
		goto out;
	}
	if (ur_get32(hdr + 4) != UR_SNAP_VERSION) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: format version %u, this library reads %u",
			 UR_SNAP_NAME, ur_get32(hdr + 4), UR_SNAP_VERSION);
		goto out;
	}
	if (len < UR_SNAP_HEADER || ur_get32(hdr + 44) != 0 || conf_len > len - UR_SNAP_HEADER) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: %zu bytes, not what its header says",
			 UR_SNAP_NAME, len);
		goto out;
	}
	size_t data_len = len - UR_SNAP_HEADER - conf_len;
	snap = raft_malloc(sizeof(*snap));
	void *data = raft_malloc(data_len ? data_len : 1);
	struct raft_buffer *bufs = raft_malloc(sizeof(*bufs));
	if (snap == NULL || data == NULL || bufs == NULL) {
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
	if (data_len)
		memcpy(data, hdr + UR_SNAP_HEADER + conf_len, data_len);
	bufs[0].base = data;
	bufs[0].len = data_len;
	snap->bufs = bufs;
	snap->n_bufs = 1;
	snap->index = ur_get64(hdr + 8);
	snap->term = ur_get64(hdr + 16);
	snap->configuration_index = ur_get64(hdr + 24);
	if (snap->index == 0 || snap->term == 0) {
		snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: index or term 0", UR_SNAP_NAME);
		goto out;
	}
	rv = conf_decode(hdr + UR_SNAP_HEADER, conf_len, &snap->configuration, err);
	if (rv != 0)
		goto out;
	*gen = ur_get64(hdr + 32);
	*out = snap;
	snap = NULL;
	rv = 0;
out:
	ur_snap_free(snap);
	free(p);
	return rv;
}
