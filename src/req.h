/* SPDX-License-Identifier: Apache-2.0 */
/*
 * req.h - one append request (req.c): built on its submitter's stack,
 * queued, batched by the writer, completed through its futex word. An
 * asynchronous request (async.c) is allocated instead, with copies of its
 * records, and completed into the handle's completion queue.
 */
#ifndef UWAL_REQ_H
#define UWAL_REQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uwal.h"

struct uwal;

/* The futex word of a request. */
enum { REQ_PENDING = 0, REQ_SLEEPING = 1, REQ_DONE = 2 };

/* What a request asks for (truncations: truncate.c). REQ_SYNC writes no
 * record: it makes everything before it durable (uwal_sync). */
enum { REQ_WRITE = 0, REQ_TRUNC_FRONT = 1, REQ_TRUNC_BACK = 2, REQ_SYNC = 3 };

struct req {
	_Atomic uint32_t state;
	int result;
	bool sync;
	bool async;           /* uwal_submit(): owned by uwal, completed into the queue */
	bool failed;          /* refused while its batch was built: result is set */
	uint8_t kind;         /* REQ_WRITE, REQ_SYNC, or a truncation (n is then 0) */
	uint64_t trunc_index; /* a truncation's index */
	uint64_t first_index; /* set by the writer: the first record's index */
	uint64_t user_data;   /* an asynchronous request's */
	uint32_t n;
	const uwal_record *recs;
	/* Frames encoded by the submitter (async.c), with salt's crcs: the
	 * writer copies them, computing the crcs again if the active
	 * segment's salt is another. NULL: the writer encodes recs. */
	uint8_t *frames;
	uint32_t frames_salt;
	uwal_record one;
	size_t bytes;     /* encoded size of all its frames */
	struct req *next; /* the writer's lists */
};

/* Wait until r is completed (spin, then yield, then sleep: see req.c). */
void uw_req_wait(struct uwal *w, struct req *r);
/* Complete a chain of requests whose results are stored. */
void uw_req_complete_chain(struct uwal *w, struct req *r);
/* Store res in every request of the chain from head (but those refused
 * while the batch was built: they keep theirs), then complete it. */
void uw_req_complete_all(struct uwal *w, struct req *head, int res);
/* async.c: post the completions of a chain of asynchronous requests, in
 * order, and free them. */
void uw_async_post(struct uwal *w, struct req *head);

#endif
