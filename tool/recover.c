/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recover.c - uwal recover DIR [--dry-run]: uwal_unsafe_recover_ex(),
 * file by file: what it removes or cuts (why, where, the records lost)
 * and what it flags after_gap; then whether the log opens. --dry-run only says
 * what it would do and changes nothing.
 */
#include <inttypes.h>
#include <string.h>

#include "tool.h"

static const char help[] =
	"usage: uwal recover [--dry-run] [--prefix P] [--json] DIR\n"
	"\n"
	"UNSAFE: make the damaged log in DIR open again by removing the segment files\n"
	"that fail their checks (the ones an open refuses), losing their records, and\n"
	"flagging the next segment so that the log opens with the gap. A segment with a\n"
	"bad frame is cut at its last whole write batch before the damage and sealed\n"
	"there instead (the records after the cut are lost). Lists every file removed\n"
	"or cut, why, and the records lost; then checks that the log opens. A torn\n"
	"tail is not damage (an open cuts it). The log must not be open anywhere.\n"
	"\n"
	"  --dry-run   change nothing; say what would be done\n"
	"  --prefix P  segment file prefix (default segment_)\n"
	"  --json      one JSON object on stdout\n"
	"\n"
	"Exit status: 0 the log opens now (with --dry-run: nothing would be done);\n"
	"1 the log is open in another process, recovery failed, the log still does\n"
	"not open, not a log (with --dry-run: something would be done); 2 usage.\n";

struct after {
	int err; /* of the read-only open after the run */
	size_t segments;
	uint64_t records, first, last;
};

/* What a read-only open of the log sees now. */
static void look(const char *dir, const char *prefix, struct uw_tool_log *log, struct after *a)
{
	memset(a, 0, sizeof(*a));
	uwal *w;
	a->err = uw_tool_open(dir, prefix, 0, log, &w);
	if (a->err < 0)
		return;
	uwal_segment_info *v;
	size_t n;
	a->err = uwal_segments(w, &v, &n);
	if (a->err == 0) {
		a->segments = n;
		for (size_t i = 0; i < n; i++)
			a->records += v[i].records;
		a->first = uwal_first_index(w);
		a->last = uwal_last_index(w);
		uwal_segments_free(v);
	}
	uwal_close(w);
}

static void put_json(const char *dir, bool dry, const uwal_segment_info *v, size_t n,
		     const struct after *a, const struct uw_tool_log *log)
{
	struct uw_tool_totals t;
	uw_tool_action_totals(v, n, &t);
	fputs("{\"dir\":", stdout);
	uw_tool_put_json_str(stdout, dir);
	printf(",\"ok\":true,\"dry_run\":%s,\"actions\":[", dry ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		uw_tool_put_json_action(stdout, &v[i]);
	}
	printf("],\"removed\":%" PRIu64 ",\"cut\":%" PRIu64 ",\"records_lost\":%" PRIu64
	       ",\"cuts_losing_unknown\":%" PRIu64,
	       t.removed, t.cut, t.lost, t.unknown);
	if (!dry) {
		printf(",\"after\":{\"opens\":%s,\"segments\":%zu,\"records\":%" PRIu64
		       ",\"first_index\":%" PRIu64 ",\"last_index\":%" PRIu64 "}",
		       a->err == 0 ? "true" : "false", a->segments, a->records, a->first, a->last);
		fputs(",\"diagnostics\":", stdout);
		uw_tool_put_json_log(stdout, log, dir);
	}
	puts("}");
}

static void put_text(const char *dir, bool dry, const uwal_segment_info *v, size_t n,
		     const struct after *a)
{
	struct uw_tool_totals t;
	uw_tool_action_totals(v, n, &t);
	for (size_t i = 0; i < n; i++)
		uw_tool_put_action(stdout, &v[i], dry);
	if (n == 0) {
		printf("%s: nothing to %s: no segment fails its checks\n", dir,
		       dry ? "do" : "remove");
	} else {
		printf("%s: %" PRIu64 " file%s %s", dir, t.removed, t.removed == 1 ? "" : "s",
		       dry ? "would be removed" : "removed");
		if (t.cut)
			printf(", %" PRIu64 " %s", t.cut, dry ? "would be cut" : "cut");
		printf(", %" PRIu64 " record%s lost", t.lost, t.lost == 1 ? "" : "s");
		if (t.unknown)
			printf(" (and the records after %" PRIu64 " cut%s, uncounted)", t.unknown,
			       t.unknown == 1 ? "" : "s");
		putchar('\n');
	}
	if (!dry && a->err == 0) {
		printf("the log opens: %zu segment%s, %" PRIu64 " record%s", a->segments,
		       a->segments == 1 ? "" : "s", a->records, a->records == 1 ? "" : "s");
		if (a->records)
			printf(", index %" PRIu64 "..%" PRIu64, a->first, a->last);
		putchar('\n');
	}
}

int uw_tool_recover(int argc, char **argv)
{
	struct uw_tool_args args;
	bool dry = false;
	int st = uw_tool_args(argc, argv, help, &args, &dry);
	if (st >= 0)
		return st;
	const char *dir = args.dir, *prefix = args.prefix;
	bool json = args.json;
	uwal_segment_info *v = NULL;
	size_t n = 0;
	/* A dry run first: a log with nothing to remove is left as it is
	 * (a real run would create the lock file even in a directory that
	 * is not a log). */
	int err = uwal_unsafe_recover_ex(dir, prefix, UWAL_RECOVER_DRY_RUN, &v, &n);
	if (err == 0 && n && !dry) {
		uwal_segments_free(v);
		err = uwal_unsafe_recover_ex(dir, prefix, 0, &v, &n);
	}
	if (err < 0)
		return uw_tool_fail_err(json, "recover", dir, err, NULL);
	struct uw_tool_log log = {0};
	struct after a = {0};
	int ret = UW_TOOL_OK;
	if (!dry || n == 0) {
		look(dir, prefix, &log, &a);
		if (a.err == 0 && a.segments == 0 && n == 0) {
			ret = uw_tool_not_a_log(json, "recover", dir, prefix);
			goto out;
		}
	}
	if (json)
		put_json(dir, dry, v, n, &a, &log);
	else
		put_text(dir, dry, v, n, &a);
	if (dry)
		ret = n ? UW_TOOL_FAIL : UW_TOOL_OK;
	else if (a.err < 0)
		ret = json ? UW_TOOL_FAIL : uw_tool_fail_err(false, "recover", dir, a.err, &log);
out:
	uwal_segments_free(v);
	uw_tool_log_free(&log);
	return ret;
}
