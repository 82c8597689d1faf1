/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error.c - uwal_strerror(): uwal's own codes and any -errno.
 */
#define _GNU_SOURCE
#include <string.h>

#include "uwal.h"

const char *uwal_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case UWAL_EINVAL:
		return "invalid argument";
	case UWAL_EEXIST:
		return "duplicate index: a record with this index exists or is in flight";
	case UWAL_ENOTFOUND:
		return "no record with this index";
	case UWAL_ETOOBIG:
		return "record too big: it cannot fit in one segment";
	case UWAL_ESHUTDOWN:
		return "the log is closing: the record was not taken";
	case UWAL_ELOCKED:
		return "the log directory is locked by another handle or process";
	case UWAL_ECORRUPT:
		return "corrupt log: a file failed its checks";
	case UWAL_EPOISONED:
		return "the log is poisoned by an earlier write or fdatasync failure: "
		       "reopen it";
	case UWAL_EAGAIN:
		return "the submission window is full: reap completions, then submit again";
	case UWAL_ETRUNCATED:
		return "the position was removed by a truncation of the log";
	case UWAL_EVERSION:
		return "a log file has a newer format version than this library knows";
	case UWAL_EREADONLY:
		return "the log was opened read-only";
	case UWAL_EFORKED:
		return "the handle was opened before this process forked: the child must not "
		       "use it";
	default:
		break;
	}
	if (err < 0 && err > -4096) {
		/* strerrordesc_np (glibc 2.32): static text, thread safe. */
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}
