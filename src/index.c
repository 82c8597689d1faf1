/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.c - per-segment index tables and the writer's batch set.
 */
#include "index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t hash64(uint64_t k, uint32_t mask)
{
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

void uw_idx_init(struct idx *x)
{
	memset(x, 0, sizeof(*x));
	x->sorted = true;
}

void uw_idx_free(struct idx *x)
{
	free(x->keys);
	free(x->offs);
	free(x->slots);
	uw_idx_init(x);
}

static void slot_put(uint32_t *slots, uint32_t mask, const uint64_t *keys, uint32_t pos)
{
	uint32_t h = hash64(keys[pos], mask);
	while (slots[h])
		h = (h + 1) & mask;
	slots[h] = pos + 1;
}

static int rehash(struct idx *x, uint32_t nslots)
{
	uint32_t *s = calloc(nslots, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++)
		slot_put(s, nslots - 1, x->keys, i);
	free(x->slots);
	x->slots = s;
	x->nslots = nslots;
	return 0;
}

int uw_idx_add(struct idx *x, uint64_t key, uint32_t off)
{
	if (x->n == x->cap) {
		uint32_t cap = x->cap ? x->cap + x->cap / 2 : 64;
		uint64_t *k = realloc(x->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		x->keys = k;
		uint32_t *o = realloc(x->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		x->offs = o;
		x->cap = cap;
	}
	bool was_sorted = x->sorted;
	if (x->n > 0 && key <= x->keys[x->n - 1])
		x->sorted = false;
	x->keys[x->n] = key;
	x->offs[x->n] = off;
	x->n++;
	if (x->n == 1 || key < x->min)
		x->min = key;
	if (x->n == 1 || key > x->max)
		x->max = key;
	if (x->sorted)
		return 0;
	if (was_sorted || (uint64_t)x->n * 2 > x->nslots) {
		uint32_t ns = x->nslots ? x->nslots : 64;
		while ((uint64_t)x->n * 2 > ns)
			ns *= 2;
		if (rehash(x, ns) < 0) {
			x->n--;
			return -ENOMEM;
		}
		return 0;
	}
	slot_put(x->slots, x->nslots - 1, x->keys, x->n - 1);
	return 0;
}

bool uw_idx_find(const struct idx *x, uint64_t key, uint32_t *off)
{
	if (x->n == 0 || key < x->min || key > x->max)
		return false;
	if (x->sorted) {
		uint32_t lo = 0, hi = x->n;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (x->keys[mid] < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < x->n && x->keys[lo] == key) {
			*off = x->offs[lo];
			return true;
		}
		return false;
	}
	uint32_t mask = x->nslots - 1;
	for (uint32_t h = hash64(key, mask);; h = (h + 1) & mask) {
		uint32_t p = x->slots[h];
		if (p == 0)
			return false;
		if (x->keys[p - 1] == key) {
			*off = x->offs[p - 1];
			return true;
		}
	}
}

void uw_idx_shrink(struct idx *x)
{
	if (x->n == 0 || x->n == x->cap)
		return;
	uint64_t *k = realloc(x->keys, x->n * sizeof(*k));
	uint32_t *o = realloc(x->offs, x->n * sizeof(*o));
	/* realloc to a smaller size may fail; keep the old block then. */
	if (k)
		x->keys = k;
	if (o)
		x->offs = o;
	if (k && o)
		x->cap = x->n;
}

int uw_idx_truncate(struct idx *x, uint32_t n)
{
	if (n >= x->n)
		return 0;
	x->n = n;
	x->sorted = true;
	for (uint32_t i = 0; i < n; i++) {
		if (i == 0 || x->keys[i] < x->min)
			x->min = x->keys[i];
		if (i == 0 || x->keys[i] > x->max)
			x->max = x->keys[i];
		if (i > 0 && x->keys[i] <= x->keys[i - 1])
			x->sorted = false;
	}
	if (x->sorted) {
		free(x->slots);
		x->slots = NULL;
		x->nslots = 0;
		return 0;
	}
	uint32_t ns = 64;
	while ((uint64_t)n * 2 > ns)
		ns *= 2;
	return rehash(x, ns);
}

int uw_idx_drop_front(struct idx *x, uint32_t n)
{
	if (n == 0)
		return 0;
	if (n >= x->n) {
		uw_idx_free(x);
		return 0;
	}
	struct idx y;
	uw_idx_init(&y);
	for (uint32_t i = n; i < x->n; i++) {
		if (uw_idx_add(&y, x->keys[i], x->offs[i]) < 0) {
			uw_idx_free(&y);
			return -ENOMEM;
		}
	}
	uw_idx_free(x);
	*x = y;
	return 0;
}

int uw_idx_append_sorted(struct idx *x, const uint64_t *keys, const uint32_t *offs, uint32_t n)
{
	if (n == 0)
		return 0;
	if (x->cap - x->n < n) {
		uint32_t cap = x->n + n;
		uint64_t *k = realloc(x->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		x->keys = k;
		uint32_t *o = realloc(x->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		x->offs = o;
		x->cap = cap;
	}
	memcpy(x->keys + x->n, keys, n * sizeof(*keys));
	memcpy(x->offs + x->n, offs, n * sizeof(*offs));
	if (x->n == 0)
		x->min = keys[0];
	x->max = keys[n - 1];
	x->n += n;
	return 0;
}

void uw_idx_adopt(struct idx *x, uint64_t *keys, uint32_t *offs, uint32_t n)
{
	uw_idx_free(x);
	x->keys = keys;
	x->offs = offs;
	x->n = x->cap = n;
	if (n) {
		x->min = keys[0];
		x->max = keys[n - 1];
	}
}

uint32_t uw_idx_count_below(const struct idx *x, uint64_t off)
{
	uint32_t lo = 0, hi = x->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (x->offs[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- batch set ------------------------------------------------------ */

int uw_bset_init(struct bset *s, uint32_t max_entries)
{
	uint32_t cap = 64;
	while (cap < max_entries * 2u)
		cap *= 2;
	s->keys = calloc(cap, sizeof(*s->keys));
	s->log = malloc(cap / 2 * sizeof(*s->log));
	if (!s->keys || !s->log) {
		uw_bset_free(s);
		return -ENOMEM;
	}
	s->cap = cap;
	s->n = 0;
	return 0;
}

void uw_bset_free(struct bset *s)
{
	free(s->keys);
	free(s->log);
	memset(s, 0, sizeof(*s));
}

static int bset_grow(struct bset *s)
{
	struct bset ns;
	if (uw_bset_init(&ns, s->cap) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++)
		uw_bset_add(&ns, s->keys[s->log[i]]);
	uw_bset_free(s);
	*s = ns;
	return 0;
}

int uw_bset_add(struct bset *s, uint64_t key)
{
	if ((s->n + 1) * 2 > s->cap && bset_grow(s) < 0)
		return -ENOMEM;
	uint32_t mask = s->cap - 1;
	uint32_t h = hash64(key, mask);
	while (s->keys[h]) {
		if (s->keys[h] == key)
			return 0;
		h = (h + 1) & mask;
	}
	s->keys[h] = key;
	s->log[s->n++] = h;
	return 1;
}

void uw_bset_rollback(struct bset *s, uint32_t mark)
{
	while (s->n > mark)
		s->keys[s->log[--s->n]] = 0;
}

void uw_bset_clear(struct bset *s)
{
	uw_bset_rollback(s, 0);
}
