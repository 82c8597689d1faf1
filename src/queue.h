/* SPDX-License-Identifier: Apache-2.0 */
/*
 * queue.h - bounded lock-free multi-producer, single-consumer queue of
 * pointers; uwal keeps one per CPU. Submitters push, the writer pops.
 */
#ifndef UWAL_QUEUE_H
#define UWAL_QUEUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pq_cell {
	_Atomic size_t seq;
	void *data;
};

struct pq {
	/* Producers contend on head; the consumer alone moves tail. They sit on
	 * separate cache lines so the writer's pops do not bounce the line the
	 * submitters CAS on. */
	alignas(64) _Atomic size_t head;
	alignas(64) size_t tail;
	size_t mask;
	struct pq_cell *cells;
};

int uw_pq_init(struct pq *q, size_t capacity); /* capacity: a power of two */
void uw_pq_destroy(struct pq *q);
/* false if the queue is full. Any thread. */
bool uw_pq_push(struct pq *q, void *data);
/* NULL if empty. Only the consumer thread. */
void *uw_pq_pop(struct pq *q);
/* true if nothing is ready to pop. Only the consumer thread. */
bool uw_pq_empty(struct pq *q);

#endif
