/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fdcache.c - the descriptors of segment files, opened on demand through a
 * bounded cache, so that a log of more segments than RLIMIT_NOFILE allows
 * descriptors can still rotate, be read and be reopened.
 *
 * A segment's descriptor is either pinned or cached:
 * - pinned: open for the segment's whole life and never closed by the
 *   cache. The active segment (the writer writes through s->fd without
 *   asking), a prepared one, and a segment that retention dropped (its
 *   file is unlinked, so it could not be opened again by name, and
 *   iterators and readers may still need it) are pinned.
 * - cached: a sealed segment's descriptor, opened by name on first use
 *   (uw_seg_fd_get) and closed again when the cache holds more than its
 *   bound of them and none is using it: the least recently used idle
 *   one goes first. A reader or iterator holds the descriptor from get to
 *   put, so it is never closed under it.
 *
 * One mutex guards every segment's fd, fd_users, pinned and list links of
 * the cache; the writer reads a pinned segment's fd without it (a pinned
 * descriptor never changes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "internal.h"

void uw_fdc_init(struct uw_fdc *c, struct uw_io *io, int dirfd, int open_flags, unsigned max)
{
	pthread_mutex_init(&c->mu, NULL);
	c->io = io;
	c->dirfd = dirfd;
	c->open_flags = open_flags;
	c->max = max ? max : 1;
	c->n = 0;
	c->head = c->tail = NULL;
}

void uw_fdc_destroy(struct uw_fdc *c)
{
	pthread_mutex_destroy(&c->mu);
}

unsigned uw_fdc_bound(void)
{
	/* A quarter of what the process may open, between 4 and
	 * UW_FDC_MAX: the rest is the application's. */
	unsigned lim = uw_io_fd_limit() / 4;
	return lim < 4 ? 4 : lim > UW_FDC_MAX ? UW_FDC_MAX : lim;
}

/* Under mu: take s off the idle list. */
static void idle_remove(struct uw_fdc *c, struct seg *s)
{
	if (!s->fd_idle)
		return;
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		c->head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		c->tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
	s->fd_idle = false;
}

/* Under mu: s's cached descriptor is unused now; most recent first. */
static void idle_push(struct uw_fdc *c, struct seg *s)
{
	s->lru_prev = NULL;
	s->lru_next = c->head;
	if (c->head)
		c->head->lru_prev = s;
	else
		c->tail = s;
	c->head = s;
	s->fd_idle = true;
}

/* Under mu: close idle descriptors, oldest first, while more than keep
 * are open. */
static void evict(struct uw_fdc *c, unsigned keep)
{
	while (c->n > keep && c->tail) {
		struct seg *s = c->tail;
		idle_remove(c, s);
		uw_io_close(c->io, s->fd);
		s->fd = -1;
		c->n--;
	}
}

/* Under mu: make sure s has a descriptor. */
static int ensure_open(struct uw_fdc *c, struct seg *s)
{
	if (s->fd >= 0)
		return 0;
	/* Room first: a new descriptor must not take the cache past its bound. */
	if (c->n >= c->max)
		evict(c, c->max - 1);
	int fd = uw_io_openat(c->io, c->dirfd, s->name, c->open_flags, 0);
	if (fd == -EMFILE || fd == -ENFILE) {
		/* The process is out of descriptors: give back every idle
		 * one and try once more. */
		evict(c, 0);
		fd = uw_io_openat(c->io, c->dirfd, s->name, c->open_flags, 0);
	}
	if (fd < 0)
		return fd;
	s->fd = fd;
	c->n++;
	return 0;
}

void uw_fdc_attach(struct uw_fdc *c, struct seg *s)
{
	s->fdc = c;
	s->fd_pinned = s->fd >= 0;
}

int uw_seg_fd_get(struct seg *s, int *fd)
{
	struct uw_fdc *c = s->fdc;
	if (!c) {
		*fd = s->fd;
		return s->fd >= 0 ? 0 : -EBADF;
	}
	pthread_mutex_lock(&c->mu);
	int ret = 0;
	if (!s->fd_pinned) {
		ret = ensure_open(c, s);
		if (ret == 0) {
			idle_remove(c, s);
			s->fd_users++;
		}
	}
	*fd = s->fd;
	pthread_mutex_unlock(&c->mu);
	return ret;
}

void uw_seg_fd_put(struct seg *s)
{
	struct uw_fdc *c = s->fdc;
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	if (!s->fd_pinned && --s->fd_users == 0 && s->fd >= 0) {
		idle_push(c, s);
		evict(c, c->max);
	}
	pthread_mutex_unlock(&c->mu);
}

int uw_seg_fd_pin(struct seg *s)
{
	struct uw_fdc *c = s->fdc;
	if (!c)
		return s->fd >= 0 ? 0 : -EBADF;
	pthread_mutex_lock(&c->mu);
	int ret = 0;
	if (!s->fd_pinned) {
		ret = ensure_open(c, s);
		if (ret == 0) {
			idle_remove(c, s);
			c->n--; /* no longer the cache's */
			s->fd_pinned = true;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

void uw_seg_fd_unpin(struct seg *s)
{
	struct uw_fdc *c = s->fdc;
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	if (s->fd_pinned && s->fd >= 0) {
		s->fd_pinned = false;
		c->n++;
		if (s->fd_users == 0) {
			idle_push(c, s);
			evict(c, c->max);
		}
	}
	pthread_mutex_unlock(&c->mu);
}

void uw_seg_fd_close(struct seg *s)
{
	struct uw_fdc *c = s->fdc;
	if (c) {
		pthread_mutex_lock(&c->mu);
		idle_remove(c, s);
		if (s->fd >= 0 && !s->fd_pinned)
			c->n--;
		pthread_mutex_unlock(&c->mu);
	}
	if (s->fd >= 0)
		uw_io_close(s->io, s->fd);
	s->fd = -1;
}
