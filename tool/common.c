/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - what uwal(1)'s subcommands share: diagnostics captured from
 * log_fn, the read-only open, errors in words, and bytes written as text,
 * hex or JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

void uw_tool_log_fn(void *ctx, int level, const char *msg)
{
	struct uw_tool_log *l = ctx;
	if (l->n == UW_TOOL_LOG_MAX || !(l->msg[l->n] = strdup(msg))) {
		l->dropped++;
		return;
	}
	l->level[l->n++] = level;
}

void uw_tool_log_free(struct uw_tool_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->msg[i]);
	l->n = l->dropped = 0;
}

int uw_tool_open(const char *dir, const char *prefix, unsigned extra, struct uw_tool_log *log,
		 uwal **out)
{
	return uw_tool_open_flags(dir, prefix, UWAL_OPEN_READONLY | extra, log, out);
}

int uw_tool_open_flags(const char *dir, const char *prefix, unsigned flags, struct uw_tool_log *log,
		       uwal **out)
{
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = dir;
	if (prefix)
		cfg.prefix = prefix;
	cfg.open_flags = flags;
	cfg.log_fn = uw_tool_log_fn;
	cfg.log_ctx = log;
	return uwal_open(&cfg, out);
}

const char *uw_tool_errname(int err)
{
	switch (err) {
	case UWAL_EINVAL:
		return "UWAL_EINVAL";
	case UWAL_EEXIST:
		return "UWAL_EEXIST";
	case UWAL_ENOTFOUND:
		return "UWAL_ENOTFOUND";
	case UWAL_ETOOBIG:
		return "UWAL_ETOOBIG";
	case UWAL_ESHUTDOWN:
		return "UWAL_ESHUTDOWN";
	case UWAL_ELOCKED:
		return "UWAL_ELOCKED";
	case UWAL_ECORRUPT:
		return "UWAL_ECORRUPT";
	case UWAL_EPOISONED:
		return "UWAL_EPOISONED";
	case UWAL_EAGAIN:
		return "UWAL_EAGAIN";
	case UWAL_ETRUNCATED:
		return "UWAL_ETRUNCATED";
	case UWAL_EVERSION:
		return "UWAL_EVERSION";
	case UWAL_EREADONLY:
		return "UWAL_EREADONLY";
	}
	const char *name = err < 0 ? strerrorname_np(-err) : NULL;
	return name ? name : "unknown error";
}

const char *uw_tool_explain(int err, char *buf, size_t n)
{
	const char *what;
	switch (err) {
	case UWAL_ELOCKED:
		what = "the log is locked: it is open in another process";
		break;
	case UWAL_ECORRUPT:
		what = "the log is damaged";
		break;
	case -ENOENT:
		what = "no such directory";
		break;
	case -ENOTDIR:
		what = "not a directory";
		break;
	default:
		what = uwal_strerror(err);
		break;
	}
	snprintf(buf, n, "%s (%s)", what, uw_tool_errname(err));
	return buf;
}

bool uw_tool_parse_u64(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

void uw_tool_put_text(FILE *f, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			fputc(b[i], f);
		else
			fprintf(f, "\\x%02x", b[i]);
	}
}

void uw_tool_put_hex(FILE *f, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", b[i]);
}

/* Whether p[0..len) is UTF-8 with no NUL (which many JSON readers refuse
 * inside a string even when escaped). */
static bool is_utf8(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t k = c < 0x80             ? 0
			   : (c & 0xe0) == 0xc0 ? 1
			   : (c & 0xf0) == 0xe0 ? 2
			   : (c & 0xf8) == 0xf0 ? 3
						: 9;
		if (c == 0 || k == 9 || (k == 1 && c < 0xc2) || i + k >= len)
			return false;
		uint32_t cp = k == 0 ? c : c & (0x3f >> k);
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

static void put_json_chars(FILE *f, const unsigned char *p, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void uw_tool_put_json_str(FILE *f, const char *s)
{
	put_json_chars(f, (const unsigned char *)s, strlen(s));
}

void uw_tool_put_json_bytes(FILE *f, const char *name, const void *p, size_t len)
{
	if (is_utf8(p, len)) {
		fprintf(f, "\"%s\":", name);
		put_json_chars(f, p, len);
	} else {
		fprintf(f, "\"%s_hex\":\"", name);
		uw_tool_put_hex(f, p, len);
		fputc('"', f);
	}
}

bool uw_tool_parse_format(const char *cmd, const char *s, enum uw_tool_fmt *out)
{
	if (!strcmp(s, "text"))
		*out = UW_FMT_TEXT;
	else if (!strcmp(s, "hex"))
		*out = UW_FMT_HEX;
	else if (!strcmp(s, "json"))
		*out = UW_FMT_JSON;
	else {
		fprintf(stderr, "uwal %s: --format: text, json or hex, not '%s'\n", cmd, s);
		return false;
	}
	return true;
}

void uw_tool_put_record(FILE *f, enum uw_tool_fmt fmt, bool keys_only, const uwal_record *r,
			uint64_t seq, uint64_t off)
{
	if (fmt == UW_FMT_JSON) {
		fprintf(f, "{\"index\":%" PRIu64 ",\"segment\":%" PRIu64 ",\"offset\":%" PRIu64 ",",
			r->index, seq, off);
		uw_tool_put_json_bytes(f, "key", r->key, r->key_len);
		if (!keys_only) {
			fputc(',', f);
			uw_tool_put_json_bytes(f, "value", r->value, r->value_len);
		}
		fputs("}\n", f);
		return;
	}
	void (*put)(FILE *, const void *, size_t) =
		fmt == UW_FMT_HEX ? uw_tool_put_hex : uw_tool_put_text;
	fprintf(f, "%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t", r->index, seq, off);
	put(f, r->key, r->key_len);
	if (!keys_only) {
		fputc('\t', f);
		put(f, r->value, r->value_len);
	}
	fputc('\n', f);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void uw_tool_progress_start(struct uw_tool_progress *p, const char *cmd, uint64_t total_bytes,
			    bool streams)
{
	bool on = isatty(STDERR_FILENO) == 1 && !(streams && isatty(STDOUT_FILENO) == 1);
	*p = (struct uw_tool_progress){.on = on, .cmd = cmd, .total = total_bytes};
	/* Nothing for a run that ends within a second. */
	p->next_ns = now_ns() + 1000000000u;
}

void uw_tool_progress_step(struct uw_tool_progress *p, const uwal_record *r)
{
	if (!p->on)
		return;
	p->records++;
	p->bytes += uwal_record_size(r->index, r->key_len, r->value_len);
	if (p->records % 1024 || now_ns() < p->next_ns)
		return;
	p->next_ns = now_ns() + 200000000u;
	double mib = 1024.0 * 1024.0;
	fprintf(stderr, "\r\033[Kuwal %s: %" PRIu64 " records, %.1f of %.1f MiB (%.0f%%)", p->cmd,
		p->records, (double)p->bytes / mib, (double)p->total / mib,
		p->total ? 100.0 * (double)p->bytes / (double)p->total : 100.0);
	p->shown = true;
}

void uw_tool_progress_end(struct uw_tool_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = false;
}

bool uw_tool_msg_file(const char *msg, const char *dir, char *name, size_t n)
{
	size_t dl = strlen(dir);
	for (const char *p = strstr(msg, dir); p; p = strstr(p + 1, dir)) {
		if (p[dl] != '/')
			continue;
		const char *s = p + dl + 1;
		size_t l = strcspn(s, " :,");
		if (l == 0 || l >= n)
			return false;
		memcpy(name, s, l);
		name[l] = '\0';
		return true;
	}
	return false;
}

bool uw_tool_msg_offset(const char *msg, uint64_t *off)
{
	const char *p = strstr(msg, "at offset ");
	if (!p)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 10, &end, 10);
	if (end == p + 10 || errno)
		return false;
	*off = v;
	return true;
}

void uw_tool_put_json_log(FILE *f, const struct uw_tool_log *log, const char *dir)
{
	static const char *const levels[] = {"error", "warning", "info"};
	fputc('[', f);
	for (size_t i = 0; i < log->n; i++) {
		const char *m = log->msg[i];
		int lv = log->level[i];
		fprintf(f, "%s{\"level\":\"%s\",\"message\":", i ? "," : "",
			lv >= 0 && lv <= 2 ? levels[lv] : "error");
		uw_tool_put_json_str(f, m);
		char name[256];
		uint64_t off;
		if (uw_tool_msg_file(m, dir, name, sizeof(name))) {
			fputs(",\"file\":", f);
			uw_tool_put_json_str(f, name);
		}
		if (uw_tool_msg_offset(m, &off))
			fprintf(f, ",\"offset\":%" PRIu64, off);
		fputc('}', f);
	}
	fputc(']', f);
}

/* The records an action of unsafe recover loses, when it is known. */
static bool action_lost(const uwal_segment_info *e, uint64_t *lost)
{
	*lost = e->removed ? e->records : e->cut_offset ? e->records_lost : 0;
	return *lost != UWAL_RECORDS_UNKNOWN;
}

void uw_tool_put_json_action(FILE *f, const uwal_segment_info *e)
{
	uint64_t lost;
	fprintf(f, "{\"seq\":%" PRIu64 ",\"name\":", e->seq);
	uw_tool_put_json_str(f, e->name);
	fprintf(f, ",\"action\":\"%s\",\"records_lost\":",
		e->removed      ? "remove"
		: e->cut_offset ? "cut"
				: "flag_after_gap");
	if (action_lost(e, &lost))
		fprintf(f, "%" PRIu64, lost);
	else
		fputs("null", f);
	if (e->cut_offset)
		fprintf(f, ",\"cut_offset\":%" PRIu64 ",\"records_kept\":%" PRIu64, e->cut_offset,
			e->records);
	fprintf(f,
		",\"first_index\":%" PRIu64 ",\"last_index\":%" PRIu64 ",\"file_size\":%" PRIu64
		",\"bad_offset\":%" PRIu64 ",\"damage\":",
		e->first_index, e->last_index, e->file_size, e->bad_offset);
	uw_tool_put_json_str(f, e->damage ? e->damage : "");
	fputc('}', f);
}

void uw_tool_put_action(FILE *f, const uwal_segment_info *e, bool dry)
{
	if (e->removed) {
		fprintf(f, "%s %s: %" PRIu64 " whole record%s before the damage lost",
			dry ? "would remove" : "removed", e->name, e->records,
			e->records == 1 ? "" : "s");
		if (e->records)
			fprintf(f, " (index %" PRIu64 "..%" PRIu64 ")", e->first_index,
				e->last_index);
		if (e->version)
			fprintf(f, ", with whatever follows it");
		fprintf(f, "\n    %s, at offset %" PRIu64 "\n", e->damage, e->bad_offset);
	} else if (e->cut_offset) {
		fprintf(f, "%s %s at offset %" PRIu64 ": %" PRIu64 " whole record%s kept",
			dry ? "would cut" : "cut", e->name, e->cut_offset, e->records,
			e->records == 1 ? "" : "s");
		if (e->records)
			fprintf(f, " (index %" PRIu64 "..%" PRIu64 ")", e->first_index,
				e->last_index);
		if (e->records_lost == UWAL_RECORDS_UNKNOWN)
			fprintf(f, ", the records after it lost (how many, the file does not say)");
		else
			fprintf(f, ", %" PRIu64 " record%s after it lost", e->records_lost,
				e->records_lost == 1 ? "" : "s");
		fprintf(f, "\n    at offset %" PRIu64 ": %s\n", e->bad_offset, e->damage);
	} else {
		fprintf(f, "%s %s after_gap\n    %s\n", dry ? "would flag" : "flagged", e->name,
			e->damage);
	}
}

/* Totals of a recover report: files removed, files cut, records lost
 * (as far as known) and cuts losing an unknown number of records. */
void uw_tool_action_totals(const uwal_segment_info *v, size_t n, struct uw_tool_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		uint64_t lost;
		t->removed += v[i].removed;
		t->cut += !v[i].removed && v[i].cut_offset;
		if (action_lost(&v[i], &lost))
			t->lost += lost;
		else
			t->unknown++;
	}
}

int uw_tool_fail(bool json, const char *cmd, const char *dir, const char *code, const char *message,
		 const struct uw_tool_log *log)
{
	if (json) {
		fputs("{\"dir\":", stdout);
		uw_tool_put_json_str(stdout, dir);
		fputs(",\"ok\":false,\"error\":", stdout);
		uw_tool_put_json_str(stdout, code);
		fputs(",\"message\":", stdout);
		uw_tool_put_json_str(stdout, message);
		fputs(",\"diagnostics\":", stdout);
		uw_tool_put_json_log(stdout, log ? log : &(struct uw_tool_log){0}, dir);
		fputs("}\n", stdout);
		return UW_TOOL_FAIL;
	}
	for (size_t i = 0; log && i < log->n; i++)
		fprintf(stderr, "uwal %s: %s\n", cmd, log->msg[i]);
	fprintf(stderr, "uwal %s: %s: %s\n", cmd, dir, message);
	return UW_TOOL_FAIL;
}

int uw_tool_fail_err(bool json, const char *cmd, const char *dir, int err,
		     const struct uw_tool_log *log)
{
	char buf[160];
	return uw_tool_fail(json, cmd, dir, uw_tool_errname(err),
			    uw_tool_explain(err, buf, sizeof(buf)), log);
}

int uw_tool_not_a_log(bool json, const char *cmd, const char *dir, const char *prefix)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "not a uwal log: no segment files named %s<20 digits>",
		 prefix ? prefix : "segment_");
	return uw_tool_fail(json, cmd, dir, "not_a_log", buf, NULL);
}

int uw_tool_opt(const char *cmd, int c, const char *help, struct uw_tool_opts *o)
{
	switch (c) {
	case 'p':
		o->prefix = optarg;
		return -1;
	case 'j':
		o->json = true;
		o->fmt = UW_FMT_JSON;
		return -1;
	case UW_TOOL_OPT_FORMAT:
		return uw_tool_parse_format(cmd, optarg, &o->fmt) ? -1 : UW_TOOL_USAGE;
	case UW_TOOL_OPT_KEYS:
		o->keys_only = true;
		return -1;
	case 'h':
		fputs(help, stdout);
		return UW_TOOL_OK;
	case '?':
	case ':':
		fputs(help, stderr);
		return UW_TOOL_USAGE;
	}
	return -2;
}

int uw_tool_dir_arg(int argc, char **argv, const char *help, const char **dir)
{
	if (optind != argc - 1) {
		fputs(help, stderr);
		return UW_TOOL_USAGE;
	}
	*dir = argv[optind];
	return -1;
}

int uw_tool_args(int argc, char **argv, const char *help, struct uw_tool_args *a, bool *dry)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'}, UW_TOOL_SHARED_OPTS, {0}};
	struct uw_tool_opts o = {.prefix = "segment_"};
	int c, st;
	/* --dry-run is recover's alone: the others refuse it as unknown. */
	while ((c = getopt_long(argc, argv, dry ? "hn" : "h", dry ? opts : opts + 1, NULL)) != -1) {
		if (c == 'n')
			*dry = true;
		else if ((st = uw_tool_opt(argv[0], c, help, &o)) != -1)
			return st == -2 ? uw_tool_opt(argv[0], '?', help, &o) : st;
	}
	*a = (struct uw_tool_args){.prefix = o.prefix, .json = o.json};
	return uw_tool_dir_arg(argc, argv, help, &a->dir);
}
