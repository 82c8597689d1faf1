/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.h - the in-memory index: record index -> offset of its frame.
 *
 * Level one is the active segment's table, level two the sealed segments'
 * tables (one per segment, so retention drops a segment's entries in O(1)
 * and an iterator can pin them). Each table keeps keys and offsets in log
 * order: 12 bytes per record. While keys arrive strictly increasing (the
 * usual WAL case) lookups binary-search them; the first out-of-order key
 * adds a hash table of positions (4 bytes per slot, at most half full).
 * Sealed tables are shrunk to fit, so a record costs 12 bytes, or at most
 * 28 with the hash table.
 */
#ifndef UWAL_INDEX_H
#define UWAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idx {
	uint64_t *keys;
	uint32_t *offs;
	uint32_t n, cap;
	bool sorted;       /* keys strictly increasing so far */
	uint32_t *slots;   /* hash of positions + 1 (0 = empty), if !sorted */
	uint32_t nslots;   /* power of two */
	uint64_t min, max; /* valid when n > 0 */
};

void uw_idx_init(struct idx *x);
void uw_idx_free(struct idx *x);
int uw_idx_add(struct idx *x, uint64_t key, uint32_t off); /* 0 or -ENOMEM */
bool uw_idx_find(const struct idx *x, uint64_t key, uint32_t *off);
void uw_idx_shrink(struct idx *x); /* release slack once the table is final */
/* Keep only the first n entries; 0 or -ENOMEM. */
int uw_idx_truncate(struct idx *x, uint32_t n);
/* Drop the first n entries (truncation of the log's front); 0 or -ENOMEM
 * (then the table is unchanged). */
int uw_idx_drop_front(struct idx *x, uint32_t n);
/* Append n entries whose keys are strictly increasing and above every
 * key of x, a sorted table; 0 or -ENOMEM (x unchanged). */
int uw_idx_append_sorted(struct idx *x, const uint64_t *keys, const uint32_t *offs, uint32_t n);
/* Make the empty table x hold the n entries of the malloc'd keys and offs
 * (strictly increasing keys), which it owns from now on. */
void uw_idx_adopt(struct idx *x, uint64_t *keys, uint32_t *offs, uint32_t n);
/* How many entries have an offset below off (offsets grow in log order). */
uint32_t uw_idx_count_below(const struct idx *x, uint64_t off);

/*
 * The writer's set of indexes in the batch being built. A request's
 * records are added one by one; if one turns out to be a duplicate, the
 * request's additions are rolled back (entries are removed in reverse
 * order, which leaves a linear-probing table exactly as it was).
 */
struct bset {
	uint64_t *keys;  /* 0 = empty (index 0 is never a record) */
	uint32_t *log;   /* slots filled, in order */
	uint32_t n, cap; /* cap: power of two, kept at most half full */
};

int uw_bset_init(struct bset *s, uint32_t max_entries);
void uw_bset_free(struct bset *s);
/* Add key; 1 if added, 0 if already present, -ENOMEM. */
int uw_bset_add(struct bset *s, uint64_t key);
/* Remove the entries added after the first `mark` ones. */
void uw_bset_rollback(struct bset *s, uint32_t mark);
void uw_bset_clear(struct bset *s);

#endif
