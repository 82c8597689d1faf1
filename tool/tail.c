/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tail.c - uwal tail DIR [-f]: the records of a log in log order, from
 * the first one or --from INDEX; with -f it goes on printing the records
 * a writer (another process) acknowledges, until it is killed.
 *
 * One read-only handle (no lock: the writer keeps it) and one following
 * iterator on it. The handle is brought up to date with uwal_refresh()
 * when inotify says the directory or a segment in it changed (IN_MODIFY,
 * IN_CREATE, IN_MOVED_TO, IN_DELETE on the directory's watch), and at
 * least every --interval milliseconds in case an event is missed; the
 * iterator then returns what the refresh brought. Nothing spins.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "tool.h"

static const char help[] =
	"usage: uwal tail [-f] [--from INDEX] [--format=text|json|hex] [--json]\n"
	"                 [--keys-only] [--interval MS] [--prefix P] DIR\n"
	"\n"
	"Print the records of the log in DIR in log order, from the first one (or from\n"
	"record INDEX), as 'uwal dump' prints them. The log is opened read-only: a\n"
	"writer may hold it.\n"
	"\n"
	"  -f, --follow   then keep printing new records as a writer acknowledges\n"
	"                 them, until interrupted; woken by inotify, and at least\n"
	"                 every --interval milliseconds (default 1000)\n"
	"  --from INDEX   start at record INDEX (it must be in the log)\n"
	"  --format=...   text (default), hex or json, as for uwal dump\n"
	"  --json         --format=json\n"
	"  --keys-only    leave the values out\n"
	"  --prefix P     segment file prefix (default segment_)\n"
	"\n"
	"A follower that falls behind the writer's retention, or whose position a\n"
	"back truncation removed, stops with UWAL_ETRUNCATED.\n"
	"\n"
	"Exit status: 0 every record was printed (without -f); 1 the log does not\n"
	"open, INDEX is not in it, or a record failed its check; 2 usage.\n";

struct opts {
	struct uw_tool_opts out;
	bool follow;
	uint64_t from;
	int interval_ms;
};

/* Print what the iterator has; 0 at its end, or its error. */
static int drain(uwal_iter *it, const struct opts *o)
{
	uwal_record r;
	int err;
	while ((err = uwal_iter_next(it, &r)) == 1) {
		uint64_t seq = 0, off = 0;
		uwal_iter_position(it, &seq, &off);
		uw_tool_put_record(stdout, o->out.fmt, o->out.keys_only, &r, seq, off);
	}
	if (fflush(stdout) != 0)
		return -errno;
	return err;
}

/* Sleep until the directory changes or interval_ms pass. */
static void wait_change(int ino, int interval_ms)
{
	if (ino < 0) {
		usleep((useconds_t)interval_ms * 1000);
		return;
	}
	struct pollfd p = {.fd = ino, .events = POLLIN};
	if (poll(&p, 1, interval_ms) > 0) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		while (read(ino, buf, sizeof(buf)) > 0)
			; /* the events only wake; the refresh reads the files */
	}
}

static int follow(uwal *w, uwal_iter *it, const char *dir, const struct opts *o)
{
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino >= 0 &&
	    inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
		close(ino);
		ino = -1;
	}
	if (ino < 0)
		fprintf(stderr, "uwal tail: %s: no inotify (%s): looking every %d ms\n", dir,
			strerror(errno), o->interval_ms);
	int err = 0;
	for (;;) {
		wait_change(ino, o->interval_ms);
		err = uwal_refresh(w);
		if (err < 0)
			break;
		if (err == 1 && (err = drain(it, o)) < 0)
			break;
	}
	if (ino >= 0)
		close(ino);
	return err;
}

int uw_tool_tail(int argc, char **argv)
{
	static const struct option opts[] = {{"follow", no_argument, NULL, 'f'},
					     {"from", required_argument, NULL, 'F'},
					     {"interval", required_argument, NULL, 'i'},
					     UW_TOOL_RECORD_OPTS,
					     UW_TOOL_SHARED_OPTS,
					     {0}};
	struct opts o = {.out = {.prefix = "segment_"}, .interval_ms = 1000};
	uint64_t ms;
	const char *dir;
	int c, st;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'f') {
			o.follow = true;
		} else if (c == 'F') {
			if (!uw_tool_parse_u64(optarg, &o.from) || o.from == 0) {
				fprintf(stderr, "uwal tail: --from: not an index: '%s'\n", optarg);
				return UW_TOOL_USAGE;
			}
		} else if (c == 'i') {
			if (!uw_tool_parse_u64(optarg, &ms) || ms == 0 || ms > 3600000) {
				fprintf(stderr, "uwal tail: --interval: 1..3600000 ms, not '%s'\n",
					optarg);
				return UW_TOOL_USAGE;
			}
			o.interval_ms = (int)ms;
		} else if ((st = uw_tool_opt("tail", c, help, &o.out)) != -1) {
			return st == -2 ? uw_tool_opt("tail", '?', help, &o.out) : st;
		}
	}
	if ((st = uw_tool_dir_arg(argc, argv, help, &dir)) >= 0)
		return st;
	const char *prefix = o.out.prefix;
	struct uw_tool_log log = {0};
	uwal *w;
	int err = uw_tool_open(dir, prefix, 0, &log, &w);
	if (err < 0) {
		uw_tool_fail_err(false, "tail", dir, err, &log);
		uw_tool_log_free(&log);
		return UW_TOOL_FAIL;
	}
	int ret = UW_TOOL_OK;
	uwal_iter *it = NULL;
	uwal_segment_info *v = NULL;
	size_t n = 0;
	err = uwal_segments(w, &v, &n);
	uwal_segments_free(v);
	if (err == 0 && n == 0) {
		ret = uw_tool_not_a_log(false, "tail", dir, prefix);
		goto out;
	}
	if (err == 0)
		err = uwal_iter_open_at(w, o.from, o.follow ? UWAL_ITER_FOLLOW : 0, &it);
	if (err == UWAL_ENOTFOUND) {
		fprintf(stderr,
			"uwal tail: %s: no record %" PRIu64 " in the log (UWAL_ENOTFOUND)\n", dir,
			o.from);
		ret = UW_TOOL_FAIL;
		goto out;
	}
	if (err == 0)
		err = drain(it, &o);
	if (err == 0 && o.follow)
		err = follow(w, it, dir, &o);
	if (err < 0)
		ret = uw_tool_fail_err(false, "tail", dir, err, &log);
out:
	uwal_iter_close(it);
	uwal_close(w);
	uw_tool_log_free(&log);
	return ret;
}
