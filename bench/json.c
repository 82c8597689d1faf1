/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - a minimal JSON reader for uwal-bench: find one number by path.
 *
 * It walks the text once, skipping every value that is not on the path,
 * and checks syntax only as far as it walks. Enough for reading fio's
 * --output-format=json; not a general parser (no string unescaping: a
 * member name with escapes matches only its raw spelling).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* p at '"': returns the position after the closing quote, or NULL. The raw
 * contents are [*start, *start + *len). */
static const char *scan_string(const char *p, const char **start, size_t *len)
{
	if (*p != '"')
		return NULL;
	const char *s = ++p;
	while (*p && *p != '"') {
		if (*p == '\\') {
			p++;
			if (!*p)
				return NULL;
		}
		p++;
	}
	if (*p != '"')
		return NULL;
	if (start)
		*start = s;
	if (len)
		*len = (size_t)(p - s);
	return p + 1;
}

static const char *skip_value(const char *p, int depth);

/* p at '{' or '[': skip the whole container. */
static const char *skip_container(const char *p, int depth)
{
	char close = *p == '{' ? '}' : ']';
	bool object = *p == '{';
	if (depth > JSON_MAX_DEPTH)
		return NULL;
	p = skip_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			p = scan_string(p, NULL, NULL);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p != ':')
				return NULL;
			p = skip_ws(p + 1);
		}
		p = skip_value(p, depth + 1);
		if (!p)
			return NULL;
		p = skip_ws(p);
		if (*p == close)
			return p + 1;
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1);
	}
}

static const char *skip_value(const char *p, int depth)
{
	p = skip_ws(p);
	switch (*p) {
	case '{':
	case '[':
		return skip_container(p, depth);
	case '"':
		return scan_string(p, NULL, NULL);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default: {
		char *end;
		(void)strtod(p, &end);
		return end == p ? NULL : end;
	}
	}
}

/* p at an object: return the position of the value of member name. */
static const char *find_member(const char *p, const char *name)
{
	size_t nlen = strlen(name);
	p = skip_ws(p + 1);
	if (*p == '}')
		return NULL;
	for (;;) {
		const char *k;
		size_t klen;
		p = scan_string(p, &k, &klen);
		if (!p)
			return NULL;
		p = skip_ws(p);
		if (*p != ':')
			return NULL;
		p = skip_ws(p + 1);
		if (klen == nlen && memcmp(k, name, nlen) == 0)
			return p;
		p = skip_value(p, 1);
		if (!p)
			return NULL;
		p = skip_ws(p);
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1);
	}
}

/* p at an array: return the position of element pos. */
static const char *find_element(const char *p, unsigned long pos)
{
	p = skip_ws(p + 1);
	if (*p == ']')
		return NULL;
	for (unsigned long i = 0;; i++) {
		if (i == pos)
			return p;
		p = skip_value(p, 1);
		if (!p)
			return NULL;
		p = skip_ws(p);
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1);
	}
}

int json_find_number(const char *text, const char *const *path, double *out)
{
	const char *p = skip_ws(text);
	for (; *path; path++) {
		if (*p == '{') {
			p = find_member(p, *path);
		} else if (*p == '[') {
			char *end;
			unsigned long pos = strtoul(*path, &end, 10);
			p = (*end || end == *path) ? NULL : find_element(p, pos);
		} else {
			p = NULL;
		}
		if (!p)
			return -1;
		p = skip_ws(p);
	}
	if (*p != '-' && (*p < '0' || *p > '9'))
		return -1;
	char *end;
	double v = strtod(p, &end);
	if (end == p)
		return -1;
	*out = v;
	return 0;
}
