/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uwal.h - the public interface of uwal, a write-ahead log for Linux.
 *
 * This header is the manual. Every function lists its parameters, every
 * error it can return, its threading rules and who owns what.
 *
 * Model
 * -----
 * A log is a directory of segment files. Each record carries a 64-bit
 * index (unique within the log), an opaque key and an opaque value. The
 * caller chooses the index, or passes 0 and uwal assigns the next one (see
 * "Assigned indexes" below). Records are appended in log order (the order
 * the writer thread takes them, which for one submitting thread is its
 * call order) and can be read back by index or iterated in log order.
 *
 * Any number of threads may call the write functions on one handle at the
 * same time. Each blocking call returns once its record is acknowledged
 * (see "Durability" below) or has failed; uwal_submit() returns at once and
 * the outcome comes later as a completion (uwal_reap()). No record is
 * acknowledged before every record ahead of it in log order.
 *
 * Assigned indexes
 * ----------------
 * A record written with index 0 (by any write call) gets, when the writer
 * takes it, one more than the largest index ever assigned or written in
 * the log, in log order. That high-water mark is kept across reopen, also
 * when retention or uwal_truncate_front() has emptied the log (a small
 * frame at the start of each new segment carries it); after
 * uwal_truncate_back(k) the next index is k, or one more than the largest
 * index left if that is larger. Assigned and explicit indexes may be mixed:
 * an explicit index that is already in the log is still refused
 * (UWAL_EEXIST), and an assigned index never collides. uwal_append() and
 * the completions of uwal_submit() tell which index was assigned.
 *
 * Errors
 * ------
 * Every function that can fail returns 0 (or a documented non-negative
 * value) on success and a negative number on failure: either -errno from the
 * system (-ENOSPC, -EIO, -EACCES, ...) or one of the UWAL_E* codes below,
 * which lie in a range no errno uses. uwal_strerror() describes both. uwal
 * never touches errno on purpose, and never prints: diagnostics go to the
 * configured log_fn.
 *
 * Durability
 * ----------
 * - A write returns 0 only after its record reached the kernel
 *   (UWAL_SYNC_NONE: the page cache, lost if the machine crashes) or is
 *   durable (an fdatasync completed after its bytes were written).
 * - When a record is acknowledged durable, every record before it in log
 *   order is durable too.
 * - The in-memory index never describes a record whose write failed.
 * - A failed write or fdatasync fails every request it covered and every one
 *   after it, and poisons the handle: every later write returns
 *   UWAL_EPOISONED until the log is closed and reopened. Reads of
 *   acknowledged records keep working. An fdatasync is never retried.
 * - Failing to prepare a new segment (create, fallocate) writes nothing: the
 *   requests that needed the new segment fail with that error (for example
 *   -ENOSPC) and the handle is not poisoned.
 */
#ifndef UWAL_H
#define UWAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UWAL_BUILDING) && defined(__GNUC__)
#define UWAL_API __attribute__((visibility("default")))
#else
#define UWAL_API
#endif

#define UWAL_VERSION_MAJOR 0
#define UWAL_VERSION_MINOR 1
#define UWAL_VERSION_PATCH 0
#define UWAL_VERSION_STRING "0.1.0"
/* The header's version as one number: MAJOR * 1000000 + MINOR * 1000 + PATCH.
 * Compare it with what uwal_version() says the library is. */
#define UWAL_VERSION_NUMBER                                                                        \
	(UWAL_VERSION_MAJOR * 1000000 + UWAL_VERSION_MINOR * 1000 + UWAL_VERSION_PATCH)

/*
 * uwal's own error codes. They are negative and lie below -30000, far from
 * any -errno value. Functions also return -errno from the system.
 */
enum uwal_error {
	UWAL_EINVAL = -30001,     /* bad argument: NULL pointer, bad flags, bad config */
	UWAL_EEXIST = -30002,     /* the index is already in the log (or in flight) */
	UWAL_ENOTFOUND = -30003,  /* no record with that index */
	UWAL_ETOOBIG = -30004,    /* the record(s) cannot fit in one segment */
	UWAL_ESHUTDOWN = -30005,  /* the handle is closing; the record was not taken */
	UWAL_ELOCKED = -30006,    /* another handle or process holds the directory */
	UWAL_ECORRUPT = -30007,   /* a file failed its checks (log_fn names file and offset) */
	UWAL_EPOISONED = -30008,  /* an earlier write or fdatasync failed; reopen the log */
	UWAL_EAGAIN = -30009,     /* the submission window is full: reap completions first */
	UWAL_ETRUNCATED = -30010, /* the position was removed by a truncation */
	UWAL_EVERSION = -30011,   /* a segment of a newer format version than this library reads */
	UWAL_EREADONLY = -30012,  /* the handle was opened with UWAL_OPEN_READONLY */
	UWAL_EFORKED = -30013,    /* the handle was opened before this process forked */
};

/* Buckets of uwal_stats.sync_hist (up to about 2^40 ns, 18 minutes). */
#define UWAL_HIST_BUCKETS 160

/* Opaque handle of one open log. */
typedef struct uwal uwal;
/* Opaque iterator over the records of a log. */
typedef struct uwal_iter uwal_iter;

/*
 * How writes are made durable.
 * UWAL_SYNC_NONE:   no fdatasync unless a write asks for it; a write is
 *                   acknowledged once its bytes are in the kernel. (default)
 * UWAL_SYNC_BATCH:  every batch ends with an fdatasync linked to its write;
 *                   every acknowledged write is durable (group commit).
 * UWAL_SYNC_ALWAYS: every write call (one record, or one uwal_write_batch
 *                   call) is written and fdatasynced on its own, never
 *                   grouped with another call. The strict baseline.
 */
enum uwal_sync_mode { UWAL_SYNC_NONE = 0, UWAL_SYNC_BATCH = 1, UWAL_SYNC_ALWAYS = 2 };

/*
 * How a new segment's space is prepared, ahead of use, by a background
 * thread. fallocate alone leaves "unwritten" extents: every fdatasync into
 * them also journals an extent conversion. Zero-filling converts them once,
 * before the segment takes writes, at the cost of writing the segment twice.
 * The zeros go to the disk 256 KiB at a time, each piece written back
 * before the next is written, so that they never queue more than that
 * ahead of the log's own durable writes.
 */
enum uwal_prealloc {
	UWAL_PREALLOC_ZERO = 0,      /* fallocate, then write zeros and sync */
	UWAL_PREALLOC_FALLOCATE = 1, /* fallocate only */
	UWAL_PREALLOC_AUTO = 2,      /* (default) ZERO when sync_mode makes every
					write durable (BATCH, ALWAYS); FALLOCATE
					in UWAL_SYNC_NONE, where nothing waits
					for the conversion and the zeros would
					double what reaches the page cache. Set
					ZERO for a NONE handle that makes many
					writes durable (sync = true). */
};

/*
 * How a batch that needs no fdatasync reaches the kernel. Durable batches
 * always go through io_uring as a linked write + fdatasync.
 * UWAL_WRITE_PWRITE: the writer thread calls pwrite(2) itself (default; on
 *                    ext4 an io_uring buffered write is punted to a kernel
 *                    worker thread, which costs far more per batch).
 * UWAL_WRITE_URING:  an io_uring write SQE.
 */
enum uwal_write_path { UWAL_WRITE_PWRITE = 0, UWAL_WRITE_URING = 1 };

/*
 * How a durable batch is made durable, on the ring.
 * UWAL_DURABLE_LINKED: a write SQE and an fdatasync SQE linked after it.
 * UWAL_DURABLE_DSYNC:  one write SQE with RWF_DSYNC (default): the kernel
 *                      makes the written range durable before the write
 *                      completes (one operation instead of two; on ext4
 *                      one hop to an io_uring worker instead of two;
 *                      perf/durable-write.fio).
 * Both give the same guarantee. RWF_DSYNC makes only the written range
 * durable, so a durable batch that follows unsynced ones in its segment
 * (UWAL_SYNC_NONE with sync = true) is always written linked. The seal and
 * the final sync at close are always an fdatasync.
 */
enum uwal_durable_write { UWAL_DURABLE_LINKED = 0, UWAL_DURABLE_DSYNC = 1 };

/*
 * Flags of uwal_config.open_flags (OR them; 0, the default, is a normal
 * open that takes the lock, repairs a torn tail and writes).
 *
 * UWAL_OPEN_READONLY: open without the lock, so that it can sit beside a
 *   live writer (in this or another process), and change nothing: no
 *   directory is created, no torn tail is cut, no leftover is removed, no
 *   segment is created, no byte of the directory is written. Reads by
 *   index and iterators work; the write calls return UWAL_EREADONLY.
 *   What it sees is a snapshot taken at open: the records whose frames
 *   were whole in the files when uwal_open() read them, in log order, up
 *   to the first incomplete frame (and whole uwal_write_batch() calls
 *   only). Every record acknowledged before uwal_open() was called is in
 *   it, in any sync mode; records acknowledged while it ran may or may not
 *   be; records written later never are (open again to see them). If
 *   the writer seals the segment the open just read and goes on into the
 *   next, the open reads that segment again (sealed now) and goes on; a
 *   segment that stays unsealed with records after it is damage
 *   (UWAL_ECORRUPT), as in a normal open. If the writer's retention removes a segment
 *   of the snapshot, reading it later fails with -ENOENT; so does the
 *   open if the removal happens while it lists the files. Without a
 *   writer, a read-only open of a healthy log sees exactly what a normal
 *   open would; a torn tail is left in place and hidden. It keeps no
 *   index table of a sealed segment until a lookup in that segment
 *   (uwal_get(), uwal_iter_open_at() with an index) reads it in, from
 *   the segment's index file or its frames, and uwal_refresh() lets the
 *   tables go again (uwal_stats.index_bytes): iterating a log of any size
 *   takes memory bounded by one segment's table. A lookup that finds the
 *   segment changed or damaged since the open returns UWAL_ECORRUPT.
 * UWAL_OPEN_NO_REPAIR: refuse (UWAL_ECORRUPT) instead of cutting a torn
 *   tail; log_fn names the file and offset of the cut it would make and
 *   the records and bytes of frames that cut would drop. Nothing is
 *   changed. Also with UWAL_OPEN_READONLY: then a log whose tail is
 *   being written may be refused.
 * UWAL_OPEN_VERIFY: check every frame of every segment (CRC, framing,
 *   seals, duplicate indexes) before the open returns, ignoring index
 *   files. Without it, a sealed segment with an index file
 *   ("<segment>.idx", written in the background after each seal) that is
 *   whole (its CRC) and matches the segment (number, version, key, file
 *   size, and a valid seal frame with the recorded record count ending the
 *   file) is not read: its records, truncation frames and counts come from
 *   the index file, so the open does O(segments) work for sealed segments
 *   (the last segment is always read frame by frame), and damage inside
 *   such a segment's frames shows only when they are read (UWAL_ECORRUPT
 *   from uwal_get() or the iterator). A segment without a trusted index
 *   file is read frame by frame, as with this flag.
 */
enum uwal_open_flag {
	UWAL_OPEN_READONLY = 1u << 0,
	UWAL_OPEN_NO_REPAIR = 1u << 1,
	UWAL_OPEN_VERIFY = 1u << 2,
};

/* Levels passed to log_fn. */
enum uwal_log_level { UWAL_LOG_ERROR = 0, UWAL_LOG_WARN = 1, UWAL_LOG_INFO = 2 };

/*
 * Configuration of a log. Fill it with uwal_config_init(), then change what
 * you need. uwal_open() copies what it needs; the struct and its strings
 * may be freed after uwal_open() returns.
 *
 * The struct can grow in later versions without breaking programs:
 * uwal_config_init() records the struct's size (as the program was
 * compiled) in `size`, and uwal_open() reads only that many bytes; fields
 * a program does not know keep their defaults. A program built against a
 * newer header than the library it runs with is accepted as long as it
 * leaves the fields the library does not know at their (zero) defaults.
 * A config not filled by uwal_config_init() is refused (UWAL_EINVAL).
 */
typedef struct uwal_config {
	uint32_t size;                   /* set by uwal_config_init(); do not change */
	const char *dir;                 /* directory of the log; created (with parents) if
					    missing. Required. */
	const char *prefix;              /* segment file name prefix; default "segment_".
					    Must be non-empty, at most 64 bytes, and
					    contain no '/' and not be "." or "..". */
	uint64_t segment_threshold;      /* records per segment before rotation; 0 (default)
					    = no record limit. A uwal_write_batch() call is
					    never split, so a segment may exceed it. */
	uint64_t segment_size;           /* bytes preallocated per segment; default 64 MiB,
					    from 64 KiB to 4 GiB - 1. Rotation happens when
					    the next write would not fit. */
	uint32_t max_segments;           /* keep at most N segments, deleting the oldest at
					    rotation; 0 (default) = keep all. A nonzero value
					    DELETES acknowledged records: use it only when
					    something else has consumed them. A dropped
					    segment is unlinked in the background; its
					    records stay readable and its indexes taken
					    until the removal is durable (unlink, then
					    directory fsync), so a crash can never bring
					    back a file whose indexes were written again.
					    Removal goes strictly oldest first and stops at
					    the first segment it cannot remove (log_fn says
					    which and why): it and the newer ones stay in
					    the log, readable, and are tried again at the
					    next rotation, so no gap is ever left. With
					    retention each new segment starts with a small
					    frame (at most 44 bytes) that keeps the
					    high-water mark of assigned indexes, and the
					    largest record is that much smaller. */
	enum uwal_sync_mode sync_mode;   /* default UWAL_SYNC_NONE */
	uint32_t max_batch_size;         /* records per batch; default 1024, 1..65536 */
	uint32_t max_batch_delay_us;     /* default 0: adaptive group commit (a batch goes
					   out as soon as no I/O is in flight). If nonzero,
					   the writer waits up to this long for a batch to
					   fill before sending it. At most 1 s. */
	uint32_t queue_capacity;         /* slots per per-CPU submission queue; default 1024,
					    rounded up to a power of two, 2..1048576 */
	uint32_t ring_entries;           /* io_uring SQ size; default 64, 8..4096 */
	uint32_t ring_flags;             /* extra IORING_SETUP_* flags (e.g. SQPOLL) for
					    tuning experiments; default 0 */
	enum uwal_prealloc prealloc;     /* default UWAL_PREALLOC_AUTO */
	enum uwal_write_path write_path; /* default UWAL_WRITE_PWRITE */
	uint32_t writer_spin_us;         /* how long the writer thread polls the queues
					    before it sleeps; default 50 */
	uint32_t wait_spin_us;           /* how long a submitter yields the CPU waiting for
					    its acknowledgment before it sleeps on its
					    futex; default 200 */
	uint32_t ring_poll_us;           /* while more threads wait in blocking durable
					    writes than there are CPUs (they sleep
					    then), the writer polls for its batch's
					    completion for up to this long before it
					    sleeps in io_uring_enter, saving its own
					    wake-up; default 300, 0 = never poll, at
					    most 1000000. With fewer waiters it never
					    polls. The ring keeps DEFER_TASKRUN: the
					    poll watches IORING_SQ_TASKRUN
					    (TASKRUN_FLAG) and enters once. */
	void (*log_fn)(void *ctx, int level, const char *msg); /* diagnostics, e.g.
				       the corrupt file and offset; NULL = silent.
				       Called only on the caller's own thread, from
				       inside a uwal call on this handle (uwal_open,
				       the write calls, uwal_get, uwal_stats_get,
				       uwal_close), never with a uwal lock held: what
				       uwal's own threads have to say (a failed
				       segment preparation, poisoning) is held until
				       the next of those calls returns. So log_fn may
				       call any uwal function on the handle except
				       uwal_close(); msg is valid during the call. */
	void *log_ctx;                                         /* passed to log_fn */
	enum uwal_durable_write durable_write;                 /* default UWAL_DURABLE_DSYNC */
	uint32_t wait_nap_pct;  /* a durable waiter that would spin first sleeps on a
				   timer so as to wake at this share (0..100 %)
				   of the recent write + fdatasync time, then
				   spins the rest; default 0 (spin from the
				   start). The timer runs with 1 ns of slack (the
				   calling thread's timer slack is put back after
				   it) and ends early by how late recent naps
				   woke; a nap under 20 us is not taken. */
	uint32_t open_flags;    /* UWAL_OPEN_* flags, OR'ed; default 0. Unknown bits
				   are refused (UWAL_EINVAL). */
	uint32_t async_window;  /* the most uwal_submit() submissions accepted and
				   not yet reaped (uwal_reap()); default 1024,
				   1..1048576. A full window makes uwal_submit()
				   return UWAL_EAGAIN. */
	uint32_t writeback_kib; /* unsynced bytes (KiB) after which the writer
				   starts their writeback (sync_file_range,
				   without waiting), so that the seal's
				   fdatasync at rotation finds little left to
				   write; makes nothing durable. Default 8192
				   (8 MiB), 0 = never, at most 4194304. */
	uint32_t rejoin_us;     /* after a durable batch of two or more blocking
				   writers, the writer waits up to this long
				   (yielding the CPU) for as many requests to
				   be pending again before it sends the next
				   batch, so the woken writers share one
				   fdatasync instead of splitting into cohorts
				   that take turns. Default 100; 0 = never
				   wait; at most 10000. A lone writer and
				   asynchronous submissions never wait. */
} uwal_config;

/*
 * One record. In uwal_write_batch() the caller owns the buffers. From
 * uwal_get() the record owns copies (free them with uwal_record_free()).
 * From uwal_iter_next() the buffers belong to the iterator.
 * key may be NULL when key_len is 0; value likewise.
 */
typedef struct uwal_record {
	uint64_t index;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
} uwal_record;

/*
 * Counters since uwal_open(). Monotonic except segments. uwal_stats_get()
 * fills as many bytes as the program's struct has (the size scheme of
 * uwal_config), so fields added later never overrun an older program's.
 */
typedef struct uwal_stats {
	uint64_t records;          /* records acknowledged */
	uint64_t batches;          /* batches written */
	uint64_t fsyncs;           /* fdatasyncs issued by the writer (batches, seals) */
	uint64_t bytes;            /* bytes written to segments (frames, not preallocation) */
	uint64_t segments;         /* segment files in the log now */
	uint64_t rotations;        /* segments sealed and replaced */
	uint64_t ring_enters;      /* io_uring_enter calls made by the writer thread */
	uint64_t writer_wakeups;   /* times a submitter had to wake the sleeping writer */
	uint64_t queue_full;       /* times a submitter found its CPU's queue full */
	uint64_t prealloc_waits;   /* rotations that had to wait for the next segment */
	uint64_t deleted_segments; /* segments removed by retention (max_segments) */
	uint32_t ring_features;    /* IORING_FEAT_* of the ring, 0 if io_uring is not used */
	uint32_t ring_setup_flags; /* IORING_SETUP_* flags the ring was created with */
	bool uring;                /* true if durable batches go through io_uring; false
				      if io_uring was unavailable and uwal fell back to
				      pwrite + fdatasync from the writer thread */
	/* Where the time and the wake-ups go (per record: divide by records). */
	uint64_t waiter_sleeps; /* submitters that slept on their futex for an
				   acknowledgment (instead of seeing it while spinning) */
	uint64_t waiter_wakes;  /* futex wake-ups of sleeping submitters (each
				   by the writer) */
	uint64_t writer_sleeps; /* times the idle writer went to sleep */
	uint64_t sync_ns;       /* total time of durable batches' write + fdatasync
				   chains, from submission to completion */
	/* Histogram of those chains' times: sync_hist[b] counts chains whose
	 * time t (ns) has uwal_hist_bucket(t) == b: 4 buckets per power of two
	 * (about 19% wide), see uwal_hist_bucket_low(). */
	uint64_t sync_hist[UWAL_HIST_BUCKETS];
	/* Not a counter: bytes of index tables (record index -> frame) the
	 * handle holds now, 12 per record in a table plus 4 per slot of the
	 * hash a segment of out-of-order indexes has. A handle that writes
	 * holds every live record's; a read-only handle (UWAL_OPEN_READONLY)
	 * holds its unsealed segment's, and a sealed segment's only from the
	 * first lookup in it (uwal_get(), uwal_iter_open_at() with an index,
	 * a check of a later segment) to its next uwal_refresh(): iterating
	 * needs no table, so reading a log of any size through a read-only
	 * handle takes memory bounded by its largest segment's table. */
	uint64_t index_bytes;
	/* Durable batches after which the writer waited for their woken
	 * submitters to write again before it sent the next batch
	 * (uwal_config.rejoin_us), and how many of those waits ran out. */
	uint64_t rejoin_waits;
	uint64_t rejoin_timeouts;
} uwal_stats;

/*
 * The histogram buckets of uwal_stats.sync_hist: values below 4 have their
 * own bucket; above, bucket 4*(k-1) + the two bits after the top one, where
 * k = floor(log2(v)). uwal_hist_bucket_low(b) is the smallest value of
 * bucket b (the next bucket's low is one past its largest).
 */
static inline unsigned uwal_hist_bucket(uint64_t v)
{
	if (v < 4)
		return (unsigned)v;
	unsigned k = 63u - (unsigned)__builtin_clzll(v);
	unsigned b = 4u * (k - 1u) + (unsigned)((v >> (k - 2u)) & 3u);
	return b < UWAL_HIST_BUCKETS ? b : UWAL_HIST_BUCKETS - 1u;
}

static inline uint64_t uwal_hist_bucket_low(unsigned b)
{
	if (b < 4)
		return b;
	unsigned k = b / 4u + 1u;
	return (uint64_t)(4u + b % 4u) << (k - 2u);
}

/*
 * Fill *cfg with the defaults listed in struct uwal_config (dir = NULL) and
 * record its size. A macro: it passes sizeof *cfg to
 * uwal_config_init_sized(), which fills the first `size` bytes (NULL cfg,
 * or a size too small to hold the size field, is ignored).
 */
#define uwal_config_init(cfg) uwal_config_init_sized((cfg), sizeof(*(cfg)))
UWAL_API void uwal_config_init_sized(uwal_config *cfg, size_t size);

/*
 * Open (creating if needed) the log in cfg->dir and recover it.
 * cfg->open_flags changes this (see enum uwal_open_flag): UWAL_OPEN_READONLY
 * opens an existing log for reading only, takes no lock and writes nothing;
 * UWAL_OPEN_NO_REPAIR refuses to cut a torn tail.
 *
 * Recovery reads every segment, checks every frame's CRC and rebuilds the
 * in-memory index. Sealed segments (all but the last written one) must be
 * whole: any bad frame in them fails the open with UWAL_ECORRUPT, and log_fn
 * names the file and offset. In the last segment the log ends at the first
 * frame that fails its check (a torn tail after a crash); everything after
 * it is cut off durably before the open returns, and log_fn names the file,
 * the offset of the cut, how many records it dropped (whole records of a
 * uwal_write_batch() call cut short, and the torn frame) and how many bytes
 * of frames. Leftover temporary files of an interrupted segment preparation
 * ("<prefix><20 digits>.tmp", and no other name) are removed.
 *
 * The directory is locked (flock on "<prefix>lock" in it) for the life of
 * the handle; a second open of the same dir and prefix, from this or any
 * other process, fails with UWAL_ELOCKED. The lock is per prefix: logs of
 * different prefixes may share a directory.
 *
 * The lock holds only while "<prefix>lock" is the file that is locked. If
 * it is removed or replaced while the log is open, a second open cannot
 * tell (it creates and locks a new file, and succeeds); both handles may
 * then append at the same offsets of the same segment until the first one
 * notices. It checks the name (st_dev, st_ino against its locked
 * descriptor) right after taking the lock and at every rotation, before
 * the seal: there the write calls that needed the rotation fail with
 * UWAL_ELOCKED, the handle is poisoned, and log_fn names the lock file.
 * Records either handle wrote in between may be lost or damaged: never
 * touch the lock file of an open log.
 *
 * File descriptors: the handle keeps the active segment's descriptor open,
 * and those of sealed segments in a bounded cache (at most 64, or a
 * quarter of RLIMIT_NOFILE's soft limit at open if that is less, at least
 * 4): a sealed segment is opened on demand when read, and the least
 * recently used idle descriptor is closed when the cache is full, or all
 * idle ones when the process runs out of descriptors (EMFILE). uwal_get()
 * and each iterator hold the descriptor of the segment they read while
 * they read it, so it is never closed under them. A log may therefore have
 * any number of segments. Besides the cache a handle holds the directory,
 * the lock file, an eventfd, the ring, the segment being prepared and
 * those that retention is removing (a removed file cannot be reopened).
 *
 * io_uring: probed at open. If the kernel refuses io_uring_setup (old
 * kernel, seccomp, sysctl kernel.io_uring_disabled), uwal falls back to
 * pwrite + fdatasync from the writer thread with the same guarantees, says
 * so through log_fn, and stats.uring is false.
 *
 * Parameters:
 *   cfg  the configuration (see struct uwal_config); not retained.
 *   out  receives the handle on success; untouched on failure.
 * Returns 0, or:
 *   UWAL_EINVAL    cfg or out is NULL, cfg was not filled by
 *                  uwal_config_init(), or a field is out of range (log_fn
 *                  names the field and its allowed range). ring_flags
 *                  accepts only SQPOLL, SQ_AFF, CLAMP, SUBMIT_ALL,
 *                  COOP_TASKRUN, TASKRUN_FLAG, SINGLE_ISSUER and
 *                  DEFER_TASKRUN (not with SQPOLL);
 *                  other flags (IOPOLL, R_DISABLED, NO_SQARRAY, ...) hang or
 *                  break the write path and are refused by name
 *   UWAL_ELOCKED   the log is open elsewhere (never with UWAL_OPEN_READONLY,
 *                  which takes no lock)
 *   UWAL_ECORRUPT  a sealed segment, a segment header, or the sequence of
 *                  segments failed a check (see uwal_unsafe_recover()); or
 *                  the last segment has a bad frame before its durable
 *                  watermark: a mark frame after the damage says it was
 *                  durable, so it is not a torn tail and is not cut (with
 *                  any open_flags; log_fn names the file, the offset and the
 *                  durable records behind it; uwal_unsafe_recover() cuts it);
 *                  or, with UWAL_OPEN_NO_REPAIR, the tail would have to be
 *                  cut
 *   UWAL_EVERSION  a segment has a newer format version than this library
 *                  reads (log_fn names it); nothing is changed
 *   -ENOENT        with UWAL_OPEN_READONLY: the directory does not exist (it
 *                  is not created)
 *   -errno         from the system: -EACCES, -ENOTDIR, -ENOSPC, -ENOMEM, ...;
 *                  -EMFILE / -ENFILE (out of file descriptors) is also said
 *                  through log_fn
 * Thread safety: may be called from any thread. The handle's threads
 * (a writer and a segment preparer) run until uwal_close().
 */
UWAL_API int uwal_open(const uwal_config *cfg, uwal **out);

/*
 * Append one record and wait for its acknowledgment in the handle's
 * sync_mode. Same as uwal_write_sync(w, ..., false).
 */
UWAL_API int uwal_write(uwal *w, uint64_t index, const void *key, size_t key_len, const void *value,
			size_t value_len);

/*
 * Append one record and wait until it is acknowledged.
 *
 * Parameters:
 *   w          the handle
 *   index      the record's index, unique in the log; 0: the next index is
 *              assigned (see "Assigned indexes"; uwal_append() returns it)
 *   key, key_len      the key (copied before the call returns; NULL if 0 long)
 *   value, value_len  the value (likewise)
 *   sync       true: the record is durable when this returns 0, in any mode.
 *              false: the handle's sync_mode decides (never weaker).
 * Returns 0 once the record is acknowledged, or:
 *   UWAL_EINVAL     w is NULL, or a NULL buffer with nonzero length
 *   UWAL_ETOOBIG    the record cannot fit in one segment, or its frame is
 *                   larger than one write call can carry (0x7ffff000 bytes,
 *                   just under 2 GiB: Linux's limit per call)
 *   UWAL_EEXIST     the index is in the log or in a write still in flight;
 *                   the log is unchanged
 *   UWAL_ESHUTDOWN  uwal_close() has begun and the record was not taken
 *   UWAL_EREADONLY  the handle was opened with UWAL_OPEN_READONLY
 *   UWAL_EPOISONED  an earlier write or fdatasync failed
 *   UWAL_ELOCKED    the rotation this record needed found the lock file
 *                   removed or replaced (see uwal_open()); the handle is
 *                   now poisoned
 *   UWAL_EFORKED    the handle was opened before this process forked
 *   -errno          the write or fdatasync of this record failed (the handle
 *                   is now poisoned), or the next segment could not be
 *                   prepared (-ENOSPC, ...; the handle is not poisoned)
 * On failure nothing of the record is acknowledged and the index stays free
 * (except after a failed write, when the handle is poisoned).
 * Thread safety: any number of threads at once. Blocks the caller.
 */
UWAL_API int uwal_write_sync(uwal *w, uint64_t index, const void *key, size_t key_len,
			     const void *value, size_t value_len, bool sync);

/*
 * Append n records, all or nothing, contiguous in log order, in one segment,
 * with one acknowledgment. All or nothing holds across crashes too: a batch
 * whose last frame did not reach the disk is dropped whole by recovery.
 *
 * Parameters:
 *   w     the handle
 *   recs  n records; their buffers are read before the call returns
 *   n     number of records, at least 1
 *   sync  as in uwal_write_sync()
 * Returns 0, or the errors of uwal_write_sync(), where UWAL_EINVAL also
 * covers recs NULL or n 0, UWAL_EEXIST covers duplicates within recs, and
 * UWAL_ETOOBIG covers records that together do not fit in one segment or
 * exceed what one write call carries (0x7ffff000 bytes).
 * On any error none of the records is in the log.
 * Thread safety: as uwal_write_sync().
 */
UWAL_API int uwal_write_batch(uwal *w, const uwal_record *recs, size_t n, bool sync);

/*
 * Read the record with the given index. Only acknowledged records are
 * visible. The frame is read from its segment file and its CRC checked.
 *
 * Parameters:
 *   w      the handle
 *   index  the index to look up
 *   out    receives the record; out->key and out->value are copies owned by
 *          the caller: release them with uwal_record_free(). Each buffer is
 *          one byte longer than its length and that byte is 0, so text can
 *          be used as a C string. Untouched on failure.
 * Returns 0, or:
 *   UWAL_EINVAL     w or out is NULL
 *   UWAL_ENOTFOUND  no record with that index (never written, not yet
 *                   acknowledged, or deleted by retention)
 *   UWAL_ECORRUPT   the frame failed its CRC check on disk
 *   UWAL_EFORKED    the handle was opened before this process forked
 *   -errno          the read failed, or -ENOMEM
 * Thread safety: any number of threads, concurrently with writers; never
 * waits for an fdatasync.
 */
UWAL_API int uwal_get(uwal *w, uint64_t index, uwal_record *out);

/*
 * Free the buffers of a record filled by uwal_get() and zero it. NULL and
 * an already freed (zeroed) record are ignored.
 */
UWAL_API void uwal_record_free(uwal_record *rec);

/*
 * Open an iterator over the records acknowledged when this is called, in
 * log order. Records written later are not seen. The iterator pins the
 * segments it will read: retention may delete their files from the
 * directory, but the iterator still reads them to the end. It holds one
 * file descriptor at a time, the one of the segment it is reading (see
 * "File descriptors" at uwal_open()).
 *
 * Parameters:
 *   w    the handle
 *   out  receives the iterator; close it with uwal_iter_close() before
 *        uwal_close().
 * Returns 0, UWAL_EINVAL (w or out NULL), UWAL_EFORKED (the handle was
 * opened before this process forked), or -ENOMEM.
 * Thread safety: any thread; one iterator must be used by one thread at a
 * time; many iterators may run at once, alongside writers.
 */
UWAL_API int uwal_iter_open(uwal *w, uwal_iter **out);

/*
 * Step an iterator.
 * Returns 1 and fills *rec (its buffers belong to the iterator and stay
 * valid until the next call or uwal_iter_close()), 0 at the end, or:
 *   UWAL_EINVAL    it or rec is NULL
 *   UWAL_ETRUNCATED  uwal_truncate_back() removed the record the iterator
 *                  was to return next (and what follows); it stops. For a
 *                  follower also: see uwal_iter_open_at()
 *   UWAL_ECORRUPT  a frame failed its check on disk; the iterator stops
 *   UWAL_EFORKED   its handle was opened before this process forked
 *   -errno         a read failed
 */
UWAL_API int uwal_iter_next(uwal_iter *it, uwal_record *rec);

/* Close an iterator and release its segments. NULL is ignored. In a child
 * of fork(), only the iterator's own memory is freed (see "fork(2)"). */
UWAL_API void uwal_iter_close(uwal_iter *it);

/* Flags of uwal_iter_open_at(). */
enum uwal_iter_flag {
	/* Follow the log: past the records present at open, return new ones
	 * as they are acknowledged (see uwal_iter_wait()). */
	UWAL_ITER_FOLLOW = 1u << 0,
};

/*
 * Open an iterator that starts at the record `index`, in log order: the
 * records from it on, as uwal_iter_open() would return them from there.
 *
 * Without UWAL_ITER_FOLLOW it sees the records acknowledged when it opened,
 * as uwal_iter_open(). With UWAL_ITER_FOLLOW it goes on past them: when
 * uwal_iter_next() has returned every record there is, it returns 0, and
 * it returns the records acknowledged later as they come, in log order.
 * uwal_iter_wait() sleeps until there is one (woken by the writer when it
 * acknowledges records, not by polling). A follower returns the records
 * in log order, each acknowledged one once, without gaps, and never one
 * before it is acknowledged in the handle's sync_mode: with no truncation,
 * the same records, in the same order, as a fresh iterator opened later
 * would return from there.
 *
 * A follower pins the segments it has yet to read, as uwal_iter_open()
 * does, and lets go of each once it has read it: when it has read all it
 * holds, it pins the segments created since. Retention may unlink what it
 * holds, the follower still reads it. Truncations:
 *   - retention removed a segment the follower had not pinned yet (it fell
 *     behind by about max_segments segments): it returns the rest of what
 *     it holds, then UWAL_ETRUNCATED;
 *   - uwal_truncate_back() after the follower opened: when it reaches the
 *     first removed position it returns UWAL_ETRUNCATED, and from then on.
 *     That holds whether it had yet to return the removed records or had
 *     already returned some (a fork of the history: the records written
 *     after the truncation follow records it never returned), and whether
 *     it is reading or waiting at the end;
 *   - uwal_truncate_front() hides nothing in the segments the follower
 *     holds; a segment it pins later it reads from its first live record,
 *     and one that the truncation emptied and retention removed before the
 *     follower pinned it ends the follower with UWAL_ETRUNCATED.
 *
 * Parameters:
 *   w      the handle. A follower of a UWAL_OPEN_READONLY handle sees what
 *          uwal_refresh() brings in: it returns the records of each
 *          refresh, and uwal_iter_wait() sleeps until a refresh (on
 *          another thread) brings some
 *   index  the first record to return; 0: the first record of the log (for
 *          a follower of an empty log: the first one written)
 *   flags  0 or UWAL_ITER_FOLLOW
 *   out    receives the iterator; close it with uwal_iter_close() before
 *          uwal_close(). Untouched on failure.
 * Returns 0, or:
 *   UWAL_EINVAL     w or out is NULL, or flags has an unknown bit
 *   UWAL_ENOTFOUND  index is not 0 and not in the log
 *   UWAL_EFORKED    the handle was opened before this process forked
 *   -ENOMEM
 * Thread safety: as uwal_iter_open().
 */
UWAL_API int uwal_iter_open_at(uwal *w, uint64_t index, unsigned flags, uwal_iter **out);

/*
 * Wait until uwal_iter_next() has something to return.
 *
 * Parameters:
 *   it          the iterator
 *   timeout_us  -1: wait as long as it takes; 0: do not wait; > 0: wait
 *               at most that many microseconds
 * To tell, it steps the iterator ahead: the record it found is the one the
 * next uwal_iter_next() returns (even if a truncation removed it in
 * between, as if uwal_iter_next() had been called first), and an error it
 * met is the one uwal_iter_next() returns.
 *
 * Returns 1 (uwal_iter_next() returns a record, or an error, without
 * waiting), 0 (the timeout passed; for an iterator without
 * UWAL_ITER_FOLLOW: it is at its end, at once), or:
 *   UWAL_EINVAL     it is NULL, or timeout_us < -1
 *   UWAL_ESHUTDOWN  the handle is closing (uwal_shutdown() or uwal_close()
 *                   began) and nothing is left to return
 *   UWAL_EFORKED    the handle was opened before this process forked
 * Thread safety: the iterator's one thread. Any number of followers may
 * wait at once; one acknowledgment wakes them all.
 */
UWAL_API int uwal_iter_wait(uwal_iter *it, int64_t timeout_us);

/*
 * The smallest / largest index present in the log (acknowledged and not
 * deleted by retention), or 0 when the log is empty, w is NULL, or the
 * handle was opened before this process forked (see "fork(2)").
 * Thread safety: any thread, any time.
 */
UWAL_API uint64_t uwal_first_index(uwal *w);
UWAL_API uint64_t uwal_last_index(uwal *w);

/*
 * Bring a UWAL_OPEN_READONLY handle's snapshot up to date with the files:
 * take in what a writer, in this or another process, published since the
 * open or the last refresh. The handle is not opened again: what it holds
 * is kept, and only the new bytes of the files are read.
 *
 * What it sees after the call is what a read-only open would see at that
 * moment (see UWAL_OPEN_READONLY), with the same checks:
 *   - the records whose frames are whole in the files, in log order, up to
 *     the first incomplete frame, and whole uwal_write_batch() calls only:
 *     a torn or unfinished tail stays hidden until it is whole. Every
 *     record acknowledged before the call is seen, in any sync mode;
 *   - the segments the writer created since: once the last segment it
 *     held is sealed, the next ones are read, up to the first unsealed one
 *     (the writer's active segment, which may be empty);
 *   - segments removed by the writer's retention or by uwal_truncate_front()
 *     leave the handle (reading one a reader still holds fails with
 *     -ENOENT, as for a snapshot); truncation frames void what they name;
 *   - a uwal_truncate_back() is a frame like the others, wherever the
 *     record lies; the records written after it may have the removed
 *     indexes again. (A log written by a uwal that cut the active
 *     segment's file instead is noticed when the last record the handle
 *     had read there is gone or changed: the segment is read again from
 *     its start.)
 * uwal_get(), uwal_first_index(), uwal_last_index(), uwal_segments() and
 * iterators opened after it see the new state. A follower of the handle
 * (UWAL_ITER_FOLLOW) returns the new records, is woken in uwal_iter_wait()
 * by a refresh that changed something, and ends with UWAL_ETRUNCATED at a
 * back cut or a gap, as on a writing handle; a snapshot iterator opened
 * before is not changed. Nothing of the directory is written. Call it when
 * the files may have changed (inotify IN_MODIFY on the segments, IN_CREATE
 * on the directory, or a timer): it does not wait.
 *
 * The reading is done under the handle's lock: uwal_get() and iterators
 * stepping to a new segment wait for it. The cost is one directory listing
 * plus the new bytes (and, after a back cut of the active segment, that
 * segment once).
 *
 * Parameters:
 *   w  a handle opened with UWAL_OPEN_READONLY
 * Returns 1 (the view changed: records, segments or truncations), 0
 * (nothing new), or:
 *   UWAL_EINVAL    w is NULL or was not opened with UWAL_OPEN_READONLY (a
 *                  writing handle's view is always current)
 *   UWAL_ECORRUPT  a new frame or segment header failed its checks (log_fn
 *                  names file and offset); what was read before it stays,
 *                  the handle stays usable
 *   UWAL_EVERSION  a new segment has a newer format version
 *   UWAL_EFORKED   the handle was opened before this process forked
 *   -errno         a listing or read failed (the view is as before), or
 *                  -ENOMEM
 * Thread safety: any thread, alongside readers and iterators of the
 * handle; refreshes of one handle run one at a time.
 */
UWAL_API int uwal_refresh(uwal *w);

/* ---- Server API: asynchronous appends ----------------------------------
 *
 * For event loops: uwal_submit() hands records to the writer and returns at
 * once; the outcome of each submission comes later as one completion,
 * taken with uwal_reap(). uwal_event_fd() is readable while completions
 * wait, for epoll, uv_poll or an io_uring poll. Blocking writes and
 * submissions may be mixed on one handle: they share log order.
 */

/* The outcome of one uwal_submit() call. */
typedef struct uwal_completion {
	uint64_t user_data;   /* as passed to uwal_submit() */
	uint64_t first_index; /* index of the first record (the assigned one when the
				 caller passed 0); 0 for a sync submission */
	uint32_t count;       /* records in the submission */
	int32_t result;       /* 0, or an error exactly as uwal_write_batch() would
				 have returned it */
} uwal_completion;

/* Flags of uwal_submit(). */
#define UWAL_SUBMIT_SYNC 0x1u /* durable before its completion, in any sync_mode */

/*
 * Submit n records as one all-or-nothing batch (as uwal_write_batch()),
 * without waiting. The records and their buffers are copied before the call
 * returns. Records whose index is 0 are assigned the next indexes, in
 * order (see "Assigned indexes"); the completion's first_index tells the
 * first record's index.
 *
 * With recs NULL, n 0 and UWAL_SUBMIT_SYNC it is an asynchronous
 * uwal_sync(): its completion (count 0, first_index 0) comes once every
 * record submitted or written before it is durable.
 *
 * Completions come in log order, one per accepted submission, and a
 * completion's result is what uwal_write_batch() would have returned for
 * the same records: UWAL_EEXIST for a duplicate index (only that
 * submission fails), -errno for a failed write or fdatasync (the handle is
 * poisoned; the completions after it carry UWAL_EPOISONED) or for a
 * segment that could not be prepared (-ENOSPC, ...; not poisoned), and
 * UWAL_ELOCKED as uwal_write_sync() documents.
 *
 * Parameters:
 *   w          the handle
 *   recs, n    the records (1..n), or NULL and 0 for a sync submission
 *   flags      0 or UWAL_SUBMIT_SYNC (durable before its completion, in
 *              any sync_mode; in UWAL_SYNC_NONE it also makes every record
 *              before it durable)
 *   user_data  any value; comes back in the completion
 * Returns 0 (accepted: exactly one completion will follow), or, with no
 * completion to follow:
 *   UWAL_EAGAIN     async_window submissions are accepted and not yet
 *                   reaped: reap some, then submit again
 *   UWAL_EINVAL     w is NULL, recs is NULL with n > 0, n is 0 without
 *                   UWAL_SUBMIT_SYNC, flags has an unknown bit, or a record
 *                   has a NULL buffer with a nonzero length
 *   UWAL_ETOOBIG    as for uwal_write_batch()
 *   UWAL_ESHUTDOWN  uwal_shutdown() or uwal_close() has begun
 *   UWAL_EPOISONED  the handle is poisoned (uwal_health() says why)
 *   UWAL_EREADONLY  the handle was opened with UWAL_OPEN_READONLY
 *   UWAL_EFORKED    the handle was opened before this process forked
 *   -ENOMEM         no memory for the copy
 * Thread safety: any number of threads, alongside blocking writes. Never
 * waits for I/O; it may yield the CPU while every submission queue is full
 * (more than queue_capacity submissions per CPU waiting for the writer).
 */
UWAL_API int uwal_submit(uwal *w, const uwal_record *recs, size_t n, unsigned flags,
			 uint64_t user_data);

/*
 * Take up to max completions, oldest first, waiting for at least one if
 * timeout_us allows it.
 *
 * Parameters:
 *   w           the handle
 *   out         room for max completions
 *   max         at least 1
 *   timeout_us  -1: wait until a completion is there; 0: do not wait;
 *               > 0: wait at most that many microseconds. No call waits
 *               when no submission is outstanding (accepted and not yet
 *               reaped): it returns 0 at once.
 * Returns the number of completions stored in out (0 on a timeout or with
 * nothing outstanding), or:
 *   UWAL_EINVAL     w or out is NULL, max is 0, or timeout_us < -1
 *   UWAL_EREADONLY  the handle was opened with UWAL_OPEN_READONLY
 *   UWAL_EFORKED    the handle was opened before this process forked
 * Thread safety: any number of threads; each completion goes to exactly
 * one of them. Reaping frees window room for uwal_submit().
 *
 * At uwal_close(), every accepted submission is completed first (result 0
 * if it was written, UWAL_ESHUTDOWN if it was not) and completions not yet
 * reaped are then discarded: call uwal_shutdown() and reap until nothing
 * is outstanding to see every one.
 */
UWAL_API int uwal_reap(uwal *w, uwal_completion *out, size_t max, int64_t timeout_us);

/*
 * An eventfd that is readable while completions wait to be reaped, for
 * epoll, poll, uv_poll or an io_uring poll. Level-triggered: it stays
 * readable until uwal_reap() has taken the last waiting completion (then
 * uwal_reap() drains it), and becomes readable again with the next one.
 * With EPOLLET, reap until uwal_reap() returns fewer than max. Do not read
 * it or close it; it belongs to the handle and is closed by uwal_close().
 * Returns the descriptor (>= 0), or UWAL_EINVAL (w NULL), UWAL_EREADONLY
 * or UWAL_EFORKED.
 * Thread safety: any thread.
 */
UWAL_API int uwal_event_fd(uwal *w);

/*
 * Make every record acknowledged before the call durable, without writing
 * a record: in UWAL_SYNC_NONE an fdatasync of the active segment if
 * anything written since the last one is not durable yet (sealed segments
 * are always durable); in the other modes every acknowledged record is
 * durable already and it returns at once after the writer took it.
 * Ordered like a write (it is a request in the writer's queue).
 * Returns 0, or UWAL_EINVAL (w NULL), UWAL_EREADONLY, UWAL_ESHUTDOWN,
 * UWAL_EPOISONED, UWAL_EFORKED, or the fdatasync's -errno (the handle is
 * then poisoned).
 * Thread safety: any thread; blocks the caller like a durable write.
 */
UWAL_API int uwal_sync(uwal *w);

/*
 * Whether the handle can still write: 0, or the error that poisoned it
 * (the failed write's or fdatasync's -errno, UWAL_ELOCKED, ...; the first
 * one, it never changes): then every write returns UWAL_EPOISONED until the
 * log is reopened. A read-only handle is never poisoned (0).
 * Returns also UWAL_EINVAL (w NULL) or UWAL_EFORKED.
 * Thread safety: any thread, any time; never waits.
 */
UWAL_API int uwal_health(uwal *w);

/*
 * Stop taking writes: from now on uwal_submit() and the blocking write
 * calls return UWAL_ESHUTDOWN; what was taken before is written as usual,
 * and its completions can be reaped. Call it, reap until uwal_reap()
 * returns 0 with a timeout of -1, then uwal_close(). Idempotent.
 * Returns 0, or UWAL_EINVAL (w NULL), UWAL_EREADONLY, UWAL_EFORKED.
 * Thread safety: any thread.
 */
UWAL_API int uwal_shutdown(uwal *w);

/*
 * Append one record under the next assigned index (see "Assigned
 * indexes") and wait for its acknowledgment, as uwal_write_sync().
 *
 * Parameters:
 *   w, key, key_len, value, value_len, sync  as for uwal_write_sync()
 *   index  receives the record's index when it returns 0; may be NULL
 * Returns 0, or the errors of uwal_write_sync() (never UWAL_EEXIST).
 * Thread safety: as uwal_write_sync(). Indexes assigned to many threads
 * at once are unique, and gap-free in log order.
 */
UWAL_API int uwal_append(uwal *w, const void *key, size_t key_len, const void *value,
			 size_t value_len, bool sync, uint64_t *index);

/*
 * Read the record with the given index into the caller's buffer, without
 * allocating: the key at buf, the value right after it (no terminating
 * zero is added). Same checks and visibility as uwal_get(): the frame's
 * CRC is checked before anything is returned, also the sizes of
 * UWAL_ETOOBIG. A frame of up to 4 KiB is read on the stack; a larger one
 * straight into buf when cap holds the whole frame (the record and a few
 * dozen bytes of framing), else into a temporary allocation. The bytes of
 * buf after the value, and all of buf on failure, are unspecified.
 *
 * Parameters:
 *   w      the handle
 *   index  the index to look up
 *   buf    room for cap bytes; may be NULL if cap is 0
 *   cap    bytes of buf
 *   rec    receives the index, the lengths and pointers into buf (NULL
 *          if buf is). When cap is too short: key_len and value_len say
 *          what is needed (their sum), key and value are NULL. Untouched
 *          on the other failures.
 * Returns 0, or:
 *   UWAL_ETOOBIG    cap < key_len + value_len (the sizes are in *rec)
 *   UWAL_EINVAL     w or rec is NULL, or buf is NULL with cap > 0
 *   UWAL_ENOTFOUND, UWAL_ECORRUPT, -errno  as for uwal_get() (-ENOMEM
 *                   only for a frame larger than cap and 4 KiB)
 *   UWAL_EFORKED    the handle was opened before this process forked
 * Thread safety: as uwal_get().
 */
UWAL_API int uwal_get_into(uwal *w, uint64_t index, void *buf, size_t cap, uwal_record *rec);

/*
 * The library's version, "MAJOR.MINOR.PATCH" (static). Compare it with
 * UWAL_VERSION_STRING / UWAL_VERSION_NUMBER, the header's.
 */
UWAL_API const char *uwal_version(void);

/*
 * The bytes a record of index `index` with a key of key_len bytes and a
 * value of value_len bytes takes in a segment file: its frame, header
 * included (what uwal_stats.bytes adds per record, and what counts against
 * segment_size). The encoding of the index grows with it (1 to 9 bytes), so
 * pass a typical one; 0 is an assigned index's placeholder, sized as 1.
 * For sizing segments, and for comparing with a raw write of the same
 * bytes. Pure: no handle, any thread.
 */
UWAL_API size_t uwal_record_size(uint64_t index, size_t key_len, size_t value_len);

/*
 * fork(2)
 * -------
 * Every descriptor a handle opens is close-on-exec: a child that execs
 * inherits none, and the parent's lock is not held by it. A child of fork()
 * that does not exec gets a copy of each handle without its threads: it
 * must not use the copy. Every call on it (writes, reads, iterators,
 * uwal_submit(), uwal_reap(), ...) returns UWAL_EFORKED at once instead of
 * hanging (after the checks of its arguments: UWAL_EINVAL, and
 * UWAL_EREADONLY for a write on a read-only handle, come first), except
 * the index queries uwal_first_index() and uwal_last_index(), which return
 * 0, and uwal_close(), which frees the child's copy without writing,
 * syncing or removing anything, closes its descriptors and returns
 * UWAL_EFORKED. It waits for nothing and locks nothing that the handle's
 * threads in the parent could have held at the fork; what one of them
 * was changing at that moment it leaves alone (the child's memory, freed
 * when the child exits). Close the child's iterators before it, as usual.
 * Right after fork() the child closes its copy of the lock file's
 * descriptor, so the lock stays the parent's alone: once the parent closes
 * the log, it (or anyone) can open it again while the child still runs.
 * While a handle holds a lock, fork() returns in the parent only once the
 * child has done so (or died), so that holds from the moment fork()
 * returns; posix_spawn() and vfork() run no fork handlers, and there
 * close-on-exec alone keeps the lock from the new program.
 * The child may open the log itself (UWAL_ELOCKED while the parent has it
 * open), or open it read-only. Handles opened in the child are its own and
 * work as usual. (A fork() while uwal_locked() or uwal_unsafe_recover()
 * holds the lock for an instant in another thread gives the child a copy
 * of that descriptor, and of the lock, until the child exits or execs.)
 */

/* ---- Truncation -------------------------------------------------------- */

/*
 * Drop every record before the record `index` in log order; `index` stays
 * and becomes the first record. With an index above every index in the
 * log, the log is emptied (and new writes go on as usual).
 *
 * Ordered like a write: the call is a request in the writer's queue, so a
 * write acknowledged before the call is before it, a write submitted after
 * it returns is after it, and one in flight meanwhile is on one side of it,
 * the same side for every reader and after any reopen. Durable when it
 * returns 0, in any sync_mode: a FRONT frame is written into the active
 * segment and fdatasynced (that is the only fdatasync other writers wait
 * for; a version 1 active segment, from uwal 0.1, is sealed first, once),
 * and no sealed segment is rewritten. A crash before the return
 * leaves the log as before or as after the call, never in between.
 * Segments left without a live record are then removed in the background,
 * as retention removes them (unlink, directory fsync). On return
 * uwal_first_index(), uwal_get() and new iterators see the new front;
 * an open iterator still returns what it held (its segments are pinned).
 * The dropped indexes are free to be written again.
 *
 * Parameters:
 *   w      the handle
 *   index  the record that is to be the first one; any value above every
 *          index in the log empties it
 * Returns 0 (also when nothing was before `index`, or the log was empty),
 * or:
 *   UWAL_EINVAL     w is NULL or index is 0
 *   UWAL_ENOTFOUND  index is not in the log, and some index in the log is
 *                   larger; the log is unchanged
 *   UWAL_EREADONLY  the handle was opened with UWAL_OPEN_READONLY
 *   UWAL_ESHUTDOWN  uwal_close() has begun
 *   UWAL_EPOISONED  an earlier write or fdatasync failed
 *   UWAL_EFORKED    the handle was opened before this process forked
 *   -errno          the frame's write or fdatasync failed (the handle is
 *                   now poisoned; after a reopen the log is as before or as
 *                   after the call), or the segment it needed could not be
 *                   prepared (the handle is not poisoned, nothing changed)
 * Thread safety: any thread, concurrently with writers and readers.
 * Blocks the caller like a durable write.
 */
UWAL_API int uwal_truncate_front(uwal *w, uint64_t index);

/*
 * Remove the record `index` and every record after it in log order. The
 * removed indexes are free to be written again.
 *
 * Ordered and durable like uwal_truncate_front(). A BACK frame saying
 * "from that record up to here is void" is written into the active segment
 * and fdatasynced: one frame and one fdatasync, wherever the record lies
 * (in a sealed segment or in the active one, inside a write batch or not);
 * no segment file is ever cut or rewritten, and no segment is sealed for
 * it. (Only an active segment of an earlier format, in a log written by an
 * earlier uwal, is sealed first: version 1 for any truncation, version 2
 * for a back cut of its own records; its seal and the frame's, two
 * fdatasyncs, once.) On return uwal_last_index(), uwal_get()
 * and new iterators agree; an open iterator that has yet to read a removed
 * record returns UWAL_ETRUNCATED from uwal_iter_next() from there on.
 *
 * Parameters:
 *   w      the handle
 *   index  the first record to remove
 * Returns 0, or:
 *   UWAL_EINVAL     w is NULL or index is 0
 *   UWAL_ENOTFOUND  index is not in the log; the log is unchanged
 *   UWAL_EREADONLY, UWAL_ESHUTDOWN, UWAL_EPOISONED, UWAL_EFORKED, -errno
 *                   as for uwal_truncate_front() (a failed write or
 *                   fdatasync poisons the handle)
 * Thread safety: as uwal_truncate_front().
 */
UWAL_API int uwal_truncate_back(uwal *w, uint64_t index);

#define UWAL_FILE_MAX (1ull << 32) /* 4 GiB of contents at most */
/*
 * Small files beside the log: what an application keeps next to its log
 * and must never see half-written (Raft's term and vote, a snapshot, a
 * checkpoint position). The file `name` is "<prefix>file.<name>" in the
 * log's directory; no part of the log (recovery, retention, truncation
 * and uwal_unsafe_recover() never touch it). name: 1 to 64 characters of
 * [A-Za-z0-9._-], not starting with '.' nor ending in ".tmp".
 *
 * uwal_file_put() replaces the file with len bytes of buf (uwal_file_putv()
 * with the iovcnt pieces of iov, back to back): written whole to
 * "<prefix>file.<name>.tmp", fdatasynced, renamed over the old file, the
 * directory fsynced, all through the handle's I/O. Durable when it
 * returns 0; a crash at any point leaves the old contents or the new
 * ones, whole, never a mix (a leftover .tmp is overwritten by the next
 * put of that name). The file carries a header and a CRC32C (README,
 * "Format"). It runs on the calling thread, beside the writer: it never
 * waits for writes, nor they for it. Puts and removes of one handle run
 * one at a time. A failed put leaves the old file (if any) as it was and
 * does not poison the handle: call it again.
 * Errors: UWAL_EINVAL (w or name NULL, a bad name, buf NULL with len > 0,
 * iovcnt < 0, iov NULL with iovcnt > 0, a piece NULL with a length),
 * UWAL_ETOOBIG (more than UWAL_FILE_MAX bytes), UWAL_EREADONLY,
 * UWAL_EFORKED, -errno of the I/O (-ENOSPC: the disk is full).
 * Thread safety: any thread, concurrently with every call but
 * uwal_close(). A get concurrent with a put of the same name returns the
 * old contents or the new ones.
 */
UWAL_API int uwal_file_put(uwal *w, const char *name, const void *buf, size_t len);
/* uwal_file_put() of the iovcnt pieces of iov, back to back; its errors. */
UWAL_API int uwal_file_putv(uwal *w, const char *name, const struct iovec *iov, int iovcnt);
/*
 * Read the file name back into *buf, a malloc'd copy of its contents that
 * the caller frees with free(3), and its length into *len (0 for an empty
 * file: *buf is still a valid pointer). Works on a read-only handle.
 * Errors: UWAL_EINVAL (w, name, buf or len NULL, a bad name),
 * UWAL_ENOTFOUND (no such file), UWAL_ECORRUPT (cut short, damaged, or not
 * written by uwal_file_put(): log_fn names the file), UWAL_EFORKED,
 * -ENOMEM, -errno. Thread safety: as uwal_file_put().
 */
UWAL_API int uwal_file_get(uwal *w, const char *name, void **buf, size_t *len);
/*
 * Remove the file name, durably (the directory is fsynced).
 * Errors: UWAL_EINVAL, UWAL_ENOTFOUND, UWAL_EREADONLY, UWAL_EFORKED,
 * -errno. Thread safety: as uwal_file_put().
 */
UWAL_API int uwal_file_remove(uwal *w, const char *name);

/*
 * Copy the handle's counters into *out. A macro: it passes sizeof *out to
 * uwal_stats_get_sized(), which fills min(size, the library's struct)
 * bytes and zeroes the rest of the caller's.
 * Returns 0, UWAL_EINVAL if w or out is NULL, or UWAL_EFORKED (the handle
 * was opened before this process forked).
 * Thread safety: any thread; counters are read one by one, not as a snapshot.
 */
#define uwal_stats_get(w, out) uwal_stats_get_sized((w), (out), sizeof(*(out)))
UWAL_API int uwal_stats_get_sized(uwal *w, uwal_stats *out, size_t size);

/*
 * Close the log: refuse new writes, write every request already taken,
 * fdatasync the active segment, stop the handle's threads, release the
 * lock and free everything.
 *
 * May be called while other threads are inside write calls: each of those
 * returns 0 (its record was taken and written) or UWAL_ESHUTDOWN, and
 * uwal_close() returns only after all of them have left the library.
 * Iterators must be closed first, and no uwal_get() may be running.
 * Calling any function on the handle after uwal_close() returned is
 * undefined.
 *
 * Returns 0, or:
 *   UWAL_EINVAL     w is NULL
 *   UWAL_EPOISONED  the handle was poisoned (everything is freed anyway)
 *   UWAL_EFORKED    in a child of fork(), for a handle opened before it:
 *                   the child's copy is freed, and nothing written, synced
 *                   or removed (see "fork(2)")
 *   -errno          the final fdatasync failed (everything is freed anyway)
 */
UWAL_API int uwal_close(uwal *w);

/*
 * Make a damaged log openable by removing or cutting the segment files that
 * fail their checks (the ones uwal_open() would refuse with UWAL_ECORRUPT).
 * UNSAFE: records are lost, and the log then opens without them.
 *
 * - A bad header or one naming another segment number, or an index already
 *   present in an earlier segment (the later file is taken for the copy):
 *   the file is removed, and the next surviving segment's header flagged
 *   after_gap, so that the log opens with the gap.
 * - A bad frame (or a lost seal) in a segment that later segments follow:
 *   the file is cut at the end of its last whole write batch before the
 *   damage and sealed there, so it keeps the records before the damage
 *   and loses the ones after it (a batch the damage lies in goes whole).
 *   Its index file is removed. If no whole frame lies before the damage,
 *   the file is removed instead, as above.
 * - A bad frame in the last segment before its durable watermark (which
 *   uwal_open() refuses): the file is cut there, and the durable records
 *   after the damage are lost. A torn tail in the last segment is not
 *   damage: uwal_open() cuts it.
 * uwal_unsafe_recover_ex() reports each of these, file by file.
 *
 * What a cut loses with the frames after it, besides their records: the
 * truncation frames among them. A uwal_truncate_front() or
 * uwal_truncate_back() whose frame lay there is undone: the records it
 * made void (in the cut segment before the cut, and in earlier segments)
 * are live again. If a back truncation's indexes were written again after
 * it, in later segments, those segments now repeat live indexes and the
 * same run removes them as damaged copies. The high-water mark of indexes
 * a lost frame recorded (format.c, "next") is gone too: if no later record
 * lies above it, uwal_append() may assign indexes already assigned before.
 * The mark frames after the cut mean nothing once the segment is sealed.
 * A truncation frame in a later segment that names a record after the cut
 * keeps its meaning (everything before, or from, the cut segment's end).
 *
 * A run that fails or crashes part way leaves a log that a second run
 * finishes: a segment truncated but not yet sealed, or sealed with a torn
 * seal, is cut at the same place again. Once done, another run finds
 * nothing to do.
 *
 * Parameters:
 *   dir, prefix  the log's directory and segment prefix (NULL prefix =
 *                "segment_")
 *   removed      receives a malloc'd array of malloc'd file names (no
 *                directory part) that were removed, or NULL if none (cut
 *                files are not in it); free it with uwal_free_list(). May
 *                be NULL if not wanted.
 *   n_removed    receives the number of names; may be NULL.
 * Returns 0, or:
 *   UWAL_EINVAL   dir is NULL, or prefix is invalid
 *   UWAL_ELOCKED  the log is open
 *   UWAL_EVERSION a segment has a newer format version than this library
 *                 reads: nothing is removed (such a file is never damage)
 *   -errno        from the system
 * Thread safety: must not run while the log is open (it takes the lock).
 */
UWAL_API int uwal_unsafe_recover(const char *dir, const char *prefix, char ***removed,
				 size_t *n_removed);

/* Free a list returned by uwal_unsafe_recover(). NULL is ignored. */
UWAL_API void uwal_free_list(char **list, size_t n);

/* ---- Inspection --------------------------------------------------------
 *
 * What operating a log needs to see: its segments one by one, where a
 * record lies, whether another handle holds the lock, and what unsafe
 * recover would do before it does it. The uwal(1) tool is built on these.
 */

/*
 * One segment file, as uwal_segments() and uwal_unsafe_recover_ex() see it.
 *
 * The struct can grow in later versions without breaking programs: both
 * functions are macros that pass sizeof(uwal_segment_info) as the
 * program was compiled, and the library allocates the array with that
 * stride, fills as many bytes of each element as the program's struct
 * has and zeroes the fields it has none for. (An array the library
 * allocates does not avoid the problem by itself: the program indexes it
 * with its own struct's size.)
 */
typedef struct uwal_segment_info {
	uint64_t seq;         /* segment number (the file name's 20 digits) */
	char name[96];        /* file name, no directory part, NUL-terminated */
	uint64_t file_size;   /* bytes of the file now, preallocation included */
	uint64_t frame_bytes; /* bytes of the whole record frames after the
				 header (the seal frame and the zeros of the
				 preallocation not counted) */
	uint64_t records;     /* whole records in those frames */
	uint64_t first_index; /* smallest index among them; 0 if none */
	uint64_t last_index;  /* largest index among them; 0 if none */
	uint64_t tail_bytes;  /* bytes after the last whole frame of the
				 active segment that are not zeros: a torn
				 tail, or beside a live writer frames still
				 being written. Seen only by a read-only
				 handle (a normal open has cut them); 0 in
				 sealed segments */
	uint32_t version;     /* format version of its header; 0 if the
				 header could not be read */
	bool sealed;          /* ends with a seal frame; false for the active
				 segment (the last one) */
	bool after_gap;       /* its header says the segment before it was
				 removed by unsafe recover */
	/* Set only by uwal_unsafe_recover_ex(): */
	bool removed;        /* true: the file is (or, in a dry run, would be)
				removed, and its records with it. false:
				the file is kept, and either cut
				(cut_offset nonzero) or its header flagged
				after_gap, because the segment before it is
				missing or removed */
	uint64_t bad_offset; /* file offset of what is wrong (0: the header) */
	const char *damage;  /* what is wrong, in words; a static string.
				NULL in uwal_segments()'s answers */
	/* Set only by uwal_unsafe_recover_ex(), for a file it keeps but cuts
	 * (removed false); 0 otherwise: */
	uint64_t cut_offset;   /* the file is (or would be) cut there: the end
				  of its last whole write batch before the
				  damage. A segment that later segments follow
				  is sealed again there (sealed true); records,
				  first_index, last_index and frame_bytes say
				  what it keeps */
	uint64_t records_lost; /* the record frames after the cut, lost with
				  it, as the file counts them: the seal behind
				  the damage, or in the last segment the mark
				  frame vouching for it (the durable ones);
				  UWAL_RECORDS_UNKNOWN if nothing counts them */
} uwal_segment_info;

/* uwal_segment_info.records_lost when the file does not say how many
 * records a cut loses. */
#define UWAL_RECORDS_UNKNOWN UINT64_MAX

/*
 * A snapshot of the segments of an open log, oldest first: the ones the
 * handle reads (a read-only handle: those of its snapshot; a normal one:
 * those in the log now, the active one last). A macro: it passes
 * sizeof **out to uwal_segments_sized() (see uwal_segment_info).
 *
 * Parameters:
 *   w     the handle (normal or UWAL_OPEN_READONLY)
 *   out   receives a malloc'd array of *n elements, NULL if *n is 0; free
 *         it with uwal_segments_free(). Untouched on failure.
 *   n     receives the number of segments; untouched on failure.
 *   size  sizeof(uwal_segment_info) as the caller was compiled (the macro
 *         passes it)
 * Returns 0, or:
 *   UWAL_EINVAL  w, out or n is NULL, or size is 0
 *   UWAL_EFORKED the handle was opened before this process forked
 *   -ENOMEM      out of memory
 *   -errno       a segment's size could not be read (-ENOENT: beside a
 *                live writer, its retention removed a file of a read-only
 *                handle's snapshot)
 * Each element is consistent in itself; the active segment of a normal
 * handle may take writes meanwhile, so totals over elements are a moment's
 * view, not a transaction.
 * Thread safety: any thread, any time, alongside writers and iterators.
 */
#define uwal_segments(w, out, n) uwal_segments_sized((w), (out), (n), sizeof(**(out)))
UWAL_API int uwal_segments_sized(uwal *w, uwal_segment_info **out, size_t *n, size_t size);

/* Free an array from uwal_segments() or uwal_unsafe_recover_ex(). NULL is
 * ignored. */
UWAL_API void uwal_segments_free(uwal_segment_info *v);

/*
 * Where the record the last uwal_iter_next() call returned lies: its
 * segment's number and the file offset of its frame (the frame header's
 * first byte).
 *
 * Parameters:
 *   it      the iterator
 *   seq     receives the segment number; may be NULL
 *   offset  receives the offset in that segment file; may be NULL
 * Returns 0, or:
 *   UWAL_EINVAL     it is NULL
 *   UWAL_ENOTFOUND  the last uwal_iter_next() call did not return 1 (or
 *                   there was none); *seq and *offset are untouched
 * Thread safety: as uwal_iter_next(): the iterator's one thread.
 */
UWAL_API int uwal_iter_position(uwal_iter *it, uint64_t *seq, uint64_t *offset);

/*
 * Whether a handle, in this process or another, holds the log's lock now,
 * so that uwal_open() without UWAL_OPEN_READONLY would fail with
 * UWAL_ELOCKED. Changes nothing: a missing lock file is not created (the
 * log is then not locked). To tell, it takes the lock for an instant and
 * releases it: a normal uwal_open() of the same log at that very moment
 * may fail with UWAL_ELOCKED.
 *
 * Parameters:
 *   dir, prefix  the log's directory and segment prefix (NULL prefix =
 *                "segment_")
 * Returns 1 (locked), 0 (not locked), or:
 *   UWAL_EINVAL  dir is NULL, or prefix is invalid
 *   -ENOENT      the directory does not exist
 *   -errno       from the system (-ENOTDIR, -EACCES, ...)
 * Thread safety: any thread. The answer may be stale when it returns.
 */
UWAL_API int uwal_locked(const char *dir, const char *prefix);

/* Flags of uwal_unsafe_recover_ex(). */
enum uwal_recover_flag {
	/* Change nothing: report what would be removed, cut and flagged. */
	UWAL_RECOVER_DRY_RUN = 1u << 0,
};

/*
 * uwal_unsafe_recover() that reports, file by file, what it does: every
 * file it removes (removed = true: why, where, and the whole records it
 * held before the damage, which are lost with it), every file it cuts
 * (removed = false, cut_offset nonzero: why, where the damage is and
 * where the cut, the records it keeps, and records_lost, the records after
 * the cut if the file says how many) and every file whose header it flags
 * after_gap (removed = false, cut_offset 0). A file both cut and flagged
 * has two elements, the cut first. The checks and the actions are those of
 * uwal_unsafe_recover(). A macro: it passes sizeof **out to
 * uwal_unsafe_recover_sized() (see uwal_segment_info).
 *
 * With UWAL_RECOVER_DRY_RUN nothing is changed (no file removed, cut,
 * created or written, not even the lock file or a leftover ".tmp" file):
 * the report says what a run without the flag would do now, in the same
 * elements. The lock is checked as uwal_locked() does, and a locked log is
 * refused as in a real run.
 *
 * Parameters:
 *   dir, prefix  the log's directory and segment prefix (NULL prefix =
 *                "segment_")
 *   flags        0 or UWAL_RECOVER_DRY_RUN
 *   out          receives a malloc'd array of *n elements in segment
 *                order, NULL if nothing is (or would be) done; free it with
 *                uwal_segments_free(). On failure *out is NULL and *n 0.
 *   n            receives the number of elements
 *   size         sizeof(uwal_segment_info) as the caller was compiled
 * Returns 0, or:
 *   UWAL_EINVAL   dir, out or n is NULL, prefix is invalid, size is 0,
 *                 or flags has an unknown bit
 *   UWAL_ELOCKED  the log is open
 *   UWAL_EVERSION a segment has a newer format version than this library
 *                 reads: nothing is removed, cut or flagged
 *   -ENOENT       the directory does not exist
 *   -errno        from the system. A real run that fails part way may
 *                 have removed, cut or flagged some files already (run it
 *                 again: what is left is done then)
 * Thread safety: must not run while the log is open (it takes the lock;
 * a dry run takes it for an instant, as uwal_locked()).
 */
#define uwal_unsafe_recover_ex(dir, prefix, flags, out, n)                                         \
	uwal_unsafe_recover_sized((dir), (prefix), (flags), (out), (n), sizeof(**(out)))
UWAL_API int uwal_unsafe_recover_sized(const char *dir, const char *prefix, unsigned flags,
				       uwal_segment_info **out, size_t *n, size_t size);

/*
 * A static, human-readable description of err: uwal's own codes and any
 * -errno. Never NULL. Thread safe.
 */
UWAL_API const char *uwal_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* UWAL_H */
