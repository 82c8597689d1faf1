/*
 * req.h - one append request (req.c): built on its submitter's stack,
 * queued, batched by the writer, completed through its futex word.
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

/* What a request asks for (truncations: truncate.c). */
enum { REQ_WRITE = 0, REQ_TRUNC_FRONT = 1, REQ_TRUNC_BACK = 2 };

struct req {
	_Atomic uint32_t state;
	int result;
	bool sync;
	uint8_t kind;         /* REQ_WRITE, or a truncation (n is then 0) */
	uint64_t trunc_index; /* a truncation's index */
	uint32_t n;
	const uwal_record *recs;
	uwal_record one;
	size_t bytes;     /* encoded size of all its frames */
	struct req *next; /* writer's lists; then the wake-up chain */
};

/* Wait until r is completed (spin, then yield, then sleep: see req.c). */
void uw_req_wait(struct uwal *w, struct req *r);
/* Complete a chain of requests whose results are stored. */
void uw_req_complete_chain(struct uwal *w, struct req *r);
/* Store res in every request of the chain from head, then complete it. */
void uw_req_complete_all(struct uwal *w, struct req *head, int res);

#endif
