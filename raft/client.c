/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c - uwal-raft-client(1): append to, read from and measure a
 * uwal-raft-server(1) cluster over its client protocol (raft/proto.h).
 *
 *   uwal-raft-client --server HOST:PORT [--timeout S] append TEXT
 *   uwal-raft-client --server HOST:PORT [--timeout S] read INDEX
 *   uwal-raft-client --server HOST:PORT [--timeout S] status
 *   uwal-raft-client --server HOST:PORT [--timeout S] leader
 *   uwal-raft-client --server HOST:PORT bench [--clients N] [--seconds S]
 *                    [--warmup S] [--size BYTES]
 *
 * append follows the redirect of a follower to the leader and, while no
 * leader is known or a server cannot be reached, retries until the timeout:
 * only when the record was certainly not appended. Exit status: 0 done,
 * 1 failed, 2 bad arguments, 3 read: no record at that index on that node.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "proto.h"

static const char *prog = "uwal-raft-client";
static double timeout_s = 10;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --server HOST:PORT [--timeout SECONDS] COMMAND\n"
		"commands:\n"
		"  append TEXT     append a record; prints its raft index once committed\n"
		"  read INDEX      print the record at INDEX (exit 3: not on that node)\n"
		"  status          print the node's state\n"
		"  leader          wait for a leader; print its id and client address\n"
		"  bench [--clients N] [--seconds S] [--warmup S] [--size BYTES]\n"
		"                  N connections appending to the leader, one record in\n"
		"                  flight each: committed records/s, latency p50/p99\n"
		"HOST:PORT is a server's client address: its raft port + 1000.\n",
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

static void fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ur_cli_vsay(prog, fmt, ap);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_address(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port == 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* A connected socket, or -1 (errno set). */
static int dial(const char *address)
{
	struct sockaddr_in sa;
	if (parse_address(address, &sa) != 0) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* No reply within the timeout is a failure, not a hang. */
	struct timeval tv = {.tv_sec = (time_t)timeout_s,
			     .tv_usec =
				     (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t r = recv(fd, c, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = ECONNRESET;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_request(int fd, int type, const void *body, size_t len)
{
	unsigned char h[PROTO_HEADER];
	h[0] = (unsigned char)type;
	ur_put32(h + 1, (uint32_t)len);
	if (write_all(fd, h, sizeof(h)) != 0)
		return -1;
	return len ? write_all(fd, body, len) : 0;
}

/* The reply's type, its body (malloc'd, NUL-terminated) in *body; -1 on a
 * failure (errno). */
static int recv_reply(int fd, unsigned char **body, size_t *len)
{
	unsigned char h[PROTO_HEADER];
	if (read_all(fd, h, sizeof(h)) != 0)
		return -1;
	uint32_t n = ur_get32(h + 1);
	if (n > PROTO_MAX_BODY + 64) {
		errno = EPROTO;
		return -1;
	}
	unsigned char *b = malloc(n + 1);
	if (b == NULL)
		return -1;
	if (n && read_all(fd, b, n) != 0) {
		free(b);
		return -1;
	}
	b[n] = '\0';
	*body = b;
	*len = n;
	return h[0];
}

/* One request to address; the reply type or -1 (errno). */
static int call(const char *address, int type, const void *req, size_t req_len,
		unsigned char **body, size_t *len)
{
	int fd = dial(address);
	if (fd < 0)
		return -1;
	int rv = send_request(fd, type, req, req_len);
	if (rv == 0)
		rv = recv_reply(fd, body, len);
	int e = errno;
	close(fd);
	errno = e;
	return rv;
}

/* The client address in a NOT LEADER body "ID RAFT CLIENT", or NULL. */
static const char *redirect_of(const char *body, char *out, size_t size)
{
	const char *sp = strrchr(body, ' ');
	if (sp == NULL || strlen(sp + 1) >= size)
		return NULL;
	snprintf(out, size, "%s", sp + 1);
	return out;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int cmd_append(const char *server, const char *text)
{
	size_t len = strlen(text);
	if (len > PROTO_MAX_BODY)
		return bad_usage("append: the record is %zu bytes, at most %u", len,
				 PROTO_MAX_BODY);
	char target[128];
	snprintf(target, sizeof(target), "%s", server);
	double deadline = now_s() + timeout_s;
	const char *why = "";
	char whybuf[256];
	for (;;) {
		unsigned char *body = NULL;
		size_t blen = 0;
		int fd = dial(target);
		if (fd < 0) {
			snprintf(whybuf, sizeof(whybuf), "connect %s: %s", target, strerror(errno));
			why = whybuf;
			snprintf(target, sizeof(target), "%s", server); /* back to the first */
		} else {
			int t = send_request(fd, PROTO_APPEND, text, len);
			if (t == 0)
				t = recv_reply(fd, &body, &blen);
			int e = errno;
			close(fd);
			if (t < 0) {
				fail_msg("append via %s: %s (the record may or may not be "
					 "committed)",
					 target, strerror(e));
				return 1;
			}
			if (t == PROTO_OK && blen == 8) {
				printf("%llu\n", (unsigned long long)ur_get64(body));
				free(body);
				return 0;
			}
			if (t == PROTO_NOT_LEADER) {
				char next[128];
				if (blen > 0 && redirect_of((char *)body, next, sizeof(next))) {
					snprintf(target, sizeof(target), "%s", next);
					free(body);
					continue; /* straight to the leader named */
				}
				why = "no leader known (an election is on)";
				snprintf(target, sizeof(target), "%s", server);
			} else {
				fail_msg("append via %s: %s", target,
					 t == PROTO_ERROR ? (char *)body : "unexpected reply");
				free(body);
				return 1;
			}
			free(body);
		}
		if (now_s() >= deadline) {
			fail_msg("append: gave up after %.0f s: %s", timeout_s, why);
			return 1;
		}
		pause_ms(100);
	}
}

static int cmd_read(const char *server, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long index = strtoull(arg, &end, 10);
	if (arg[0] == '-' || errno != 0 || *end != '\0' || end == arg || index == 0)
		return bad_usage("read: \"%s\" is not a raft index (1, 2, ...)", arg);
	unsigned char req[8];
	ur_put64(req, index);
	unsigned char *body = NULL;
	size_t len = 0;
	int t = call(server, PROTO_READ, req, sizeof(req), &body, &len);
	if (t < 0) {
		fail_msg("read %s: %s", server, strerror(errno));
		return 1;
	}
	int rc = 0;
	if (t == PROTO_OK) {
		fwrite(body, 1, len, stdout);
		putchar('\n');
	} else if (t == PROTO_NOT_FOUND) {
		fail_msg("read: no record at index %llu on %s", index, server);
		rc = 3;
	} else {
		fail_msg("read %s: %s", server,
			 t == PROTO_ERROR ? (char *)body : "unexpected reply");
		rc = 1;
	}
	free(body);
	return rc;
}

/* STATUS text of server into *text (malloc'd); 0 or -1 (message printed
 * if loud). */
static int get_status(const char *server, char **text, bool loud)
{
	unsigned char *body = NULL;
	size_t len = 0;
	int t = call(server, PROTO_STATUS, NULL, 0, &body, &len);
	if (t != PROTO_OK) {
		if (loud)
			fail_msg("status %s: %s", server, t < 0 ? strerror(errno) : (char *)body);
		free(body);
		return -1;
	}
	*text = (char *)body;
	return 0;
}

/* The value of "key=" in a status line, into out. */
static bool status_field(const char *text, const char *key, char *out, size_t size)
{
	size_t k = strlen(key);
	for (const char *p = text; (p = strstr(p, key)) != NULL; p += k) {
		if ((p == text || p[-1] == ' ') && p[k] == '=') {
			const char *v = p + k + 1;
			size_t n = strcspn(v, " ");
			if (n >= size)
				return false;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Wait for server to know a leader; its client address into out. */
static int find_leader(const char *server, char *id, size_t id_size, char *out, size_t size)
{
	double deadline = now_s() + timeout_s;
	for (;;) {
		char *text = NULL;
		if (get_status(server, &text, false) == 0) {
			bool ok = status_field(text, "leader", id, id_size) &&
				  strcmp(id, "0") != 0 &&
				  status_field(text, "leader_client", out, size);
			free(text);
			if (ok)
				return 0;
		}
		if (now_s() >= deadline) {
			fail_msg("%s knows no leader after %.0f s", server, timeout_s);
			return -1;
		}
		pause_ms(100);
	}
}

static int cmd_status(const char *server)
{
	char *text;
	if (get_status(server, &text, true) != 0)
		return 1;
	printf("%s\n", text);
	free(text);
	return 0;
}

static int cmd_leader(const char *server)
{
	char id[32], address[128];
	if (find_leader(server, id, sizeof(id), address, sizeof(address)) != 0)
		return 1;
	printf("%s %s\n", id, address);
	return 0;
}

/* ---- bench ---------------------------------------------------------------- */

struct bconn {
	int fd;
	double sent;
	unsigned char hdr[PROTO_HEADER + 8];
	size_t got;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_bench(const char *server, int argc, char **argv)
{
	unsigned long long clients = 1, size = 64;
	double seconds = 3, warmup = 0.5;
	static const struct option opts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"size", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	int opt, li = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, &li)) != -1) {
		char *end;
		errno = 0;
		switch (opt) {
		case 'c':
		case 'b': {
			unsigned long long v = strtoull(optarg, &end, 10);
			if (optarg[0] == '-' || errno || *end || end == optarg ||
			    (opt == 'c' && (v == 0 || v > 1024)) ||
			    (opt == 'b' && v > PROTO_MAX_BODY))
				return bad_usage("bench: bad --%s \"%s\"", opts[li].name, optarg);
			*(opt == 'c' ? &clients : &size) = v;
			break;
		}
		case 's':
		case 'w': {
			double v = strtod(optarg, &end);
			if (errno || *end || end == optarg || v < 0 || v > 3600 ||
			    (opt == 's' && v <= 0))
				return bad_usage("bench: bad --%s \"%s\"", opts[li].name, optarg);
			*(opt == 's' ? &seconds : &warmup) = v;
			break;
		}
		case ':':
			return bad_usage("bench: %s needs a value", argv[optind - 1]);
		default:
			return bad_usage("bench: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("bench: unexpected argument \"%s\"", argv[optind]);

	char id[32], leader[128];
	if (find_leader(server, id, sizeof(id), leader, sizeof(leader)) != 0)
		return 1;
	unsigned char *req = malloc(PROTO_HEADER + size);
	struct bconn *cs = calloc(clients, sizeof(*cs));
	struct pollfd *pfds = calloc(clients, sizeof(*pfds));
	size_t cap = 1 << 16, n_lat = 0;
	double *lat = malloc(cap * sizeof(*lat));
	if (req == NULL || cs == NULL || pfds == NULL || lat == NULL) {
		fail_msg("out of memory");
		return 1;
	}
	req[0] = PROTO_APPEND;
	ur_put32(req + 1, (uint32_t)size);
	memset(req + PROTO_HEADER, 'x', size);
	int rc = 0;
	for (size_t i = 0; i < clients; i++) {
		cs[i].fd = dial(leader);
		if (cs[i].fd < 0) {
			fail_msg("bench: connect %s: %s", leader, strerror(errno));
			return 1;
		}
		pfds[i] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
	}
	double start = now_s(), measure = start + warmup, end = measure + seconds;
	unsigned long long done = 0, errors = 0;
	for (size_t i = 0; i < clients; i++) {
		cs[i].sent = now_s();
		if (write_all(cs[i].fd, req, PROTO_HEADER + size) != 0) {
			fail_msg("bench: send: %s", strerror(errno));
			return 1;
		}
	}
	size_t open = clients;
	while (open > 0) {
		int n = poll(pfds, clients, (int)(timeout_s * 1000));
		if (n == 0) {
			fail_msg("bench: no reply in %.0f s", timeout_s);
			rc = 1;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		double t = now_s();
		for (size_t i = 0; i < clients; i++) {
			if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			struct bconn *c = &cs[i];
			ssize_t r = recv(c->fd, c->hdr + c->got, sizeof(c->hdr) - c->got, 0);
			if (r <= 0) {
				fail_msg("bench: the leader closed a connection: %s",
					 r < 0 ? strerror(errno) : "end of stream");
				rc = 1;
				open = 0;
				break;
			}
			c->got += (size_t)r;
			if (c->got < PROTO_HEADER || c->got < PROTO_HEADER + ur_get32(c->hdr + 1))
				continue;
			if (c->hdr[0] != PROTO_OK || ur_get32(c->hdr + 1) != 8) {
				/* Not OK: the body (a message) is longer than hdr; drain it. */
				errors++;
				fail_msg("bench: an append failed (reply '%c'); stopping",
					 c->hdr[0]);
				rc = 1;
				open = 0;
				break;
			}
			c->got = 0;
			if (c->sent >= measure && t <= end) {
				if (n_lat == cap) {
					cap *= 2;
					double *p = realloc(lat, cap * sizeof(*lat));
					if (p == NULL) {
						fail_msg("out of memory");
						return 1;
					}
					lat = p;
				}
				lat[n_lat++] = t - c->sent;
				done++;
			}
			if (t >= end) {
				close(c->fd);
				pfds[i].fd = -1;
				c->fd = -1;
				open--;
				continue;
			}
			c->sent = t;
			if (write_all(c->fd, req, PROTO_HEADER + size) != 0) {
				fail_msg("bench: send: %s", strerror(errno));
				rc = 1;
				open = 0;
				break;
			}
		}
	}
	for (size_t i = 0; i < clients; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	if (rc == 0) {
		qsort(lat, n_lat, sizeof(*lat), cmp_double);
		double p50 = n_lat ? lat[n_lat / 2] : 0;
		double p99 = n_lat ? lat[(size_t)((double)(n_lat - 1) * 0.99)] : 0;
		printf("clients=%llu size=%llu seconds=%.2f entries=%llu entries_per_s=%.0f "
		       "p50_us=%.0f p99_us=%.0f errors=%llu leader=%s\n",
		       clients, size, seconds, done, (double)done / seconds, p50 * 1e6, p99 * 1e6,
		       errors, id);
	}
	free(lat);
	free(pfds);
	free(cs);
	free(req);
	return rc;
}

int main(int argc, char **argv)
{
	const char *server = NULL;
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	opterr = 0;
	/* "+": options stop at the command; the command's own follow it. */
	while ((opt = getopt_long(argc, argv, "+:s:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 't': {
			char *end;
			errno = 0;
			timeout_s = strtod(optarg, &end);
			if (errno || *end || end == optarg || timeout_s <= 0 || timeout_s > 86400)
				return bad_usage("--timeout: \"%s\" is not a number of seconds",
						 optarg);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return bad_usage("%s needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (server == NULL)
		return bad_usage("--server HOST:PORT is required");
	struct sockaddr_in sa;
	if (parse_address(server, &sa) != 0)
		return bad_usage("--server: \"%s\" is not IPV4-HOST:PORT", server);
	if (optind >= argc)
		return bad_usage("no command");
	const char *cmd = argv[optind];
	int rest = argc - optind;
	char **args = argv + optind;
	if (strcmp(cmd, "append") == 0) {
		if (rest != 2)
			return bad_usage("append takes one argument, the record");
		return cmd_append(server, args[1]);
	}
	if (strcmp(cmd, "read") == 0) {
		if (rest != 2)
			return bad_usage("read takes one argument, the index");
		return cmd_read(server, args[1]);
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "leader") == 0) {
		if (rest != 1)
			return bad_usage("%s takes no argument", cmd);
		return cmd[0] == 's' ? cmd_status(server) : cmd_leader(server);
	}
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(server, rest, args);
	return bad_usage("unknown command \"%s\"", cmd);
}
