/* SPDX-License-Identifier: Apache-2.0 */
/*
 * files.c - small files beside the log: uwal_file_put(), uwal_file_putv(),
 * uwal_file_get() and uwal_file_remove(). A file "<name>" of the API is
 * "<prefix>file.<name>" in the log's directory, with a header and a CRC32C
 * (format.c, "Files beside the log"). It is replaced whole through the
 * handle's I/O backend (so the crash simulator covers it like the
 * segments): written to "<prefix>file.<name>.tmp", fdatasynced, renamed
 * over the old one, the directory fsynced. A crash leaves the old file or
 * the new one; a leftover .tmp is overwritten by the next put of that
 * name. Recovery never reads these files: they are no part of the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAME_MAX_LEN 64

/* 1..64 of [A-Za-z0-9._-], not starting with '.', not ending in ".tmp". */
static bool good_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return !(n >= 4 && strcmp(name + n - 4, ".tmp") == 0);
}

/* The checks every call makes; 0 or the error. */
static int check(struct uwal *w, const char *name, bool writes)
{
	if (!w || !name)
		return UWAL_EINVAL;
	if (atomic_load(&w->forked))
		return UWAL_EFORKED;
	if (!good_name(name))
		return UWAL_EINVAL;
	if (writes && (w->cfg.open_flags & UWAL_OPEN_READONLY))
		return UWAL_EREADONLY;
	return 0;
}

static void file_name(char *out, size_t n, const struct uwal *w, const char *name, bool tmp)
{
	snprintf(out, n, "%sfile.%s%s", w->prefix, name, tmp ? ".tmp" : "");
}

/* ---- whole files through the backend (also segidx.c's index files) ------ */

/* Write len bytes at off, in pieces the kernel takes whole. */
static int write_all(struct uw_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		int ret = uw_io_pwrite(io, fd, p, n, off);
		if (ret < 0)
			return ret;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int uw_file_replace(struct uw_io *io, int dirfd, const char *tmp, const char *name,
		    const struct iovec *iov, int n, bool dirsync)
{
	int fd = uw_io_openat(io, dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	int ret = 0;
	uint64_t off = 0;
	for (int i = 0; ret == 0 && i < n; i++) {
		ret = write_all(io, fd, iov[i].iov_base, iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	if (ret == 0)
		ret = uw_io_fdatasync(io, fd);
	int e = uw_io_close(io, fd);
	if (ret == 0)
		ret = e;
	if (ret == 0)
		ret = uw_io_renameat(io, dirfd, tmp, name);
	if (ret < 0) {
		uw_io_unlinkat(io, dirfd, tmp);
		return ret;
	}
	return dirsync ? uw_io_dirsync(io, dirfd) : 0;
}

int uw_file_read(struct uw_io *io, int dirfd, const char *name, uint64_t max, uint8_t **buf,
		 size_t *len)
{
	int fd = uw_io_openat(io, dirfd, name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	int64_t size = uw_io_file_size(io, fd);
	int ret = size < 0 ? (int)size : (uint64_t)size > max ? 1 : 0;
	uint8_t *b = NULL;
	if (ret == 0 && !(b = malloc(size ? (size_t)size : 1)))
		ret = -ENOMEM;
	ssize_t n = ret == 0 ? uw_io_pread(io, fd, b, (size_t)size, 0) : 0;
	uw_io_close(io, fd);
	if (ret == 0 && n < 0)
		ret = (int)n;
	if (ret != 0) {
		free(b);
		return ret;
	}
	*buf = b;
	*len = (size_t)n;
	return 0;
}

/* ---- the calls ----------------------------------------------------------- */

int uwal_file_putv(uwal *w, const char *name, const struct iovec *iov, int iovcnt)
{
	int ret = check(w, name, true);
	if (ret < 0)
		return ret;
	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return UWAL_EINVAL;
	uint64_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return UWAL_EINVAL;
		len += iov[i].iov_len;
	}
	if (len > UWAL_FILE_MAX)
		return UWAL_ETOOBIG;
	char tmp[UW_FILE_NAME_MAX], final[UW_FILE_NAME_MAX];
	file_name(tmp, sizeof(tmp), w, name, true);
	file_name(final, sizeof(final), w, name, false);

	/* The pieces between the header and the crc that ends the file. */
	struct iovec *v = malloc(((size_t)iovcnt + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint8_t hdr[FMT_FILE_HDR_SIZE], tail[4];
	uw_fmt_file_header(hdr, len);
	uint32_t crc = uw_fmt_crc_update(0xFFFFFFFFu, hdr, sizeof(hdr));
	v[0] = (struct iovec){hdr, sizeof(hdr)};
	for (int i = 0; i < iovcnt; i++) {
		crc = uw_fmt_crc_update(crc, iov[i].iov_base, iov[i].iov_len);
		v[1 + i] = iov[i];
	}
	crc ^= 0xFFFFFFFFu;
	for (int i = 0; i < 4; i++)
		tail[i] = (uint8_t)(crc >> (8 * i));
	v[1 + iovcnt] = (struct iovec){tail, sizeof(tail)};
	pthread_mutex_lock(&w->files_mu);
	ret = uw_file_replace(w->io, w->dirfd, tmp, final, v, iovcnt + 2, true);
	pthread_mutex_unlock(&w->files_mu);
	free(v);
	return ret;
}

int uwal_file_put(uwal *w, const char *name, const void *buf, size_t len)
{
	if (!buf && len)
		return UWAL_EINVAL;
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
	return uwal_file_putv(w, name, &v, len ? 1 : 0);
}

int uwal_file_get(uwal *w, const char *name, void **out, size_t *out_len)
{
	int ret = check(w, name, false);
	if (ret < 0)
		return ret;
	if (!out || !out_len)
		return UWAL_EINVAL;
	char final[UW_FILE_NAME_MAX];
	file_name(final, sizeof(final), w, name, false);
	uint8_t *buf = NULL;
	size_t got = 0;
	const char *why = NULL;
	ret = uw_file_read(w->io, w->dirfd, final, UWAL_FILE_MAX + FMT_FILE_HDR_SIZE + 4, &buf,
			   &got);
	if (ret == -ENOENT)
		return UWAL_ENOTFOUND;
	if (ret == 1) {
		why = "larger than any file uwal_file_put() writes";
		ret = 0;
	}
	const uint8_t *contents = NULL;
	size_t len = 0;
	if (ret == 0 && !why && uw_fmt_file_check(buf, got, &contents, &len) < 0)
		why = "bad header, length or crc (cut short, damaged or no uwal file)";
	if (ret == 0 && why) {
		uw_wal_log(w, UWAL_LOG_ERROR, "corrupt file: %s/%s: %s", w->dir, final, why);
		uw_wal_flush_log(w);
		ret = UWAL_ECORRUPT;
	}
	if (ret < 0) {
		free(buf);
		return ret;
	}
	memmove(buf, contents, len);
	*out = buf;
	*out_len = len;
	return 0;
}

int uwal_file_remove(uwal *w, const char *name)
{
	int ret = check(w, name, true);
	if (ret < 0)
		return ret;
	char final[UW_FILE_NAME_MAX];
	file_name(final, sizeof(final), w, name, false);
	pthread_mutex_lock(&w->files_mu);
	ret = uw_io_unlinkat(w->io, w->dirfd, final);
	if (ret == 0)
		ret = uw_io_dirsync(w->io, w->dirfd);
	pthread_mutex_unlock(&w->files_mu);
	return ret == -ENOENT ? UWAL_ENOTFOUND : ret;
}
