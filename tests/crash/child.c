/* SPDX-License-Identifier: Apache-2.0 */
/*
 * child.c - crashwal's writer child: opens the log and runs the plan's
 * threads, each writing its own indexes with uwal_write, uwal_write_sync
 * and uwal_write_batch, and reporting every call in shared memory (see
 * crash.h) before and after it.
 *
 * Process crash: the threads write until the byte budget is spent, then
 * idle; the parent kills the child at a moment of its choosing. Any error
 * a thread sees is recorded (the parent fails the iteration on it).
 *
 * Power loss: the threads write until a call fails, which must happen
 * once the parent shut the filesystem down. A thread that spent the
 * budget waits for the shutdown and then makes one more call, which must
 * fail too. The main thread then waits for the shutdown to be announced,
 * makes one probe write (which must fail) and closes the log, records both
 * results and exits on its own.
 *
 * A truncation plan runs one thread, trunc_thread, that interleaves
 * uwal_truncate_front/_back with its writes (crash.h).
 */
#include "crash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct child {
	struct cw_shm *shm;
	const struct cw_plan *p;
	uwal *w;
	bool power_loss;
	const struct cw_hooks *hooks;
	_Atomic unsigned idle; /* threads done: budget spent, or failed */
	unsigned nthreads;
};

/* A thread is done writing until the strike; the last one tells the hook. */
static void thread_idle(struct child *c)
{
	if (atomic_fetch_add(&c->idle, 1) + 1 == c->nthreads && c->hooks && c->hooks->all_idle)
		c->hooks->all_idle(c->hooks->arg);
}

struct thr_arg {
	struct child *c;
	unsigned t;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_seq(struct cw_shm *shm)
{
	return atomic_fetch_add(&shm->seq, 1) + 1;
}

/* Encoded size of a record frame, roughly (16-byte header, msgpack). */
static size_t frame_bytes(size_t klen, size_t vlen)
{
	return 16 + 16 + klen + vlen;
}

/* The index of thread t's record k + j: its own sequence, or (a
 * truncation plan) base + j. */
static uint64_t rec_index(unsigned t, uint64_t k, unsigned j, uint64_t base)
{
	return base ? base + j : cw_index(t, k + j);
}

/* Choose the next call: how many records (1 = a single write). */
static unsigned choose_n(struct child *c, struct cw_rng *r, unsigned t, uint64_t k, uint64_t base,
			 uint32_t gen)
{
	const struct cw_plan *p = c->p;
	if (cw_below(r, 100) >= p->batch_pct)
		return 1;
	unsigned n = 2 + cw_below(r, CW_MAX_BATCH - 1);
	/* A batch must fit in one segment: keep it to half of one. */
	size_t bytes = 0;
	unsigned fit = 0;
	while (fit < n) {
		uint64_t ix = rec_index(t, k, fit, base);
		size_t b = frame_bytes(CW_MAX_KEY, cw_value_len(p, ix, gen));
		if (bytes + b > p->segment_size / 2)
			break;
		bytes += b;
		fit++;
	}
	return fit ? fit : 1;
}

static bool budget_spent(struct child *c, uint64_t k)
{
	return atomic_load_explicit(&c->shm->bytes, memory_order_relaxed) >= c->p->budget ||
	       k + 2 * CW_MAX_BATCH > CW_MAX_RECS;
}

/* Process crash: idle until killed. Power loss: wait for the shutdown. */
static void wait_after_budget(struct child *c)
{
	if (!c->power_loss)
		for (;;)
			pause();
	thread_idle(c);
	while (!atomic_load(&c->shm->shut))
		usleep(500);
}

static void call_done(struct cw_thr *th, uint64_t t0)
{
	uint64_t dt = now_ns() - t0;
	atomic_fetch_add(&th->calls, 1);
	if (dt > atomic_load(&th->max_call_ns))
		atomic_store(&th->max_call_ns, dt);
}

static void call_failed(struct cw_shm *shm, struct cw_thr *th, uint64_t sub, int ret)
{
	atomic_store(&th->err_sub_seq, sub);
	atomic_store(&th->err_ret_seq, next_seq(shm));
	atomic_store(&th->err, ret);
}

/*
 * One write call of thread t, its records k, k + 1, ... (at indexes
 * rec_index(t, k, j, base), generation gen), reported as crash.h says.
 * Returns the call's result; *n_out gets the number of records.
 */
static int write_call(struct child *c, struct cw_rng *r, unsigned t, uint64_t k, uint64_t base,
		      uint32_t gen, uint8_t *keys, uint8_t *vals, unsigned *n_out)
{
	struct cw_shm *shm = c->shm;
	const struct cw_plan *p = c->p;
	struct cw_thr *th = &shm->thr[t];
	uwal_record recs[CW_MAX_BATCH];
	unsigned n = choose_n(c, r, t, k, base, gen);
	bool sync = cw_below(r, 100) < p->sync_pct;
	bool plain = !sync && cw_below(r, 2) == 0; /* uwal_write, not _sync */
	size_t cost = 0;
	*n_out = n;
	for (unsigned j = 0; j < n; j++) {
		uint64_t ix = rec_index(t, k, j, base);
		uint8_t *kb = keys + (size_t)j * CW_MAX_KEY;
		uint8_t *vb = vals + (size_t)j * CW_MAX_VALUE;
		size_t vlen = cw_value_len(p, ix, gen);
		size_t klen = cw_key(p->seed, ix, gen, kb);
		cw_value(p->seed, ix, gen, vb, vlen);
		recs[j] = (uwal_record){ix, kb, klen, vb, vlen};
		cost += cw_cost(p, ix, gen);
		if (base)
			shm->tent[k + j] = (struct cw_tent){ix, gen};
	}
	atomic_fetch_add_explicit(&shm->bytes, cost, memory_order_relaxed);

	uint64_t sub = next_seq(shm);
	for (unsigned j = 0; j < n; j++)
		shm->ent[t][k + j] = (struct cw_ent){
			.sub_seq = sub,
			.flags = n > 1 ? CW_BATCH : 0,
			.batch_first = (uint32_t)k,
			.batch_n = n,
		};
	/* release: the entries are written before nsub covers them. */
	atomic_store_explicit(&th->nsub, k + n, memory_order_release);
	if (atomic_load(&shm->shut) && sub > atomic_load(&shm->cut_seq))
		atomic_fetch_add(&th->calls_after_cut, 1);

	uint64_t t0 = now_ns();
	int ret;
	if (n > 1)
		ret = uwal_write_batch(c->w, recs, n, sync);
	else if (plain)
		ret = uwal_write(c->w, recs[0].index, recs[0].key, recs[0].key_len, recs[0].value,
				 recs[0].value_len);
	else
		ret = uwal_write_sync(c->w, recs[0].index, recs[0].key, recs[0].key_len,
				      recs[0].value, recs[0].value_len, sync);
	call_done(th, t0);

	if (ret != 0) {
		call_failed(shm, th, sub, ret);
		return ret;
	}
	uint64_t ack_ns = now_ns();
	uint64_t ack = next_seq(shm);
	uint32_t fl = CW_ACKED | (p->mode != UWAL_SYNC_NONE || sync ? CW_DURABLE : 0);
	for (unsigned j = 0; j < n; j++) {
		struct cw_ent *e = &shm->ent[t][k + j];
		e->ack_seq = ack;
		e->ack_ns = ack_ns;
		/* release: the parent may kill us between any two stores,
		 * and judges by the flag; the compiler had moved the flag's
		 * store ahead of ack_seq's, so a kill in between left an
		 * acknowledged entry with ack_seq 0 ("acknowledged before
		 * ... was submitted", a false failure). */
		__atomic_store_n(&e->flags, e->flags | fl, __ATOMIC_RELEASE);
	}
	/* release: the acknowledgment is recorded before nack covers it. */
	atomic_store_explicit(&th->nack, k + n, memory_order_release);
	atomic_fetch_add(&shm->acks, 1);
	if (fl & CW_DURABLE)
		atomic_fetch_add(&shm->durable_acks, 1);
	return 0;
}

static void *writer_thread(void *arg)
{
	struct thr_arg *a = arg;
	struct child *c = a->c;
	struct cw_shm *shm = c->shm;
	const struct cw_plan *p = c->p;
	struct cw_thr *th = &shm->thr[a->t];
	struct cw_rng r;
	uint8_t *keys = malloc((size_t)CW_MAX_BATCH * CW_MAX_KEY);
	uint8_t *vals = malloc((size_t)CW_MAX_BATCH * CW_MAX_VALUE);
	if (!keys || !vals) {
		atomic_store(&th->err, -ENOMEM);
		return NULL;
	}
	cw_rng_init(&r, p->seed ^ cw_mix(0x7468726561640000ull + a->t));

	bool last_call = false; /* power loss: the call after the budget was spent */
	for (uint64_t k = 0; k + CW_MAX_BATCH <= CW_MAX_RECS;) {
		if (!last_call && budget_spent(c, k)) {
			wait_after_budget(c);
			last_call = true;
		}
		unsigned n;
		if (write_call(c, &r, a->t, k, 0, 0, keys, vals, &n) != 0) {
			if (!last_call)
				thread_idle(c);
			break;
		}
		k += n;
		if (last_call)
			break; /* it should have failed; the parent judges */
	}
	free(keys);
	free(vals);
	return NULL;
}

/*
 * A truncation plan's only thread (crash.h): writes indexes 1, 2, ... and
 * truncates now and then, keeping a model of the log (live: its records'
 * k, in log order, live[head..tail)), from which it picks each
 * truncation's index: truncate_front at a record of the log (now and then
 * its first: nothing to drop) or above every index (the log empties),
 * truncate_back at one of the last 8 records (the active segment, mostly:
 * a void inside it) or anywhere (often in a sealed segment), inside a
 * batch or at its first record.
 */
static void *trunc_thread(void *arg)
{
	struct thr_arg *a = arg;
	struct child *c = a->c;
	struct cw_shm *shm = c->shm;
	const struct cw_plan *p = c->p;
	struct cw_thr *th = &shm->thr[0];
	struct cw_rng r;
	uint8_t *keys = malloc((size_t)CW_MAX_BATCH * CW_MAX_KEY);
	uint8_t *vals = malloc((size_t)CW_MAX_BATCH * CW_MAX_VALUE);
	uint32_t *live = malloc(CW_MAX_RECS * sizeof(*live));
	if (!keys || !vals || !live) {
		atomic_store(&th->err, -ENOMEM);
		goto out;
	}
	cw_rng_init(&r, p->seed ^ cw_mix(0x7472756e63617465ull));
	uint64_t head = 0, tail = 0, next = 1;
	uint32_t gen = 1;
	unsigned emptied = 0;

	bool last_call = false; /* power loss: the call after the budget was spent */
	for (uint64_t k = 0; k + CW_MAX_BATCH <= CW_MAX_RECS;) {
		if (!last_call && budget_spent(c, k)) {
			wait_after_budget(c);
			last_call = true;
		}
		uint64_t m = atomic_load_explicit(&shm->ntrunc, memory_order_relaxed);
		if (m >= CW_MAX_TRUNCS || cw_below(&r, 100) >= p->trunc_pct) {
			unsigned n;
			if (write_call(c, &r, 0, k, next, gen, keys, vals, &n) != 0) {
				if (!last_call)
					thread_idle(c);
				break;
			}
			for (unsigned j = 0; j < n; j++)
				live[tail++] = (uint32_t)(k + j);
			next += n;
			k += n;
			if (last_call)
				break;
			continue;
		}
		uint64_t nlive = tail - head;
		bool back = nlive && cw_below(&r, 100) < p->back_pct;
		uint64_t pos = tail; /* front: above every index */
		if (back && cw_below(&r, 2))
			pos = tail - 1 - cw_below(&r, nlive < 8 ? (unsigned)nlive : 8);
		else if (back || (nlive && cw_below(&r, 6)))
			pos = head + cw_below(&r, (unsigned)nlive);
		uint64_t ix = pos < tail ? shm->tent[live[pos]].index : next + cw_below(&r, 4);
		/* Written again after it: the indexes it removes (back), or
		 * every second time the log is emptied, indexes from 1. */
		bool again = back || (pos == tail && (emptied++ & 1));
		struct cw_trunc *tr = &shm->trunc[m];
		uint64_t sub = next_seq(shm);
		*tr = (struct cw_trunc){
			.sub_seq = sub,
			.index = ix,
			.kind = back ? CW_T_BACK : CW_T_FRONT,
			.gen = again ? gen + 1 : gen,
			.nent = (uint32_t)k,
			.removes = (uint32_t)(back ? tail - pos : pos - head),
		};
		/* release: the entry is written before ntrunc covers it. */
		atomic_store_explicit(&shm->ntrunc, m + 1, memory_order_release);
		if (atomic_load(&shm->shut) && sub > atomic_load(&shm->cut_seq))
			atomic_fetch_add(&th->calls_after_cut, 1);
		uint64_t t0 = now_ns();
		int ret = back ? uwal_truncate_back(c->w, ix) : uwal_truncate_front(c->w, ix);
		call_done(th, t0);
		tr->ret = ret;
		tr->ret_seq = next_seq(shm);
		/* release: a kill before it leaves the call in flight. */
		__atomic_store_n(&tr->done, 1, __ATOMIC_RELEASE);
		if (c->hooks && c->hooks->trunc_returned)
			c->hooks->trunc_returned(c->hooks->arg, m, back);
		if (ret != 0) {
			call_failed(shm, th, sub, ret);
			if (!last_call)
				thread_idle(c);
			break;
		}
		atomic_fetch_add(&shm->acks, 1);
		atomic_fetch_add(&shm->durable_acks, 1);
		if (back) {
			tail = pos;
			next = ix;
		} else if (pos < tail) {
			head = pos;
		} else {
			head = tail;
			if (again)
				next = 1;
		}
		if (again)
			gen++;
		/* One that removes nothing does no I/O: it may return 0 after
		 * the shutdown; the call that must fail is the next one. */
		if (last_call && tr->removes)
			break;
	}
out:
	free(keys);
	free(vals);
	free(live);
	return NULL;
}

void cw_child_run(struct cw_shm *shm, const struct cw_plan *p, const char *dir, bool power_loss)
{
	_exit(cw_child_work(shm, p, dir, power_loss, NULL));
}

int cw_child_work(struct cw_shm *shm, const struct cw_plan *p, const char *dir, bool power_loss,
		  const struct cw_hooks *hooks)
{
	struct child c = {.shm = shm, .p = p, .power_loss = power_loss, .hooks = hooks};
	uwal_config cfg;
	cw_config(p, dir, &cfg);

	int ret = uwal_open(&cfg, &c.w);
	atomic_store(&shm->open_err, ret);
	if (ret < 0)
		return 3;
	c.nthreads = p->nthreads;

	pthread_t tid[CW_MAX_THREADS];
	struct thr_arg args[CW_MAX_THREADS];
	unsigned started = 0;
	for (unsigned t = 0; t < p->nthreads; t++) {
		args[t] = (struct thr_arg){&c, t};
		if (pthread_create(&tid[t], NULL, p->trunc_pct ? trunc_thread : writer_thread,
				   &args[t]) != 0) {
			atomic_store(&shm->thr[t].err, -EAGAIN);
			break;
		}
		started++;
	}
	if (started < p->nthreads) {
		/* Count the threads that never ran as done. */
		atomic_fetch_add(&c.idle, p->nthreads - started - 1);
		thread_idle(&c);
	}
	atomic_store(&shm->ready, 1);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	if (!power_loss)
		for (;;)
			pause(); /* only a failed thread gets here; the parent judges */
	/* One more write, surely after the shutdown: it must fail. */
	while (!atomic_load(&shm->shut))
		usleep(500);
	uint8_t b = 0;
	atomic_store(&shm->probe_err, uwal_write(c.w, CW_NEW_BASE - 1, &b, 1, &b, 1));
	atomic_store(&shm->close_err, uwal_close(c.w));
	atomic_store(&shm->closed, 1);
	return 0;
}

void cw_recoverer_run(struct cw_shm *shm, const struct cw_plan *p, const char *dir)
{
	uwal_config cfg;
	uwal *w;
	cw_config(p, dir, &cfg);
	int ret = uwal_open(&cfg, &w);
	atomic_store(&shm->rec_open_err, ret);
	if (ret == 0)
		uwal_close(w);
	_exit(0);
}
