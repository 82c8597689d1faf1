/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - what crashwal's parent and child both compute from a seed:
 * the iteration's plan (configuration, workload, when to strike) and the
 * exact key and value of every index; plus the log_fn that keeps uwal's
 * diagnostics for the report of a failed iteration.
 */
#include "crash.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

size_t cw_key(uint64_t seed, uint64_t index, uint32_t gen, uint8_t *out)
{
	uint64_t h = cw_mix(seed ^ cw_mix(index));
	if (gen)
		h = cw_mix(h ^ (uint64_t)gen * 0x9e3779b97f4a7c15ull);
	size_t len = 8 + (size_t)(h % 17); /* 8..24 */
	/* The index in the first 8 bytes, so a key names its record. */
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(index >> (8 * i));
	size_t i = 8;
	if (gen) {
		/* ... and its generation in the next 4 (12..28 bytes). */
		for (; i < 12; i++)
			out[i] = (uint8_t)(gen >> (8 * (i - 8)));
		len += 4;
	}
	struct cw_rng r;
	cw_rng_init(&r, h);
	for (; i < len; i++)
		out[i] = (uint8_t)cw_rand(&r);
	return len;
}

size_t cw_value_len(const struct cw_plan *p, uint64_t index, uint32_t gen)
{
	uint64_t h = cw_mix(p->seed * 3 + cw_mix(index ^ 0x5bd1e995u));
	if (gen)
		h = cw_mix(h + gen);
	/* The batch written after recovery must fit in the smallest segment. */
	bool may_be_large = index < CW_NEW_BASE + 4;
	if (may_be_large && h % 100 < p->large_pct)
		return 4096 + (size_t)((h >> 8) % (CW_MAX_VALUE - 4096 + 1)); /* 4..32 KiB */
	return 10 + (size_t)((h >> 8) % 91);                                  /* 10..100 B */
}

void cw_value(uint64_t seed, uint64_t index, uint32_t gen, uint8_t *out, size_t len)
{
	struct cw_rng r;
	uint64_t s = seed ^ (index * 0xff51afd7ed558ccdull);
	cw_rng_init(&r, gen ? s ^ cw_mix(0x67656e0000000000ull + gen) : s);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = cw_rand(&r);
		memcpy(out + i, &v, 8);
	}
	uint64_t v = cw_rand(&r);
	memcpy(out + i, &v, len - i);
}

static unsigned pick(struct cw_rng *r, const unsigned *v, unsigned n)
{
	return v[cw_below(r, n)];
}

void cw_plan_make(struct cw_plan *p, uint64_t seed, bool power_loss)
{
	static const unsigned sync_pcts[] = {0, 0, 10, 50, 100};
	static const unsigned batch_pcts[] = {0, 25, 50};
	static const unsigned large_pcts[] = {0, 0, 5, 50, 100};
	static const unsigned seg_kib[] = {64, 128, 256};
	struct cw_rng r;

	memset(p, 0, sizeof(*p));
	cw_rng_init(&r, seed);
	p->seed = seed;
	p->mode = (enum uwal_sync_mode)cw_below(&r, 3);
	p->sync_pct = pick(&r, sync_pcts, 5);
	p->batch_pct = pick(&r, batch_pcts, 3);
	p->large_pct = pick(&r, large_pcts, 5);
	p->nthreads = cw_below(&r, 10) < 7 ? CW_MAX_THREADS : 1 + cw_below(&r, CW_MAX_THREADS - 1);
	p->segment_size = (uint64_t)pick(&r, seg_kib, 3) << 10;
	p->prealloc = cw_below(&r, 10) < 7 ? UWAL_PREALLOC_ZERO : UWAL_PREALLOC_FALLOCATE;
	p->write_path = cw_below(&r, 10) < 7 ? UWAL_WRITE_PWRITE : UWAL_WRITE_URING;
	p->max_batch_size = cw_below(&r, 10) < 8 ? 1024 : 1 + cw_below(&r, 8);
	p->queue_capacity = cw_below(&r, 10) < 8 ? 1024 : 2u << cw_below(&r, 4);
	p->wait_spin_us = cw_below(&r, 10) < 8 ? 200 : 0;
	/* Power loss: the image is 64 MiB, and a segment is preallocated in
	 * full; process crash: keep the scratch disk and the checks small. */
	p->budget = power_loss ? (12u << 20) : (24u << 20);
	p->early = cw_below(&r, 10) == 0;
	/* From fork (open may be under way), or from the open log: often
	 * soon, often after many rotations. */
	if (p->early)
		p->delay_us = cw_below(&r, 30000);
	else if (cw_below(&r, 2))
		p->delay_us = cw_below(&r, 20000);
	else
		p->delay_us = cw_below(&r, power_loss ? 300000 : 250000);
	/* Right after an acknowledgment is where acknowledging early (before
	 * the write, before the fdatasync) would show. */
	p->on_ack = !p->early && cw_below(&r, 4) < 3;
	p->ring_poll_us = cw_below(&r, 10) < 8 ? 0 : 50;
	/* Recovery itself cuts, truncates and preallocates: it must survive
	 * being struck too. Its open takes a few milliseconds here. */
	p->rec_strike = cw_below(&r, 4) == 0;
	p->rec_delay_us = cw_below(&r, 1500);
	/* Drawn last, so that the plans of older seeds stay as they were. */
	p->durable_write = cw_below(&r, 4) == 0 ? UWAL_DURABLE_DSYNC : UWAL_DURABLE_LINKED;
	/* After it: 1 in 4 iterations truncates (one writer thread, so that
	 * log order is its call order; see crash.h). */
	if (cw_below(&r, 4) == 0)
		cw_plan_truncating(p);
}

void cw_plan_truncating(struct cw_plan *p)
{
	static const unsigned trunc_pcts[] = {3, 10, 25};
	static const unsigned back_pcts[] = {20, 50, 80};
	struct cw_rng r;
	cw_rng_init(&r, p->seed ^ 0x7472756e63706c6eull);
	p->trunc_pct = pick(&r, trunc_pcts, 3);
	p->back_pct = pick(&r, back_pcts, 3);
	p->nthreads = 1;
	/* Retention would drop a prefix of the log that a front truncation
	 * could also have dropped. */
	p->max_segments = 0;
	/* A simulated cut, every second time the instant one of the first
	 * truncations returns (once the writer is idle if it makes fewer):
	 * is what it acknowledged durable? */
	if (p->sim && cw_below(&r, 2)) {
		p->cut_trunc = 1 + cw_below(&r, 3);
		p->cut_trunc_back = cw_below(&r, 3) != 0;
		p->cut_ops = UINT64_MAX / 2;
	}
}

void cw_plan_make_sim(struct cw_plan *p, uint64_t seed)
{
	static const unsigned budget_kib[] = {4, 16, 48, 128};
	static const unsigned thresholds[] = {0, 3, 8, 32};
	struct cw_rng r;

	cw_plan_make(p, seed, true);
	cw_rng_init(&r, seed ^ 0x73696d756c617465ull);
	p->sim = true;
	/* Small logs: a cut costs little, so many of them fit in CI. */
	p->nthreads = cw_below(&r, 2) ? 1 : 2 + cw_below(&r, CW_MAX_THREADS - 1);
	p->large_pct = cw_below(&r, 4) ? 0 : 5;
	p->segment_size = 64u << 10;
	p->budget = (uint64_t)budget_kib[cw_below(&r, 4)] << 10;
	p->segment_threshold = thresholds[cw_below(&r, 4)];
	p->max_segments = cw_below(&r, 2) ? 0 : 2 + cw_below(&r, 3);
	/* About two backend operations per call, a few dozen to open, a
	 * dozen per rotation; now and then during uwal_open. */
	uint64_t calls = p->budget / (CW_MAX_KEY + 32 + 55) + 1;
	p->early = cw_below(&r, 10) == 0;
	p->cut_ops = p->early ? cw_below(&r, 40) : cw_rand(&r) % (calls / 2 + 60);
	p->rec_strike = cw_below(&r, 4) == 0;
	p->rec_ops = cw_below(&r, 60);
	p->delay_us = 0;
	p->on_ack = false;
	p->rec_delay_us = 0;
	if (p->trunc_pct)
		cw_plan_truncating(p); /* cw_plan_make drew it: one thread again */
}

void cw_plan_print(const struct cw_plan *p, char *out, size_t n)
{
	char trunc[64] = "";
	if (p->trunc_pct)
		snprintf(trunc, sizeof(trunc), " truncate=%u%%(back %u%%)", p->trunc_pct,
			 p->back_pct);
	if (p->sim) {
		static const char *modes[] = {"NONE", "BATCH", "ALWAYS"};
		char rec[48] = "";
		if (p->rec_strike)
			snprintf(rec, sizeof(rec), " recovery-cut=%llu",
				 (unsigned long long)p->rec_ops);
		snprintf(out, n,
			 "mode=%s sync=%u%% batch=%u%% large=%u%% threads=%u budget=%lluK "
			 "threshold=%llu max_segments=%u prealloc=%s write=%s%s max_batch=%u "
			 "queue=%u cut=%s%llu%s%s",
			 modes[p->mode], p->sync_pct, p->batch_pct, p->large_pct, p->nthreads,
			 (unsigned long long)(p->budget >> 10),
			 (unsigned long long)p->segment_threshold, p->max_segments,
			 p->prealloc == UWAL_PREALLOC_ZERO ? "zero" : "fallocate",
			 p->write_path == UWAL_WRITE_PWRITE ? "pwrite" : "uring",
			 p->durable_write == UWAL_DURABLE_DSYNC ? "+dsync" : "", p->max_batch_size,
			 p->queue_capacity,
			 !p->cut_trunc       ? ""
			 : p->cut_trunc_back ? "after-truncate_back#"
					     : "after-truncation#",
			 (unsigned long long)(p->cut_trunc ? p->cut_trunc : p->cut_ops), rec,
			 trunc);
		return;
	}
	static const char *modes[] = {"NONE", "BATCH", "ALWAYS"};
	char rec[48];
	snprintf(rec, sizeof(rec), " recovery-strike=+%uus", p->rec_delay_us);
	snprintf(out, n,
		 "mode=%s sync=%u%% batch=%u%% large=%u%% threads=%u seg=%lluK prealloc=%s "
		 "write=%s%s max_batch=%u queue=%u spin=%u poll=%u strike=%s+%uus%s%s%s",
		 modes[p->mode], p->sync_pct, p->batch_pct, p->large_pct, p->nthreads,
		 (unsigned long long)(p->segment_size >> 10),
		 p->prealloc == UWAL_PREALLOC_ZERO ? "zero" : "fallocate",
		 p->write_path == UWAL_WRITE_PWRITE ? "pwrite" : "uring",
		 p->durable_write == UWAL_DURABLE_DSYNC ? "+dsync" : "", p->max_batch_size,
		 p->queue_capacity, p->wait_spin_us, p->ring_poll_us, p->early ? "fork" : "ready",
		 p->delay_us, p->on_ack ? "+next-ack" : "", p->rec_strike ? rec : "", trunc);
}

void cw_config(const struct cw_plan *p, const char *dir, uwal_config *cfg)
{
	uwal_config_init(cfg);
	cfg->dir = dir;
	cfg->segment_size = p->segment_size;
	cfg->sync_mode = p->mode;
	cfg->prealloc = p->prealloc;
	cfg->write_path = p->write_path;
	cfg->durable_write = p->durable_write;
	cfg->max_batch_size = p->max_batch_size;
	cfg->queue_capacity = p->queue_capacity;
	cfg->wait_spin_us = p->wait_spin_us;
	cfg->ring_poll_us = p->ring_poll_us;
	cfg->segment_threshold = p->segment_threshold;
	cfg->max_segments = p->max_segments;
}

/* ---- diagnostics ------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[8192];
static size_t log_len;

void cw_log_fn(void *ctx, int level, const char *msg)
{
	(void)ctx;
	static const char *lv[] = {"error", "warn", "info"};
	pthread_mutex_lock(&log_mu);
	int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "  uwal %s: %s\n",
			 lv[level < 0 || level > 2 ? 0 : level], msg);
	if (n > 0)
		log_len += (size_t)n < sizeof(log_buf) - log_len ? (size_t)n
								 : sizeof(log_buf) - log_len - 1;
	pthread_mutex_unlock(&log_mu);
}

void cw_log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	log_len = 0;
	log_buf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

void cw_log_dump(void)
{
	pthread_mutex_lock(&log_mu);
	if (log_len)
		fprintf(stderr, "uwal diagnostics (log_fn):\n%s", log_buf);
	pthread_mutex_unlock(&log_mu);
}
