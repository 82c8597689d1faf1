/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evloop.c - uwal's asynchronous API from a libuv event loop.
 *
 *   evloop DIR [N]
 *
 * Opens the log in DIR (sync_mode UWAL_SYNC_BATCH: every record durable
 * before its completion, group committed) and appends N records (default
 * 10000) without ever blocking the loop: uwal_submit() with index 0, so
 * that uwal assigns the next indexes, as many as the handle's window
 * (async_window) takes; uv_poll watches uwal_event_fd(), and its callback
 * reaps the completions (uwal_reap() until none is left), checks that they
 * come in submission order with consecutive indexes, and submits more.
 * When every record has completed it prints
 *
 *   submitted N, completed N, first index A, last index B, errors 0
 *
 * and exits 0; any error (a refused submission, a failed completion, one
 * out of order) is printed and the exit status is 1. Run it again on the
 * same DIR and the indexes go on after the first run's last one.
 *
 * Built only when libuv is found (pkg-config libuv; Debian libuv1-dev,
 * which scripts/setup.sh installs). Only the public API (uwal.h) is used.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <uwal.h>

#define REAP_BATCH 256

struct app {
	uwal *w;
	uv_poll_t poll;
	uv_idle_t start;
	uint64_t n;         /* records to write */
	uint64_t submitted; /* accepted by uwal_submit() */
	uint64_t completed; /* completions reaped, in order */
	uint64_t first, last, next_index;
	uint64_t errors;
	bool closing;
};

static void fail(struct app *a, const char *what, int err)
{
	fprintf(stderr, "evloop: %s: %s\n", what, uwal_strerror(err));
	a->errors++;
}

static void finish(struct app *a)
{
	if (a->closing)
		return;
	a->closing = true;
	uv_poll_stop(&a->poll);
	uv_close((uv_handle_t *)&a->poll, NULL);
	uv_close((uv_handle_t *)&a->start, NULL);
}

/* Submit until N are in or the window is full (then the next reap makes
 * room). The user data of a submission is its number, 0, 1, 2, ... */
static void submit_more(struct app *a)
{
	while (!a->errors && a->submitted < a->n) {
		char key[32], value[64];
		int kl = snprintf(key, sizeof(key), "k%" PRIu64, a->submitted);
		int vl = snprintf(value, sizeof(value), "record %" PRIu64 " of %" PRIu64,
				  a->submitted, a->n);
		uwal_record rec = {
			.index = 0, /* assigned by uwal: the completion says which */
			.key = key,
			.key_len = (size_t)kl,
			.value = value,
			.value_len = (size_t)vl,
		};
		int rc = uwal_submit(a->w, &rec, 1, 0, a->submitted);
		if (rc == UWAL_EAGAIN)
			return; /* the window is full */
		if (rc) {
			fail(a, "uwal_submit", rc);
			return;
		}
		a->submitted++;
	}
}

static void check(struct app *a, const uwal_completion *c)
{
	if (c->result) {
		fail(a, "completion", c->result);
		return;
	}
	if (c->user_data != a->completed || c->count != 1) {
		fprintf(stderr,
			"evloop: completion of submission %" PRIu64 " (%" PRIu32
			" records) where submission %" PRIu64 " was due\n",
			c->user_data, c->count, a->completed);
		a->errors++;
		return;
	}
	if (a->completed == 0) {
		a->first = c->first_index;
	} else if (c->first_index != a->next_index) {
		fprintf(stderr, "evloop: index %" PRIu64 " after %" PRIu64 ": not consecutive\n",
			c->first_index, a->last);
		a->errors++;
		return;
	}
	a->last = c->first_index + c->count - 1;
	a->next_index = a->last + 1;
	a->completed++;
}

/* The event fd is readable: reap until nothing waits, then submit more. */
static void on_readable(uv_poll_t *h, int status, int events)
{
	struct app *a = h->data;
	(void)events;
	if (status < 0) {
		fprintf(stderr, "evloop: uv_poll: %s\n", uv_strerror(status));
		a->errors++;
		finish(a);
		return;
	}
	uwal_completion c[REAP_BATCH];
	int k;
	while ((k = uwal_reap(a->w, c, REAP_BATCH, 0)) > 0)
		for (int i = 0; i < k; i++)
			check(a, &c[i]);
	if (k < 0)
		fail(a, "uwal_reap", k);
	submit_more(a);
	if (a->errors || a->completed == a->n)
		finish(a);
}

/* The first submissions, from inside the loop. */
static void on_start(uv_idle_t *h)
{
	struct app *a = h->data;
	uv_idle_stop(h);
	submit_more(a);
	if (a->errors || a->n == 0)
		finish(a);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: evloop DIR [N]\n");
		return 2;
	}
	struct app a = {.n = 10000};
	if (argc == 3) {
		char *end;
		a.n = strtoull(argv[2], &end, 10);
		if (!*argv[2] || *end || argv[2][0] == '-') {
			fprintf(stderr, "evloop: N must be a number of records, not '%s'\n",
				argv[2]);
			return 2;
		}
	}

	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = argv[1];
	cfg.sync_mode = UWAL_SYNC_BATCH;
	int rc = uwal_open(&cfg, &a.w);
	if (rc) {
		fprintf(stderr, "evloop: uwal_open %s: %s\n", argv[1], uwal_strerror(rc));
		return 1;
	}
	int fd = uwal_event_fd(a.w);
	if (fd < 0) {
		fprintf(stderr, "evloop: uwal_event_fd: %s\n", uwal_strerror(fd));
		uwal_close(a.w);
		return 1;
	}

	uv_loop_t *loop = uv_default_loop();
	a.poll.data = a.start.data = &a;
	if ((rc = uv_poll_init(loop, &a.poll, fd)) || (rc = uv_idle_init(loop, &a.start)) ||
	    (rc = uv_poll_start(&a.poll, UV_READABLE, on_readable)) ||
	    (rc = uv_idle_start(&a.start, on_start))) {
		fprintf(stderr, "evloop: libuv: %s\n", uv_strerror(rc));
		uwal_close(a.w);
		return 1;
	}
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);

	/* Nothing is outstanding after an error-free run; after an error,
	 * see the rest through (uwal_shutdown(), then reap until none is
	 * left) before closing. */
	uwal_shutdown(a.w);
	uwal_completion c[REAP_BATCH];
	while (uwal_reap(a.w, c, REAP_BATCH, -1) > 0)
		;
	rc = uwal_close(a.w);
	if (rc)
		fail(&a, "uwal_close", rc);

	printf("submitted %" PRIu64 ", completed %" PRIu64 ", first index %" PRIu64
	       ", last index %" PRIu64 ", errors %" PRIu64 "\n",
	       a.submitted, a.completed, a.first, a.last, a.errors);
	return a.errors || a.completed != a.n ? 1 : 0;
}
