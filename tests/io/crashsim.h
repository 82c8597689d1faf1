/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crashsim.h - a backend that simulates power loss without root: it
 * forwards every operation to another backend (the system one) and keeps
 * in memory what a power cut would leave on disk. The crash model is
 * written down at the top of crashsim.c.
 *
 * Use: crashsim_new(), hand crashsim_io() to the engine (tio_select()),
 * arm a cut (crashsim_arm) or cut by hand (crashsim_cut), let the engine
 * see its errors, then crashsim_layout() writes the files as they would be
 * after the power loss into a directory, for a reopen with the real
 * backend. One simulator per log directory tree; thread safe.
 */
#ifndef UWAL_TESTS_CRASHSIM_H
#define UWAL_TESTS_CRASHSIM_H

#include <stdint.h>

#include "uio.h"

struct crashsim;

/*
 * Deliberate bugs: the simulated engine "forgets" one kind of operation.
 * The operation returns success but makes nothing durable; a harness must
 * then report failures (tests/crash/README.md, "Broken engines").
 */
enum crashsim_forget {
	CRASHSIM_FORGET_NONE = 0,
	/* A ring chain's fdatasync: the engine acknowledges before its
	 * fdatasync. */
	CRASHSIM_FORGET_RING_FDATASYNC,
	/* A ring chain's writes run after its fdatasync: the engine
	 * acknowledges before the write reached the file. */
	CRASHSIM_FORGET_WRITE_BEFORE_SYNC,
	/* The fdatasync after a seal (a pwrite, then an ftruncate to its
	 * end, on a segment's final name): an unsynced seal. */
	CRASHSIM_FORGET_SEAL_FDATASYNC,
	/* The directory fsync after a rename from a "*.tmp" name: a
	 * segment's creation is not made durable. */
	CRASHSIM_FORGET_CREATE_DIRSYNC,
	/* The fdatasync after a write of a truncation frame (FRONT or BACK,
	 * as uwal_truncate_front() and _back() write): a truncation
	 * acknowledged before it is durable. */
	CRASHSIM_FORGET_TRUNC_FDATASYNC,
	CRASHSIM_FORGET__COUNT
};

/* The name of a forget mode ("none", "ring-fdatasync", ...), NULL if out
 * of range; crashsim_forget_parse is its inverse (-1 if unknown). */
const char *crashsim_forget_name(int mode);
int crashsim_forget_parse(const char *name);

/*
 * A simulator over lower (NULL: uw_io_system()). Directories opened with
 * open_dir are modelled when they lie under base (their path relative to
 * base is where crashsim_layout puts them); others are only forwarded.
 * Files already in a directory when it is first opened count as durable.
 * Returns NULL when out of memory.
 */
struct crashsim *crashsim_new(struct uw_io *lower, const char *base);
/* Free the simulator; the engine must no longer use its backend. */
void crashsim_free(struct crashsim *sim);
/* The backend to give the engine. */
struct uw_io *crashsim_io(struct crashsim *sim);

void crashsim_set_forget(struct crashsim *sim, enum crashsim_forget mode);
/* How many operations the forget mode dropped. */
uint64_t crashsim_forgotten(struct crashsim *sim);

/*
 * Cut the power after `ops` more counted operations (every operation but
 * close, ring_open/ring_idle/ring_close, futexes and eventfds, each op of a
 * chain counting once): the operation that would be number ops + 1 fails
 * with -EIO instead. on_cut (may be NULL) is called at that instant,
 * under the simulator's lock, with arg: it must not call the backend.
 */
void crashsim_arm(struct crashsim *sim, uint64_t ops, void (*on_cut)(void *arg), void *arg);
/*
 * Cut the power now: from here on every operation fails with -EIO (as
 * after FS_IOC_SHUTDOWN), except close, futexes and eventfds, ring_idle
 * and ring_close. seed is kept for crashsim_layout(seed 0). Idempotent.
 */
void crashsim_cut(struct crashsim *sim, uint64_t seed);
/* Whether the power is cut. */
int crashsim_is_cut(struct crashsim *sim);
/* Counted operations so far. */
uint64_t crashsim_ops(struct crashsim *sim);
/* Wait until no operation has run for about 30 ms (the engine's background
 * work, such as a segment's preparation or removal, done). */
void crashsim_settle(struct crashsim *sim);

/*
 * Write the modelled directories, as the power loss leaves them, under
 * outdir (created; existing files with the same names are replaced): the
 * durable state plus a choice, drawn from seed (0: the cut's seed), of
 * which unsynced sectors and directory entries survive. Works before or
 * after a cut. Returns 0 or -errno; *summary (may be NULL) gets a short
 * description of what was chosen (static storage).
 */
int crashsim_layout(struct crashsim *sim, uint64_t seed, const char *outdir, const char **summary);
/* crashsim_layout() into outdir after removing whatever it held, so that
 * nothing of an earlier layout is left. 0 or -errno. */
int crashsim_layout_fresh(struct crashsim *sim, uint64_t seed, const char *outdir);

#endif
