/* SPDX-License-Identifier: Apache-2.0 */
/*
 * queue.c - the per-CPU submission queue: a bounded array of cells, each
 * with a sequence number that says whose turn the cell is (the idea of
 * Dmitry Vyukov's bounded MPMC queue, specialised to one consumer).
 *
 * Cell i is free for the producer holding ticket pos when seq == pos, and
 * holds data for the consumer at tail when seq == tail + 1. The consumer
 * frees it for the next lap by setting seq = tail + capacity.
 */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>

int uw_pq_init(struct pq *q, size_t capacity)
{
	q->cells = calloc(capacity, sizeof(*q->cells));
	if (!q->cells)
		return -ENOMEM;
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&q->cells[i].seq, i);
	q->mask = capacity - 1;
	atomic_init(&q->head, 0);
	q->tail = 0;
	return 0;
}

void uw_pq_destroy(struct pq *q)
{
	free(q->cells);
	q->cells = NULL;
}

bool uw_pq_push(struct pq *q, void *data)
{
	size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct pq_cell *c;

	for (;;) {
		c = &q->cells[pos & q->mask];
		/* Acquire: pairs with the consumer's release of this cell, so
		 * its read of the old data happened before we overwrite it. */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t diff = (intptr_t)seq - (intptr_t)pos;
		if (diff == 0) {
			/* Relaxed CAS: the ticket only orders producers among
			 * themselves; the data is published by the seq store. */
			if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return false; /* a full lap behind: the queue is full */
		} else {
			pos = atomic_load_explicit(&q->head, memory_order_relaxed);
		}
	}
	c->data = data;
	/* Release: the consumer that sees seq == pos + 1 also sees data and
	 * everything the submitter wrote into the request before pushing. */
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return true;
}

void *uw_pq_pop(struct pq *q)
{
	struct pq_cell *c = &q->cells[q->tail & q->mask];
	/* Acquire: pairs with the producer's release above. */
	size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);

	if (seq != q->tail + 1)
		return NULL;
	void *data = c->data;
	/* Release: our read of data happens before a producer reuses the cell. */
	atomic_store_explicit(&c->seq, q->tail + q->mask + 1, memory_order_release);
	q->tail++;
	return data;
}

bool uw_pq_empty(struct pq *q)
{
	struct pq_cell *c = &q->cells[q->tail & q->mask];
	return atomic_load_explicit(&c->seq, memory_order_acquire) != q->tail + 1;
}
