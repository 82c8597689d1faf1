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

	pthread_mutex_lock(&w->files_mu);
	int fd = uw_io_openat(w->io, w->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pthread_mutex_unlock(&w->files_mu);
		return fd;
	}
	uint8_t hdr[FMT_FILE_HDR_SIZE], tail[4];
	uw_fmt_file_header(hdr, len);
	uint32_t crc = uw_fmt_crc_update(0xFFFFFFFFu, hdr, sizeof(hdr));
	ret = write_all(w->io, fd, hdr, sizeof(hdr), 0);
	uint64_t off = sizeof(hdr);
	for (int i = 0; ret == 0 && i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		crc = uw_fmt_crc_update(crc, iov[i].iov_base, iov[i].iov_len);
		ret = write_all(w->io, fd, iov[i].iov_base, iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	crc ^= 0xFFFFFFFFu;
	for (int i = 0; i < 4; i++)
		tail[i] = (uint8_t)(crc >> (8 * i));
	if (ret == 0)
		ret = write_all(w->io, fd, tail, sizeof(tail), off);
	if (ret == 0)
		ret = uw_io_fdatasync(w->io, fd);
	int e = uw_io_close(w->io, fd);
	if (ret == 0)
		ret = e;
	if (ret == 0)
		ret = uw_io_renameat(w->io, w->dirfd, tmp, final);
	if (ret == 0)
		ret = uw_io_dirsync(w->io, w->dirfd);
	else
		uw_io_unlinkat(w->io, w->dirfd, tmp);
	pthread_mutex_unlock(&w->files_mu);
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
	int fd = uw_io_openat(w->io, w->dirfd, final, O_RDONLY | O_CLOEXEC, 0);
	if (fd == -ENOENT)
		return UWAL_ENOTFOUND;
	if (fd < 0)
		return fd;
	int64_t size = uw_io_file_size(w->io, fd);
	uint8_t *buf = NULL;
	const char *why = NULL;
	if (size < 0) {
		ret = (int)size;
	} else if ((uint64_t)size > UWAL_FILE_MAX + FMT_FILE_HDR_SIZE + 4) {
		why = "larger than any file uwal_file_put() writes";
	} else if (!(buf = malloc(size ? (size_t)size : 1))) {
		ret = -ENOMEM;
	}
	size_t got = 0;
	while (ret == 0 && !why && got < (size_t)size) {
		ssize_t n = uw_io_pread(w->io, fd, buf + got, (size_t)size - got, got);
		if (n < 0)
			ret = (int)n;
		else if (n == 0)
			why = "shorter than its size";
		got += n > 0 ? (size_t)n : 0;
	}
	uw_io_close(w->io, fd);
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
