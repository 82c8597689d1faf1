/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io.c - struct raft_io on uwal: an inner raft_uv io does the network, the
 * timers and the randomness; the storage methods are here.
 *
 * Threading and ordering (all state below is the loop thread's):
 *   - append: the entries are encoded and handed to uwal_submit() with
 *     UWAL_SUBMIT_SYNC at once; uwal's completions come in log order on
 *     its eventfd, which a uv_poll watches; its callback reaps them and
 *     runs raft's callbacks. The loop never waits for I/O.
 *   - truncate and snapshot_put are barriers: they wait (in the queue of
 *     operations) until every append before them has completed, then run
 *     on libuv's thread pool (uv_queue_work) while every operation after
 *     them waits in the queue; when the work is done the queue goes on.
 *     So a truncation applies after the appends raft made before it and
 *     before the ones it makes after, and no fdatasync runs on the loop.
 *   - set_term, set_vote, bootstrap and recover are durable when they
 *     return, as raft requires: they write on the loop thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "internal.h"
#include "uwal.h"
#include "uwal_raft.h"

/*
 * The struct raft_io this code was written against: libraft 0.15's
 * (version 2: async_work is its last method). A libraft whose struct
 * differs must be looked at before this builds against it.
 */
_Static_assert(offsetof(struct raft_io, version) == 0, "struct raft_io: unexpected layout");
_Static_assert(offsetof(struct raft_io, errmsg) == 3 * sizeof(void *),
	       "struct raft_io: unexpected layout");
_Static_assert(offsetof(struct raft_io, async_work) ==
		       3 * sizeof(void *) + RAFT_ERRMSG_BUF_SIZE + 15 * sizeof(void (*)(void)),
	       "struct raft_io: not libraft 0.15's (version 2)");
_Static_assert(sizeof(struct raft_io) == offsetof(struct raft_io, async_work) + sizeof(void *),
	       "struct raft_io: fields after async_work (a newer libraft?)");

#define UR_IO_VERSION 2
#define UR_REAP_MAX 64

enum op_kind { OP_APPEND, OP_TRUNCATE, OP_SNAPSHOT_PUT, OP_SNAPSHOT_GET };

struct ur;

struct op {
	enum op_kind kind;
	struct op *next;
	struct ur *s;
	uv_work_t work;
	int status;
	char errmsg[RAFT_ERRMSG_BUF_SIZE];
	/* OP_APPEND */
	struct raft_io_append *append_req;
	raft_io_append_cb append_cb;
	uwal_record *recs;
	unsigned char *scratch;
	unsigned n;
	/* Entries are handed to uwal in parts that fit a segment: sent of
	 * them so far, in parts submissions, done of them completed; fail is
	 * the first failure's raft code (its text in errmsg). */
	unsigned sent, parts, done;
	int fail;
	/* OP_TRUNCATE */
	raft_index index;
	/* OP_SNAPSHOT_PUT / OP_SNAPSHOT_GET */
	struct raft_io_snapshot_put *put_req;
	raft_io_snapshot_put_cb put_cb;
	const struct raft_snapshot *snapshot;
	unsigned trailing;
	uint64_t gen; /* the log generation after the put */
	struct raft_io_snapshot_get *get_req;
	raft_io_snapshot_get_cb get_cb;
	struct raft_snapshot *got;
};

struct ur {
	struct raft_io *io; /* the caller's */
	struct raft_io inner;
	bool inner_ready;
	uv_loop_t *loop;
	char *dir;
	int dirfd;
	size_t segment_size;
	size_t part_bytes; /* the most bytes of records in one uwal_submit() */
	uwal *w;
	uv_poll_t poll;
	bool poll_ready;

	uint64_t term, vote;
	uint64_t gen;          /* log generation: see raft/README.md */
	raft_index next_index; /* raft index of the next appended entry */

	struct op *head, *tail; /* operations waiting their turn */
	unsigned inflight;      /* appends submitted, not completed */
	bool barrier;           /* a truncate or snapshot_put is running */
	unsigned gets;          /* snapshot_get works running */
	bool errored;           /* a truncate or snapshot_put failed */

	bool closing, close_started;
	raft_io_close_cb close_cb;

	pthread_mutex_t log_lock; /* uwal's log_fn may run on pool threads */
	char last_log[RAFT_ERRMSG_BUF_SIZE];
};

static void log_fn(void *ctx, int level, const char *msg)
{
	struct ur *s = ctx;
	if (level != UWAL_LOG_ERROR)
		return;
	pthread_mutex_lock(&s->log_lock);
	snprintf(s->last_log, sizeof(s->last_log), "%s", msg);
	pthread_mutex_unlock(&s->log_lock);
}

/* A uwal error as a raft code, its text in err. */
static int from_uwal(struct ur *s, int rc, const char *what, char *err)
{
	char last[RAFT_ERRMSG_BUF_SIZE];
	pthread_mutex_lock(&s->log_lock);
	memcpy(last, s->last_log, sizeof(last));
	s->last_log[0] = '\0';
	pthread_mutex_unlock(&s->log_lock);
	int len = snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s: %s%s%s", what, uwal_strerror(rc),
			   last[0] ? ": " : "", last);
	(void)len; /* a longer message is cut: it is only a diagnostic */
	return ur_raft_code(rc);
}

static void set_errmsg(struct raft_io *io, const char *msg)
{
	snprintf(io->errmsg, sizeof(io->errmsg), "%s", msg);
}

/* ---- entry encoding ---------------------------------------------------- */

static size_t entries_size(const struct raft_entry entries[], unsigned n)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += UR_ENTRY_HEADER + entries[i].buf.len;
	return total;
}

/* Fill recs[i] with entry i at index first + i, its bytes in scratch. */
static void encode_entries(const struct raft_entry entries[], unsigned n, raft_index first,
			   uint64_t gen, uwal_record *recs, unsigned char *scratch)
{
	unsigned char *p = scratch;
	for (unsigned i = 0; i < n; i++) {
		ur_put64(p, entries[i].term);
		p[8] = (unsigned char)(entries[i].type & 0xff);
		p[9] = (unsigned char)(entries[i].type >> 8);
		p[10] = UR_ENTRY_FORMAT;
		p[11] = 0;
		ur_put32(p + 12, (uint32_t)gen);
		if (entries[i].buf.len > 0)
			memcpy(p + UR_ENTRY_HEADER, entries[i].buf.base, entries[i].buf.len);
		recs[i] = (uwal_record){.index = first + i,
					.value = p,
					.value_len = UR_ENTRY_HEADER + entries[i].buf.len};
		p += UR_ENTRY_HEADER + entries[i].buf.len;
	}
}

struct decoded {
	raft_term term;
	unsigned short type;
	uint32_t gen;
	const unsigned char *payload;
	size_t len;
};

static bool decode_entry(const uwal_record *r, struct decoded *d)
{
	const unsigned char *p = r->value;
	if (r->key_len != 0 || r->value_len < UR_ENTRY_HEADER || p[10] != UR_ENTRY_FORMAT ||
	    p[11] != 0)
		return false;
	d->term = ur_get64(p);
	d->type = (unsigned short)(p[8] | (p[9] << 8));
	d->gen = ur_get32(p + 12);
	d->payload = p + UR_ENTRY_HEADER;
	d->len = r->value_len - UR_ENTRY_HEADER;
	return d->term != 0 && d->type >= RAFT_COMMAND && d->type <= RAFT_CHANGE;
}

/* Write one entry durably (bootstrap, recover: before raft starts). */
static int write_entry_sync(struct ur *s, raft_index index, const struct raft_entry *e)
{
	uwal_record rec;
	unsigned char *scratch = malloc(entries_size(e, 1));
	if (scratch == NULL)
		return RAFT_NOMEM;
	encode_entries(e, 1, index, s->gen, &rec, scratch);
	int rc = uwal_write_sync(s->w, rec.index, NULL, 0, rec.value, rec.value_len, true);
	free(scratch);
	if (rc != 0)
		return from_uwal(s, rc, "write entry", s->io->errmsg);
	return 0;
}

/* ---- the queue of operations ------------------------------------------- */

static void enqueue(struct ur *s, struct op *op)
{
	op->next = NULL;
	if (s->tail != NULL)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
}

static struct op *dequeue(struct ur *s)
{
	struct op *op = s->head;
	if (op != NULL) {
		s->head = op->next;
		if (s->head == NULL)
			s->tail = NULL;
	}
	return op;
}

static void free_op(struct op *op)
{
	free(op->recs);
	free(op->scratch);
	free(op);
}

/* How many records of op, from op->sent on, go in one submission: as many
 * as fit in s->part_bytes (at least one: uwal refuses one too big). */
static unsigned part_len(const struct ur *s, const struct op *op)
{
	size_t bytes = 0;
	unsigned k = op->sent;
	while (k < op->n) {
		size_t b = uwal_record_size(op->recs[k].index, 0, op->recs[k].value_len);
		if (k > op->sent && bytes + b > s->part_bytes)
			break;
		bytes += b;
		k++;
	}
	return k - op->sent;
}

/*
 * Hand an append to uwal, in parts that each fit a segment (raft sends a
 * follower that is far behind all it lacks in one append): 0 when every
 * part is submitted, or when a part failed after others were (the last
 * completion reports it); UWAL_EAGAIN when the window is full (the rest
 * goes later, in order); or a raft error with op->errmsg when nothing was
 * submitted.
 */
static int submit_append(struct ur *s, struct op *op)
{
	do {
		unsigned k = op->n ? part_len(s, op) : 0;
		int rc = uwal_submit(s->w, k ? op->recs + op->sent : NULL, k, UWAL_SUBMIT_SYNC,
				     (uint64_t)(uintptr_t)op);
		if (rc == UWAL_EAGAIN)
			return rc;
		if (rc != 0) {
			op->fail = from_uwal(s, rc, "append", op->errmsg);
			op->sent = op->n;
			break;
		}
		op->sent += k;
		op->parts++;
		s->inflight++;
	} while (op->sent < op->n);
	free(op->recs);
	free(op->scratch);
	op->recs = NULL;
	op->scratch = NULL;
	return op->parts == 0 ? op->fail : 0;
}

static void start_barrier(struct ur *s, struct op *op);
static void try_close(struct ur *s);

/* Move the queue on as far as the order allows. Runs only from loop
 * callbacks (never inside a raft_io method), so it may call raft back. */
static void process_queue(struct ur *s)
{
	while (s->head != NULL && !s->barrier && !s->closing) {
		struct op *op = s->head;
		if (op->kind == OP_APPEND) {
			int rv;
			if (s->errored) {
				snprintf(op->errmsg, sizeof(op->errmsg),
					 "an earlier truncate or snapshot failed");
				/* Parts in flight: the last completion reports it. */
				op->fail = RAFT_IOERR;
				op->sent = op->n;
				rv = op->parts ? 0 : RAFT_IOERR;
			} else {
				rv = submit_append(s, op);
			}
			if (rv == UWAL_EAGAIN)
				return; /* the next reap makes room */
			dequeue(s);
			if (rv != 0) {
				set_errmsg(s->io, op->errmsg);
				op->append_cb(op->append_req, rv);
				free_op(op);
			}
			continue;
		}
		if (s->inflight > 0)
			return; /* a barrier waits for the appends before it */
		dequeue(s);
		start_barrier(s, op);
	}
}

/* ---- append ------------------------------------------------------------ */

static void poll_cb(uv_poll_t *handle, int status, int events)
{
	struct ur *s = handle->data;
	(void)status;
	(void)events;
	uwal_completion c[UR_REAP_MAX];
	for (;;) {
		int n = uwal_reap(s->w, c, UR_REAP_MAX, 0);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct op *op = (struct op *)(uintptr_t)c[i].user_data;
			s->inflight--;
			op->done++;
			if (c[i].result != 0 && op->fail == 0)
				op->fail = from_uwal(s, c[i].result, "append", op->errmsg);
			if (op->sent < op->n || op->done < op->parts)
				continue; /* more parts to submit or to complete */
			if (op->fail != 0)
				set_errmsg(s->io, op->errmsg);
			op->append_cb(op->append_req, op->fail);
			free_op(op);
		}
		if (n < UR_REAP_MAX)
			break;
	}
	process_queue(s);
	try_close(s);
}

/*
 * A new operation of kind for s, or NULL with *rv set (and the message):
 * the io is closing, an earlier barrier failed (not checked for snapshot
 * gets, which change nothing), or no memory.
 */
static struct op *new_op(struct raft_io *io, enum op_kind kind, int *rv)
{
	struct ur *s = io->impl;
	if (s->closing) {
		set_errmsg(io, "closing");
		*rv = RAFT_CANCELED;
		return NULL;
	}
	if (s->errored && kind != OP_SNAPSHOT_GET) {
		set_errmsg(io, "an earlier truncate or snapshot failed");
		*rv = RAFT_IOERR;
		return NULL;
	}
	struct op *op = calloc(1, sizeof(*op));
	if (op == NULL) {
		set_errmsg(io, "out of memory");
		*rv = RAFT_NOMEM;
		return NULL;
	}
	op->kind = kind;
	op->s = s;
	return op;
}

/* A barrier runs at once when nothing is ahead of it, else waits its turn. */
static void start_or_queue(struct ur *s, struct op *op)
{
	if (s->head == NULL && !s->barrier && s->inflight == 0)
		start_barrier(s, op);
	else
		enqueue(s, op);
}

static int ur_append(struct raft_io *io, struct raft_io_append *req,
		     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct ur *s = io->impl;
	int rv = 0;
	struct op *op = new_op(io, OP_APPEND, &rv);
	if (op == NULL)
		return rv;
	op->append_req = req;
	op->append_cb = cb;
	op->n = n;
	if (n > 0) {
		op->recs = calloc(n, sizeof(*op->recs));
		op->scratch = malloc(entries_size(entries, n));
		if (op->recs == NULL || op->scratch == NULL) {
			free_op(op);
			set_errmsg(io, "out of memory");
			return RAFT_NOMEM;
		}
		encode_entries(entries, n, s->next_index, s->gen, op->recs, op->scratch);
	}
	if (s->head == NULL && !s->barrier) {
		rv = submit_append(s, op);
		if (rv == UWAL_EAGAIN) {
			enqueue(s, op);
		} else if (rv != 0) {
			set_errmsg(io, op->errmsg);
			free_op(op);
			return rv;
		}
	} else {
		enqueue(s, op);
	}
	s->next_index += n;
	return 0;
}

/* ---- truncate and snapshot_put: barriers on the thread pool ---------------- */

static void truncate_work(struct op *op)
{
	struct ur *s = op->s;
	uint64_t first = uwal_first_index(s->w);
	uint64_t last = uwal_last_index(s->w);
	raft_index index = op->index;
	if (last == 0 || index > last)
		return;
	if (index < first)
		index = first;
	int rc = uwal_truncate_back(s->w, index);
	if (rc != 0)
		op->status = from_uwal(s, rc, "truncate", op->errmsg);
}

static void snapshot_put_work(struct op *op)
{
	struct ur *s = op->s;
	const struct raft_snapshot *snap = op->snapshot;
	op->status = ur_snap_write(s->w, snap, op->gen, op->errmsg);
	if (op->status != 0)
		return;
	/* The snapshot is durable: the log before it may go now. */
	uint64_t first = uwal_first_index(s->w);
	uint64_t last = uwal_last_index(s->w);
	if (last == 0)
		return;
	int rc = 0;
	if (op->trailing == 0) {
		/* Installed from the leader: no entry of the old log is kept (the
		 * entries of the old generation are void already). */
		rc = uwal_truncate_front(s->w, last + 1);
	} else if (snap->index > op->trailing) {
		raft_index keep = snap->index - op->trailing + 1;
		if (keep > first && keep <= last)
			rc = uwal_truncate_front(s->w, keep);
	}
	if (rc != 0)
		op->status = from_uwal(s, rc, "drop the log before the snapshot", op->errmsg);
}

static void snapshot_get_work(struct op *op)
{
	uint64_t gen;
	op->status = ur_snap_read(op->s->w, &op->got, &gen, op->errmsg);
}

static void work_cb(uv_work_t *work)
{
	struct op *op = work->data;
	switch (op->kind) {
	case OP_TRUNCATE:
		truncate_work(op);
		break;
	case OP_SNAPSHOT_PUT:
		snapshot_put_work(op);
		break;
	case OP_SNAPSHOT_GET:
		snapshot_get_work(op);
		break;
	case OP_APPEND:
		break;
	}
}

static void after_work_cb(uv_work_t *work, int status)
{
	struct op *op = work->data;
	struct ur *s = op->s;
	if (status != 0 && op->status == 0) {
		op->status = RAFT_CANCELED;
		snprintf(op->errmsg, sizeof(op->errmsg), "canceled");
	}
	if (op->kind == OP_SNAPSHOT_GET) {
		s->gets--;
		if (op->status != 0)
			set_errmsg(s->io, op->errmsg);
		op->get_cb(op->get_req, op->got, op->status);
		free_op(op);
		try_close(s);
		return;
	}
	s->barrier = false;
	if (op->status != 0) {
		s->errored = true;
		set_errmsg(s->io, op->errmsg);
	}
	if (op->kind == OP_SNAPSHOT_PUT) {
		if (op->status == 0)
			s->gen = op->gen;
		op->put_cb(op->put_req, op->status);
	}
	free_op(op);
	process_queue(s);
	try_close(s);
}

static void start_barrier(struct ur *s, struct op *op)
{
	op->work.data = op;
	s->barrier = true;
	int rv = uv_queue_work(s->loop, &op->work, work_cb, after_work_cb);
	if (rv != 0) {
		/* Only with a bad loop or callback; run it here instead. */
		work_cb(&op->work);
		after_work_cb(&op->work, 0);
	}
}

static int ur_truncate(struct raft_io *io, raft_index index)
{
	struct ur *s = io->impl;
	int rv = 0;
	struct op *op = new_op(io, OP_TRUNCATE, &rv);
	if (op == NULL)
		return rv;
	op->index = index;
	start_or_queue(s, op);
	if (index < s->next_index)
		s->next_index = index;
	return 0;
}

static int ur_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			   const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct ur *s = io->impl;
	int rv = 0;
	struct op *op = new_op(io, OP_SNAPSHOT_PUT, &rv);
	if (op == NULL)
		return rv;
	op->put_req = req;
	op->put_cb = cb;
	op->snapshot = snapshot;
	op->trailing = trailing;
	/* An installed snapshot (trailing 0) starts a new generation of the
	 * log: the appends after it carry it; the ones queued before it were
	 * encoded with the old one and are written before it. */
	op->gen = trailing == 0 ? s->gen + 1 : s->gen;
	if (trailing == 0) {
		s->gen = op->gen;
		s->next_index = snapshot->index + 1;
	}
	start_or_queue(s, op);
	return 0;
}

static int ur_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
			   raft_io_snapshot_get_cb cb)
{
	struct ur *s = io->impl;
	int rv = 0;
	struct op *op = new_op(io, OP_SNAPSHOT_GET, &rv);
	if (op == NULL)
		return rv;
	op->get_req = req;
	op->get_cb = cb;
	op->work.data = op;
	rv = uv_queue_work(s->loop, &op->work, work_cb, after_work_cb);
	if (rv != 0) {
		free(op);
		set_errmsg(io, uv_strerror(rv));
		return RAFT_IOERR;
	}
	s->gets++;
	return 0;
}

/* ---- term, vote, bootstrap, recover ------------------------------------ */

static int ur_set_term(struct raft_io *io, raft_term term)
{
	struct ur *s = io->impl;
	int rv = ur_meta_write(s->w, term, 0, io->errmsg);
	if (rv != 0)
		return rv;
	s->term = term;
	s->vote = 0;
	return 0;
}

static int ur_set_vote(struct raft_io *io, raft_id server_id)
{
	struct ur *s = io->impl;
	int rv = ur_meta_write(s->w, s->term, server_id, io->errmsg);
	if (rv != 0)
		return rv;
	s->vote = server_id;
	return 0;
}

static bool snapshot_exists(struct ur *s)
{
	/* Its name beside the log, as uwal_file_put() makes it. */
	return faccessat(s->dirfd, UR_LOG_DIR "/segment_file." UR_SNAP_NAME, F_OK, 0) == 0;
}

/* Term and vote from the file; a missing file is term 0 only for a log
 * with nothing in it. */
static int read_meta(struct ur *s, char *err)
{
	uint64_t term = 0, vote = 0;
	int rv = ur_meta_read(s->w, s->dirfd, &term, &vote, err);
	if (rv == RAFT_NOTFOUND) {
		if (uwal_last_index(s->w) != 0 || snapshot_exists(s)) {
			snprintf(err, RAFT_ERRMSG_BUF_SIZE,
				 "%s is missing but the log or a snapshot is there", UR_META_NAME);
			return RAFT_CORRUPT;
		}
		term = vote = 0;
	} else if (rv != 0) {
		return rv;
	}
	s->term = term;
	s->vote = vote;
	return 0;
}

static int ur_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
	struct ur *s = io->impl;
	int rv = read_meta(s, io->errmsg);
	if (rv != 0)
		return rv;
	/* Pristine: term 0, or term 1 without a vote left by a bootstrap that
	 * stopped before its entry was written. */
	bool pristine = uwal_last_index(s->w) == 0 && !snapshot_exists(s) &&
			(s->term == 0 || (s->term == 1 && s->vote == 0));
	if (!pristine) {
		set_errmsg(io, "not pristine: the log, a snapshot or a term is there");
		return RAFT_CANTBOOTSTRAP;
	}
	struct raft_entry e = {.term = 1, .type = RAFT_CHANGE};
	rv = raft_configuration_encode(conf, &e.buf);
	if (rv != 0) {
		set_errmsg(io, "encode the configuration");
		return rv;
	}
	rv = ur_meta_write(s->w, 1, 0, io->errmsg);
	if (rv == 0)
		rv = write_entry_sync(s, 1, &e);
	raft_free(e.buf.base);
	if (rv != 0)
		return rv;
	s->term = 1;
	s->vote = 0;
	s->next_index = 2;
	return 0;
}

static int ur_recover(struct raft_io *io, const struct raft_configuration *conf)
{
	struct ur *s = io->impl;
	int rv = read_meta(s, io->errmsg);
	if (rv != 0)
		return rv;
	raft_index last = uwal_last_index(s->w);
	if (last == 0 && snapshot_exists(s)) {
		struct raft_snapshot *snap = NULL;
		uint64_t gen;
		rv = ur_snap_read(s->w, &snap, &gen, io->errmsg);
		if (rv != 0)
			return rv;
		last = snap->index;
		s->gen = gen;
		ur_snap_free(snap);
	}
	struct raft_entry e = {.term = s->term, .type = RAFT_CHANGE};
	if (e.term == 0) {
		set_errmsg(io, "nothing to recover: term 0");
		return RAFT_INVALID;
	}
	rv = raft_configuration_encode(conf, &e.buf);
	if (rv != 0) {
		set_errmsg(io, "encode the configuration");
		return rv;
	}
	rv = write_entry_sync(s, last + 1, &e);
	raft_free(e.buf.base);
	if (rv != 0)
		return rv;
	s->next_index = last + 2;
	return 0;
}

/* ---- load -------------------------------------------------------------- */

struct loaded {
	raft_index index;
	raft_term term;
	unsigned short type;
	size_t off, len;
};

static int ur_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
		   struct raft_snapshot **snapshot, raft_index *start_index,
		   struct raft_entry *entries[], size_t *n_entries)
{
	struct ur *s = io->impl;
	struct raft_snapshot *snap = NULL;
	struct loaded *list = NULL;
	unsigned char *data = NULL;
	size_t n = 0, cap = 0, used = 0, dcap = 0, voided = 0;
	uwal_iter *it = NULL;
	uint64_t gen = 0;
	int rv = read_meta(s, io->errmsg);
	if (rv != 0)
		return rv;
	rv = ur_snap_read(s->w, &snap, &gen, io->errmsg);
	if (rv == RAFT_NOTFOUND) {
		snap = NULL;
		gen = 0;
		io->errmsg[0] = '\0';
	} else if (rv != 0) {
		return rv;
	}
	if (snap != NULL && snap->term > s->term) {
		snprintf(io->errmsg, sizeof(io->errmsg),
			 "%s: term %llu is newer than the current term %llu", UR_SNAP_NAME,
			 snap->term, (unsigned long long)s->term);
		rv = RAFT_CORRUPT;
		goto fail;
	}
	raft_index snap_index = snap != NULL ? snap->index : 0;

	int rc = uwal_iter_open(s->w, &it);
	if (rc != 0) {
		rv = from_uwal(s, rc, "load", io->errmsg);
		goto fail;
	}
	uwal_record rec;
	raft_index prev = 0;
	while ((rc = uwal_iter_next(it, &rec)) == 1) {
		struct decoded d;
		if (!decode_entry(&rec, &d)) {
			snprintf(io->errmsg, sizeof(io->errmsg),
				 "log record %llu is not a raft entry of this format",
				 (unsigned long long)rec.index);
			rv = RAFT_CORRUPT;
			goto fail;
		}
		if (d.gen > gen) {
			snprintf(io->errmsg, sizeof(io->errmsg),
				 "log record %llu: generation %u, newer than the snapshot's %llu",
				 (unsigned long long)rec.index, d.gen, (unsigned long long)gen);
			rv = RAFT_CORRUPT;
			goto fail;
		}
		if (d.gen < gen) {
			/* Before an installed snapshot: void. */
			if (n > 0) {
				snprintf(io->errmsg, sizeof(io->errmsg),
					 "log record %llu of an old generation after newer ones",
					 (unsigned long long)rec.index);
				rv = RAFT_CORRUPT;
				goto fail;
			}
			voided++;
			continue;
		}
		if (prev != 0 && rec.index != prev + 1) {
			snprintf(io->errmsg, sizeof(io->errmsg),
				 "log gap: record %llu follows %llu", (unsigned long long)rec.index,
				 (unsigned long long)prev);
			rv = RAFT_CORRUPT;
			goto fail;
		}
		prev = rec.index;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			struct loaded *l = realloc(list, cap * sizeof(*list));
			if (l == NULL)
				goto nomem;
			list = l;
		}
		if (used + d.len > dcap) {
			size_t nc = dcap ? 2 * dcap : 65536;
			while (nc < used + d.len)
				nc *= 2;
			unsigned char *b = realloc(data, nc);
			if (b == NULL)
				goto nomem;
			data = b;
			dcap = nc;
		}
		memcpy(data + used, d.payload, d.len);
		list[n++] = (struct loaded){rec.index, d.term, d.type, used, d.len};
		used += d.len;
	}
	uwal_iter_close(it);
	it = NULL;
	if (rc < 0) {
		rv = from_uwal(s, rc, "load", io->errmsg);
		goto fail;
	}

	if (voided > 0 && n > 0) {
		snprintf(io->errmsg, sizeof(io->errmsg),
			 "log records of an old generation before newer ones");
		rv = RAFT_CORRUPT;
		goto fail;
	}
	raft_index first = n > 0 ? list[0].index : 0;
	raft_index last = n > 0 ? list[n - 1].index : 0;
	if (snap == NULL && n > 0 && first != 1) {
		snprintf(io->errmsg, sizeof(io->errmsg),
			 "the log starts at %llu without a snapshot", (unsigned long long)first);
		rv = RAFT_CORRUPT;
		goto fail;
	}
	if (snap != NULL && n > 0 && first > snap_index + 1) {
		snprintf(io->errmsg, sizeof(io->errmsg),
			 "log gap: the log starts at %llu after the snapshot at %llu",
			 (unsigned long long)first, (unsigned long long)snap_index);
		rv = RAFT_CORRUPT;
		goto fail;
	}
	if (snap != NULL && n > 0 && last < snap_index) {
		/* Every entry is in the snapshot: drop them, so that the next
		 * append (snapshot index + 1) continues the log. */
		voided += n;
		n = 0;
	}
	if (voided > 0) {
		uint64_t ulast = uwal_last_index(s->w);
		rc = n == 0 ? uwal_truncate_front(s->w, ulast + 1) : 0;
		if (rc != 0) {
			rv = from_uwal(s, rc, "drop the entries before the snapshot", io->errmsg);
			goto fail;
		}
	}

	struct raft_entry *out = NULL;
	if (n > 0) {
		out = raft_malloc(n * sizeof(*out));
		void *batch = raft_malloc(used > 0 ? used : 1);
		if (out == NULL || batch == NULL) {
			raft_free(out);
			raft_free(batch);
			goto nomem;
		}
		if (used > 0)
			memcpy(batch, data, used);
		for (size_t i = 0; i < n; i++) {
			out[i].term = list[i].term;
			out[i].type = list[i].type;
			out[i].buf.base = (unsigned char *)batch + list[i].off;
			out[i].buf.len = list[i].len;
			out[i].batch = batch;
		}
	}
	*term = s->term;
	*voted_for = s->vote;
	*snapshot = snap;
	*start_index = n > 0 ? list[0].index : snap_index + 1;
	*entries = out;
	*n_entries = n;
	s->gen = gen;
	s->next_index = n > 0 ? list[n - 1].index + 1 : snap_index + 1;
	free(list);
	free(data);
	return 0;
nomem:
	set_errmsg(io, "out of memory");
	rv = RAFT_NOMEM;
fail:
	uwal_iter_close(it);
	ur_snap_free(snap);
	free(list);
	free(data);
	return rv;
}

/* ---- init, close and the methods of the inner io ------------------------- */

static void copy_inner_errmsg(struct ur *s, int rv)
{
	if (rv != 0)
		memcpy(s->io->errmsg, s->inner.errmsg, sizeof(s->io->errmsg));
}

static int ur_init(struct raft_io *io, raft_id id, const char *address)
{
	struct ur *s = io->impl;
	if (s->w != NULL) {
		set_errmsg(io, "already initialized");
		return RAFT_INVALID;
	}
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->dir, UR_LOG_DIR) >= sizeof(path)) {
		set_errmsg(io, "directory name too long");
		return RAFT_NAMETOOLONG;
	}
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = path;
	cfg.sync_mode = UWAL_SYNC_BATCH;
	cfg.log_fn = log_fn;
	cfg.log_ctx = s;
	if (s->segment_size != 0)
		cfg.segment_size = s->segment_size;
	/* A quarter of a segment per submission: always fits one. */
	s->part_bytes = cfg.segment_size / 4;
	int rc = uwal_open(&cfg, &s->w);
	if (rc != 0) {
		s->w = NULL;
		return from_uwal(s, rc, "open the log", io->errmsg);
	}

	s->inner.data = io->data;
	int rv = s->inner.init(&s->inner, id, address);
	if (rv != 0) {
		copy_inner_errmsg(s, rv);
		goto fail;
	}
	s->inner_ready = true;
	s->poll.data = s;
	rv = uv_poll_init(s->loop, &s->poll, uwal_event_fd(s->w));
	if (rv == 0)
		rv = uv_poll_start(&s->poll, UV_READABLE, poll_cb);
	if (rv != 0) {
		set_errmsg(io, uv_strerror(rv));
		rv = RAFT_IOERR;
		goto fail;
	}
	s->poll.data = s;
	s->poll_ready = true;
	return 0;
fail:
	/* The inner io, if it was initialized, is closed by uwal_raft_close(). */
	uwal_close(s->w);
	s->w = NULL;
	return rv;
}

static void inner_close_cb(struct raft_io *inner)
{
	struct ur *s = (struct ur *)(void *)((char *)inner - offsetof(struct ur, inner));
	if (s->close_cb != NULL)
		s->close_cb(s->io);
}

static void poll_close_cb(uv_handle_t *handle)
{
	struct ur *s = handle->data;
	/*
	 * What waited behind a barrier never started: cancel it, the newest
	 * first. raft releases a failed append's entries from its in-memory
	 * log together with every later one; cancelled oldest first, the
	 * later appends' entries were released twice (a double free seen
	 * when a leader closes with appends queued).
	 */
	struct op *rev = NULL, *op;
	while ((op = dequeue(s)) != NULL) {
		op->next = rev;
		rev = op;
	}
	while ((op = rev) != NULL) {
		rev = op->next;
		if (op->kind == OP_APPEND)
			op->append_cb(op->append_req, RAFT_CANCELED);
		else if (op->kind == OP_SNAPSHOT_PUT)
			op->put_cb(op->put_req, RAFT_CANCELED);
		free_op(op);
	}
	s->inner.close(&s->inner, inner_close_cb);
}

/* Close once nothing is in flight: submitted appends complete, works
 * running on the pool finish. */
static void try_close(struct ur *s)
{
	if (!s->closing || s->close_started || s->inflight > 0 || s->barrier || s->gets > 0)
		return;
	s->close_started = true;
	uv_close((uv_handle_t *)&s->poll, poll_close_cb);
}

static void ur_close(struct raft_io *io, raft_io_close_cb cb)
{
	struct ur *s = io->impl;
	s->closing = true;
	s->close_cb = cb;
	try_close(s);
}

static int ur_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	struct ur *s = io->impl;
	s->inner.data = io->data;
	int rv = s->inner.start(&s->inner, msecs, tick, recv);
	copy_inner_errmsg(s, rv);
	return rv;
}

static int ur_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
		   raft_io_send_cb cb)
{
	struct ur *s = io->impl;
	int rv = s->inner.send(&s->inner, req, message, cb);
	copy_inner_errmsg(s, rv);
	return rv;
}

static raft_time ur_time(struct raft_io *io)
{
	struct ur *s = io->impl;
	return s->inner.time(&s->inner);
}

static int ur_random(struct raft_io *io, int min, int max)
{
	struct ur *s = io->impl;
	return s->inner.random(&s->inner, min, max);
}

static int ur_async_work(struct raft_io *io, struct raft_io_async_work *req,
			 raft_io_async_work_cb cb)
{
	struct ur *s = io->impl;
	int rv = s->inner.async_work(&s->inner, req, cb);
	copy_inner_errmsg(s, rv);
	return rv;
}

int uwal_raft_init(struct raft_io *io, struct uv_loop_s *loop, const char *dir,
		   struct raft_uv_transport *transport)
{
	if (io == NULL || loop == NULL || dir == NULL || transport == NULL)
		return RAFT_INVALID;
	memset(io, 0, sizeof(*io));
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(io->errmsg, sizeof(io->errmsg), "%s: %s", dir, strerror(errno));
		return errno == ENOENT ? RAFT_NOTFOUND : RAFT_IOERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(io->errmsg, sizeof(io->errmsg), "%s: not a directory", dir);
		return RAFT_INVALID;
	}
	if (strlen(dir) > 3000) {
		set_errmsg(io, "directory name too long");
		return RAFT_NAMETOOLONG;
	}
	struct ur *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->dir = strdup(dir)) == NULL) {
		free(s);
		set_errmsg(io, "out of memory");
		return RAFT_NOMEM;
	}
	pthread_mutex_init(&s->log_lock, NULL);
	s->io = io;
	s->loop = loop;
	s->next_index = 1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rv = 0;
	if (s->dirfd < 0) {
		snprintf(io->errmsg, sizeof(io->errmsg), "open %s: %s", dir, strerror(errno));
		rv = RAFT_IOERR;
		goto fail;
	}
	if (mkdirat(s->dirfd, UR_NET_DIR, 0755) != 0 && errno != EEXIST) {
		snprintf(io->errmsg, sizeof(io->errmsg), "mkdir %s/%s: %s", dir, UR_NET_DIR,
			 strerror(errno));
		rv = RAFT_IOERR;
		goto fail;
	}
	char net[4096];
	snprintf(net, sizeof(net), "%s/%s", dir, UR_NET_DIR);
	rv = raft_uv_init(&s->inner, loop, net, transport);
	if (rv != 0) {
		memcpy(io->errmsg, s->inner.errmsg, sizeof(io->errmsg));
		goto fail;
	}
	io->version = UR_IO_VERSION;
	io->impl = s;
	io->init = ur_init;
	io->close = ur_close;
	io->load = ur_load;
	io->start = ur_start;
	io->bootstrap = ur_bootstrap;
	io->recover = ur_recover;
	io->set_term = ur_set_term;
	io->set_vote = ur_set_vote;
	io->send = ur_send;
	io->append = ur_append;
	io->truncate = ur_truncate;
	io->snapshot_put = ur_snapshot_put;
	io->snapshot_get = ur_snapshot_get;
	io->time = ur_time;
	io->random = ur_random;
	io->async_work =
		s->inner.version >= 2 && s->inner.async_work != NULL ? ur_async_work : NULL;
	if (io->async_work == NULL)
		io->version = 1;
	return 0;
fail:
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->log_lock);
	free(s->dir);
	free(s);
	return rv;
}

int uwal_raft_set_segment_size(struct raft_io *io, size_t bytes)
{
	if (io == NULL || io->impl == NULL || io->init != ur_init)
		return RAFT_INVALID;
	struct ur *s = io->impl;
	if (s->w != NULL || bytes < 65536 || bytes > 0xffffffffu)
		return RAFT_INVALID;
	s->segment_size = bytes;
	return 0;
}

void uwal_raft_close(struct raft_io *io)
{
	if (io == NULL || io->impl == NULL || io->init != ur_init)
		return;
	struct ur *s = io->impl;
	raft_uv_close(&s->inner);
	if (s->w != NULL)
		uwal_close(s->w);
	close(s->dirfd);
	pthread_mutex_destroy(&s->log_lock);
	free(s->dir);
	free(s);
	io->impl = NULL;
}
