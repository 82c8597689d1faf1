/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - uwal-raft-server(1): one node of a replicated log. Client
 * records go through raft (raft_apply) and, once committed, are kept by the
 * state machine by raft index; clients append and read them over the
 * protocol of raft/proto.h on the raft port + 1000. Raft's log is in uwal
 * (libuwal-raft, --storage uwal, the default) or in raft's own raft_uv
 * storage (--storage raft_uv, for comparison); the network is raft's TCP
 * transport. Everything runs on one libuv loop.
 *
 * A record travels in a raft entry of 8 bytes of header (u32 LE record
 * length, u32 0), the record and zeros up to a multiple of 8 bytes: raft's
 * TCP transport pads every entry of an AppendEntries message to 8 bytes when
 * it decodes it and not when it encodes it, so the payloads it carries must
 * be multiples of 8 already.
 *
 * The state machine is every committed record, in memory; it is rebuilt on
 * start from the last snapshot and the log after it. Snapshots (raft's
 * threshold and trailing, --snapshot-threshold, --snapshot-trailing) hold
 * every record: "UWRF", u32 version 1, u64 count, then per record u64 index,
 * u32 length, the bytes (little-endian).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "cli.h"
#include "proto.h"
#include "uwal_raft.h"

#ifdef __SANITIZE_THREAD__
/* As in tests/test_raft.c: TSan follows a descriptor number through close()
 * and reuse. libuv (not instrumented) calls epoll_ctl() on, or accept4()ed
 * a client connection as, a number that uwal-raft's thread-pool work
 * (a snapshot file) reused; only the number is shared. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:epoll_ctl\nrace:accept4\n";
}
#endif

#define MAX_NODES 16
#define SNAPSHOT_MAGIC "UWRF"
#define ENTRY_HEADER 8u
#define DRAIN_MS 5000u

static const char *prog = "uwal-raft-server";

/* ---- the state machine: committed records by raft index ------------------ */

struct record {
	uint64_t index;
	uint32_t len;
	unsigned char *data;
};

struct records {
	struct record *v;
	size_t n, cap;
	uint64_t bytes;
};

static void records_clear(struct records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].data);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static int records_add(struct records *rs, uint64_t index, const void *data, uint32_t len)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 1024;
		struct record *v = realloc(rs->v, cap * sizeof(*v));
		if (v == NULL)
			return RAFT_NOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	unsigned char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return RAFT_NOMEM;
	memcpy(copy, data, len);
	rs->v[rs->n++] = (struct record){.index = index, .len = len, .data = copy};
	rs->bytes += len;
	return 0;
}

static const struct record *records_find(const struct records *rs, uint64_t index)
{
	size_t lo = 0, hi = rs->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rs->v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < rs->n && rs->v[lo].index == index ? &rs->v[lo] : NULL;
}

/* ---- the node ----------------------------------------------------------- */

struct member {
	raft_id id;
	char address[64];        /* raft's, HOST:PORT */
	char client_address[72]; /* HOST:PORT + 1000 */
};

struct conn;

struct server {
	uv_loop_t loop;
	raft_id id;
	const char *dir;
	char address[64];
	char client_address[72];
	struct member members[MAX_NODES];
	unsigned n_members;
	bool uwal_storage;
	unsigned election_ms, heartbeat_ms;
	unsigned snapshot_threshold, snapshot_trailing;
	bool quiet;

	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft raft;
	bool io_ready, raft_ready;

	struct records records;
	uint64_t last_record; /* index of the last record applied */

	uv_tcp_t listener;
	uv_signal_t sigterm, sigint;
	uv_timer_t watch;
	int last_state;
	raft_term last_term;
	struct conn *conns;
	unsigned pending; /* APPENDs raft took and has not answered */
	uv_timer_t drain;
	uint64_t drain_deadline;
	bool stopping, closing;
	int exit_code;
};

static void logf_(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct server *s, const char *fmt, ...)
{
	if (s->quiet)
		return;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "%s[%llu]", prog, (unsigned long long)s->id);
	va_list ap;
	va_start(ap, fmt);
	ur_cli_vsay(prefix, fmt, ap);
	va_end(ap);
}

/* raft calls apply for every committed RAFT_COMMAND entry, in order; the
 * entry being applied is the one after raft's last applied. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct server *s = fsm->data;
	uint64_t index = raft_last_applied(&s->raft) + 1;
	*result = NULL;
	if (index <= s->last_record) {
		logf_(s, "apply: index %" PRIu64 " after %" PRIu64, index, s->last_record);
		return RAFT_INVALID;
	}
	const unsigned char *p = buf->base;
	uint32_t len = buf->len >= ENTRY_HEADER ? ur_get32(p) : 0;
	if (buf->len < ENTRY_HEADER || buf->len % 8 != 0 || len > PROTO_MAX_BODY ||
	    len > buf->len - ENTRY_HEADER) {
		logf_(s, "apply: entry %" PRIu64 " (%zu bytes) is not a record of this server",
		      index, buf->len);
		return RAFT_INVALID;
	}
	int rv = records_add(&s->records, index, p + ENTRY_HEADER, len);
	if (rv != 0)
		return rv;
	s->last_record = index;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct server *s = fsm->data;
	const struct records *rs = &s->records;
	size_t len = 16 + rs->n * 12 + rs->bytes;
	unsigned char *p = raft_malloc(len);
	struct raft_buffer *b = raft_malloc(sizeof(*b));
	if (p == NULL || b == NULL) {
		raft_free(p);
		raft_free(b);
		return RAFT_NOMEM;
	}
	memcpy(p, SNAPSHOT_MAGIC, 4);
	ur_put32(p + 4, 1);
	ur_put64(p + 8, rs->n);
	size_t off = 16;
	for (size_t i = 0; i < rs->n; i++) {
		ur_put64(p + off, rs->v[i].index);
		ur_put32(p + off + 8, rs->v[i].len);
		memcpy(p + off + 12, rs->v[i].data, rs->v[i].len);
		off += 12 + rs->v[i].len;
	}
	b->base = p;
	b->len = len;
	*bufs = b;
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct server *s = fsm->data;
	const unsigned char *p = buf->base;
	size_t len = buf->len;
	if (len < 16 || memcmp(p, SNAPSHOT_MAGIC, 4) != 0 || ur_get32(p + 4) != 1) {
		logf_(s, "restore: not a snapshot of this server (%zu bytes)", len);
		return RAFT_CORRUPT;
	}
	uint64_t count = ur_get64(p + 8);
	struct records rs = {0};
	uint64_t last = 0;
	size_t off = 16;
	for (uint64_t i = 0; i < count; i++) {
		if (len - off < 12)
			goto corrupt;
		uint64_t index = ur_get64(p + off);
		uint32_t n = ur_get32(p + off + 8);
		if (index <= last || len - off - 12 < n)
			goto corrupt;
		if (records_add(&rs, index, p + off + 12, n) != 0) {
			records_clear(&rs);
			return RAFT_NOMEM;
		}
		last = index;
		off += 12 + n;
	}
	if (off != len)
		goto corrupt;
	records_clear(&s->records);
	s->records = rs;
	s->last_record = last;
	raft_free(buf->base);
	return 0;
corrupt:
	records_clear(&rs);
	logf_(s, "restore: the snapshot is damaged");
	return RAFT_CORRUPT;
}

/* ---- client connections --------------------------------------------------- */

struct applying {
	struct raft_apply req;
	struct server *s;
	struct conn *conn; /* NULL once the connection is gone */
};

struct conn {
	uv_tcp_t tcp;
	struct server *s;
	unsigned char *in;
	size_t in_len, in_cap;
	struct applying *applying; /* the APPEND waiting for its commit */
	bool reading, closing;
	struct conn *prev, *next;
};

struct reply {
	uv_write_t req;
	unsigned char bytes[];
};

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	free(c->in);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->applying != NULL)
		c->applying->conn = NULL;
	c->applying = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void reply_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

static void conn_reply(struct conn *c, int type, const void *body, size_t len)
{
	if (c->closing)
		return;
	struct reply *r = malloc(sizeof(*r) + PROTO_HEADER + len);
	if (r == NULL) {
		conn_close(c);
		return;
	}
	r->bytes[0] = (unsigned char)type;
	ur_put32(r->bytes + 1, (uint32_t)len);
	if (len)
		memcpy(r->bytes + PROTO_HEADER, body, len);
	r->req.data = r;
	uv_buf_t b = uv_buf_init((char *)r->bytes, (unsigned)(PROTO_HEADER + len));
	if (uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, reply_cb) != 0) {
		free(r);
		conn_close(c);
	}
}

static void conn_error(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_error(struct conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	conn_reply(c, PROTO_ERROR, msg, strnlen(msg, sizeof(msg)));
}

static const struct member *member_of(struct server *s, raft_id id)
{
	for (unsigned i = 0; i < s->n_members; i++)
		if (s->members[i].id == id)
			return &s->members[i];
	return NULL;
}

static void reply_not_leader(struct conn *c)
{
	struct server *s = c->s;
	raft_id id = 0;
	const char *address = NULL;
	raft_leader(&s->raft, &id, &address);
	const struct member *m = id != 0 ? member_of(s, id) : NULL;
	char body[160] = "";
	if (m != NULL)
		snprintf(body, sizeof(body), "%llu %s %s", (unsigned long long)id, m->address,
			 m->client_address);
	conn_reply(c, PROTO_NOT_LEADER, body, strlen(body));
}

static void conn_process(struct conn *c);

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct applying *a = req->data;
	struct conn *c = a->conn;
	(void)result;
	a->s->pending--;
	if (c != NULL) {
		c->applying = NULL;
		if (status == 0) {
			unsigned char idx[8];
			ur_put64(idx, req->index);
			conn_reply(c, PROTO_OK, idx, sizeof(idx));
		} else if (status == RAFT_NOTLEADER) {
			reply_not_leader(c);
		} else {
			conn_error(c,
				   "not committed: %s (leadership lost or the node stopped: the "
				   "record at index %llu may or may not be committed)",
				   raft_strerror(status), (unsigned long long)req->index);
		}
		conn_process(c);
	}
	free(a);
}

static void do_append(struct conn *c, const unsigned char *body, size_t len)
{
	struct server *s = c->s;
	if (s->stopping) {
		conn_error(c, "the server is stopping");
		return;
	}
	if (raft_state(&s->raft) != RAFT_LEADER) {
		reply_not_leader(c);
		return;
	}
	struct applying *a = calloc(1, sizeof(*a));
	size_t entry_len = ENTRY_HEADER + (len + 7) / 8 * 8;
	struct raft_buffer buf = {.base = raft_calloc(1, entry_len), .len = entry_len};
	if (a == NULL || buf.base == NULL) {
		free(a);
		raft_free(buf.base);
		conn_error(c, "out of memory");
		return;
	}
	ur_put32(buf.base, (uint32_t)len);
	memcpy((unsigned char *)buf.base + ENTRY_HEADER, body, len);
	a->s = s;
	a->conn = c;
	a->req.data = a;
	int rv = raft_apply(&s->raft, &a->req, &buf, 1, apply_cb);
	if (rv != 0) {
		logf_(s, "raft_apply: %s", raft_strerror(rv));
		/* raft frees the buffer itself when it fails after taking the
		 * entry into its log (replicationTrigger() failing: logDiscard());
		 * it has not taken it when this node is not the leader. Only
		 * then is it ours to free: otherwise, at worst a leak. */
		if (rv == RAFT_NOTLEADER)
			raft_free(buf.base);
		free(a);
		if (rv == RAFT_NOTLEADER)
			reply_not_leader(c);
		else
			conn_error(c, "raft_apply: %s", raft_strerror(rv));
		return;
	}
	c->applying = a;
	s->pending++;
}

static const char *state_name(int state)
{
	switch (state) {
	case RAFT_UNAVAILABLE:
		return "unavailable";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	default:
		return "unknown";
	}
}

static void do_status(struct conn *c)
{
	struct server *s = c->s;
	raft_id leader = 0;
	const char *address = NULL;
	raft_leader(&s->raft, &leader, &address);
	const struct member *m = leader != 0 ? member_of(s, leader) : NULL;
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "id=%llu state=%s term=%llu leader=%llu leader_client=%s applied=%llu "
			 "commit=%llu last=%llu records=%zu last_record=%llu storage=%s",
			 (unsigned long long)s->id, state_name(raft_state(&s->raft)),
			 (unsigned long long)s->raft.current_term, (unsigned long long)leader,
			 m != NULL ? m->client_address : "-",
			 (unsigned long long)raft_last_applied(&s->raft),
			 (unsigned long long)s->raft.commit_index,
			 (unsigned long long)raft_last_index(&s->raft), s->records.n,
			 (unsigned long long)s->last_record, s->uwal_storage ? "uwal" : "raft_uv");
	conn_reply(c, PROTO_OK, text, n > 0 ? (size_t)n : 0);
}

static void conn_handle(struct conn *c, int type, const unsigned char *body, size_t len)
{
	switch (type) {
	case PROTO_APPEND:
		do_append(c, body, len);
		break;
	case PROTO_READ: {
		if (len != 8) {
			conn_error(c, "READ: the body is an 8-byte index, not %zu bytes", len);
			break;
		}
		const struct record *r = records_find(&c->s->records, ur_get64(body));
		if (r == NULL)
			conn_reply(c, PROTO_NOT_FOUND, NULL, 0);
		else
			conn_reply(c, PROTO_OK, r->data, r->len);
		break;
	}
	case PROTO_STATUS:
		do_status(c);
		break;
	default:
		break;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	size_t want = c->in_len + 65536;
	if (want > c->in_cap) {
		unsigned char *p = realloc(c->in, want);
		if (p == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = p;
		c->in_cap = want;
	}
	*buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	conn_process(c);
}

/* Handle the complete requests buffered, one at a time: an APPEND holds
 * the rest (and reading) until its reply is sent. */
static void conn_process(struct conn *c)
{
	size_t off = 0;
	while (!c->closing && c->applying == NULL && c->in_len - off >= PROTO_HEADER) {
		const unsigned char *p = c->in + off;
		int type = p[0];
		uint32_t len = ur_get32(p + 1);
		if ((type != PROTO_APPEND && type != PROTO_READ && type != PROTO_STATUS) ||
		    len > PROTO_MAX_BODY) {
			conn_error(c, "bad request (type 0x%02x, %u bytes): closing", type, len);
			conn_close(c);
			return;
		}
		if (c->in_len - off - PROTO_HEADER < len)
			break;
		conn_handle(c, type, p + PROTO_HEADER, len);
		off += PROTO_HEADER + len;
	}
	if (c->closing)
		return;
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	bool want = c->applying == NULL;
	if (want && !c->reading)
		c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0;
	else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void connection_cb(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	if (status != 0 || s->stopping)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->s = s;
	uv_tcp_init(&s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_process(c);
}

/* ---- start and stop --------------------------------------------------------- */

static void watch_cb(uv_timer_t *t)
{
	struct server *s = t->data;
	int state = raft_state(&s->raft);
	if (state != s->last_state || s->raft.current_term != s->last_term) {
		logf_(s, "%s, term %llu", state_name(state),
		      (unsigned long long)s->raft.current_term);
		s->last_state = state;
		s->last_term = s->raft.current_term;
	}
}

static void handle_closed_cb(uv_handle_t *h)
{
	(void)h;
}

static void raft_closed_cb(struct raft *r)
{
	struct server *s = r->data;
	if (s->uwal_storage)
		uwal_raft_close(&s->io);
	else
		raft_uv_close(&s->io);
	raft_uv_tcp_close(&s->transport);
	logf_(s, "stopped");
}

static void server_close(struct server *s)
{
	if (s->closing)
		return;
	s->closing = true;
	while (s->conns != NULL)
		conn_close(s->conns);
	uv_close((uv_handle_t *)&s->drain, handle_closed_cb);
	uv_close((uv_handle_t *)&s->sigterm, handle_closed_cb);
	uv_close((uv_handle_t *)&s->sigint, handle_closed_cb);
	uv_close((uv_handle_t *)&s->watch, handle_closed_cb);
	s->raft.data = s;
	raft_close(&s->raft, raft_closed_cb);
}

/* Every APPEND raft took is answered, and this node's log is durable up to
 * its last entry (an entry can commit on two followers before the leader's
 * own write completes). */
static bool drained(struct server *s)
{
	return s->pending == 0 && s->raft.last_stored >= raft_last_index(&s->raft);
}

static void drain_cb(uv_timer_t *t)
{
	struct server *s = t->data;
	if (drained(s)) {
		server_close(s);
	} else if (uv_now(&s->loop) >= s->drain_deadline) {
		logf_(s, "%u appends not answered after %u ms: closing", s->pending, DRAIN_MS);
		server_close(s);
	}
}

/* The first SIGTERM or SIGINT: no new connections or APPENDs (READ and
 * STATUS are still answered), then close once drained or after DRAIN_MS.
 * A second one: close now. */
static void server_stop(struct server *s)
{
	if (s->stopping) {
		server_close(s);
		return;
	}
	s->stopping = true;
	logf_(s, "stopping");
	uv_close((uv_handle_t *)&s->listener, handle_closed_cb);
	s->drain_deadline = uv_now(&s->loop) + DRAIN_MS;
	uv_timer_start(&s->drain, drain_cb, 0, 10);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	(void)signum;
	server_stop(h->data);
}

/* "HOST:PORT" -> host, port; 0 or -1. */
static int split_address(const char *address, char *host, size_t host_size, unsigned *port)
{
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon == address || (size_t)(colon - address) >= host_size)
		return -1;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p == 0 || p > 65535)
		return -1;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	struct sockaddr_in sa;
	if (uv_ip4_addr(host, (int)p, &sa) != 0)
		return -1;
	*port = (unsigned)p;
	return 0;
}

/* Why nothing can listen on address (strerror), or NULL: raft_uv's TCP
 * transport fails raft_start() with no message when its port is taken. */
static const char *listen_problem(const char *address)
{
	char host[64];
	unsigned port;
	struct sockaddr_in sa;
	if (split_address(address, host, sizeof(host), &port) != 0 ||
	    uv_ip4_addr(host, (int)port, &sa) != 0)
		return NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int one = 1; /* as libuv binds */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	return rc == 0 ? NULL : strerror(e);
}

static int client_address_of(const char *address, char *out, size_t size)
{
	char host[64];
	unsigned port;
	if (split_address(address, host, sizeof(host), &port) != 0 ||
	    port + PROTO_CLIENT_PORT_OFFSET > 65535)
		return -1;
	snprintf(out, size, "%s:%u", host, port + PROTO_CLIENT_PORT_OFFSET);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --id N --dir DIR --address HOST:PORT --cluster ID@HOST:PORT,...\n"
		"       [--storage uwal|raft_uv] [--election-timeout MS] [--heartbeat-timeout MS]\n"
		"       [--snapshot-threshold N] [--snapshot-trailing N] [--quiet]\n"
		"Clients connect to HOST:PORT+1000 (see uwal-raft-server(1)).\n",
		prog);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ur_cli_vsay(prog, fmt, ap);
	va_end(ap);
	usage(stderr);
	return 2;
}

static bool parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (text[0] == '-' || text[0] == '\0')
		return false;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_cluster(struct server *s, const char *text)
{
	char *copy = strdup(text);
	if (copy == NULL)
		return bad_usage("out of memory");
	int rc = 0;
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *at = strchr(item, '@');
		unsigned long long id;
		if (at == NULL) {
			rc = bad_usage("--cluster: \"%s\" is not ID@HOST:PORT", item);
			break;
		}
		*at = '\0';
		if (!parse_uint(item, ULLONG_MAX, &id) || id == 0) {
			rc = bad_usage("--cluster: \"%s\" is not a server id (1, 2, ...)", item);
			break;
		}
		if (s->n_members == MAX_NODES) {
			rc = bad_usage("--cluster: more than %d servers", MAX_NODES);
			break;
		}
		if (member_of(s, id) != NULL) {
			rc = bad_usage("--cluster: server id %llu given twice", id);
			break;
		}
		struct member *m = &s->members[s->n_members];
		if (strlen(at + 1) >= sizeof(m->address) ||
		    client_address_of(at + 1, m->client_address, sizeof(m->client_address)) != 0) {
			rc = bad_usage("--cluster: \"%s\" is not IPV4-HOST:PORT (PORT at most %u)",
				       at + 1, 65535 - PROTO_CLIENT_PORT_OFFSET);
			break;
		}
		m->id = id;
		snprintf(m->address, sizeof(m->address), "%s", at + 1);
		s->n_members++;
	}
	free(copy);
	if (rc == 0 && s->n_members == 0)
		rc = bad_usage("--cluster names no server");
	return rc;
}

/* mkdir -p: 0, or -1 (errno). */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* 1 if dir has no entries, 0 if it has some, -1 (errno) on failure. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int server_start(struct server *s, bool bootstrap)
{
	int rv = raft_uv_tcp_init(&s->transport, &s->loop);
	if (rv != 0) {
		fprintf(stderr, "%s: raft_uv_tcp_init: %s\n", prog, raft_strerror(rv));
		return 1;
	}
	if (s->uwal_storage)
		rv = uwal_raft_init(&s->io, &s->loop, s->dir, &s->transport);
	else
		rv = raft_uv_init(&s->io, &s->loop, s->dir, &s->transport);
	if (rv != 0) {
		fprintf(stderr, "%s: %s %s: %s\n", prog,
			s->uwal_storage ? "uwal_raft_init" : "raft_uv_init", s->dir, s->io.errmsg);
		raft_uv_tcp_close(&s->transport);
		return 1;
	}
	s->io_ready = true;
	s->fsm = (struct raft_fsm){.version = 1,
				   .data = s,
				   .apply = fsm_apply,
				   .snapshot = fsm_snapshot,
				   .restore = fsm_restore};
	rv = raft_init(&s->raft, &s->io, &s->fsm, s->id, s->address);
	if (rv != 0) {
		fprintf(stderr, "%s: raft_init: %s\n", prog, raft_errmsg(&s->raft));
		return 1;
	}
	s->raft_ready = true;
	raft_set_election_timeout(&s->raft, s->election_ms);
	raft_set_heartbeat_timeout(&s->raft, s->heartbeat_ms);
	raft_set_install_snapshot_timeout(&s->raft, 2 * s->election_ms);
	raft_set_snapshot_threshold(&s->raft, s->snapshot_threshold);
	raft_set_snapshot_trailing(&s->raft, s->snapshot_trailing);
	if (bootstrap) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < s->n_members; i++) {
			rv = raft_configuration_add(&conf, s->members[i].id, s->members[i].address,
						    RAFT_VOTER);
			if (rv != 0)
				break;
		}
		if (rv == 0)
			rv = raft_bootstrap(&s->raft, &conf);
		raft_configuration_close(&conf);
		if (rv != 0) {
			fprintf(stderr, "%s: raft_bootstrap %s: %s\n", prog, s->dir,
				raft_errmsg(&s->raft));
			return 1;
		}
		logf_(s, "bootstrapped %s with %u servers", s->dir, s->n_members);
	}
	rv = raft_start(&s->raft);
	if (rv != 0) {
		const char *why = raft_errmsg(&s->raft);
		const char *bind_why = why[0] ? NULL : listen_problem(s->address);
		if (bind_why)
			fprintf(stderr, "%s: raft_start %s: raft address %s: %s (%s)\n", prog,
				s->dir, s->address, bind_why, raft_strerror(rv));
		else
			fprintf(stderr, "%s: raft_start %s: %s\n", prog, s->dir,
				why[0] ? why : raft_strerror(rv));
		return 1;
	}

	char host[64];
	unsigned port;
	struct sockaddr_in sa;
	split_address(s->client_address, host, sizeof(host), &port);
	uv_ip4_addr(host, (int)port, &sa);
	uv_tcp_init(&s->loop, &s->listener);
	s->listener.data = s;
	rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&s->listener, 128, connection_cb);
	if (rv != 0) {
		fprintf(stderr, "%s: listen on %s: %s\n", prog, s->client_address, uv_strerror(rv));
		uv_close((uv_handle_t *)&s->listener, NULL);
		return 1;
	}
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	s->sigterm.data = s->sigint.data = s;
	uv_signal_start(&s->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&s->sigint, signal_cb, SIGINT);
	uv_timer_init(&s->loop, &s->drain);
	s->drain.data = s;
	uv_timer_init(&s->loop, &s->watch);
	s->watch.data = s;
	s->last_state = -1;
	uv_timer_start(&s->watch, watch_cb, 0, 100);
	logf_(s, "raft %s, clients %s, storage %s, %s", s->address, s->client_address,
	      s->uwal_storage ? "uwal" : "raft_uv", s->dir);
	return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* After a failed start: close what was set up, then run the loop dry. */
static void server_abort(struct server *s)
{
	if (s->raft_ready) {
		s->raft.data = s;
		raft_close(&s->raft, raft_closed_cb);
		uv_run(&s->loop, UV_RUN_DEFAULT);
	} else if (s->io_ready) {
		if (s->uwal_storage)
			uwal_raft_close(&s->io);
		else
			raft_uv_close(&s->io);
		raft_uv_tcp_close(&s->transport);
	}
	uv_walk(&s->loop, walk_close, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
	static struct server server; /* large: struct raft */
	struct server *s = &server;
	s->election_ms = 1000;
	s->heartbeat_ms = 100;
	s->snapshot_threshold = 1024;
	s->snapshot_trailing = 2048;
	s->uwal_storage = true;
	const char *address = NULL, *cluster = NULL;
	unsigned long long v;

	enum { O_ELECTION = 256, O_HEARTBEAT, O_THRESHOLD, O_TRAILING };
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"dir", required_argument, NULL, 'd'},
		{"address", required_argument, NULL, 'a'},
		{"cluster", required_argument, NULL, 'c'},
		{"storage", required_argument, NULL, 's'},
		{"election-timeout", required_argument, NULL, O_ELECTION},
		{"heartbeat-timeout", required_argument, NULL, O_HEARTBEAT},
		{"snapshot-threshold", required_argument, NULL, O_THRESHOLD},
		{"snapshot-trailing", required_argument, NULL, O_TRAILING},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt, li = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:d:a:c:s:qh", opts, &li)) != -1) {
		switch (opt) {
		case 'i':
			if (!parse_uint(optarg, ULLONG_MAX, &v) || v == 0)
				return bad_usage("--id: \"%s\" is not a server id (1, 2, ...)",
						 optarg);
			s->id = v;
			break;
		case 'd':
			s->dir = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 'c':
			cluster = optarg;
			break;
		case 's':
			if (strcmp(optarg, "uwal") == 0)
				s->uwal_storage = true;
			else if (strcmp(optarg, "raft_uv") == 0)
				s->uwal_storage = false;
			else
				return bad_usage("--storage: \"%s\" is not uwal or raft_uv",
						 optarg);
			break;
		case O_ELECTION:
		case O_HEARTBEAT:
			if (!parse_uint(optarg, 600000, &v) || v == 0)
				return bad_usage("--%s: \"%s\" is not a number of milliseconds",
						 opts[li].name, optarg);
			*(opt == O_ELECTION ? &s->election_ms : &s->heartbeat_ms) = (unsigned)v;
			break;
		case O_THRESHOLD:
		case O_TRAILING:
			if (!parse_uint(optarg, UINT_MAX, &v) || v == 0)
				return bad_usage("--%s: \"%s\" is not a count of entries",
						 opts[li].name, optarg);
			*(opt == O_THRESHOLD ? &s->snapshot_threshold : &s->snapshot_trailing) =
				(unsigned)v;
			break;
		case 'q':
			s->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return bad_usage("%s needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument \"%s\"", argv[optind]);
	if (s->id == 0 || s->dir == NULL || address == NULL || cluster == NULL)
		return bad_usage("--id, --dir, --address and --cluster are required");
	if (s->heartbeat_ms >= s->election_ms)
		return bad_usage("--heartbeat-timeout must be below --election-timeout");
	if (strlen(address) >= sizeof(s->address) ||
	    client_address_of(address, s->client_address, sizeof(s->client_address)) != 0)
		return bad_usage("--address: \"%s\" is not IPV4-HOST:PORT (PORT at most %u)",
				 address, 65535 - PROTO_CLIENT_PORT_OFFSET);
	snprintf(s->address, sizeof(s->address), "%s", address);
	int rc = parse_cluster(s, cluster);
	if (rc != 0)
		return rc;
	const struct member *me = member_of(s, s->id);
	if (me == NULL)
		return bad_usage("--cluster does not name --id %llu", (unsigned long long)s->id);
	if (strcmp(me->address, s->address) != 0)
		return bad_usage("--cluster gives server %llu the address %s, --address %s",
				 (unsigned long long)s->id, me->address, s->address);

	if (mkdir_p(s->dir) != 0) {
		fprintf(stderr, "%s: mkdir %s: %s\n", prog, s->dir, strerror(errno));
		return 1;
	}
	int empty = dir_empty(s->dir);
	if (empty < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, s->dir, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN); /* a peer gone: EPIPE, not death */
	if (uv_loop_init(&s->loop) != 0) {
		fprintf(stderr, "%s: uv_loop_init failed\n", prog);
		return 1;
	}
	if (server_start(s, empty == 1) != 0) {
		server_abort(s);
		uv_loop_close(&s->loop);
		records_clear(&s->records);
		return 1;
	}
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_walk(&s->loop, walk_close, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&s->loop) != 0)
		fprintf(stderr, "%s: handles left open on the loop\n", prog);
	records_clear(&s->records);
	return s->exit_code;
}
