/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faultio.h - the tests' fault backend: the system backend with a rule
 * table in front of it. A rule fails, shortens or pauses the nth operation
 * of a kind on the files that match a pattern, counted from when the rule
 * was armed. Every handle the tests open uses it (tests/io/select.c)
 * unless a test selects another backend; with no rule armed it only
 * forwards (and counts).
 *
 * Files are named by the base name given to openat/open_dir (renames
 * follow), matched with fnmatch(3); a leading '!' inverts the pattern.
 * NULL means the kind's usual target: for writes and fdatasyncs every file
 * but a segment being prepared ("!*.tmp"), for the other kinds every file.
 * Ring operations count as the writes and fdatasyncs they are.
 *
 * A rule sees only the operations that begin after it was armed: a rule
 * armed while an operation is paused counts from the next one.
 */
#ifndef UWAL_TESTS_FAULTIO_H
#define UWAL_TESTS_FAULTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "uio.h"

enum tio_kind {
	TIO_OPEN = 0,  /* openat (files; directories are TIO_OPEN_DIR) */
	TIO_PWRITE,    /* pwrite and ring writes */
	TIO_FDATASYNC, /* fdatasync and ring fdatasyncs */
	TIO_FALLOCATE,
	TIO_RENAME,  /* matched against the old name */
	TIO_DIRSYNC, /* fsync of a directory; matched against the directory's name */
	TIO_FTRUNCATE,
	TIO_UNLINK,
	TIO_PREAD,
	TIO_FILE_SIZE,
	TIO_LIST,
	TIO_FLOCK,
	TIO_OPEN_DIR,
	TIO_MKDIR,
	TIO_CLOSE,
	TIO_RING_CLOSE, /* the end of a ring (its owner's last operation on it); no
			   file, cannot fail: pause and count only */
	TIO_FILE_ID,    /* fstat/fstatat identity; matched against the name (or fd's) */
	TIO_WRITEBACK,  /* sync_file_range: starting writeback, or writing back and waiting */
	TIO_KIND__COUNT
};

/* err value that makes a write land half its bytes and report a short
 * write, as the kernel would. */
#define TIO_SHORT 1

/*
 * Make the nth matching operation of kind from now on (1 = the next one)
 * fail with err (-errno, or TIO_SHORT for writes). Later ones succeed
 * again. Thread safe; up to 16 rules at once.
 */
void tio_arm(enum tio_kind kind, const char *files, uint64_t nth, int err);
/*
 * Make the nth matching operation of kind block before it runs until
 * tio_release(). tio_wait_paused() waits (up to timeout_ms) until a thread
 * is blocked there; true if one is.
 */
void tio_pause(enum tio_kind kind, const char *files, uint64_t nth);
bool tio_wait_paused(int timeout_ms);
void tio_release(void);
/* Disarm every rule and release a paused thread. */
void tio_clear(void);
/* How many operations of kind on matching files ran since the process
 * started (failed ones included). */
uint64_t tio_count(enum tio_kind kind, const char *files);

/*
 * How many threads sleep in the backend's futex_wait now: a thread waiting
 * for its request's acknowledgment sleeps there once it stopped spinning.
 * tio_wait_sleeping() waits (up to timeout_ms) until at least n do; true
 * if they do.
 */
unsigned tio_sleeping(void);
bool tio_wait_sleeping(unsigned n, int timeout_ms);
/* Wait (up to timeout_ms) until a writer thread sleeps in its ring's
 * ring_idle, for want of work; true if one does. */
bool tio_wait_ring_idle(int timeout_ms);

/* The fault backend itself (forwards to the system backend). */
struct uw_io *tio_fault_io(void);

/* The backend the next uwal_open()/uwal_unsafe_recover() uses: NULL for
 * the fault backend (the default). */
void tio_select(struct uw_io *io);

#endif
