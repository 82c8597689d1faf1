/* SPDX-License-Identifier: Apache-2.0 */
/*
 * internal.h - the handle and the structures shared by uwal's modules:
 * segments (segment.c), recovery (recovery.c), the append path
 * (submit.c, req.c, writer.c), the segment preparer (prepare.c), reads
 * (wal.c, iter.c).
 */
#ifndef UWAL_INTERNAL_H
#define UWAL_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "format.h"
#include "index.h"
#include "queue.h"
#include "req.h"
#include "uio.h"
#include "uwal.h"

#define SEG_NAME_MAX 96
#define UW_MAX_PREFIX 64
#define UW_LOCK_NAME_MAX (UW_MAX_PREFIX + 8)
/* "<prefix>file.<name>.tmp" (files.c; a name has at most 64 bytes). */
#define UW_FILE_NAME_MAX (UW_MAX_PREFIX + 80)
/* The most bytes Linux transfers in one read or write call (MAX_RW_COUNT). */
#define UW_MAX_IO_BYTES 0x7ffff000u
/* Bytes of a segment that frames can use: header and room for the seal
 * (and, with retention, for the NEXT frame that starts a segment: see
 * uwal_open). */
#define SEG_CAPACITY(size) ((size)-FMT_SEG_HDR_SIZE - FMT_SEAL_FRAME_MAX)

/* ---- segments ---------------------------------------------------------- */

struct uw_fdc;

/* A range [from, to) of a segment file whose records a back frame of the
 * same segment voided: from is the record it names, to the frame itself
 * (format.c, "Positions"). */
struct uw_void {
	uint64_t from, to;
};

struct seg {
	struct uw_io *io; /* the handle's backend */
	uint64_t seq;
	/* The descriptor, -1 while closed; see fdcache.c. Pinned: open for
	 * the segment's life (active, prepared, dropped by retention).
	 * Otherwise owned by the cache, which may close it while no one
	 * uses it (fd_users). Guarded by fdc->mu, except that a pinned fd
	 * never changes. */
	int fd;
	struct uw_fdc *fdc; /* NULL: fd is open for the segment's life */
	unsigned fd_users;
	bool fd_pinned;
	bool fd_idle; /* on the cache's idle list */
	struct seg *lru_prev, *lru_next;
	uint32_t salt;
	uint64_t key; /* version 3: salt and the header's key_hi (format.h) */
	/* The durable watermark recovery found (format.c, "Mark frames"):
	 * the file was durable before durable_off, which holds durable_recs
	 * record frames; marked_off is the largest watermark a mark frame of
	 * the file states. Read by the writer when it takes the segment. */
	uint64_t durable_off, durable_recs, marked_off;
	uint16_t hdr_flags;
	uint16_t version; /* the header's format version */
	bool sealed;
	bool doomed; /* dropped by retention, removal not yet durable */
	/* Owners: the handle's list, each iterator and each reader in
	 * uwal_get(). The last unref closes the fd and frees the index. */
	_Atomic int refs;
	/* Published state, changed by the writer under the handle's lock: only
	 * acknowledged frames lie before end. Live records lie in [lo, end),
	 * outside voids[]: truncation frames void what is before lo (a front
	 * position, or a back frame of this segment naming an earlier
	 * segment), a later segment's back frame moves end down, and a back
	 * frame naming a record of this segment voids [that record, the
	 * frame) (struct uw_void, truncate.c). */
	uint64_t lo;
	uint64_t end;
	struct uw_void *voids; /* in file order, inside [lo, end) */
	uint32_t nvoids, cap_voids;
	uint64_t recs; /* record frames in the file (live or void), as a seal counts them */
	struct idx idx;
	char name[SEG_NAME_MAX];
	/* A read-only handle's tail: nonzero bytes after end, hidden from it
	 * (recovery.c); set once at open, 0 otherwise. */
	uint64_t tail_bytes;
	/* Its index file (segidx.c) was loaded at open, or is being written:
	 * set before the segment is shared. */
	bool indexed;
	/* The preparer unlinked the file (its own field: read and written
	 * only on the preparer's thread). */
	bool unlinked;
	/* A read-only handle's sealed segment whose table is not in memory:
	 * idx holds n, min, max and sorted only, and uw_seg_idx_need() reads
	 * it in on first use (segidx.c). Never set in a handle that writes. */
	_Atomic bool idx_lazy;
};

void uw_seg_name(char *out, const char *prefix, uint64_t seq, bool tmp);
/* Parse "<prefix><20 digits>"; false for other names (.tmp, lock, ...). */
bool uw_seg_parse_name(const char *name, const char *prefix, uint64_t *seq);
struct seg *uw_seg_new(struct uw_io *io, uint64_t seq, int fd, uint32_t salt, uint16_t flags,
		       const char *prefix);
void uw_seg_ref(struct seg *s);
/* Append s to a growable array of segments; 0 or -ENOMEM. */
int uw_seg_list_push(struct seg ***v, size_t *n, size_t *cap, struct seg *s);
void uw_seg_unref(struct seg *s);
/*
 * Create segment seq durably: a temporary file gets the header, its
 * preallocation (and zeros), an fdatasync, then is renamed into place and
 * the directory is fsynced. On failure nothing is left behind.
 */
int uw_seg_create(struct uw_io *io, int dirfd, const char *prefix, uint64_t seq, uint64_t size,
		  enum uwal_prealloc mode, struct seg **out);
/* Zero-fill [from, to) of fd, writing each 256 KiB out before the next
 * (nothing made durable: the caller's fdatasync does that). */
int uw_seg_zero_fill(struct uw_io *io, int fd, uint64_t from, uint64_t to);

/*
 * Scan a segment's frames from the header on. Calls fn for every record.
 * Returns 0 with *end = offset after the last valid record frame (where
 * the seal frame starts, if a seal ended the scan: then *sealed is set); *bad_off = offset of the
 * first invalid frame, or 0 if the scan ended on zeros/the end of the file. Returns -errno on I/O
 * failure or the callback's negative value.
 */
typedef int (*seg_rec_fn)(void *ctx, const struct fmt_rec *r, uint64_t off);
/* Called for every truncation frame (type FMT_FRAME_FRONT or _BACK) at off,
 * len bytes long; a negative return stops the scan with it. */
typedef int (*seg_trunc_fn)(void *ctx, uint8_t type, const struct fmt_trunc *t, uint64_t off,
			    uint64_t len);
struct uw_seg_scan {
	uint64_t end;
	uint64_t bad_off;
	uint64_t records;
	bool sealed;
	uint64_t seal_next;
	/* The scan ended inside a uwal_write_batch() call whose last frame is
	 * missing: end and bad_off are moved back to its first frame, records
	 * leaves its records out, and fn was called for the cut_records last
	 * ones anyway (the caller drops them). */
	uint64_t cut_records;
	/* Where the scan stopped: the first invalid (or zero) frame header,
	 * before end was moved back over an unfinished batch. */
	uint64_t stop;
	/* The largest watermark of the mark frames met (0: none), and the
	 * record frames before it, as that mark frame says. */
	uint64_t mark_w, mark_recs;
};
int uw_seg_scan(struct uw_io *io, int fd, uint32_t salt, uint64_t file_size, seg_rec_fn fn,
		void *ctx, struct uw_seg_scan *out);
/* uw_seg_scan() reads the segment as version 1 (a truncation frame is a
 * bad frame); uw_seg_scan_ex() is the same, with truncation frames handed to tfn (NULL: checked,
 * skipped). version is the segment's: a version 1 segment holds no truncation frame. */
int uw_seg_scan_ex(struct uw_io *io, int fd, uint32_t salt, uint16_t version, uint64_t file_size,
		   seg_rec_fn fn, seg_trunc_fn tfn, void *ctx, struct uw_seg_scan *out);
/* uw_seg_scan_ex() from offset from on, a frame boundary before which the
 * segment holds recs record frames (counted in out->records, as a seal
 * counts them); from FMT_SEG_HDR_SIZE with 0, it is uw_seg_scan_ex(). */
int uw_seg_scan_from(struct uw_io *io, int fd, uint32_t salt, uint16_t version, uint64_t from,
		     uint64_t recs, uint64_t file_size, seg_rec_fn fn, seg_trunc_fn tfn, void *ctx,
		     struct uw_seg_scan *out);
/*
 * The frame reader (frames.c): frames of one file from an offset up to an
 * end, read ahead `ahead` bytes at a time. uw_frd_next() gives the next
 * frame, checked (length within the end, CRC) but not decoded, pointing
 * into the reader's window until the next call, and returns FMT_FRAME_OK
 * (r->at: its offset; r->off: just past it), FMT_FRAME_END (r->off is at
 * the end), FMT_FRAME_ZERO (a zero header: no frame here), FMT_FRAME_BAD
 * (a bad frame, or one the file cuts short), or -errno; only a frame moves
 * r->off on. uw_frd_borrow() gives it the caller's buffer to start in, and
 * one to spill a larger frame into (NULL: its own); uw_frd_move() sets the
 * file, its salt, offset and end anew (what was read of the same file stays
 * usable); uw_frd_forget() drops what was read (the file may have been
 * rewritten). uw_frd_destroy() frees its own buffer.
 */
struct uw_frd {
	struct uw_io *io;
	int fd;
	uint32_t salt;
	uint64_t off, at, end;
	size_t ahead;
	uint8_t *buf;
	size_t cap;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
	bool own;
	uint8_t *spill;
	size_t spill_cap;
};
void uw_frd_init(struct uw_frd *r, struct uw_io *io, int fd, uint32_t salt, uint64_t from,
		 uint64_t end, size_t ahead);
void uw_frd_borrow(struct uw_frd *r, uint8_t *buf, size_t cap, uint8_t *spill, size_t spill_cap);
void uw_frd_move(struct uw_frd *r, int fd, uint32_t salt, uint64_t off, uint64_t end);
void uw_frd_forget(struct uw_frd *r);
int uw_frd_next(struct uw_frd *r, struct fmt_frame *f);
void uw_frd_destroy(struct uw_frd *r);
/* A mark frame found by uw_seg_find_mark(): at off, watermark w, recs. */
struct uw_seg_mark {
	uint64_t off, w, recs;
};
/*
 * Search [from, to) of a version 3 segment file for mark frames at any
 * offset (format.c, "Finding marks past damage"), and leave in *out the one
 * of the largest watermark (out->w 0 if none). 0 or -errno.
 */
int uw_seg_find_mark(struct uw_io *io, int fd, uint32_t salt, uint64_t key, uint64_t from,
		     uint64_t to, struct uw_seg_mark *out);
/* Read and check the header of an open segment file. */
int uw_seg_read_header(struct uw_io *io, int fd, struct fmt_seg_hdr *h);

/* ---- index files (segidx.c) --------------------------------------------- */

/* An index file's name: a segment's name, ".idx" and ".tmp". */
#define UW_SIDX_NAME_MAX (SEG_NAME_MAX + 8)
/* "<seg_name>.idx" (or ".idx.tmp") into out[UW_SIDX_NAME_MAX]. */
void uw_sidx_name(char *out, const char *seg_name, bool tmp);
/* Scan the sealed segment s and write its index file (a temporary file,
 * fdatasynced, renamed into place). 0, UWAL_ECORRUPT (s does not read as
 * a sealed segment whose seal ends the file: no index) or -errno. */
int uw_sidx_build(struct uw_io *io, int dirfd, struct seg *s);
/*
 * The index file of the sealed segment s from memory, without reading the
 * file: x is what the writer noted of s at its seal (every field but keys
 * and offs: trunc holds its NEXT frames), and s's table must hold every
 * record frame of the file, in file order, as it does when the writer
 * wrote every frame of s since its header and no truncation touched it.
 * The table is read, never changed: the caller keeps it from changing
 * (uw_prep_index_settle()). 0 and the file's bytes in *buf (malloc'd);
 * 1 if the table does not agree with x (the caller reads the frames);
 * -ENOMEM.
 */
int uw_sidx_encode_noted(const struct seg *s, struct fmt_idx *x, uint8_t **buf, size_t *len);
/* Write buf[0..len) as the index file of s (a temporary file,
 * fdatasynced, renamed into place); 0 or -errno. */
int uw_sidx_write(struct uw_io *io, int dirfd, const struct seg *s, const uint8_t *buf, size_t len);
/*
 * Load the index file of the segment seg_name (header h, open as seg_fd,
 * seg_size bytes) into *x, if it is whole and describes this file
 * (format.c, "Index files"): 0 and *x (uw_fmt_idx_free() it); 1 if there
 * is none or it is not trusted (then *why says why, or is NULL if there
 * is none); -errno.
 */
int uw_sidx_load(struct uw_io *io, int dirfd, const char *seg_name, const struct fmt_seg_hdr *h,
		 int seg_fd, uint64_t seg_size, struct fmt_idx *x, const char **why);
/*
 * Tables loaded on first use (a read-only handle's sealed segments, so
 * that it holds about nothing per record until a lookup needs a segment).
 * uw_seg_idx_unload() frees the table of a sealed segment, keeping n, min
 * and max. uw_seg_idx_need() brings it back (from the index file, else
 * from the frames, within the segment's live range): 0, UWAL_ECORRUPT if
 * the file no longer holds what it held, or -errno; called under the
 * handle's lock (read or write) or before the handle is shared.
 * uw_seg_idx_find() looks index up, loading the table only if index lies
 * in [min, max]: 1 (found, *off), 0, or an error of uw_seg_idx_need().
 */
/*
 * Whole files through the backend (files.c): uw_file_replace() replaces
 * name in dirfd with the n pieces of iov, back to back - written to tmp,
 * fdatasynced, closed and renamed over name, then with dirsync the
 * directory fsynced; tmp is removed when a step before the rename fails.
 * 0 or -errno. uw_file_read() reads all of name into *buf (malloc'd, *len
 * bytes: fewer than its size only if it shrank meanwhile): 0, 1 if it is
 * larger than max (nothing read), -ENOENT, -ENOMEM or -errno.
 */
int uw_file_replace(struct uw_io *io, int dirfd, const char *tmp, const char *name,
		    const struct iovec *iov, int n, bool dirsync);
int uw_file_read(struct uw_io *io, int dirfd, const char *name, uint64_t max, uint8_t **buf,
		 size_t *len);
void uw_seg_idx_unload(struct seg *s);
int uw_seg_idx_need(struct seg *s);
int uw_seg_idx_find(struct seg *s, uint64_t index, uint32_t *off);
/* Where index is among w->segs, newest first (uw_seg_idx_find() on each):
 * 1 (its position in *i, its frame's offset in *off), 0, or an error of
 * uw_seg_idx_need(). Under the handle's lock, or on the writer's thread
 * (the only one that changes the tables of a handle that writes). */
int uw_segs_find(struct uwal *w, uint64_t index, size_t *i, uint32_t *off);
/* Unlink the index file of the segment seg_name, if any (no fsync). */
void uw_sidx_remove(struct uw_io *io, int dirfd, const char *seg_name);

/* ---- segment descriptors (fdcache.c) ------------------------------------ */

/* The most sealed segments' descriptors a handle keeps open. */
#define UW_FDC_MAX 64

struct uw_fdc {
	pthread_mutex_t mu;
	struct uw_io *io;
	int dirfd;
	int open_flags;          /* how a cached descriptor is opened */
	unsigned max;            /* cached descriptors kept open */
	unsigned n;              /* cached descriptors open, used or idle */
	struct seg *head, *tail; /* idle ones, most recently used first */
};

void uw_fdc_init(struct uw_fdc *c, struct uw_io *io, int dirfd, int open_flags, unsigned max);
void uw_fdc_destroy(struct uw_fdc *c);
/* The bound of a handle's cache: a quarter of RLIMIT_NOFILE, 4..UW_FDC_MAX. */
unsigned uw_fdc_bound(void);
/* Put s under the cache; its descriptor, if open, is pinned. */
void uw_fdc_attach(struct uw_fdc *c, struct seg *s);
/* Take s's descriptor for a read (opening it if needed); every get that
 * returns 0 is matched by one put. 0 or -errno. */
int uw_seg_fd_get(struct seg *s, int *fd);
void uw_seg_fd_put(struct seg *s);
/* Keep s's descriptor open for the segment's life (opening it if needed):
 * before its file is unlinked. 0 or -errno. */
int uw_seg_fd_pin(struct seg *s);
/* Hand s's pinned descriptor to the cache (a sealed segment). */
void uw_seg_fd_unpin(struct seg *s);
/* Close s's descriptor now, whatever its state (the last unref). */
void uw_seg_fd_close(struct seg *s);

/* ---- the handle ------------------------------------------------------ */

/* A back truncation's cut: from (seq, off) on, what was there is gone. */
struct uw_cut {
	uint64_t gen;
	uint64_t seq;
	uint64_t off;
};

/* A sealed segment whose index file to write: from the writer's notes and
 * the segment's table when notes is set (uw_sidx_encode_noted), else from
 * a scan of the file. */
struct uw_idx_job {
	struct seg *s;
	struct fmt_idx *notes;
};
/* Free a job's notes (its file is read instead); notes NULL after. */
void uw_idx_job_drop_notes(struct uw_idx_job *j);

struct prep {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started, stop;
	bool want;           /* the writer asked for the next segment */
	uint64_t next_seq;   /* the segment to prepare */
	struct seg *ready;   /* prepared, not yet active */
	int err;             /* last preparation failure, until taken */
	struct seg **doomed; /* segments dropped by retention, to unlink */
	size_t n_doomed, cap_doomed;
	struct seg **gone; /* unlinked durably, to drop from the index */
	size_t n_gone, cap_gone;
	struct seg **kept; /* a round's segments left in place after a failure */
	size_t n_kept, cap_kept;
	bool lost;                   /* a round's result could not be handed back: no more rounds */
	struct uw_idx_job *to_index; /* sealed segments whose index file to write */
	size_t n_to_index, cap_to_index;
	bool reading; /* reading a job's segment table (uw_prep_index_settle) */
};

/* A diagnostic from one of uwal's threads, waiting for a caller's thread. */
#define UW_LOGQ_MAX 32
struct uw_logmsg {
	int level;
	char text[512];
};

struct uwal {
	uwal_config cfg;
	struct uw_io *io; /* the backend every operation goes through */
	char *dir, *prefix;
	char lock_name[UW_LOCK_NAME_MAX]; /* "<prefix>lock" */
	int dirfd, lockfd, wake_fd;
	uint64_t seg_capacity;
	uint64_t max_request; /* bytes one write call may encode to */

	/* Submission. */
	struct pq *queues;
	unsigned nq;
	unsigned ncpu; /* CPUs online at open */
	/* seq_cst handshakes, see submit.c and writer.c: closing/enqueuing (close), and
	 * writer_sleeping/wake_pending (waking the writer).
	 *
	 * Three cache lines, by who writes: every submitter read-modify-
	 * writes inside and enqueuing on each call, the writer polls the
	 * flags of the second line while idle, and the writer's own hints sit
	 * on a third. Sharing one line made it bounce between the two CPUs
	 * several times per record. */
	alignas(64) _Atomic int inside;
	_Atomic int enqueuing;
	alignas(64) _Atomic int closing;
	_Atomic int writer_sleeping;
	_Atomic int wake_pending;
	_Atomic int poisoned;     /* 0, or the error that poisoned the handle */
	_Atomic int gone_pending; /* the preparer has segments in prep.gone */
	/* Where the latest submitter runs: stored only when it changes. */
	_Atomic int submit_cpu;
	/* Where the writer runs (stored only when it changes), and the average
	 * time of a durable batch's write + fdatasync (ns, for wait_nap_pct):
	 * the writer's hints, read by waiters (relaxed). A thread never spins
	 * waiting for one that shares its CPU: the spin only keeps the other
	 * from running. */
	alignas(64) _Atomic int writer_cpu;
	_Atomic uint64_t sync_avg_ns;
	/* How late a waiter's nap (wait_nap_pct) ends past its timeout, on
	 * average (ns): the waiters' own measure, read and written by them
	 * (relaxed), so that a nap ends when it should. */
	_Atomic uint64_t nap_late_ns;
	alignas(64) int close_err; /* the final fdatasync's error at close */

	/* Followers (iter.c): pub_seq is a futex word the writer bumps after
	 * every change of what is published (a batch, a truncation) and when
	 * the handle stops taking writes; it wakes the futex only while
	 * follow_waiters > 0. See uw_wal_notify(). */
	alignas(64) _Atomic uint32_t pub_seq;
	_Atomic int follow_waiters;
	/* uwal_shutdown() was called: no more writes are taken. */
	_Atomic int shut;
	/* Set in a child of fork() (fork.c): the copy must not be used. */
	_Atomic int forked;
	/* The process's registry of open handles (fork.c), under its mutex. */
	struct uwal *fork_prev, *fork_next;
	bool fork_linked;

	/* Asynchronous submissions (async.c). async_out counts the accepted
	 * and not yet reaped ones (at most cfg.async_window), so the queue of
	 * completions, async_window long, never overflows. comp_seq is a
	 * futex word bumped at every post; reapers sleep on it. comp_fd is
	 * signalled when the queue becomes non-empty (comp_armed) and drained
	 * when a reap empties it. */
	alignas(64) _Atomic uint64_t async_out;
	alignas(64) pthread_mutex_t comp_mu;
	uwal_completion *comp;
	size_t comp_head, comp_n;
	bool comp_armed;
	int comp_fd;
	_Atomic uint32_t comp_seq;
	_Atomic int comp_waiters;
	/* The active segment's salt, stored by the writer when it changes:
	 * submitters encode frames with it (a hint: see req.h). */
	_Atomic uint32_t cur_salt;
	/* Recovery's high-water mark of indexes (NEXT frames, back cuts), for
	 * the writer's assigned indexes. */
	uint64_t hw_index;

	pthread_t writer;
	bool writer_started;
	int writer_init_err;
	struct uw_ring_info ring_info;
	_Atomic int writer_ready;

	/* Segments and index: the writer changes them under lock (write);
	 * readers look up under lock (read). */
	pthread_rwlock_t lock;
	struct uw_fdc fdc; /* the segments' descriptors */
	struct seg **segs; /* by seq; the last one is the active segment */
	size_t nsegs, cap_segs;

	struct prep prep;

	/* Counters; the writer adds, anyone reads (relaxed). */
	_Atomic uint64_t st_records, st_batches, st_fsyncs, st_bytes, st_rotations, st_enters,
		st_wakeups, st_qfull, st_prep_waits, st_deleted, st_waiter_sleeps, st_waiter_wakes,
		st_writer_sleeps, st_sync_ns, st_rejoin_waits, st_rejoin_timeouts;
	_Atomic uint64_t st_sync_hist[UWAL_HIST_BUCKETS];

	/* Diagnostics of uwal's own threads, handed to log_fn by the next
	 * call that returns (wal.c). */
	pthread_mutex_t log_mu;
	pthread_mutex_t files_mu; /* one uwal_file_put() or _remove() at a time */
	struct uw_logmsg logq[UW_LOGQ_MAX];
	size_t n_logq;
	uint64_t logq_dropped;
	_Atomic int logq_pending;

	/* Back cuts, for iterators (truncate.c): appended by the writer
	 * under the write lock; trunc_gen is the last one's generation. */
	struct uw_cut *cuts;
	size_t ncuts, cap_cuts;
	_Atomic uint64_t trunc_gen;

	/* Writer thread state (writer.c). */
	struct writer *wr;
};

/* config.c */
bool uw_cfg_prefix_ok(const char *prefix);
/* Read the caller's config (of whatever size it has, see config.c) into
 * *out with defaults for what it lacks, and check it; UWAL_EINVAL, with
 * the field named through log_fn, if anything is out of range. */
int uw_cfg_load(const uwal_config *in, uwal_config *out);

/* wal.c: diagnostics. On uwal's own threads (which call
 * uw_wal_mark_thread() first) a message is queued, and the next uwal call
 * to return on a caller's thread hands it to log_fn (uw_wal_flush_log). */
void uw_wal_mark_thread(void);
void uw_wal_flush_log(struct uwal *w);
void uw_wal_log(const struct uwal *w, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 0 if "<prefix>lock" in the directory is still the file the handle has
 * locked; UWAL_ELOCKED (said through log_fn) if it was removed or
 * replaced; -errno if that cannot be told. */
int uw_wal_check_lock(struct uwal *w);
/* Take the flock on "<prefix>lock" in dirfd, creating the file: its
 * descriptor into *out, or UWAL_ELOCKED, or -errno. */
int uw_wal_take_lock(struct uw_io *io, int dirfd, const char *prefix, int *out);
/* "<prefix>lock" into out[UW_LOCK_NAME_MAX]. */
void uw_wal_lock_name(char *out, const char *prefix);

/* Bump pub_seq and wake the followers waiting on it (writer.c). */
void uw_wal_notify(struct uwal *w);

/* recovery.c */
int uw_rec_open_log(struct uwal *w);
/* The numbers of the log's segment files, sorted, into a malloc'd *out
 * (nothing is removed). 0 or -errno. */
int uw_rec_list_seqs(struct uwal *w, uint64_t **out, size_t *n_out);
/* Read s (of the read-only handle w: its last segment, or one after
 * w->segs[0..nprev)) from offset from on, through fd, with the open's
 * checks: its records join s's index, its truncation frames void what they
 * name in w->segs[0..nprev) and s, and BACK frames at or after note_from
 * (0: none) are noted for iterators. Under the write lock (refresh.c).
 * *out as uw_seg_scan_from() fills it; s->end and the rest are the
 * caller's to set. 0, UWAL_ECORRUPT or -errno. */
int uw_rec_scan(struct uwal *w, struct seg *s, size_t nprev, int fd, uint64_t from,
		uint64_t file_size, uint64_t note_from, struct uw_seg_scan *out);
/* Unsafe recover in dirfd (whose lock the caller holds, or, with
 * UWAL_RECOVER_DRY_RUN, checked): remove the files that fail the open's
 * checks (or cut a damaged segment at its last whole batch before the
 * damage and seal it there) and flag the next survivors after_gap, or with
 * the flag only say so. *report gets one element per action, in segment
 * order (a file cut and flagged has two; malloc'd, NULL if none). */
int uw_rec_unsafe_recover(struct uw_io *io, int dirfd, const char *prefix, unsigned flags,
			  uwal_segment_info **report, size_t *n_report);

/* prepare.c */
int uw_prep_start(struct uwal *w);
void uw_prep_stop(struct uwal *w);
void uw_prep_request(struct uwal *w);
/* Wait for the prepared segment; NULL and *err on failure (then the
 * preparer retries on the next request). */
struct seg *uw_prep_take(struct uwal *w, int *err);
/* Hand one round of segments dropped by retention (oldest first, one
 * reference each, the malloc'd array v) to the preparer, which removes
 * them strictly in order and stops at the first failure. One round at a
 * time. 0, or -ENOMEM (nothing taken). */
int uw_prep_delete(struct uwal *w, struct seg **v, size_t n);
/* Have the preparer write the index file of the sealed segment s (it
 * takes a reference), after what it was asked before: from notes (taken
 * over, malloc'd; see uw_sidx_encode_noted) and s's table, or, with notes
 * NULL, from a scan of the file. Nothing happens if that cannot be queued
 * (s is read frame by frame at the next open). */
void uw_prep_index(struct uwal *w, struct seg *s, struct fmt_idx *notes);
/* Before the writer changes a sealed segment's table (a truncation): the
 * queued jobs read their files instead, and the one that is reading a
 * table now is waited for. */
void uw_prep_index_settle(struct uwal *w);
/* Take the result of the last round: the segments whose removal is
 * durable now, and (*kept) the ones left in place after a failure. */
struct seg **uw_prep_take_gone(struct uwal *w, size_t *n, struct seg ***kept, size_t *n_kept);

/* submit.c: queue r and wait for it; 0 or its error. */
int uw_pipe_submit(struct uwal *w, struct req *r);
/* Queue an asynchronous request (owned by uwal once queued: completed and
 * freed by the writer); 0, or an error and r is still the caller's. */
int uw_pipe_submit_async(struct uwal *w, struct req *r);

/* wal.c: check n records for a write call (UWAL_EINVAL, UWAL_ETOOBIG) and
 * add their frames' encoded size to *bytes. */
int uw_wal_check_records(const struct uwal *w, const uwal_record *recs, size_t n, size_t *bytes);

/* truncate.c */
/* The writer's position in the active segment, as truncation changes it. */
struct uw_wpos {
	struct seg *active;
	uint64_t woff;
	uint64_t recs; /* record frames in the active segment */
	bool dirty;
};
/* Void s's live records before (seq, off) / from (seq, off) on; under the
 * write lock (or in recovery). A failed allocation is left in *err. */
void uw_trunc_void_front(struct seg *s, uint64_t seq, uint64_t off, int *err);
void uw_trunc_void_back(struct seg *s, uint64_t seq, uint64_t off, int *err);
/* Void s's live records in [off, frame): a back frame at frame naming the
 * record at off of s itself. Same locking and *err. */
void uw_trunc_void_within(struct seg *s, uint64_t off, uint64_t frame, int *err);
/* What the truncation frame t (FMT_FRAME_FRONT or _BACK) at offset off of
 * cur, len bytes long, voids, in cur and in the segments before it,
 * prev[0..nprev): recovery as it reads the frame, the writer once it is
 * durable. Same locking and *err. */
void uw_trunc_apply(struct seg *const *prev, size_t nprev, struct seg *cur, uint8_t type,
		    const struct fmt_trunc *t, uint64_t off, uint64_t len, int *err);
/* Is off (a record's offset in s) in one of s's voids? */
bool uw_trunc_in_void(const struct seg *s, uint64_t off);
/* Run a truncation request on the writer thread; 0 or its error, with
 * *io_err set when the handle must be poisoned. */
int uw_trunc_run(struct uwal *w, struct uw_ring *ring, struct uw_wpos *p, const struct req *r,
		 bool *io_err);
/* Whether the record index of a back truncation is in the active
 * segment: in a segment before version 3 (whose readers take a BACK frame
 * naming its own segment for corruption) the writer seals the segment
 * first, and the cut becomes a BACK frame in the new one. */
bool uw_trunc_back_needs_rotation(struct uwal *w, const struct seg *active, uint64_t index);
/* Note a back cut at (seq, off) for the iterators; under the write lock.
 * 0 or -ENOMEM. */
int uw_trunc_note_cut(struct uwal *w, uint64_t seq, uint64_t off);
/* Whether a back cut made after generation gen covers (seq, off). */
bool uw_trunc_cut_since(struct uwal *w, uint64_t gen, uint64_t seq, uint64_t off);

/* writer.c */
int uw_pipe_start(struct uwal *w);
void uw_pipe_stop(struct uwal *w);
/* In a child of fork(), where the writer thread does not exist: close the
 * child's copy of the ring and free what can be freed (fork.c). */
void uw_pipe_forget(struct uwal *w);

/* fork.c: the registry of open handles and the child's side of fork(). */
/* Register w; with take_lock, also take its lock (uw_wal_take_lock into
 * w->lockfd) in the same step, so that no fork() sees the lock taken and w
 * not registered. 0, or the lock's error. */
int uw_fork_register(struct uwal *w, bool take_lock);
/* Deregister w (if registered) and close its lock descriptor, in one step. */
void uw_fork_unregister(struct uwal *w);
/* uwal_close() of a handle in a child of fork(): free what the child can
 * without writing, syncing, joining or locking anything. */
void uw_fork_close(struct uwal *w);

#endif
