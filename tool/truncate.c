/* SPDX-License-Identifier: Apache-2.0 */
/*
 * truncate.c - uwal truncate DIR --front INDEX | --back INDEX: remove the
 * records before INDEX (uwal_truncate_front) or INDEX and every record
 * after it (uwal_truncate_back). The log is opened normally, so it takes
 * the lock: a log a writer holds is refused (UWAL_ELOCKED).
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "tool.h"

static const char help[] =
	"usage: uwal truncate (--front INDEX | --back INDEX) [--prefix P] [--json] DIR\n"
	"\n"
	"Remove records from the log in DIR, durably (a truncation frame, or a cut of\n"
	"the active segment, fdatasynced before it returns).\n"
	"\n"
	"  --front INDEX  remove every record before INDEX in log order; INDEX is kept\n"
	"                 (an index above every index in the log empties it)\n"
	"  --back INDEX   remove INDEX and every record after it in log order\n"
	"  --prefix P     segment file prefix (default segment_)\n"
	"  --json         one JSON object on stdout\n"
	"\n"
	"The log is opened for writing: it takes the lock, so a log that another\n"
	"process has open is refused (UWAL_ELOCKED), and a torn tail is cut first as\n"
	"any open does.\n"
	"\n"
	"Exit status: 0 done (also when nothing was before --front INDEX); 1 the log\n"
	"does not open, is locked, or INDEX is not in it; 2 usage.\n";

struct view {
	uint64_t records, first, last;
};

static int look(uwal *w, struct view *v)
{
	uwal_segment_info *s;
	size_t n;
	int err = uwal_segments(w, &s, &n);
	if (err < 0)
		return err;
	v->records = 0;
	for (size_t i = 0; i < n; i++)
		v->records += s[i].records;
	uwal_segments_free(s);
	v->first = uwal_first_index(w);
	v->last = uwal_last_index(w);
	return 0;
}

/* Whether dir holds segment files: a normal open would make a log of an
 * empty or missing directory. 1 yes, 0 no, or the read-only open's error. */
static int is_log(const char *dir, const char *prefix, struct uw_tool_log *log)
{
	uwal *w;
	int err = uw_tool_open(dir, prefix, 0, log, &w);
	if (err < 0)
		return err;
	uwal_segment_info *s = NULL;
	size_t n = 0;
	err = uwal_segments(w, &s, &n);
	uwal_segments_free(s);
	uwal_close(w);
	return err < 0 ? err : n > 0;
}

static void put(bool json, const char *dir, bool front, uint64_t index, const struct view *b,
		const struct view *a)
{
	const char *side = front ? "front" : "back";
	if (json) {
		fputs("{\"dir\":", stdout);
		uw_tool_put_json_str(stdout, dir);
		printf(",\"ok\":true,\"truncate\":\"%s\",\"index\":%" PRIu64
		       ",\"records_before\":%" PRIu64 ",\"records_after\":%" PRIu64
		       ",\"records_removed\":%" PRIu64 ",\"first_index_before\":%" PRIu64
		       ",\"last_index_before\":%" PRIu64 ",\"first_index\":%" PRIu64
		       ",\"last_index\":%" PRIu64 "}\n",
		       side, index, b->records, a->records, b->records - a->records, b->first,
		       b->last, a->first, a->last);
		return;
	}
	printf("truncated the %s at index %" PRIu64 ": %" PRIu64 " record%s removed\n", side, index,
	       b->records - a->records, b->records - a->records == 1 ? "" : "s");
	printf("before: %" PRIu64 " records, index %" PRIu64 "..%" PRIu64 "\n", b->records,
	       b->first, b->last);
	printf("after:  %" PRIu64 " records, index %" PRIu64 "..%" PRIu64 "\n", a->records,
	       a->first, a->last);
}

int uw_tool_truncate(int argc, char **argv)
{
	static const struct option opts[] = {{"front", required_argument, NULL, 'f'},
					     {"back", required_argument, NULL, 'b'},
					     UW_TOOL_SHARED_OPTS,
					     {0}};
	struct uw_tool_opts o = {.prefix = "segment_"};
	bool front = false;
	int sides = 0;
	uint64_t index = 0;
	const char *dir;
	int c, st;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'f' || c == 'b') {
			if (!uw_tool_parse_u64(optarg, &index) || index == 0) {
				fprintf(stderr, "uwal truncate: --%s: not an index: '%s'\n",
					c == 'f' ? "front" : "back", optarg);
				return UW_TOOL_USAGE;
			}
			front = c == 'f';
			sides++;
		} else if ((st = uw_tool_opt("truncate", c, help, &o)) != -1) {
			return st == -2 ? uw_tool_opt("truncate", '?', help, &o) : st;
		}
	}
	if (sides != 1) {
		fprintf(stderr, "uwal truncate: one of --front INDEX and --back INDEX\n");
		fputs(help, stderr);
		return UW_TOOL_USAGE;
	}
	if ((st = uw_tool_dir_arg(argc, argv, help, &dir)) >= 0)
		return st;
	const char *prefix = o.prefix;
	bool json = o.json;
	struct uw_tool_log log = {0};
	int ret = UW_TOOL_OK;
	uwal *w = NULL;
	int err = is_log(dir, prefix, &log);
	if (err == 0)
		ret = uw_tool_not_a_log(json, "truncate", dir, prefix);
	if (err == 1) {
		uw_tool_log_free(&log);
		log = (struct uw_tool_log){0};
		err = uw_tool_open_flags(dir, prefix, 0, &log, &w);
	}
	if (err == UWAL_ELOCKED) {
		ret = uw_tool_fail(json, "truncate", dir, "UWAL_ELOCKED",
				   "the log is locked: another process has it open for writing "
				   "(UWAL_ELOCKED); stop it, or truncate through its handle",
				   &log);
	} else if (err < 0) {
		ret = uw_tool_fail_err(json, "truncate", dir, err, &log);
	}
	if (!w)
		goto out;
	struct view before, after;
	err = look(w, &before);
	if (err == 0)
		err = front ? uwal_truncate_front(w, index) : uwal_truncate_back(w, index);
	if (err == UWAL_ENOTFOUND) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "no record %" PRIu64 " in the log (index %" PRIu64 "..%" PRIu64
			 "); nothing removed (UWAL_ENOTFOUND)",
			 index, before.first, before.last);
		ret = uw_tool_fail(json, "truncate", dir, "UWAL_ENOTFOUND", msg, &log);
	} else if (err == 0 && (err = look(w, &after)) == 0) {
		put(json, dir, front, index, &before, &after);
	}
	int cerr = uwal_close(w);
	if (err == 0)
		err = cerr;
	if (err < 0 && ret == UW_TOOL_OK)
		ret = uw_tool_fail_err(json, "truncate", dir, err, &log);
out:
	uw_tool_log_free(&log);
	if (fflush(stdout) != 0 && ret == UW_TOOL_OK)
		ret = UW_TOOL_FAIL;
	return ret;
}
