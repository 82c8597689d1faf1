/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crash.h - what crashwal's parent and its writer child share: the layout
 * of the shared-memory region through which the child reports every call
 * it makes, the per-iteration plan both derive from the seed, and the
 * deterministic contents of every record (so the parent can recompute the
 * exact key and value of any index without being told).
 *
 * Reporting protocol (all sequence numbers come from one atomic counter,
 * shm->seq, shared by the parent and every child thread, so they order
 * events across processes):
 *   thread t writes its k-th record (k = 0, 1, ...) under index
 *   1 + t + CW_MAX_THREADS * k. For each call it
 *     1. takes sub_seq = ++seq, stores it in the records' entries, then
 *        publishes nsub = k + n (release): these records may now be in
 *        the log;
 *     2. calls uwal;
 *     3. on success takes ack_seq = ++seq (after the call returned, so the
 *        real acknowledgment happened before ack_seq), stores it and the
 *        durable flag, then publishes nack = k + n (release);
 *        on failure stores the error and stops writing.
 *   The parent judges the entries only once the child is dead. When it
 *   strikes (power loss) it takes snap = ++seq itself just before the
 *   shutdown and cut = ++seq just after: an entry with ack_seq < snap was
 *   acknowledged before the shutdown began; a call with sub_seq > cut was
 *   made after it had taken effect. While the child runs the parent only
 *   watches acks/durable_acks (to strike right after one) and bytes.
 */
#ifndef CRASHWAL_CRASH_H
#define CRASHWAL_CRASH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uwal.h"

#define CW_MAX_THREADS 8
#define CW_MAX_RECS (1u << 16)   /* records per thread and iteration */
#define CW_MAX_VALUE (32u << 10) /* largest value */
#define CW_MAX_KEY 32            /* longest key */
#define CW_MAX_BATCH 16          /* records per uwal_write_batch call */
#define CW_NEW_BASE                                                                                \
	(1ull << 40)       /* indexes of the post-recovery writes; the last                        \
			      four (a batch) have small values */
#define CW_MAX_TRUNCS 8192 /* truncations per iteration (a truncation plan) */

/* Entry flags. */
enum {
	CW_ACKED = 1u << 0,   /* the call returned 0 */
	CW_DURABLE = 1u << 1, /* ... in a mode or with sync=true that promises durability */
	CW_BATCH = 1u << 2,   /* written by uwal_write_batch (batch_first/batch_n say which) */
};

struct cw_ent {
	uint64_t sub_seq; /* taken just before the call */
	uint64_t ack_seq; /* taken just after it returned 0 */
	uint64_t ack_ns;  /* CLOCK_MONOTONIC just after it returned 0 */
	uint32_t flags;
	uint32_t batch_first; /* k of the batch's first record */
	uint32_t batch_n;     /* records in the batch (1 for a single write) */
};

struct cw_thr {
	_Atomic uint64_t nsub; /* records 0..nsub-1 were submitted */
	_Atomic uint64_t nack; /* records 0..nack-1 were acknowledged */
	_Atomic int32_t err;   /* first error returned, 0 if none */
	_Atomic uint64_t err_sub_seq;
	_Atomic uint64_t err_ret_seq; /* ++seq after the failing call returned */
	_Atomic uint64_t calls;
	_Atomic uint64_t calls_after_cut; /* calls submitted after shm->cut_seq */
	_Atomic uint64_t max_call_ns;     /* longest call (power loss: bounded) */
};

/*
 * Truncation plans (plan trunc_pct > 0, trunc.c): one writer thread that
 * owns the index sequence, so that log order is its call order. Its k-th
 * record is ent[0][k] as above, under the index and generation in
 * tent[k]; it writes indexes 1, 2, 3, ... and interleaves truncations,
 * each reported in trunc[] like a call: it fills the entry (sub_seq from
 * ++seq, kind, index, nent = the records it wrote before), publishes
 * ntrunc (release), calls uwal_truncate_front/_back, then stores ret and
 * ret_seq = ++seq and sets done (release). After truncate_back(k) returned
 * 0 it writes again from index k under the next generation, and so it does
 * from index 1 after a truncate_front that emptied the log (every second
 * time); a generation is in the records' keys and values, so that an old
 * record brought back is told from the new one.
 */
enum { CW_T_FRONT = 1, CW_T_BACK = 2 };

struct cw_trunc {
	uint64_t sub_seq; /* taken just before the call */
	uint64_t ret_seq; /* taken just after it returned (done) */
	uint64_t index;   /* the argument */
	uint32_t kind;    /* CW_T_FRONT or CW_T_BACK */
	uint32_t gen;     /* the generation of the records written after it */
	uint32_t nent;    /* records the thread had submitted before it */
	uint32_t removes; /* records it removes, by the thread's model (0: uwal does no I/O) */
	int32_t ret;      /* the result, once done */
	uint32_t done;    /* the call returned (release) */
};

struct cw_tent {
	uint64_t index;
	uint32_t gen;
};

struct cw_shm {
	_Atomic uint64_t seq;
	_Atomic uint32_t ready;        /* child: the log is open, writers run */
	_Atomic uint32_t shut;         /* parent: the filesystem was shut down */
	_Atomic uint64_t cut_seq;      /* parent: ++seq after the shutdown returned */
	uint64_t snap_ns, cut_ns;      /* parent: CLOCK_MONOTONIC at snap and cut */
	_Atomic uint64_t bytes;        /* payload bytes submitted (budget) */
	_Atomic uint64_t acks;         /* calls acknowledged (bumped after recording) */
	_Atomic uint64_t durable_acks; /* ... of which durable */
	_Atomic int32_t open_err;      /* child's uwal_open result (1 = not yet) */
	_Atomic int32_t probe_err;     /* power loss: a write made after the shutdown */
	_Atomic int32_t close_err;     /* child's uwal_close result (1 = not yet) */
	_Atomic uint32_t closed;
	_Atomic int32_t rec_open_err; /* the recovering child's uwal_open (1 = not yet) */
	/* Simulated power loss (sim.c): */
	_Atomic uint64_t sim_ops;       /* backend operations before the cut */
	_Atomic uint64_t sim_forgotten; /* operations the forget mode dropped */
	_Atomic int32_t sim_layout_err; /* crashsim_layout's error, 0 if none */
	_Atomic uint32_t sim_trunc_cut; /* the cut came right after a truncation returned */
	char sim_note[400];             /* what the layouts chose */
	struct cw_thr thr[CW_MAX_THREADS];
	_Atomic uint64_t ntrunc; /* truncation plans: trunc[0..ntrunc-1] were submitted */
	/* Not reset between iterations: nothing past nsub / ntrunc is read. */
	struct cw_ent ent[CW_MAX_THREADS][CW_MAX_RECS];
	struct cw_tent tent[CW_MAX_RECS];
	struct cw_trunc trunc[CW_MAX_TRUNCS];
};

/* How one iteration runs: everything random about it, from its seed. */
struct cw_plan {
	uint64_t seed;
	enum uwal_sync_mode mode;
	unsigned sync_pct;  /* % of calls with sync = true */
	unsigned batch_pct; /* % of calls that are uwal_write_batch */
	unsigned large_pct; /* % of records with a 4-32 KiB value */
	unsigned nthreads;
	uint64_t segment_size;
	enum uwal_prealloc prealloc;
	enum uwal_write_path write_path;
	enum uwal_durable_write durable_write;
	uint32_t max_batch_size;
	uint32_t queue_capacity;
	uint32_t wait_spin_us;
	uint32_t ring_poll_us;
	uint64_t budget;       /* payload bytes the child may submit */
	bool early;            /* strike at a random moment from fork, maybe during open */
	uint32_t delay_us;     /* how long after the strike's origin */
	bool on_ack;           /* then strike the instant the next (durable) ack is recorded */
	bool rec_strike;       /* strike again while a fresh process recovers the log */
	uint32_t rec_delay_us; /* ... this long after forking it */
	/* Simulated power loss only (cw_plan_make_sim; 0 otherwise): */
	bool sim;
	uint64_t segment_threshold; /* records per segment (rotation) */
	uint32_t max_segments;      /* retention */
	uint64_t cut_ops;           /* cut after this many backend operations */
	uint64_t rec_ops;           /* rec_strike: ... of recovery */
	/* Truncation plans (0 otherwise; one thread, no retention): */
	unsigned trunc_pct; /* % of calls that are truncations */
	unsigned back_pct;  /* ... of which uwal_truncate_back */
	uint32_t
		cut_trunc; /* sim: cut the instant the cut_trunc-th truncation returned (0: none) */
	bool cut_trunc_back; /* ... counting uwal_truncate_back calls only */
};

static inline uint64_t cw_mix(uint64_t x)
{
	/* splitmix64's finaliser */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A small PRNG; state must not start at 0 (cw_rng_init takes care). */
struct cw_rng {
	uint64_t s;
};

static inline void cw_rng_init(struct cw_rng *r, uint64_t seed)
{
	r->s = cw_mix(seed) | 1;
}

static inline uint64_t cw_rand(struct cw_rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s * 0x2545f4914f6cdd1dull;
}

static inline unsigned cw_below(struct cw_rng *r, unsigned n)
{
	return (unsigned)(cw_rand(r) % n);
}

static inline uint64_t cw_index(unsigned t, uint64_t k)
{
	return 1 + t + (uint64_t)CW_MAX_THREADS * k;
}

/* Record contents: functions of the iteration seed, the index and the
 * generation (0 outside truncation plans). A key holds its index in its
 * first 8 bytes and, with a generation, that in the next 4. */
size_t cw_key(uint64_t seed, uint64_t index, uint32_t gen, uint8_t *out);
size_t cw_value_len(const struct cw_plan *p, uint64_t index, uint32_t gen);
void cw_value(uint64_t seed, uint64_t index, uint32_t gen, uint8_t *out, size_t len);
/* Payload bytes a record costs against the budget. */
static inline size_t cw_cost(const struct cw_plan *p, uint64_t index, uint32_t gen)
{
	return cw_value_len(p, index, gen) + CW_MAX_KEY + 32;
}

void cw_plan_make(struct cw_plan *p, uint64_t seed, bool power_loss);
/* The plan of a simulated power cut (crashwal --mode sim): small logs,
 * rotation and retention, a cut at an operation count. */
void cw_plan_make_sim(struct cw_plan *p, uint64_t seed);
/* Make p a truncation plan (1 in 4 are; crashwal --truncating: all). */
void cw_plan_truncating(struct cw_plan *p);
void cw_plan_print(const struct cw_plan *p, char *out, size_t n);
void cw_config(const struct cw_plan *p, const char *dir, uwal_config *cfg);

/* The writer child: opens the log, runs the threads, never returns. */
void cw_child_run(struct cw_shm *shm, const struct cw_plan *p, const char *dir, bool power_loss)
	__attribute__((noreturn));

/* What the simulated power loss needs from the writer. */
struct cw_hooks {
	/* Every thread spent its budget (or failed) before the strike: the
	 * simulator cuts then. */
	void (*all_idle)(void *arg);
	/* Truncation m returned (its result recorded): the simulator may cut. */
	void (*trunc_returned)(void *arg, uint64_t m, bool back);
	void *arg;
};

/* cw_child_run's work; returns its exit status (3: uwal_open failed). A
 * process crash never returns. */
int cw_child_work(struct cw_shm *shm, const struct cw_plan *p, const char *dir, bool power_loss,
		  const struct cw_hooks *hooks);

/* Simulated power loss: where the child works and lays out its images. */
struct cw_sim_dirs {
	const char *live; /* the live tree (the log is live/log) */
	const char *img;  /* the image after the cut (img/log) */
	const char *img2; /* ... after a second cut during recovery */
	int forget;       /* enum crashsim_forget: a deliberately broken engine */
};

/* The writer child on the crash simulator (sim.c); never returns. */
void cw_sim_child(struct cw_shm *shm, const struct cw_plan *p, const struct cw_sim_dirs *d)
	__attribute__((noreturn));

/* The recovering child: uwal_open (recovery), report, uwal_close, exit. */
void cw_recoverer_run(struct cw_shm *shm, const struct cw_plan *p, const char *dir)
	__attribute__((noreturn));

/* Diagnostics captured from log_fn (printed when an iteration fails). */
void cw_log_fn(void *ctx, int level, const char *msg);
void cw_log_reset(void);
void cw_log_dump(void);

/*
 * Judge a log after the crash: opens it, checks what the reports promise,
 * iterates it, writes, closes, reopens. power_loss: judge the durable
 * acknowledgments taken before snap_seq (and what they imply); otherwise
 * every acknowledgment. what names the iteration in messages; st gathers
 * counts. Returns 0, or -1 after printing what differed.
 */
struct cw_totals {
	uint64_t judged;         /* acknowledgments checked with uwal_get */
	uint64_t present;        /* records found by iterating */
	uint64_t partial_tail;   /* logs that ended in an unjudged batch cut short */
	uint64_t lost_unjudged;  /* durable acks taken during the shutdown, lost */
	uint64_t lost_after_cut; /* ... of which recorded after the ioctl returned */
	uint64_t retention_gone; /* judged records absent because retention dropped them */
	/* Truncation plans (trunc.c): */
	uint64_t trunc_plans;   /* iterations judged with truncations */
	uint64_t truncs;        /* truncations submitted */
	uint64_t truncs_judged; /* ... that returned 0 before the strike: in effect */
	uint64_t truncs_gone;   /* records they removed, checked absent */
	uint64_t truncs_before; /* truncations that may have taken effect: found not */
	uint64_t truncs_after;  /* ... found in effect */
	uint64_t truncs_either; /* ... that changed nothing either way */
};

/*
 * Judge a truncation plan's log (trunc.c), open in w: it must be exactly
 * what the calls made up to some point between the last one that must be
 * in effect and the last one submitted left. Returns the number of
 * records, or -1 after printing what differed; *free_ix gets an index
 * that a truncation in effect removed and the log does not hold (0 if
 * none), which must be free to be written again.
 */
long cw_judge_trunc(const struct cw_shm *shm, const struct cw_plan *p, uwal *w, uint64_t snap_seq,
		    bool power_loss, const char *what, struct cw_totals *st, uint64_t *free_ix);
/* A truncation in words ("truncate_back(17) (truncation #3, after 40
 * records; generation 2 after it; returned 0)"), into buf. */
const char *cw_trunc_name(const struct cw_shm *shm, uint64_t m, char *buf, size_t n);
int cw_verify(const struct cw_shm *shm, const struct cw_plan *p, const char *dir, uint64_t snap_seq,
	      bool power_loss, const char *what, struct cw_totals *st);

#endif
