/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_raft.c - libuwal-raft: the storage methods of its struct raft_io
 * called directly as raft calls them (append, truncate ordered behind
 * in-flight appends, snapshot_put with and without trailing entries,
 * load after reopen, damaged metadata and snapshot files, directories of
 * another format), and three raft nodes on one libuv loop over raft's TCP
 * transport on 127.0.0.1: bootstrap, election, entries applied in order on
 * every node, the leader stopped and a new one elected, a node restarted
 * from its directory; 10,000 pipelined entries read back from every node's
 * uwal log; a follower brought back by InstallSnapshot; an isolated
 * leader's uncommitted entries truncated and replaced; a follower behind by
 * more than a segment; one node's storage on the crash-simulating backend
 * with the power cut at each step of append, truncate, snapshot_put (with
 * trailing entries and installed) and set_term. Partitions drop the
 * messages between groups of nodes where they are received.
 *
 * Every wait is bounded by a uv timer (run_until()).
 */
#include "crashsim.h"
#include "helpers.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "uwal_raft.h"

#ifdef __SANITIZE_THREAD__
/*
 * TSan follows a descriptor number through close() and reuse: libuv (not
 * instrumented, from Debian) calls epoll_ctl() on the number a socket it
 * closed had, while uwal-raft's thread-pool work opens and closes a file
 * that got the same number. Nothing is shared but the number; the rest of
 * libuv's calls (its mutexes, which order the thread pool's work) are
 * seen and checked as usual.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:epoll_ctl\n";
}
#endif

/* ---- bounded loop runs --------------------------------------------------- */

static void deadline_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run the loop until pred(arg) holds or ms pass; returns pred(arg). */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, unsigned ms)
{
	uv_timer_t t;
	bool fired = false;
	uv_timer_init(loop, &t);
	t.data = &fired;
	uv_timer_start(&t, deadline_cb, ms, 0);
	while (!pred(arg) && !fired)
		uv_run(loop, UV_RUN_ONCE);
	uv_timer_stop(&t);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return pred(arg);
}

static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Let what is still on the loop finish (up to 5 s), then close what is
 * left. The deadline timer is unreferenced: an active referenced timer
 * would keep uv_loop_alive() true, and every close would wait the full 5 s.
 */
static void loop_finish(uv_loop_t *loop)
{
	uv_timer_t t;
	bool fired = false;
	uv_timer_init(loop, &t);
	t.data = &fired;
	uv_timer_start(&t, deadline_cb, 5000, 0);
	uv_unref((uv_handle_t *)&t);
	while (uv_loop_alive(loop) && !fired)
		uv_run(loop, UV_RUN_ONCE);
	uv_timer_stop(&t);
	uv_close((uv_handle_t *)&t, NULL);
	uv_walk(loop, walk_close, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(loop), 0, "handles left on the loop");
}

static void free_entries(struct raft_entry *entries, size_t n)
{
	if (n > 0)
		raft_free(entries[0].batch);
	raft_free(entries);
}

static void free_snapshot(struct raft_snapshot *s)
{
	if (s == NULL)
		return;
	raft_configuration_close(&s->configuration);
	for (unsigned i = 0; i < s->n_bufs; i++)
		raft_free(s->bufs[i].base);
	raft_free(s->bufs);
	raft_free(s);
}

/* ---- the io alone ------------------------------------------------------- */

struct store {
	uv_loop_t loop;
	struct raft_uv_transport t;
	struct raft_io io;
	bool closed;
};

static void store_open(struct store *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(uv_loop_init(&s->loop), 0);
	cr_assert_eq(raft_uv_tcp_init(&s->t, &s->loop), 0);
	int rv = uwal_raft_init(&s->io, &s->loop, dir, &s->t);
	cr_assert_eq(rv, 0, "uwal_raft_init: %d %s", rv, s->io.errmsg);
	cr_assert_eq(uwal_raft_set_segment_size(&s->io, 1u << 20), 0);
	s->io.data = s;
	rv = s->io.init(&s->io, 1, "127.0.0.1:9");
	cr_assert_eq(rv, 0, "init: %s", s->io.errmsg);
}

static void store_close_cb(struct raft_io *io)
{
	((struct store *)io->data)->closed = true;
}

static void store_close(struct store *s)
{
	s->io.close(&s->io, store_close_cb);
	cr_assert(run_until(&s->loop, flag_set, &s->closed, 10000), "io close timed out");
	uwal_raft_close(&s->io);
	raft_uv_tcp_close(&s->t);
	loop_finish(&s->loop);
}

struct loaded {
	int rv;
	raft_term term;
	raft_id vote;
	struct raft_snapshot *snap;
	raft_index start;
	struct raft_entry *entries;
	size_t n;
};

static struct loaded store_load(struct store *s)
{
	struct loaded l;
	memset(&l, 0, sizeof(l));
	l.rv = s->io.load(&s->io, &l.term, &l.vote, &l.snap, &l.start, &l.entries, &l.n);
	return l;
}

static void loaded_free(struct loaded *l)
{
	free_entries(l->entries, l->n);
	free_snapshot(l->snap);
	memset(l, 0, sizeof(*l));
}

static void conf_one(struct raft_configuration *c)
{
	raft_configuration_init(c);
	cr_assert_eq(raft_configuration_add(c, 1, "127.0.0.1:9", RAFT_VOTER), 0);
}

/* Appends whose callbacks record the order they ran in. */
struct append {
	struct raft_io_append req;
	struct raft_entry *entries;
	unsigned n;
	int status;
	int seq;
	bool done;
};

static int append_seq;

static void append_cb(struct raft_io_append *req, int status)
{
	struct append *a = req->data;
	a->status = status;
	a->seq = ++append_seq;
	a->done = true;
}

/* Submit entries of the given term, payload "<tag><index>", at raft index
 * first .. first + n - 1 (raft tracks the index; the test only names it). */
static void append_start(struct store *s, struct append *a, raft_index first, unsigned n,
			 raft_term term, char tag)
{
	memset(a, 0, sizeof(*a));
	a->entries = calloc(n, sizeof(*a->entries));
	a->n = n;
	a->req.data = a;
	for (unsigned i = 0; i < n; i++) {
		char *p = malloc(32);
		int len = snprintf(p, 32, "%c%llu", tag, (unsigned long long)(first + i));
		a->entries[i] = (struct raft_entry){
			.term = term, .type = RAFT_COMMAND, .buf = {.base = p, .len = (size_t)len}};
	}
	int rv = s->io.append(&s->io, &a->req, a->entries, n, append_cb);
	cr_assert_eq(rv, 0, "append: %s", s->io.errmsg);
}

static bool append_done(void *arg)
{
	return ((struct append *)arg)->done;
}

static void append_wait(struct store *s, struct append *a)
{
	cr_assert(run_until(&s->loop, append_done, a, 10000), "append timed out");
	cr_assert_eq(a->status, 0, "append failed: %d", a->status);
	for (unsigned i = 0; i < a->n; i++)
		free(a->entries[i].buf.base);
	free(a->entries);
	a->entries = NULL;
}

static void check_entry(const struct raft_entry *e, raft_index index, raft_term term, char tag)
{
	char want[32];
	int len = snprintf(want, sizeof(want), "%c%llu", tag, (unsigned long long)index);
	cr_assert_eq(e->term, term, "entry %llu: term %llu, want %llu", (unsigned long long)index,
		     e->term, term);
	cr_assert_eq(e->type, RAFT_COMMAND, "entry %llu: type %u", (unsigned long long)index,
		     e->type);
	cr_assert(e->buf.len == (size_t)len && memcmp(e->buf.base, want, (size_t)len) == 0,
		  "entry %llu: payload %.*s, want %s", (unsigned long long)index, (int)e->buf.len,
		  (const char *)e->buf.base, want);
}

/* A pristine store is bootstrapped and loaded: term 1, entry 1. */
static void store_bootstrap(struct store *s)
{
	struct raft_configuration c;
	conf_one(&c);
	int rv = s->io.bootstrap(&s->io, &c);
	cr_assert_eq(rv, 0, "bootstrap: %s", s->io.errmsg);
	raft_configuration_close(&c);
	struct loaded l = store_load(s);
	cr_assert_eq(l.rv, 0, "load: %s", s->io.errmsg);
	cr_assert_eq(l.term, 1);
	cr_assert_eq(l.vote, 0);
	cr_assert_null(l.snap);
	cr_assert_eq(l.start, 1);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.entries[0].type, RAFT_CHANGE);
	loaded_free(&l);
}

Test(raft_store, pristine_load)
{
	char *dir = th_tmpdir();
	struct store s;
	store_open(&s, dir);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	cr_assert_eq(l.term, 0);
	cr_assert_eq(l.start, 1);
	cr_assert_eq(l.n, 0);
	cr_assert_null(l.snap);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

Test(raft_store, truncate_behind_appends_then_load)
{
	char *dir = th_tmpdir();
	struct store s;
	store_open(&s, dir);
	store_bootstrap(&s);
	cr_assert_eq(s.io.set_term(&s.io, 2), 0, "%s", s.io.errmsg);
	cr_assert_eq(s.io.set_vote(&s.io, 1), 0, "%s", s.io.errmsg);

	/* Two appends in flight (2..11, 12..15), then a truncation of 8.. and
	 * the conflicting suffix's replacement, all before any completes. */
	struct append a1, a2, a3;
	append_seq = 0;
	append_start(&s, &a1, 2, 10, 2, 'e');
	append_start(&s, &a2, 12, 4, 2, 'e');
	cr_assert_eq(s.io.truncate(&s.io, 8), 0, "%s", s.io.errmsg);
	append_start(&s, &a3, 8, 3, 3, 'n');
	append_wait(&s, &a1);
	append_wait(&s, &a2);
	append_wait(&s, &a3);
	cr_assert(a1.seq < a2.seq && a2.seq < a3.seq, "callbacks out of order: %d %d %d", a1.seq,
		  a2.seq, a3.seq);
	store_close(&s);

	store_open(&s, dir);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	cr_assert_eq(l.term, 2);
	cr_assert_eq(l.vote, 1);
	cr_assert_eq(l.start, 1);
	cr_assert_eq(l.n, 10, "%zu entries", l.n);
	for (raft_index i = 2; i <= 7; i++)
		check_entry(&l.entries[i - 1], i, 2, 'e');
	for (raft_index i = 8; i <= 10; i++)
		check_entry(&l.entries[i - 1], i, 3, 'n');
	loaded_free(&l);

	/* Truncate again after reopen (everything durable): 5.., then 5..6. */
	cr_assert_eq(s.io.truncate(&s.io, 5), 0);
	append_start(&s, &a1, 5, 2, 4, 'x');
	append_wait(&s, &a1);
	store_close(&s);
	store_open(&s, dir);
	l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	cr_assert_eq(l.n, 6);
	check_entry(&l.entries[3], 4, 2, 'e');
	check_entry(&l.entries[4], 5, 4, 'x');
	check_entry(&l.entries[5], 6, 4, 'x');
	loaded_free(&l);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

struct put {
	struct raft_io_snapshot_put req;
	int status;
	bool done;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
	struct put *p = req->data;
	p->status = status;
	p->done = true;
}

struct get {
	struct raft_io_snapshot_get req;
	struct raft_snapshot *snap;
	int status;
	bool done;
};

static void get_cb(struct raft_io_snapshot_get *req, struct raft_snapshot *snap, int status)
{
	struct get *g = req->data;
	g->snap = snap;
	g->status = status;
	g->done = true;
}

static bool put_done(void *arg)
{
	return ((struct put *)arg)->done;
}

static bool get_done(void *arg)
{
	return ((struct get *)arg)->done;
}

static void snapshot_put(struct store *s, raft_index index, raft_term term, unsigned trailing,
			 const char *data)
{
	struct raft_snapshot snap;
	memset(&snap, 0, sizeof(snap));
	snap.index = index;
	snap.term = term;
	conf_one(&snap.configuration);
	snap.configuration_index = 1;
	struct raft_buffer buf = {.base = (void *)data, .len = strlen(data)};
	snap.bufs = &buf;
	snap.n_bufs = 1;
	struct put p = {.req.data = &p};
	int rv = s->io.snapshot_put(&s->io, trailing, &p.req, &snap, put_cb);
	cr_assert_eq(rv, 0, "snapshot_put: %s", s->io.errmsg);
	cr_assert(run_until(&s->loop, put_done, &p, 10000), "snapshot_put timed out");
	cr_assert_eq(p.status, 0, "snapshot_put failed: %d %s", p.status, s->io.errmsg);
	raft_configuration_close(&snap.configuration);
}

static void check_snapshot(const struct raft_snapshot *snap, raft_index index, raft_term term,
			   const char *data)
{
	cr_assert_not_null(snap);
	cr_assert_eq(snap->index, index);
	cr_assert_eq(snap->term, term);
	cr_assert_eq(snap->configuration_index, 1);
	cr_assert_eq(snap->configuration.n, 1);
	cr_assert_eq(snap->configuration.servers[0].id, 1);
	cr_assert_str_eq(snap->configuration.servers[0].address, "127.0.0.1:9");
	cr_assert_eq(snap->n_bufs, 1);
	cr_assert(snap->bufs[0].len == strlen(data) &&
		  memcmp(snap->bufs[0].base, data, strlen(data)) == 0);
}

Test(raft_store, snapshot_trailing_and_install)
{
	char *dir = th_tmpdir();
	struct store s;
	store_open(&s, dir);
	store_bootstrap(&s);
	struct append a;
	append_start(&s, &a, 2, 19, 1, 'e'); /* 2..20 */
	append_wait(&s, &a);
	snapshot_put(&s, 15, 1, 5, "state-15");

	struct get g = {.req.data = &g};
	cr_assert_eq(s.io.snapshot_get(&s.io, &g.req, get_cb), 0);
	cr_assert(run_until(&s.loop, get_done, &g, 10000), "snapshot_get timed out");
	cr_assert_eq(g.status, 0);
	check_snapshot(g.snap, 15, 1, "state-15");
	free_snapshot(g.snap);
	store_close(&s);

	/* The prefix before the trailing 5 entries is gone from the log. */
	store_open(&s, dir);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	check_snapshot(l.snap, 15, 1, "state-15");
	cr_assert_eq(l.start, 11, "start %llu", l.start);
	cr_assert_eq(l.n, 10);
	for (size_t i = 0; i < l.n; i++)
		check_entry(&l.entries[i], 11 + i, 1, 'e');
	loaded_free(&l);

	/* An installed snapshot (trailing 0) past the log replaces all of it;
	 * the next append is its index + 1. */
	cr_assert_eq(s.io.set_term(&s.io, 2), 0);
	snapshot_put(&s, 30, 2, 0, "state-30");
	append_start(&s, &a, 31, 2, 2, 'i');
	append_wait(&s, &a);
	store_close(&s);

	store_open(&s, dir);
	l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	check_snapshot(l.snap, 30, 2, "state-30");
	cr_assert_eq(l.start, 31);
	cr_assert_eq(l.n, 2);
	check_entry(&l.entries[0], 31, 2, 'i');
	check_entry(&l.entries[1], 32, 2, 'i');
	loaded_free(&l);

	/* An installed snapshot inside the log (a follower with a conflicting
	 * suffix): the entries after it are dropped too. */
	snapshot_put(&s, 31, 2, 0, "state-31");
	store_close(&s);
	store_open(&s, dir);
	l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	check_snapshot(l.snap, 31, 2, "state-31");
	cr_assert_eq(l.start, 32);
	cr_assert_eq(l.n, 0);
	loaded_free(&l);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* Bootstrap a store in dir and close it. */
static void bootstrapped(const char *dir)
{
	struct store s;
	store_open(&s, dir);
	store_bootstrap(&s);
	cr_assert_eq(s.io.set_term(&s.io, 3), 0);
	store_close(&s);
}

static void expect_load_error(const char *dir, int want, const char *needle)
{
	struct store s;
	store_open(&s, dir);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, want, "load returned %d (%s), want %d", l.rv, s.io.errmsg, want);
	cr_assert(strstr(s.io.errmsg, needle) != NULL, "errmsg \"%s\" lacks \"%s\"", s.io.errmsg,
		  needle);
	/* Not reset either: bootstrap refuses the directory too. */
	struct raft_configuration c;
	conf_one(&c);
	cr_assert_neq(s.io.bootstrap(&s.io, &c), 0);
	raft_configuration_close(&c);
	store_close(&s);
}

Test(raft_store, damaged_metadata_is_an_error)
{
	char *dir = th_tmpdir();
	char meta[4096];
	th_join(meta, sizeof(meta), dir, "log/segment_file.raft-meta");
	bootstrapped(dir);

	th_flip_byte(meta, 24 + 9); /* inside the term */
	expect_load_error(dir, RAFT_CORRUPT, "checksum");

	th_truncate(meta, 20);
	expect_load_error(dir, RAFT_CORRUPT, "cut short");

	th_truncate(meta, 0);
	expect_load_error(dir, RAFT_CORRUPT, "cut short");

	th_create_file(meta, "this is not it, not at all, no!!", 32);
	expect_load_error(dir, RAFT_CORRUPT, "not a uwal file");

	unlink(meta);
	expect_load_error(dir, RAFT_CORRUPT, "missing");
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

Test(raft_store, damaged_snapshot_is_an_error)
{
	char *dir = th_tmpdir();
	char path[4096];
	th_join(path, sizeof(path), dir, "log/segment_file.raft-snapshot");
	struct store s;
	store_open(&s, dir);
	store_bootstrap(&s);
	snapshot_put(&s, 1, 1, 1, "state-1");
	store_close(&s);

	size_t len;
	free(th_read_file(path, &len));
	th_truncate(path, len - 3);
	expect_load_error(dir, RAFT_CORRUPT, "cut short");
	th_truncate(path, 10);
	expect_load_error(dir, RAFT_CORRUPT, "cut short");
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

Test(raft_store, bootstrap_twice_refused)
{
	char *dir = th_tmpdir();
	bootstrapped(dir);
	struct store s;
	store_open(&s, dir);
	struct raft_configuration c;
	conf_one(&c);
	cr_assert_eq(s.io.bootstrap(&s.io, &c), RAFT_CANTBOOTSTRAP);
	raft_configuration_close(&c);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* ---- a node directory of another format --------------------------------- */

/* uwal_raft_init and io->init on dir: the first error, its message in err. */
static int store_try_open(struct store *s, const char *dir, char *err)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(uv_loop_init(&s->loop), 0);
	cr_assert_eq(raft_uv_tcp_init(&s->t, &s->loop), 0);
	int rv = uwal_raft_init(&s->io, &s->loop, dir, &s->t);
	if (rv == 0) {
		s->io.data = s;
		rv = s->io.init(&s->io, 1, "127.0.0.1:9");
	}
	snprintf(err, RAFT_ERRMSG_BUF_SIZE, "%s", s->io.errmsg);
	return rv;
}

/* After store_try_open() failed. */
static void store_release(struct store *s)
{
	uwal_raft_close(&s->io);
	raft_uv_tcp_close(&s->t);
	loop_finish(&s->loop);
}

static void expect_open_error(const char *dir, int want, const char *needle)
{
	struct store s;
	char err[RAFT_ERRMSG_BUF_SIZE];
	int rv = store_try_open(&s, dir, err);
	cr_assert_eq(rv, want, "open returned %d (%s), want %d", rv, err, want);
	cr_assert(strstr(err, needle) != NULL, "errmsg \"%s\" lacks \"%s\"", err, needle);
	store_release(&s);
}

Test(raft_badinput, not_a_directory)
{
	char *dir = th_tmpdir();
	char path[4096];
	th_join(path, sizeof(path), dir, "file");
	th_create_file(path, "x", 1);
	expect_open_error(path, RAFT_INVALID, "not a directory");
	th_join(path, sizeof(path), dir, "missing");
	expect_open_error(path, RAFT_NOTFOUND, "No such file");
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

Test(raft_badinput, log_is_a_file)
{
	char *dir = th_tmpdir();
	char path[4096];
	th_join(path, sizeof(path), dir, "log");
	th_create_file(path, "not a log", 9);
	expect_open_error(dir, RAFT_IOERR, "open the log");
	/* Left as it was. */
	cr_assert_eq(th_file_size(path), 9);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* xorshift64: the same bytes every run. */
static void random_bytes(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

/* A bootstrapped store with entries 2..41 in dir, closed. */
static void store_with_entries(const char *dir)
{
	struct store s;
	store_open(&s, dir);
	store_bootstrap(&s);
	cr_assert_eq(s.io.set_term(&s.io, 2), 0);
	struct append a;
	append_start(&s, &a, 2, 40, 2, 'e');
	append_wait(&s, &a);
	store_close(&s);
}

/*
 * Overwrite len bytes at off of every segment (len 0: to the end) with
 * random bytes, and expect the open or the load to fail with RAFT_CORRUPT.
 */
static void random_segments_refused(uint64_t off, uint64_t len)
{
	char *dir = th_tmpdir();
	char log[4096], path[8192];
	th_join(log, sizeof(log), dir, "log");
	store_with_entries(dir);
	th_seglist *segs = th_segments(log, "segment_");
	cr_assert_gt(segs->n, 0);
	for (size_t i = 0; i < segs->n; i++) {
		th_join(path, sizeof(path), log, segs->name[i]);
		uint64_t size = th_file_size(path);
		uint64_t n = len != 0 ? len : size - off;
		cr_assert_leq(off + n, size);
		unsigned char *buf = malloc(n);
		random_bytes(buf, n, 0x9e3779b97f4a7c15ull + i);
		th_write_at(path, off, buf, n);
		free(buf);
	}
	free(segs);
	th_remove_indexes(log);
	struct store s;
	char err[RAFT_ERRMSG_BUF_SIZE];
	int rv = store_try_open(&s, dir, err);
	if (rv == 0) {
		struct loaded l = store_load(&s);
		cr_assert_neq(l.rv, 0, "random bytes at %llu loaded: %zu entries, term %llu",
			      (unsigned long long)off, l.n, (unsigned long long)l.term);
		rv = l.rv;
		snprintf(err, sizeof(err), "%s", s.io.errmsg);
		loaded_free(&l);
		store_close(&s);
	} else {
		store_release(&s);
	}
	cr_assert_eq(rv, RAFT_CORRUPT, "random bytes at %llu: %d %s", (unsigned long long)off, rv,
		     err);
	cr_assert(strstr(err, "corrupt") != NULL, "errmsg \"%s\"", err);
	th_rmrf(dir);
	free(dir);
}

Test(raft_badinput, segments_of_random_bytes)
{
	/* All of each file: the segment header fails its check. */
	random_segments_refused(0, 0);
	/* Inside the records, before the frame that marks them durable: not a
	 * torn tail, so not cut. */
	random_segments_refused(64, 256);
	th_leak_check();
}

Test(raft_badinput, log_of_other_records)
{
	/* A uwal log, but not of raft entries (records with keys). */
	char *dir = th_tmpdir();
	char log[4096];
	th_join(log, sizeof(log), dir, "log");
	uwal_config cfg;
	th_config(&cfg, log);
	uwal *w = th_open(&cfg);
	th_write_range(w, 1, 10);
	th_close(w);
	struct store s;
	store_open(&s, dir);
	cr_assert_eq(s.io.set_term(&s.io, 1), 0); /* as if it were a node's */
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, RAFT_CORRUPT, "load returned %d (%s)", l.rv, s.io.errmsg);
	cr_assert(strstr(s.io.errmsg, "not a raft entry") != NULL, "%s", s.io.errmsg);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

static void uv_io_close_cb(struct raft_io *io)
{
	*(bool *)io->data = true;
}

/* What raft_uv itself leaves in a directory it bootstrapped. */
static void raft_uv_bootstrapped(const char *dir)
{
	uv_loop_t loop;
	struct raft_uv_transport t;
	struct raft_io io;
	bool closed = false;
	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(raft_uv_tcp_init(&t, &loop), 0);
	cr_assert_eq(raft_uv_init(&io, &loop, dir, &t), 0);
	io.data = &closed;
	cr_assert_eq(io.init(&io, 1, "127.0.0.1:9"), 0, "raft_uv init: %s", io.errmsg);
	struct raft_configuration c;
	conf_one(&c);
	cr_assert_eq(io.bootstrap(&io, &c), 0, "raft_uv bootstrap: %s", io.errmsg);
	raft_configuration_close(&c);
	cr_assert_eq(io.set_term(&io, 2), 0);
	io.close(&io, uv_io_close_cb);
	cr_assert(run_until(&loop, flag_set, &closed, 10000));
	raft_uv_close(&io);
	raft_uv_tcp_close(&t);
	loop_finish(&loop);
}

Test(raft_badinput, directory_of_raft_uv)
{
	char *dir = th_tmpdir();
	raft_uv_bootstrapped(dir);
	struct store s;
	char err[RAFT_ERRMSG_BUF_SIZE];
	int rv = store_try_open(&s, dir, err);
	cr_assert_eq(rv, 0, "%s", err);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, RAFT_CORRUPT, "load of raft_uv's directory returned %d (%s): term %llu",
		     l.rv, s.io.errmsg, (unsigned long long)l.term);
	cr_assert(strstr(s.io.errmsg, "raft_uv") != NULL, "%s", s.io.errmsg);
	struct raft_configuration c;
	conf_one(&c);
	cr_assert_neq(s.io.bootstrap(&s.io, &c), 0, "bootstrap over raft_uv's directory");
	raft_configuration_close(&c);
	store_close(&s);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* ---- three nodes over TCP on 127.0.0.1 ---------------------------------- */

#define NODES 3
#define MAX_VALUES 16384u   /* values of one test: 1 .. MAX_VALUES - 1 */
#define POISON (1ull << 62) /* values proposed where they cannot commit */
#define SEGMENT (1u << 20)  /* segment size of the nodes' logs */

struct cluster;

struct node {
	struct cluster *c;
	raft_id id;
	char dir[4096];
	char address[32];
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport t;
	struct raft_fsm fsm;
	/* The io's own start method and raft's receive callback: net_start()
	 * and net_recv() sit between them. */
	int (*io_start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
	raft_io_recv_cb recv;
	int group; /* messages pass only between nodes of one group */
	/* The FSM: values applied in order, each a command "value, filler". */
	uint64_t applied; /* the last value applied */
	uint64_t count;   /* commands applied (those in a restored snapshot too) */
	uint64_t hash;    /* of the values applied, in order */
	uint64_t *seq;    /* the values applied since the start or the last restore */
	size_t n_seq;
	unsigned restores; /* snapshots restored since node_start() returned */
	bool out_of_order, bad_payload, poisoned;
	bool running, closed;
	char err[RAFT_ERRMSG_BUF_SIZE]; /* raft_errmsg() of a failed start */
};

struct cluster {
	uv_loop_t loop;
	struct node nodes[NODES];
	unsigned voters;              /* nodes 1 .. voters are bootstrapped voters */
	unsigned threshold, trailing; /* raft's snapshot settings */
	size_t segment;               /* the nodes' segment size; 0: SEGMENT */
	uint64_t next_value;          /* of the next raft_apply */
	uint64_t committed, failed;   /* callbacks of values */
	uint64_t max_acked;           /* the largest value committed */
	raft_index *index_of;         /* each committed value's raft index */
	uint64_t poison_next, poison_ok, poison_failed;
	uint64_t target, goal; /* for the predicates */
	unsigned window;
};

/*
 * A value's command: the value (8 bytes), then 0 to 40 bytes made from it.
 * A multiple of 8 bytes: raft_uv's TCP transport (libraft 0.15) sends each
 * entry's bytes as they are but its receiver steps over them as if padded
 * to 8 bytes, so an entry of another length garbles those after it.
 */
static size_t payload_len(uint64_t v)
{
	return 8 + 8 * (size_t)(v % 6);
}

static void payload_fill(uint64_t v, unsigned char *p)
{
	memcpy(p, &v, sizeof(v));
	for (size_t i = 8; i < payload_len(v); i++)
		p[i] = (unsigned char)(v * 131 + i * 7);
}

/* The value of a command, if it is one of payload_fill()'s. */
static bool payload_value(const void *buf, size_t len, uint64_t *v)
{
	const unsigned char *p = buf;
	if (len < 8)
		return false;
	memcpy(v, p, sizeof(*v));
	if (len != payload_len(*v))
		return false;
	for (size_t i = 8; i < len; i++)
		if (p[i] != (unsigned char)(*v * 131 + i * 7))
			return false;
	return true;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct node *n = fsm->data;
	uint64_t v = 0;
	if (!payload_value(buf->base, buf->len, &v))
		n->bad_payload = true;
	if (v & POISON)
		n->poisoned = true;
	if (v <= n->applied)
		n->out_of_order = true;
	n->applied = v;
	n->count++;
	n->hash = (n->hash ^ v) * 0x100000001b3ull;
	cr_assert_lt(n->n_seq, MAX_VALUES);
	n->seq[n->n_seq++] = v;
	*result = NULL;
	return 0;
}

#define FSM_SNAPSHOT 24u /* applied, count, hash */

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct node *n = fsm->data;
	uint64_t state[3] = {n->applied, n->count, n->hash};
	*bufs = raft_malloc(sizeof(**bufs));
	(*bufs)[0].base = raft_malloc(FSM_SNAPSHOT);
	(*bufs)[0].len = FSM_SNAPSHOT;
	memcpy((*bufs)[0].base, state, FSM_SNAPSHOT);
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct node *n = fsm->data;
	uint64_t state[3];
	cr_assert_eq(buf->len, FSM_SNAPSHOT);
	memcpy(state, buf->base, FSM_SNAPSHOT);
	raft_free(buf->base);
	n->applied = state[0];
	n->count = state[1];
	n->hash = state[2];
	n->n_seq = 0;
	n->restores++;
	return 0;
}

/* ---- partitions: messages between groups are dropped on receipt --------- */

static struct node *node_of_id(struct cluster *c, raft_id id)
{
	for (unsigned i = 0; i < NODES; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	return NULL;
}

/* Free what a received message owns, as raft does for one it ignores. */
static void drop_message(struct raft_message *m)
{
	if (m->type == RAFT_IO_APPEND_ENTRIES) {
		struct raft_entry *e = m->append_entries.entries;
		void *batch = NULL;
		for (unsigned i = 0; e != NULL && i < m->append_entries.n_entries; i++) {
			if (e[i].batch != batch) {
				batch = e[i].batch;
				raft_free(batch);
			}
		}
		raft_free(e);
	} else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
	}
}

/* raft's receive callback gets the inner io, whose data is the raft. */
static void net_recv(struct raft_io *io, struct raft_message *m)
{
	struct node *n = ((struct raft *)io->data)->data;
	struct node *from = node_of_id(n->c, m->server_id);
	if (from != NULL && from->group != n->group) {
		drop_message(m);
		return;
	}
	n->recv(io, m);
}

static int net_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	struct node *n = (struct node *)(void *)((char *)io - offsetof(struct node, io));
	n->recv = recv;
	return n->io_start(io, msecs, tick, net_recv);
}

/* ---- nodes ---------------------------------------------------------------- */

static bool port_free(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* A fresh cluster of NODES nodes under dir, none started. */
static struct cluster *cluster_new(const char *dir, unsigned threshold, unsigned trailing)
{
	static struct cluster cl; /* large: the raft structs */
	struct cluster *c = &cl;
	memset(c, 0, sizeof(*c));
	cr_assert_eq(uv_loop_init(&c->loop), 0);
	c->next_value = 1;
	c->poison_next = POISON | 1;
	c->voters = NODES;
	c->threshold = threshold;
	c->trailing = trailing;
	c->index_of = calloc(MAX_VALUES, sizeof(*c->index_of));
	/* Ports below the ephemeral range, away from other runs of this test. */
	unsigned base = 20000 + (unsigned)(getpid() % 2500) * 4;
	for (unsigned tries = 0; tries < 2500; tries++) {
		bool ok = true;
		for (unsigned i = 0; i < NODES && ok; i++)
			ok = port_free(base + i);
		if (ok)
			break;
		base = base + 4 < 30000 ? base + 4 : 20000;
	}
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		n->c = c;
		n->id = i + 1;
		snprintf(n->dir, sizeof(n->dir), "%s/node%u", dir, i + 1);
		cr_assert_eq(th_mkdir_p(n->dir), 0);
		snprintf(n->address, sizeof(n->address), "127.0.0.1:%u", base + i);
		n->seq = calloc(MAX_VALUES, sizeof(*n->seq));
	}
	return c;
}

static void node_close_cb(struct raft *r)
{
	struct node *n = r->data;
	n->closed = true;
}

/* Start n from its directory (bootstrapped first if asked): raft_start's
 * return. If it fails, n is closed again. */
static int node_try_start(struct cluster *c, struct node *n, bool bootstrap)
{
	n->applied = n->count = n->hash = 0;
	n->n_seq = 0;
	n->out_of_order = n->bad_payload = n->poisoned = false;
	n->closed = false;
	n->fsm = (struct raft_fsm){.version = 1,
				   .data = n,
				   .apply = fsm_apply,
				   .snapshot = fsm_snapshot,
				   .restore = fsm_restore};
	cr_assert_eq(raft_uv_tcp_init(&n->t, &c->loop), 0);
	int rv = uwal_raft_init(&n->io, &c->loop, n->dir, &n->t);
	cr_assert_eq(rv, 0, "uwal_raft_init: %s", n->io.errmsg);
	cr_assert_eq(uwal_raft_set_segment_size(&n->io, c->segment ? c->segment : SEGMENT), 0);
	n->io_start = n->io.start;
	n->io.start = net_start;
	rv = raft_init(&n->raft, &n->io, &n->fsm, n->id, n->address);
	cr_assert_eq(rv, 0, "raft_init: %s", raft_errmsg(&n->raft));
	n->raft.data = n;
	raft_set_election_timeout(&n->raft, 1000);
	raft_set_heartbeat_timeout(&n->raft, 100);
	/* A lagging node gets a snapshot: retry a lost one soon (default 30 s). */
	raft_set_install_snapshot_timeout(&n->raft, 1000);
	raft_set_snapshot_threshold(&n->raft, c->threshold);
	raft_set_snapshot_trailing(&n->raft, c->trailing);
	if (bootstrap) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < c->voters; i++)
			cr_assert_eq(raft_configuration_add(&conf, c->nodes[i].id,
							    c->nodes[i].address, RAFT_VOTER),
				     0);
		rv = raft_bootstrap(&n->raft, &conf);
		cr_assert_eq(rv, 0, "raft_bootstrap: %s", raft_errmsg(&n->raft));
		raft_configuration_close(&conf);
	}
	rv = raft_start(&n->raft);
	if (rv != 0) {
		snprintf(n->err, sizeof(n->err), "%s", raft_errmsg(&n->raft));
		raft_close(&n->raft, node_close_cb);
		cr_assert(run_until(&c->loop, flag_set, &n->closed, 10000), "raft_close timed out");
		uwal_raft_close(&n->io);
		raft_uv_tcp_close(&n->t);
		return rv;
	}
	n->running = true;
	n->restores = 0; /* raft_start restored the node's own snapshot */
	return 0;
}

static void node_start(struct cluster *c, struct node *n, bool bootstrap)
{
	int rv = node_try_start(c, n, bootstrap);
	cr_assert_eq(rv, 0, "raft_start: %s", n->err);
}

static void node_stop(struct cluster *c, struct node *n)
{
	raft_close(&n->raft, node_close_cb);
	cr_assert(run_until(&c->loop, flag_set, &n->closed, 10000), "raft_close timed out");
	uwal_raft_close(&n->io);
	raft_uv_tcp_close(&n->t);
	n->running = false;
}

/* Stop the nodes still running and release the cluster. */
static void cluster_end(struct cluster *c)
{
	for (unsigned i = 0; i < NODES; i++)
		if (c->nodes[i].running)
			node_stop(c, &c->nodes[i]);
	loop_finish(&c->loop);
	for (unsigned i = 0; i < NODES; i++)
		free(c->nodes[i].seq);
	free(c->index_of);
}

/* The running leader among the nodes of group 0, or NULL. */
static struct node *leader_of(struct cluster *c)
{
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (n->running && n->group == 0 && raft_state(&n->raft) == RAFT_LEADER)
			return n;
	}
	return NULL;
}

static bool has_leader(void *arg)
{
	return leader_of(arg) != NULL;
}

static struct node *wait_leader(struct cluster *c)
{
	cr_assert(run_until(&c->loop, has_leader, c, 30000), "no leader elected");
	return leader_of(c);
}

/* ---- proposals ----------------------------------------------------------- */

struct proposal {
	struct raft_apply req;
	struct cluster *c;
	uint64_t v;
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct cluster *c = p->c;
	(void)result;
	if (p->v & POISON) {
		if (status == 0)
			c->poison_ok++;
		else
			c->poison_failed++;
	} else if (status == 0) {
		c->committed++;
		c->index_of[p->v] = req->index;
		if (p->v > c->max_acked)
			c->max_acked = p->v;
	} else {
		c->failed++;
	}
	free(p);
}

/* raft_apply of value v's command on n; raft's return. */
static int propose_value(struct cluster *c, struct node *n, uint64_t v)
{
	struct proposal *p = calloc(1, sizeof(*p));
	p->req.data = p;
	p->c = c;
	p->v = v;
	struct raft_buffer buf = {.base = raft_malloc(payload_len(v)), .len = payload_len(v)};
	payload_fill(v, buf.base);
	int rv = raft_apply(&n->raft, &p->req, &buf, 1, apply_cb);
	if (rv != 0) {
		raft_free(buf.base);
		free(p);
	}
	return rv;
}

/* The leader proposes values next_value .. next_value + count - 1 at once. */
static void propose(struct cluster *c, struct node *leader, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		cr_assert_lt(c->next_value, MAX_VALUES);
		int rv = propose_value(c, leader, c->next_value++);
		cr_assert_eq(rv, 0, "raft_apply: %s", raft_errmsg(&leader->raft));
	}
}

static uint64_t in_flight(const struct cluster *c)
{
	return c->next_value - 1 - c->committed - c->failed;
}

/*
 * Keep up to window values in flight on the leader (whichever node it is)
 * until goal values are committed, and every callback has run. A value
 * whose proposal fails is not proposed again: a later value takes its
 * place.
 */
static bool pumped(void *arg)
{
	struct cluster *c = arg;
	struct node *l = leader_of(c);
	while (l != NULL && c->committed + in_flight(c) < c->goal && in_flight(c) < c->window) {
		cr_assert_lt(c->next_value, MAX_VALUES);
		if (propose_value(c, l, c->next_value) != 0)
			break;
		c->next_value++;
	}
	return c->committed >= c->goal && in_flight(c) == 0;
}

static void pump(struct cluster *c, unsigned count, unsigned window)
{
	c->goal = c->committed + count;
	c->window = window;
	cr_assert(run_until(&c->loop, pumped, c, 120000),
		  "pump: %llu of %llu values committed, %llu failed, %llu in flight",
		  (unsigned long long)c->committed, (unsigned long long)c->goal,
		  (unsigned long long)c->failed, (unsigned long long)in_flight(c));
}

/* Every running node of group 0 has applied every committed value. */
static bool caught_up(void *arg)
{
	struct cluster *c = arg;
	if (in_flight(c) > 0)
		return false;
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (n->running && n->group == 0 && n->applied < c->max_acked)
			return false;
	}
	return true;
}

static void check_fsm(const struct node *n)
{
	cr_assert(!n->out_of_order, "node %llu applied out of order", n->id);
	cr_assert(!n->bad_payload, "node %llu applied a command with other contents", n->id);
	cr_assert(!n->poisoned, "node %llu applied an entry that was never committed", n->id);
}

static void wait_caught_up(struct cluster *c)
{
	bool ok = run_until(&c->loop, caught_up, c, 60000);
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (!n->running || n->group != 0)
			continue;
		check_fsm(n);
		cr_assert(n->applied >= c->max_acked,
			  "node %llu applied up to %llu of %llu; its state %d, last index %llu, "
			  "stored %llu, commit %llu, snapshot %llu; io: %s",
			  n->id, (unsigned long long)n->applied, (unsigned long long)c->max_acked,
			  raft_state(&n->raft), raft_last_index(&n->raft), n->raft.last_stored,
			  n->raft.commit_index, n->raft.log.snapshot.last_index, n->io.errmsg);
	}
	cr_assert(ok);
}

/* Every running node applied every value up to target, in order. */
static bool all_applied(void *arg)
{
	struct cluster *c = arg;
	if (in_flight(c) > 0)
		return false;
	for (unsigned i = 0; i < NODES; i++)
		if (c->nodes[i].running && c->nodes[i].applied < c->target)
			return false;
	return true;
}

/* After propose(): each value committed, none lost, none out of order. */
static void wait_applied(struct cluster *c)
{
	c->target = c->next_value - 1;
	bool ok = run_until(&c->loop, all_applied, c, 30000);
	cr_assert_eq(c->failed, 0, "%llu proposals failed", (unsigned long long)c->failed);

	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (!n->running)
			continue;
		check_fsm(n);
		cr_assert(n->applied == c->target && n->count == c->target,
			  "node %llu applied %llu of %llu (%llu commands; committed %llu); its "
			  "state %d, last index %llu, stored %llu, commit %llu, snapshot %llu; "
			  "io: %s",
			  n->id, (unsigned long long)n->applied, (unsigned long long)c->target,
			  (unsigned long long)n->count, (unsigned long long)c->committed,
			  raft_state(&n->raft), raft_last_index(&n->raft), n->raft.last_stored,
			  n->raft.commit_index, n->raft.log.snapshot.last_index, n->io.errmsg);
	}
	cr_assert(ok);
}

/* ---- a node's log, read back with uwal after the node stopped ----------- */

struct log_entry {
	raft_term term;
	unsigned short type;
	bool command_ok; /* a command of payload_fill()'s */
	uint64_t value;  /* its value */
};

struct node_log {
	raft_index first, last; /* 0, 0: empty */
	struct log_entry *e;    /* e[i - first] */
};

static void read_node_log(const struct node *n, struct node_log *out)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/log", n->dir);
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = path;
	cfg.segment_size = SEGMENT;
	cfg.open_flags = UWAL_OPEN_READONLY | UWAL_OPEN_VERIFY;
	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, 0, "open %s: %s", path, uwal_strerror(rc));
	out->first = uwal_first_index(w);
	out->last = uwal_last_index(w);
	size_t n_e = out->last >= out->first && out->last != 0 ? out->last - out->first + 1 : 0;
	out->e = calloc(n_e + 1, sizeof(*out->e));
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record rec;
	size_t k = 0;
	while ((rc = uwal_iter_next(it, &rec)) == 1) {
		cr_assert_lt(k, n_e);
		cr_assert_eq(rec.index, out->first + k, "node %llu: record %llu where %llu was due",
			     n->id, (unsigned long long)rec.index,
			     (unsigned long long)(out->first + k));
		cr_assert_geq(rec.value_len, 16u);
		const unsigned char *p = rec.value;
		struct log_entry *e = &out->e[k++];
		e->term = 0;
		for (unsigned b = 0; b < 8; b++)
			e->term |= (raft_term)p[b] << (8 * b);
		e->type = (unsigned short)(p[8] | p[9] << 8);
		if (e->type == RAFT_COMMAND)
			e->command_ok = payload_value(p + 16, rec.value_len - 16, &e->value);
	}
	cr_assert_eq(rc, 0, "iterating %s: %s", path, uwal_strerror(rc));
	cr_assert_eq(k, n_e);
	uwal_iter_close(it);
	uwal_close(w);
}

static const struct log_entry *log_at(const struct node_log *l, raft_index i)
{
	if (l->last == 0 || i < l->first || i > l->last)
		return NULL;
	return &l->e[i - l->first];
}

static void node_log_free(struct node_log *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* The logs of a and b hold the same entries where both have one. */
static void check_logs_match(const struct node *na, const struct node_log *a, const struct node *nb,
			     const struct node_log *b)
{
	raft_index from = a->first > b->first ? a->first : b->first;
	raft_index to = a->last < b->last ? a->last : b->last;
	for (raft_index i = from; a->last != 0 && b->last != 0 && i <= to; i++) {
		const struct log_entry *x = log_at(a, i), *y = log_at(b, i);
		cr_assert(x->term == y->term && x->type == y->type &&
				  x->command_ok == y->command_ok && x->value == y->value,
			  "entry %llu: node %llu has term %llu type %u value %llu, node %llu term "
			  "%llu type %u value %llu",
			  (unsigned long long)i, na->id, x->term, x->type,
			  (unsigned long long)x->value, nb->id, y->term, y->type,
			  (unsigned long long)y->value);
	}
}

/* Every command in the log is one of payload_fill()'s, none poisoned. */
static void check_log_commands(const struct node *n, const struct node_log *l)
{
	for (raft_index i = l->first; l->last != 0 && i <= l->last; i++) {
		const struct log_entry *e = log_at(l, i);
		if (e->type != RAFT_COMMAND)
			continue;
		cr_assert(e->command_ok, "node %llu, entry %llu: not a command of this test", n->id,
			  (unsigned long long)i);
		cr_assert(!(e->value & POISON), "node %llu, entry %llu: an uncommitted value",
			  n->id, (unsigned long long)i);
	}
}

/* The running nodes of group 0 have applied the same entries, all the
 * leader has (so their FSMs went through the same values). */
static bool settled(void *arg)
{
	struct cluster *c = arg;
	struct node *l = leader_of(c);
	if (!caught_up(c) || l == NULL || raft_last_applied(&l->raft) != raft_last_index(&l->raft))
		return false;
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (n->running && n->group == 0 &&
		    raft_last_applied(&n->raft) != raft_last_applied(&l->raft))
			return false;
	}
	return true;
}

static void wait_settled(struct cluster *c)
{
	wait_caught_up(c);
	cr_assert(run_until(&c->loop, settled, c, 60000), "the nodes did not settle");
	struct node *l = leader_of(c);
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (!n->running || n->group != 0)
			continue;
		check_fsm(n);
		cr_assert(n->applied == l->applied && n->count == l->count && n->hash == l->hash,
			  "node %llu: FSM at %llu (%llu commands), the leader's at %llu (%llu)",
			  n->id, (unsigned long long)n->applied, (unsigned long long)n->count,
			  (unsigned long long)l->applied, (unsigned long long)l->count);
	}
}

static void stop_all(struct cluster *c)
{
	for (unsigned i = 0; i < NODES; i++)
		if (c->nodes[i].running)
			node_stop(c, &c->nodes[i]);
}

static void start_all(struct cluster *c)
{
	for (unsigned i = 0; i < NODES; i++)
		node_start(c, &c->nodes[i], true);
}

Test(raft_cluster, elect_replicate_fail_over_restart, .timeout = 240)
{
	/* A peer that goes away makes a send fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	/* Small, so that raft takes snapshots through snapshot_put. */
	struct cluster *c = cluster_new(dir, 64, 16);
	start_all(c);
	struct node *leader = wait_leader(c);
	propose(c, leader, 300); /* past the snapshot threshold, several times */
	wait_applied(c);

	/* Stop the leader: the other two elect a new one and go on. */
	raft_term old_term = leader->raft.current_term;
	raft_index old_last = raft_last_index(&leader->raft);
	node_stop(c, leader);
	struct node *stopped = leader;
	leader = wait_leader(c);
	cr_assert_neq(leader, stopped);
	cr_assert_gt(leader->raft.current_term, old_term);
	propose(c, leader, 200);
	wait_applied(c);

	/* Restart the old leader from its directory: its term, vote and log
	 * come back (load), and it catches up. */
	node_start(c, stopped, false);
	cr_assert_geq(stopped->raft.current_term, old_term);
	cr_assert_geq(raft_last_index(&stopped->raft), old_last);
	cr_assert(stopped->raft.log.snapshot.last_index > 0, "no snapshot was loaded");
	propose(c, leader, 50);
	wait_applied(c);

	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* Each committed value is at its index in the logs of every node (there
 * are no snapshots: the logs start at 1), the indexes in the order of the
 * values, and each node's FSM applied exactly the commands of its log. */
static void check_scale_logs(struct cluster *c, struct node_log logs[NODES])
{
	raft_index prev = 0;
	uint64_t acked = 0;
	for (uint64_t v = 1; v < c->next_value; v++) {
		raft_index i = c->index_of[v];
		if (i == 0)
			continue;
		acked++;
		cr_assert_gt(i, prev, "value %llu at index %llu, before an earlier value's %llu",
			     (unsigned long long)v, (unsigned long long)i,
			     (unsigned long long)prev);
		prev = i;
		unsigned holders = 0;
		for (unsigned k = 0; k < NODES; k++) {
			const struct log_entry *e = log_at(&logs[k], i);
			if (e != NULL && e->type == RAFT_COMMAND && e->command_ok && e->value == v)
				holders++;
		}
		cr_assert_eq(holders, NODES, "value %llu (index %llu) is on %u nodes",
			     (unsigned long long)v, (unsigned long long)i, holders);
	}
	cr_assert_eq(acked, c->committed);
	for (unsigned k = 0; k < NODES; k++) {
		struct node *n = &c->nodes[k];
		cr_assert_eq(logs[k].first, 1, "node %llu: log starts at %llu", n->id,
			     (unsigned long long)logs[k].first);
		check_log_commands(n, &logs[k]);
		for (unsigned j = 0; j < k; j++)
			check_logs_match(&c->nodes[j], &logs[j], n, &logs[k]);
		cr_assert_eq(logs[k].last, logs[0].last);
		size_t s = 0;
		for (raft_index i = 1; i <= logs[k].last; i++) {
			const struct log_entry *e = log_at(&logs[k], i);
			if (e->type != RAFT_COMMAND)
				continue;
			cr_assert_lt(s, n->n_seq,
				     "node %llu applied %zu commands, its log has more", n->id,
				     n->n_seq);
			cr_assert_eq(n->seq[s], e->value,
				     "node %llu: command %zu applied %llu, "
				     "the log has %llu",
				     n->id, s, (unsigned long long)n->seq[s],
				     (unsigned long long)e->value);
			s++;
		}
		cr_assert_eq(s, n->n_seq, "node %llu applied %zu commands, its log has %zu", n->id,
			     n->n_seq, s);
	}
}

Test(raft_cluster, ten_thousand_entries_and_a_fail_over, .timeout = 600)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	/* No snapshots: every entry stays in the logs, to be read back. */
	struct cluster *c = cluster_new(dir, 1u << 20, 128);
	start_all(c);
	struct node *leader = wait_leader(c);
	pump(c, 10000, 1000);
	wait_caught_up(c);

	/* The leader goes; the other two elect one and go on. */
	struct node *old = leader_of(c);
	cr_assert_not_null(old);
	raft_term old_term = old->raft.current_term;
	node_stop(c, old);
	leader = wait_leader(c);
	cr_assert_neq(leader, old);
	cr_assert_gt(leader->raft.current_term, old_term);
	pump(c, 1000, 500);
	wait_caught_up(c);

	/* The old leader comes back from its log and catches up. */
	node_start(c, old, false);
	cr_assert_gt(raft_last_index(&old->raft), 10000);
	pump(c, 100, 100);
	wait_settled(c);
	cr_log_info("%llu values committed, %llu proposals failed",
		    (unsigned long long)c->committed, (unsigned long long)c->failed);
	cr_assert_geq(c->committed, 11100);

	stop_all(c);
	struct node_log logs[NODES];
	for (unsigned k = 0; k < NODES; k++)
		read_node_log(&c->nodes[k], &logs[k]);
	check_scale_logs(c, logs);
	for (unsigned k = 0; k < NODES; k++)
		node_log_free(&logs[k]);
	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* A running node of group 0 other than the leader. */
static struct node *follower_of(struct cluster *c)
{
	struct node *l = leader_of(c);
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (n != l && n->running && n->group == 0)
			return n;
	}
	return NULL;
}

Test(raft_cluster, lagging_node_catches_up_by_snapshot, .timeout = 300)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	struct cluster *c = cluster_new(dir, 64, 16);
	start_all(c);
	wait_leader(c);
	pump(c, 100, 50);
	wait_settled(c);

	/* A follower stops; the others go on far past it. */
	struct node *f = follower_of(c);
	cr_assert_not_null(f);
	raft_index f_last = raft_last_index(&f->raft);
	node_stop(c, f);
	pump(c, 400, 100);
	wait_caught_up(c);
	/* No running node has the entry after f's last one in its log any
	 * more (snapshots took their prefixes), so only a snapshot can bring
	 * f up. */
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = &c->nodes[i];
		if (n->running)
			cr_assert_gt(n->raft.log.offset + 1, f_last + 1,
				     "node %llu still has entry %llu: its log starts at %llu",
				     n->id, (unsigned long long)(f_last + 1),
				     (unsigned long long)(n->raft.log.offset + 1));
	}

	node_start(c, f, false);
	cr_assert_leq(f->raft.log.snapshot.last_index, f_last);
	cr_assert_eq(raft_last_index(&f->raft), f_last);
	pump(c, 50, 50);
	wait_settled(c);
	cr_assert_gt(f->restores, 0, "node %llu caught up without a snapshot", f->id);
	cr_assert_gt(f->raft.log.snapshot.last_index, f_last);
	struct node *leader = leader_of(c);
	cr_assert_not_null(leader);
	stop_all(c);

	/* f's uwal log lost its old entries (it is empty, or starts past
	 * f_last) and holds what the leader's holds. */
	struct node_log lf, ll;
	read_node_log(f, &lf);
	read_node_log(leader, &ll);
	cr_assert(lf.last == 0 || lf.first > f_last,
		  "node %llu's log holds %llu..%llu, its entries up to %llu were replaced", f->id,
		  (unsigned long long)lf.first, (unsigned long long)lf.last,
		  (unsigned long long)f_last);
	check_log_commands(f, &lf);
	check_logs_match(f, &lf, leader, &ll);

	/* And so does load: the snapshot raft installed, then what the log
	 * holds, up to the leader's last entry. */
	struct store s;
	store_open(&s, f->dir);
	struct loaded l = store_load(&s);
	cr_assert_eq(l.rv, 0, "load: %s", s.io.errmsg);
	cr_assert_not_null(l.snap);
	cr_assert_gt(l.snap->index, f_last);
	cr_assert_eq(l.start, lf.last != 0 ? lf.first : l.snap->index + 1);
	cr_assert_eq(l.start + l.n - 1, ll.last, "node %llu ends at %llu, the leader at %llu",
		     f->id, (unsigned long long)(l.start + l.n - 1), (unsigned long long)ll.last);
	loaded_free(&l);
	store_close(&s);
	node_log_free(&lf);
	node_log_free(&ll);

	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/*
 * A follower far behind, without snapshots to spare it the entries: raft
 * sends all it lacks in one append, more than one segment holds. They go
 * to uwal in parts, and the follower catches up by entries alone.
 */
Test(raft_cluster, a_follower_behind_by_more_than_a_segment_catches_up, .timeout = 300)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	struct cluster *c = cluster_new(dir, 1000000, 16);
	c->segment = 64u << 10;
	start_all(c);
	wait_leader(c);
	pump(c, 50, 50);
	wait_settled(c);

	struct node *f = follower_of(c);
	cr_assert_not_null(f);
	raft_index f_last = raft_last_index(&f->raft);
	node_stop(c, f);
	/* Over 3 segments of entries (about 70 bytes each, 64 KiB segments). */
	pump(c, 3000, 200);
	wait_caught_up(c);
	node_start(c, f, false);
	cr_assert_eq(raft_last_index(&f->raft), f_last);
	pump(c, 20, 20);
	wait_settled(c);
	cr_assert_eq(f->restores, 0, "node %llu caught up by a snapshot", f->id);
	cr_assert_gt(raft_last_applied(&f->raft), f_last + 3000);
	struct node *leader = leader_of(c);
	cr_assert_not_null(leader);
	stop_all(c);
	struct node_log lf, ll;
	read_node_log(f, &lf);
	read_node_log(leader, &ll);
	check_log_commands(f, &lf);
	check_logs_match(f, &lf, leader, &ll);
	node_log_free(&lf);
	node_log_free(&ll);
	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

static bool stored_to(void *arg)
{
	struct node *n = arg;
	return n->raft.last_stored >= n->c->target;
}

#define POISONED 20u

Test(raft_cluster, isolated_leader_suffix_replaced, .timeout = 300)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	/* No snapshots: the new leader has the entries the old one lacks. */
	struct cluster *c = cluster_new(dir, 1u << 20, 128);
	start_all(c);
	wait_leader(c);
	pump(c, 50, 50);
	wait_settled(c);

	/* Cut the leader off. It is leader for up to an election timeout
	 * still, and appends entries that can never commit. */
	struct node *old = leader_of(c);
	cr_assert_not_null(old);
	raft_term old_term = old->raft.current_term;
	old->group = 1;
	raft_index p_first = raft_last_index(&old->raft) + 1;
	for (unsigned i = 0; i < POISONED; i++)
		cr_assert_eq(propose_value(c, old, c->poison_next++), 0, "raft_apply: %s",
			     raft_errmsg(&old->raft));
	raft_index p_last = raft_last_index(&old->raft);
	cr_assert_eq(p_last, p_first + POISONED - 1);
	c->target = p_last;
	cr_assert(run_until(&c->loop, stored_to, old, 10000),
		  "the isolated leader stored %llu of %llu", old->raft.last_stored,
		  (unsigned long long)p_last);

	/* The other two elect a leader and commit other entries there. */
	struct node *leader = wait_leader(c);
	cr_assert_neq(leader, old);
	cr_assert_gt(leader->raft.current_term, old_term);
	pump(c, 2 * POISONED, 20);
	wait_settled(c);
	cr_assert_gt(raft_last_index(&leader->raft), p_last);
	cr_assert_eq(c->poison_ok, 0);

	/* Back together: the old leader's entries from p_first are truncated
	 * and replaced by the leader's; it never applies them. */
	old->group = 0;
	pump(c, 20, 20);
	wait_settled(c);
	cr_assert(!old->poisoned);
	cr_assert_geq(old->applied, c->max_acked);
	leader = leader_of(c);
	cr_assert_not_null(leader);
	stop_all(c);
	cr_assert_eq(c->poison_ok, 0, "an entry of the isolated leader was committed");
	cr_assert_eq(c->poison_failed, POISONED);

	struct node_log logs[NODES];
	for (unsigned k = 0; k < NODES; k++) {
		read_node_log(&c->nodes[k], &logs[k]);
		check_log_commands(&c->nodes[k], &logs[k]);
		cr_assert_eq(logs[k].first, 1);
	}
	unsigned o = (unsigned)(old - c->nodes), l = (unsigned)(leader - c->nodes);
	for (raft_index i = p_first; i <= p_last; i++) {
		const struct log_entry *e = log_at(&logs[o], i);
		cr_assert_not_null(e);
		cr_assert_gt(e->term, old_term, "entry %llu of the old leader: term %llu",
			     (unsigned long long)i, e->term);
	}
	for (unsigned k = 0; k < NODES; k++) {
		cr_assert_eq(logs[k].last, logs[l].last);
		if (k != l)
			check_logs_match(&c->nodes[k], &logs[k], leader, &logs[l]);
	}
	/* The old leader's FSM: every committed value, from its log. */
	for (uint64_t v = 1; v < c->next_value; v++) {
		raft_index i = c->index_of[v];
		if (i == 0)
			continue;
		const struct log_entry *e = log_at(&logs[o], i);
		cr_assert(e != NULL && e->command_ok && e->value == v,
			  "value %llu missing at %llu in the old leader's log",
			  (unsigned long long)v, (unsigned long long)i);
	}
	for (unsigned k = 0; k < NODES; k++)
		node_log_free(&logs[k]);
	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* raft_start of n fails with RAFT_CORRUPT, its message naming what. */
static void start_refused(struct cluster *c, struct node *n, const char *what)
{
	int rv = node_try_start(c, n, false);
	cr_assert_eq(rv, RAFT_CORRUPT, "raft_start returned %d (%s)", rv, n->err);
	cr_assert(strstr(n->err, what) != NULL, "errmsg \"%s\" lacks \"%s\"", n->err, what);
}

Test(raft_badinput, node_refuses_damaged_files, .timeout = 120)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	/* One voter: it elects itself. */
	struct cluster *c = cluster_new(dir, 64, 16);
	c->voters = 1;
	struct node *n = &c->nodes[0];
	node_start(c, n, true);
	cr_assert_eq(wait_leader(c), n);
	pump(c, 150, 50);
	wait_settled(c);
	uint64_t applied = n->applied;
	node_stop(c, n);

	char meta[4200], snap[4200];
	snprintf(meta, sizeof(meta), "%s/log/segment_file.raft-meta", n->dir);
	snprintf(snap, sizeof(snap), "%s/log/segment_file.raft-snapshot", n->dir);
	size_t meta_len, snap_len;
	unsigned char *meta_bytes = th_read_file(meta, &meta_len);
	unsigned char *snap_bytes = th_read_file(snap, &snap_len);

	th_flip_byte(meta, 24 + 17); /* inside the vote */
	start_refused(c, n, "raft-meta: bad header, length or checksum");
	th_create_file(meta, meta_bytes, meta_len);

	th_truncate(snap, snap_len - 1);
	start_refused(c, n, "raft-snapshot");
	th_flip_byte(snap, 0);
	start_refused(c, n, "raft-snapshot");
	th_create_file(snap, snap_bytes, snap_len);
	th_flip_byte(snap, snap_len - 1); /* inside the FSM's data */
	start_refused(c, n, "raft-snapshot: bad header, length or checksum");
	th_create_file(snap, snap_bytes, snap_len);

	/* Whole again, the node starts and has all it had. */
	node_start(c, n, false);
	cr_assert_eq(wait_leader(c), n);
	wait_settled(c);
	cr_assert_geq(n->applied, applied);
	cr_assert_eq(n->count, n->applied);
	free(meta_bytes);
	free(snap_bytes);
	cluster_end(c);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

/* ---- power cuts under one node's storage ---------------------------------- */

/*
 * The storage of one node on the crash-simulating backend (its log and
 * its files beside the log go through it): a prepared state (bootstrap,
 * term 2 and a vote, entries 2..20), then one operation with the power cut
 * at each of its steps in turn, then every layout a few seeds give of what
 * the cut left is loaded and judged: load succeeds, and the node is in the
 * state before the operation or after it (an append may leave a prefix of
 * its entries, as raft allows), and after it if the operation reported
 * success.
 */
enum cut_op { CUT_APPEND, CUT_TRUNCATE, CUT_SNAP_TRAILING, CUT_SNAP_INSTALL, CUT_TERM };

/* Run op on s (prepared); 0 if it and what follows it succeeded. */
static int cut_run(struct store *s, enum cut_op op)
{
	struct append a;
	switch (op) {
	case CUT_APPEND:
		append_start(s, &a, 21, 20, 2, 'f'); /* 21..40 */
		break;
	case CUT_TRUNCATE: {
		int rv = s->io.truncate(&s->io, 12);
		if (rv != 0)
			return rv;
		append_start(s, &a, 12, 2, 3, 'n'); /* the new suffix: 12, 13 */
		break;
	}
	case CUT_SNAP_TRAILING:
	case CUT_SNAP_INSTALL: {
		bool install = op == CUT_SNAP_INSTALL;
		struct raft_snapshot snap;
		memset(&snap, 0, sizeof(snap));
		snap.index = install ? 30 : 16;
		snap.term = 2;
		conf_one(&snap.configuration);
		snap.configuration_index = 1;
		const char *data = install ? "state-30" : "state-16";
		struct raft_buffer buf = {.base = (void *)data, .len = strlen(data)};
		snap.bufs = &buf;
		snap.n_bufs = 1;
		struct put p = {.req.data = &p};
		int rv = s->io.snapshot_put(&s->io, install ? 0 : 4, &p.req, &snap, put_cb);
		if (rv == 0)
			cr_assert(run_until(&s->loop, put_done, &p, 20000), "snapshot_put hung");
		raft_configuration_close(&snap.configuration);
		return rv != 0 ? rv : p.status;
	}
	case CUT_TERM:
		return s->io.set_term(&s->io, 5);
	}
	cr_assert(run_until(&s->loop, append_done, &a, 20000), "append hung");
	for (unsigned i = 0; i < a.n; i++)
		free(a.entries[i].buf.base);
	free(a.entries);
	return a.status;
}

/* Is l's entry at index (of the loaded range) there, the given one? */
static bool entry_is(const struct loaded *l, raft_index index, raft_term term, char tag)
{
	if (index < l->start || index >= l->start + l->n)
		return false;
	const struct raft_entry *e = &l->entries[index - l->start];
	char want[32];
	int len = snprintf(want, sizeof(want), "%c%llu", tag, (unsigned long long)index);
	return e->term == term && e->type == RAFT_COMMAND && e->buf.len == (size_t)len &&
	       memcmp(e->buf.base, want, (size_t)len) == 0;
}

/* The loaded entries from..to are the prepared ones ('e', term 2; 1 is the
 * configuration). */
static bool prepared_entries(const struct loaded *l, raft_index from, raft_index to)
{
	for (raft_index i = from; i <= to; i++) {
		if (i == 1) {
			if (l->start != 1 || l->n == 0 || l->entries[0].type != RAFT_CHANGE)
				return false;
		} else if (!entry_is(l, i, 2, 'e')) {
			return false;
		}
	}
	return true;
}

/* Judge one layout; NULL if it is the state before or after op, else why. */
static const char *cut_judge(const struct loaded *l, enum cut_op op, bool ok)
{
	raft_index last = l->start + l->n - 1;
	bool before = l->term == 2 && l->vote == 1 && l->snap == NULL && l->start == 1 &&
		      last == 20 && prepared_entries(l, 1, 20);
	switch (op) {
	case CUT_APPEND: {
		if (l->term != 2 || l->vote != 1 || l->snap != NULL || l->start != 1 ||
		    !prepared_entries(l, 1, 20) || last < 20 || last > 40)
			return "not the prepared log with a prefix of the append";
		for (raft_index i = 21; i <= last; i++)
			if (!entry_is(l, i, 2, 'f'))
				return "an appended entry is wrong";
		return ok && last != 40 ? "the append succeeded, its entries are not all there"
					: NULL;
	}
	case CUT_TRUNCATE: {
		if (before)
			return ok ? "the truncation succeeded, the suffix is back" : NULL;
		if (l->term != 2 || l->snap != NULL || l->start != 1 ||
		    !prepared_entries(l, 1, 11) || last < 11 || last > 13)
			return "neither the prepared log nor the truncated one";
		for (raft_index i = 12; i <= last; i++)
			if (!entry_is(l, i, 3, 'n'))
				return "an entry after the truncation is not the new suffix";
		return ok && last != 13 ? "truncate and append succeeded, the new suffix is short"
					: NULL;
	}
	case CUT_SNAP_TRAILING: {
		if (before)
			return ok ? "the snapshot succeeded, it is not there" : NULL;
		if (l->snap == NULL || l->snap->index != 16 || l->snap->term != 2 ||
		    l->snap->n_bufs != 1 || l->snap->bufs[0].len != 8 ||
		    memcmp(l->snap->bufs[0].base, "state-16", 8) != 0)
			return "a snapshot that is not the one put";
		/* The log from 13 at most (the trailing 4 kept), up to 20. */
		if (l->term != 2 || l->vote != 1 || l->start > 13 || last != 20 ||
		    !prepared_entries(l, l->start, 20))
			return "the snapshot's trailing entries are not the prepared ones";
		return ok && l->start != 13 ? "the snapshot succeeded, the prefix is still there"
					    : NULL;
	}
	case CUT_SNAP_INSTALL: {
		if (before)
			return ok ? "the installed snapshot succeeded, it is not there" : NULL;
		if (l->snap == NULL || l->snap->index != 30 || l->snap->n_bufs != 1 ||
		    l->snap->bufs[0].len != 8 || memcmp(l->snap->bufs[0].base, "state-30", 8) != 0)
			return "a snapshot that is not the one installed";
		return l->n != 0 || l->start != 31 ? "the old log outlived the installed snapshot"
						   : NULL;
	}
	case CUT_TERM:
		if (before)
			return ok ? "set_term returned 0, the term is the old one" : NULL;
		return l->term == 5 && l->vote == 0 && l->snap == NULL && last == 20 &&
				       prepared_entries(l, 1, 20)
			       ? NULL
			       : "neither term 2 with its vote nor term 5 without one";
	}
	return "unknown operation";
}

static void power_cut_case(enum cut_op op)
{
	signal(SIGPIPE, SIG_IGN);
	char *dir = th_tmpdir();
	bool done = false;
	unsigned judged = 0;
	for (uint64_t cut = 0; !done && cut < 200; cut++) {
		char base[4200], node[4300], out[4300], onode[4400];
		snprintf(base, sizeof(base), "%s/cut%llu", dir, (unsigned long long)cut);
		snprintf(node, sizeof(node), "%s/node", base);
		snprintf(out, sizeof(out), "%s/out", base);
		snprintf(onode, sizeof(onode), "%s/node", out);
		cr_assert_eq(th_mkdir_p(node), 0);
		struct crashsim *sim = crashsim_new(NULL, base);
		cr_assert_not_null(sim);
		tio_select(crashsim_io(sim));

		struct store s;
		store_open(&s, node);
		store_bootstrap(&s);
		cr_assert_eq(s.io.set_term(&s.io, 2), 0, "%s", s.io.errmsg);
		cr_assert_eq(s.io.set_vote(&s.io, 1), 0, "%s", s.io.errmsg);
		struct append a;
		append_start(&s, &a, 2, 19, 2, 'e'); /* 2..20 */
		append_wait(&s, &a);
		crashsim_settle(sim);
		crashsim_arm(sim, cut, NULL, NULL);
		bool ok = cut_run(&s, op) == 0;
		crashsim_settle(sim);
		done = !crashsim_is_cut(sim);
		crashsim_cut(sim, cut + 1);
		store_close(&s);

		for (uint64_t seed = 1; seed <= 3; seed++) {
			cr_assert_eq(crashsim_layout_fresh(sim, seed * 7919 + cut, out), 0);
			tio_select(NULL);
			cr_assert_eq(th_mkdir_p(onode), 0);
			store_open(&s, onode);
			struct loaded l = store_load(&s);
			cr_assert_eq(l.rv, 0, "op %d, cut at op %llu, seed %llu: load: %d %s", op,
				     (unsigned long long)cut, (unsigned long long)seed, l.rv,
				     s.io.errmsg);
			const char *why = cut_judge(&l, op, ok);
			cr_assert_null(
				why,
				"op %d, cut at op %llu, seed %llu (returned %s): %s: term %llu, "
				"vote %llu, snapshot %llu, entries %llu..%llu",
				op, (unsigned long long)cut, (unsigned long long)seed,
				ok ? "success" : "failure", why, (unsigned long long)l.term,
				(unsigned long long)l.vote,
				(unsigned long long)(l.snap ? l.snap->index : 0),
				(unsigned long long)l.start,
				(unsigned long long)(l.start + l.n - 1));
			loaded_free(&l);
			store_close(&s);
			judged++;
			tio_select(crashsim_io(sim));
		}
		tio_select(NULL);
		crashsim_free(sim);
		th_rmrf(base);
	}
	cr_assert(done, "the operation never completed without a cut");
	cr_assert_gt(judged, 3);
	th_rmrf(dir);
	free(dir);
	th_leak_check();
}

Test(raft_crash, power_cut_at_each_step_of_append, .timeout = 300)
{
	power_cut_case(CUT_APPEND);
}

Test(raft_crash, power_cut_at_each_step_of_truncate, .timeout = 300)
{
	power_cut_case(CUT_TRUNCATE);
}

Test(raft_crash, power_cut_at_each_step_of_snapshot_put_with_trailing, .timeout = 300)
{
	power_cut_case(CUT_SNAP_TRAILING);
}

Test(raft_crash, power_cut_at_each_step_of_an_installed_snapshot, .timeout = 300)
{
	power_cut_case(CUT_SNAP_INSTALL);
}

Test(raft_crash, power_cut_at_each_step_of_set_term, .timeout = 300)
{
	power_cut_case(CUT_TERM);
}
