/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stat.c - uwal stat DIR: each segment (number, name, size, sealed or
 * active, first and last index, records, bytes of frames, format version),
 * the gaps between segment numbers, whether the lock is held, and totals.
 * The log is opened read-only: nothing is changed, no lock is kept.
 * A log that does not open is described by what unsafe recover would do
 * to it (a dry run).
 */
#include <inttypes.h>
#include <string.h>

#include "tool.h"

static const char help[] =
	"usage: uwal stat [--prefix P] [--json] DIR\n"
	"\n"
	"Describe the log in DIR without changing it: each segment (number, state,\n"
	"records, first and last index, bytes of frames, file size, format version,\n"
	"name), the gaps between segment numbers, whether another process holds the\n"
	"lock, a torn tail a normal open would cut, and totals.\n"
	"\n"
	"  --prefix P  segment file prefix (default segment_)\n"
	"  --json      one JSON object on stdout\n"
	"\n"
	"Exit status: 0 the log opens; 1 it does not (damage, not a log, no such\n"
	"directory); 2 usage.\n";

struct totals {
	uint64_t records, frame_bytes, file_bytes, tail_bytes;
};

static void sum(const uwal_segment_info *v, size_t n, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		t->records += v[i].records;
		t->frame_bytes += v[i].frame_bytes;
		t->file_bytes += v[i].file_size;
		t->tail_bytes += v[i].tail_bytes;
	}
}

static const char *state(const uwal_segment_info *e)
{
	return e->sealed ? "sealed" : "active";
}

static void put_json(const char *dir, const char *prefix, int locked, uwal *w,
		     const uwal_segment_info *v, size_t n)
{
	FILE *f = stdout;
	struct totals t;
	sum(v, n, &t);
	fputs("{\"dir\":", f);
	uw_tool_put_json_str(f, dir);
	fputs(",\"prefix\":", f);
	uw_tool_put_json_str(f, prefix);
	fprintf(f, ",\"ok\":true,\"locked\":%s,\"segments\":[", locked ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		const uwal_segment_info *e = &v[i];
		fprintf(f, "%s{\"seq\":%" PRIu64 ",\"name\":", i ? "," : "", e->seq);
		uw_tool_put_json_str(f, e->name);
		fprintf(f,
			",\"state\":\"%s\",\"sealed\":%s,\"file_size\":%" PRIu64
			",\"frame_bytes\":%" PRIu64 ",\"records\":%" PRIu64
			",\"first_index\":%" PRIu64 ",\"last_index\":%" PRIu64
			",\"tail_bytes\":%" PRIu64 ",\"version\":%u,\"after_gap\":%s}",
			state(e), e->sealed ? "true" : "false", e->file_size, e->frame_bytes,
			e->records, e->first_index, e->last_index, e->tail_bytes, e->version,
			e->after_gap ? "true" : "false");
	}
	fputs("],\"gaps\":[", f);
	for (size_t i = 1, k = 0; i < n; i++)
		if (v[i].seq != v[i - 1].seq + 1)
			fprintf(f,
				"%s{\"after\":%" PRIu64 ",\"before\":%" PRIu64
				",\"missing\":%" PRIu64 "}",
				k++ ? "," : "", v[i - 1].seq, v[i].seq,
				v[i].seq - v[i - 1].seq - 1);
	fprintf(f,
		"],\"totals\":{\"segments\":%zu,\"records\":%" PRIu64 ",\"first_index\":%" PRIu64
		",\"last_index\":%" PRIu64 ",\"frame_bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64
		",\"tail_bytes\":%" PRIu64 "}}\n",
		n, t.records, uwal_first_index(w), uwal_last_index(w), t.frame_bytes, t.file_bytes,
		t.tail_bytes);
}

static void put_text(const char *dir, const char *prefix, int locked, uwal *w,
		     const uwal_segment_info *v, size_t n)
{
	struct totals t;
	sum(v, n, &t);
	printf("log:  %s (prefix %s)\n", dir, prefix);
	if (locked)
		printf("lock: held: the log is open in another process (a normal open would "
		       "fail with UWAL_ELOCKED)\n");
	else
		printf("lock: free\n");
	printf("\n%8s  %-6s  %9s  %12s  %12s  %12s  %12s  %3s  %s\n", "seq", "state", "records",
	       "first", "last", "frame bytes", "file size", "ver", "name");
	for (size_t i = 0; i < n; i++) {
		const uwal_segment_info *e = &v[i];
		if (i > 0 && e->seq != v[i - 1].seq + 1)
			printf("%8s  gap: %" PRIu64 " segment%s missing (%" PRIu64 "..%" PRIu64
			       ")%s\n",
			       "", e->seq - v[i - 1].seq - 1, e->seq - v[i - 1].seq == 2 ? "" : "s",
			       v[i - 1].seq + 1, e->seq - 1,
			       e->after_gap ? ", removed by unsafe recover" : "");
		printf("%8" PRIu64 "  %-6s  %9" PRIu64 "  %12" PRIu64 "  %12" PRIu64 "  %12" PRIu64
		       "  %12" PRIu64 "  %3u  %s\n",
		       e->seq, state(e), e->records, e->first_index, e->last_index, e->frame_bytes,
		       e->file_size, e->version, e->name);
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].tail_bytes)
			printf("\ntorn tail: %s: %" PRIu64 " bytes after its last whole frame%s\n",
			       v[i].name, v[i].tail_bytes,
			       locked ? " (or frames being written by the process that holds the "
					"log)"
				      : ": a normal open cuts them");
	printf("\ntotal: %zu segment%s, %" PRIu64 " record%s", n, n == 1 ? "" : "s", t.records,
	       t.records == 1 ? "" : "s");
	if (t.records)
		printf(", index %" PRIu64 "..%" PRIu64, uwal_first_index(w), uwal_last_index(w));
	printf(", %" PRIu64 " bytes of frames, %" PRIu64 " bytes on disk\n", t.frame_bytes,
	       t.file_bytes);
}

/* The log does not open: say why, and what unsafe recover would do. */
static int damaged(bool json, const char *dir, const char *prefix, int err,
		   const struct uw_tool_log *log)
{
	uwal_segment_info *v = NULL;
	size_t n = 0;
	bool have = err == UWAL_ECORRUPT &&
		    uwal_unsafe_recover_ex(dir, prefix, UWAL_RECOVER_DRY_RUN, &v, &n) == 0;
	if (!json) {
		uw_tool_fail_err(false, "stat", dir, err, log);
		if (have && n) {
			fprintf(stderr, "uwal stat: 'uwal recover %s' would do this:\n", dir);
			for (size_t i = 0; i < n; i++)
				uw_tool_put_action(stderr, &v[i], true);
		}
		uwal_segments_free(v);
		return UW_TOOL_FAIL;
	}
	char buf[160];
	fputs("{\"dir\":", stdout);
	uw_tool_put_json_str(stdout, dir);
	fputs(",\"ok\":false,\"error\":", stdout);
	uw_tool_put_json_str(stdout, uw_tool_errname(err));
	fputs(",\"message\":", stdout);
	uw_tool_put_json_str(stdout, uw_tool_explain(err, buf, sizeof(buf)));
	fputs(",\"diagnostics\":", stdout);
	uw_tool_put_json_log(stdout, log, dir);
	fputs(",\"recover_would\":[", stdout);
	for (size_t i = 0; have && i < n; i++) {
		if (i)
			fputc(',', stdout);
		uw_tool_put_json_action(stdout, &v[i]);
	}
	fputs("]}\n", stdout);
	uwal_segments_free(v);
	return UW_TOOL_FAIL;
}

int uw_tool_stat(int argc, char **argv)
{
	struct uw_tool_args args;
	int st = uw_tool_args(argc, argv, help, &args, NULL);
	if (st >= 0)
		return st;
	const char *dir = args.dir, *prefix = args.prefix;
	bool json = args.json;
	int locked = uwal_locked(dir, prefix);
	if (locked < 0)
		return uw_tool_fail_err(json, "stat", dir, locked, NULL);
	struct uw_tool_log log = {0};
	uwal *w;
	int err = uw_tool_open(dir, prefix, 0, &log, &w);
	if (err < 0) {
		int ret = damaged(json, dir, prefix, err, &log);
		uw_tool_log_free(&log);
		return ret;
	}
	uwal_segment_info *v = NULL;
	size_t n = 0;
	int ret = UW_TOOL_OK;
	err = uwal_segments(w, &v, &n);
	if (err < 0)
		ret = uw_tool_fail_err(json, "stat", dir, err, &log);
	else if (n == 0)
		ret = uw_tool_not_a_log(json, "stat", dir, prefix);
	else if (json)
		put_json(dir, prefix, locked, w, v, n);
	else
		put_text(dir, prefix, locked, w, v, n);
	uwal_segments_free(v);
	uwal_close(w);
	uw_tool_log_free(&log);
	return ret;
}
