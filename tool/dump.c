/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dump.c - uwal dump DIR: the records of a log in log order, each with
 * its index, segment and offset, key and value. Streams: one iterator over
 * a read-only open, so memory holds one record at a time.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "tool.h"

static const char help[] =
	"usage: uwal dump [--from INDEX] [--to INDEX] [--format=text|json|hex] [--json]\n"
	"                 [--keys-only] [--prefix P] DIR\n"
	"\n"
	"Print the records of the log in DIR in log order, without changing it, one\n"
	"line each. Records whose index is outside [--from, --to] are left out (log\n"
	"order need not be index order: the whole log is read).\n"
	"\n"
	"  --format=text  INDEX SEGMENT OFFSET KEY VALUE, tab-separated; bytes that are\n"
	"                 not printable ASCII, and '\\', as \\xNN (the default)\n"
	"  --format=hex   the same columns, key and value in hex\n"
	"  --format=json  one JSON object per line: index, segment, offset, key, value\n"
	"                 (key_hex / value_hex instead when the bytes are not UTF-8)\n"
	"  --json         --format=json\n"
	"  --keys-only    leave the values out\n"
	"  --prefix P     segment file prefix (default segment_)\n"
	"\n"
	"Exit status: 0 every record was read; 1 the log does not open or a record\n"
	"failed its check (the records before it are printed); 2 usage.\n";

/* Say on stderr that a torn tail is hidden (a normal open would cut it). */
static int note_tail(uwal *w, const char *dir, bool *empty, uint64_t *frame_bytes)
{
	uwal_segment_info *v;
	size_t n;
	int err = uwal_segments(w, &v, &n);
	if (err < 0)
		return err;
	*empty = n == 0;
	*frame_bytes = 0;
	for (size_t i = 0; i < n; i++)
		*frame_bytes += v[i].frame_bytes;
	for (size_t i = 0; i < n; i++)
		if (v[i].tail_bytes)
			fprintf(stderr,
				"uwal dump: %s: %s has %" PRIu64 " bytes after its last whole "
				"frame (a torn tail, or frames being written); not shown\n",
				dir, v[i].name, v[i].tail_bytes);
	uwal_segments_free(v);
	return 0;
}

int uw_tool_dump(int argc, char **argv)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
					     {"to", required_argument, NULL, 't'},
					     UW_TOOL_RECORD_OPTS,
					     UW_TOOL_SHARED_OPTS,
					     {0}};
	struct uw_tool_opts o = {.prefix = "segment_"};
	uint64_t from = 0, to = UINT64_MAX;
	const char *dir;
	int c, st;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'f' || c == 't') {
			if (!uw_tool_parse_u64(optarg, c == 'f' ? &from : &to)) {
				fprintf(stderr, "uwal dump: --%s: not an index: '%s'\n",
					c == 'f' ? "from" : "to", optarg);
				return UW_TOOL_USAGE;
			}
		} else if ((st = uw_tool_opt("dump", c, help, &o)) != -1) {
			return st == -2 ? uw_tool_opt("dump", '?', help, &o) : st;
		}
	}
	if ((st = uw_tool_dir_arg(argc, argv, help, &dir)) >= 0)
		return st;
	const char *prefix = o.prefix;
	/* Failures go to stderr, also with --format=json: stdout holds
	 * records only. */
	struct uw_tool_log log = {0};
	uwal *w;
	int err = uw_tool_open(dir, prefix, 0, &log, &w);
	if (err < 0) {
		uw_tool_fail_err(false, "dump", dir, err, &log);
		uw_tool_log_free(&log);
		return UW_TOOL_FAIL;
	}
	bool empty = false;
	int ret = UW_TOOL_OK;
	uwal_iter *it = NULL;
	uint64_t total = 0;
	err = note_tail(w, dir, &empty, &total);
	if (err == 0 && empty) {
		ret = uw_tool_not_a_log(false, "dump", dir, prefix);
		goto out;
	}
	if (err == 0)
		err = uwal_iter_open(w, &it);
	struct uw_tool_progress p;
	uw_tool_progress_start(&p, "dump", total, true);
	uwal_record r;
	while (err == 0 && (err = uwal_iter_next(it, &r)) == 1) {
		err = 0;
		uw_tool_progress_step(&p, &r);
		if (r.index < from || r.index > to)
			continue;
		uint64_t seq = 0, off = 0;
		uwal_iter_position(it, &seq, &off);
		uw_tool_put_record(stdout, o.fmt, o.keys_only, &r, seq, off);
	}
	uw_tool_progress_end(&p);
	if (err < 0)
		ret = uw_tool_fail_err(false, "dump", dir, err, &log);
out:
	uwal_iter_close(it);
	uwal_close(w);
	uw_tool_log_free(&log);
	if (fflush(stdout) != 0 && ret == UW_TOOL_OK) {
		fprintf(stderr, "uwal dump: writing the output failed\n");
		ret = UW_TOOL_FAIL;
	}
	return ret;
}
