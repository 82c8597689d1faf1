/* SPDX-License-Identifier: Apache-2.0 */
/*
 * monitor.c - what the main thread does while a job's threads write.
 *
 * It wakes at the window's start (snapshot), every BENCH_SAMPLE_MS inside
 * the window (one IOPS sample, as fio's iops_min/max/avg/stdev, and a
 * fresh progress line), at the window's end (snapshot), and every 20 ms in
 * between to notice that all threads have finished. Whenever a call has
 * returned since its last look it re-arms the stall watchdog.
 *
 * The progress line imitates fio's:
 *   Jobs: 1 (f=1): [W(64)][2/4 sync-64][45.2%][w=79.4k IOPS][elapsed 00m:02s][eta 00m:13s]
 * It is drawn on stderr with a carriage return, only when the caller asks
 * (stderr is a terminal and --quiet was not given), and erased at the end.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define POLL_NS (20 * 1000000ull)

static void sums(const struct monitor_args *a, uint64_t *ok, uint64_t *all, unsigned *done)
{
	*ok = *all = 0;
	*done = 0;
	for (unsigned i = 0; i < a->nthreads; i++) {
		*ok += __atomic_load_n(&a->pubs[i]->ok_calls, __ATOMIC_RELAXED);
		*all += __atomic_load_n(&a->pubs[i]->all_calls, __ATOMIC_RELAXED);
		*done += __atomic_load_n(&a->pubs[i]->finished, __ATOMIC_ACQUIRE) != 0;
	}
}

/* fio's "01m:05s"; elapsed rounds down, an ETA up. */
static void fmt_hms(char *buf, size_t len, double s, bool up)
{
	if (s < 0)
		s = 0;
	unsigned long t = (unsigned long)(up ? ceil(s) : floor(s));
	if (t >= 3600)
		snprintf(buf, len, "%luh:%02lum:%02lus", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%02lum:%02lus", t / 60, t % 60);
}

static void draw(const struct monitor_args *a, uint64_t now, uint64_t ok, double rate)
{
	const struct job *job = a->job;
	double pct, left;
	if (a->win_end != UINT64_MAX) {
		double total = (double)(a->win_end - a->t0);
		pct = total > 0 ? 100.0 * (double)(now - a->t0) / total : 100.0;
		left = now < a->win_end ? (double)(a->win_end - now) / 1e9 : 0;
	} else {
		pct = a->total_calls ? 100.0 * (double)ok / (double)a->total_calls : 0;
		left = rate > 0 && a->total_calls > ok ? (double)(a->total_calls - ok) / rate : 0;
	}
	if (pct > 100)
		pct = 100;
	char iops[32], el[32], eta[32];
	fmt_num(iops, sizeof(iops), rate, 1000, "");
	fmt_hms(el, sizeof(el), (double)(now - a->t0) / 1e9, false);
	fmt_hms(eta, sizeof(eta), left + a->ctx->later_s, true);
	fprintf(stderr,
		"\rJobs: 1 (f=1): [W(%u)][%zu/%zu %s][%.1f%%][w=%s IOPS][elapsed %s][eta %s]\033[K",
		job->numjobs, a->ctx->job_no, a->ctx->njobs, job->name, pct, iops, el, eta);
	fflush(stderr);
}

static void snap(const struct monitor_args *a, uwal_stats *st, struct sysio *io)
{
	if (a->w) /* engine=uwal; other engines have no uwal_stats */
		uwal_stats_get(a->w, st);
	sysio_take(a->dev, io);
}

void monitor_run(const struct monitor_args *a, struct monitor_out *out)
{
	const uint64_t tick = BENCH_SAMPLE_MS * 1000000ull;
	const bool timed_end = a->win_end != UINT64_MAX;
	/* An open-loop thread may legitimately wait an interval between calls. */
	const uint64_t slack = a->job->rate_iops ? 1000000000ull / a->job->rate_iops : 0;
	bool took0 = false;
	uint64_t next = a->t0 + tick;
	uint64_t last_all = 0, sample_t = 0, sample_ok = 0, draw_t = a->t0, draw_ok = 0;
	double rate = 0;

	out->took1 = false;
	out->samples = 0;
	watchdog_arm(a->job->name, "a write call", a->t0 + slack);
	for (;;) {
		uint64_t event = next;
		if (!took0 && event > a->win_start)
			event = a->win_start;
		if (took0 && !out->took1 && timed_end && event > a->win_end)
			event = a->win_end;
		uint64_t now = now_ns();
		sleep_until(event < now + POLL_NS ? event : now + POLL_NS);
		now = now_ns();

		uint64_t ok, all;
		unsigned done;
		sums(a, &ok, &all, &done);
		if (all != last_all) {
			last_all = all;
			watchdog_arm(a->job->name, "a write call", now + slack);
		}
		if (!took0 && now >= a->win_start) {
			snap(a, &out->st0, &out->io0);
			took0 = true;
			sample_t = now;
			sample_ok = ok;
			next = a->win_start + tick;
		}
		if (now >= next) {
			if (took0 && !out->took1 && now > sample_t) {
				double s =
					(double)(ok - sample_ok) * 1e9 / (double)(now - sample_t);
				if (out->samples == 0 || s < out->smin)
					out->smin = s;
				if (out->samples == 0 || s > out->smax)
					out->smax = s;
				out->ssum += s;
				out->ssq += s * s;
				out->samples++;
				sample_t = now;
				sample_ok = ok;
			}
			while (next <= now)
				next += tick;
			if (now > draw_t)
				rate = (double)(ok - draw_ok) * 1e9 / (double)(now - draw_t);
			draw_t = now;
			draw_ok = ok;
			if (a->ctx->progress)
				draw(a, now, ok, rate);
		}
		if (took0 && !out->took1 && timed_end && now >= a->win_end) {
			snap(a, &out->st1, &out->io1);
			out->took1 = true;
		}
		if (done == a->nthreads)
			break;
	}
	if (!took0) /* every thread gave up before the window (errors) */
		snap(a, &out->st0, &out->io0);
	if (a->ctx->progress) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}
