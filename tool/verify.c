/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify.c - uwal verify DIR: read every frame of the log and check every
 * CRC, changing nothing: a read-only open that checks every frame and
 * refuses to hide a torn tail (UWAL_OPEN_VERIFY | UWAL_OPEN_NO_REPAIR),
 * then an iterator over every record. Works beside a live writer: then
 * the active segment's tail may be mid-write, and is not held against
 * the log.
 */
#include <inttypes.h>
#include <string.h>

#include "tool.h"

static const char help[] =
	"usage: uwal verify [--prefix P] [--json] DIR\n"
	"\n"
	"Read every frame of the log in DIR and check every CRC, the framing, the\n"
	"seals and the sequence of segments, changing nothing (not even the lock\n"
	"file). A torn tail counts as damage unless another process holds the log\n"
	"(then its tail may be being written). Each problem is reported with its\n"
	"file and offset.\n"
	"\n"
	"  --prefix P  segment file prefix (default segment_)\n"
	"  --json      one JSON object on stdout\n"
	"\n"
	"Exit status: 0 no damage; 1 damage found, or the log cannot be read (not a\n"
	"log, no such directory); 2 usage.\n";

struct result {
	size_t segments;
	uint64_t records, frame_bytes;
	bool tail_skipped; /* a live writer's tail, not checked */
};

/* Read every record of w; 0 or the iterator's error (said through log_fn). */
static int read_all(uwal *w, struct result *r)
{
	uwal_segment_info *v;
	size_t n;
	int err = uwal_segments(w, &v, &n);
	if (err < 0)
		return err;
	r->segments = n;
	for (size_t i = 0; i < n; i++)
		r->frame_bytes += v[i].frame_bytes;
	uwal_segments_free(v);
	uwal_iter *it;
	err = uwal_iter_open(w, &it);
	if (err < 0)
		return err;
	struct uw_tool_progress p;
	uw_tool_progress_start(&p, "verify", r->frame_bytes, false);
	uwal_record rec;
	while ((err = uwal_iter_next(it, &rec)) == 1) {
		r->records++;
		uw_tool_progress_step(&p, &rec);
	}
	uw_tool_progress_end(&p);
	uwal_iter_close(it);
	return err;
}

static void put_ok(bool json, const char *dir, const struct result *r)
{
	if (!json) {
		printf("ok: %s: %zu segment%s, %" PRIu64 " record%s, %" PRIu64
		       " bytes of frames: every frame checked%s\n",
		       dir, r->segments, r->segments == 1 ? "" : "s", r->records,
		       r->records == 1 ? "" : "s", r->frame_bytes,
		       r->tail_skipped ? " but the tail being written by the process that holds "
					 "the log"
				       : "");
		return;
	}
	fputs("{\"dir\":", stdout);
	uw_tool_put_json_str(stdout, dir);
	printf(",\"ok\":true,\"segments\":%zu,\"records\":%" PRIu64 ",\"frame_bytes\":%" PRIu64
	       ",\"tail_skipped\":%s,\"diagnostics\":[]}\n",
	       r->segments, r->records, r->frame_bytes, r->tail_skipped ? "true" : "false");
}

/* Whether the log opens read-only once a torn tail may be hidden: then
 * the torn tail is all that is wrong. */
static bool only_torn_tail(const char *dir, const char *prefix)
{
	struct uw_tool_log log = {0};
	uwal *w;
	int err = uw_tool_open(dir, prefix, UWAL_OPEN_VERIFY, &log, &w);
	if (err == 0)
		uwal_close(w);
	uw_tool_log_free(&log);
	return err == 0;
}

static int damage(bool json, const char *dir, const char *prefix, int err,
		  const struct uw_tool_log *log)
{
	int ret = uw_tool_fail_err(json, "verify", dir, err, log);
	if (json || err != UWAL_ECORRUPT)
		return ret;
	if (only_torn_tail(dir, prefix))
		fprintf(stderr,
			"uwal verify: only the tail is torn: the next normal open cuts it "
			"(dropping the records named above); no sealed segment is damaged\n");
	else
		fprintf(stderr,
			"uwal verify: 'uwal recover --dry-run %s' says what recovery would "
			"cut or remove\n",
			dir);
	return ret;
}

int uw_tool_verify(int argc, char **argv)
{
	struct uw_tool_args args;
	int st = uw_tool_args(argc, argv, help, &args, NULL);
	if (st >= 0)
		return st;
	const char *dir = args.dir, *prefix = args.prefix;
	bool json = args.json;
	struct result r = {0};
	struct uw_tool_log log = {0};
	uwal *w;
	int err = uw_tool_open(dir, prefix, UWAL_OPEN_VERIFY | UWAL_OPEN_NO_REPAIR, &log, &w);
	if (err == UWAL_ECORRUPT && uwal_locked(dir, prefix) == 1) {
		/* A live writer: its tail may be mid-write. Without
		 * NO_REPAIR the open ends at the last whole frame; any other
		 * damage fails it again. */
		uw_tool_log_free(&log);
		err = uw_tool_open(dir, prefix, UWAL_OPEN_VERIFY, &log, &w);
		r.tail_skipped = err == 0;
	}
	if (err < 0) {
		int ret = damage(json, dir, prefix, err, &log);
		uw_tool_log_free(&log);
		return ret;
	}
	int ret = UW_TOOL_OK;
	err = read_all(w, &r);
	if (err < 0)
		ret = damage(json, dir, prefix, err, &log);
	else if (r.segments == 0)
		ret = uw_tool_not_a_log(json, "verify", dir, prefix);
	else
		put_ok(json, dir, &r);
	uwal_close(w);
	uw_tool_log_free(&log);
	return ret;
}
