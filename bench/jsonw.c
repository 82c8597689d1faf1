/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonw.c - a small streaming JSON writer for uwal-bench's output.
 *
 * It writes straight to a FILE, indented by two spaces per level and with
 * fio's `"key" : value` spacing, and tracks only whether a comma is due
 * at each level. Strings are escaped per RFC 8259 (quote, backslash and
 * control characters); bytes >= 0x80 pass through, so UTF-8 stays UTF-8.
 * Numbers: integers exactly, doubles with %f as fio writes them; JSON has
 * no NaN or infinity, so those are written as 0.
 */
#include "bench.h"

#include <inttypes.h>
#include <math.h>

void jw_init(struct jsonw *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->first[0] = true;
}

static void indent(struct jsonw *w)
{
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Comma, newline and indentation before a value, then its key if any. */
static void member(struct jsonw *w, const char *key)
{
	if (w->depth > 0) {
		fputs(w->first[w->depth] ? "\n" : ",\n", w->f);
		indent(w);
	}
	w->first[w->depth] = false;
	if (key) {
		put_string(w->f, key);
		fputs(" : ", w->f);
	}
}

static void open_level(struct jsonw *w, const char *key, char c)
{
	member(w, key);
	fputc(c, w->f);
	if (w->depth + 1 < JSONW_MAX_DEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_level(struct jsonw *w, char c)
{
	bool empty = w->first[w->depth];
	if (w->depth > 0)
		w->depth--;
	if (!empty) {
		fputc('\n', w->f);
		indent(w);
	}
	fputc(c, w->f);
}

void jw_object(struct jsonw *w, const char *key)
{
	open_level(w, key, '{');
}

void jw_array(struct jsonw *w, const char *key)
{
	open_level(w, key, '[');
}

void jw_end_object(struct jsonw *w)
{
	close_level(w, '}');
}

void jw_end_array(struct jsonw *w)
{
	close_level(w, ']');
}

void jw_string(struct jsonw *w, const char *key, const char *v)
{
	member(w, key);
	put_string(w->f, v ? v : "");
}

void jw_u64(struct jsonw *w, const char *key, uint64_t v)
{
	member(w, key);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_i64(struct jsonw *w, const char *key, int64_t v)
{
	member(w, key);
	fprintf(w->f, "%" PRId64, v);
}

void jw_double(struct jsonw *w, const char *key, double v)
{
	member(w, key);
	fprintf(w->f, "%f", isfinite(v) ? v : 0.0);
}

void jw_bool(struct jsonw *w, const char *key, bool v)
{
	member(w, key);
	fputs(v ? "true" : "false", w->f);
}

void jw_finish(struct jsonw *w)
{
	fputc('\n', w->f);
	fflush(w->f);
}
