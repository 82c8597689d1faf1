/*
 * jobfile.c - fio-style INI job files.
 *
 *   ; a comment (so is "# ...", on its own line or after a value)
 *   [global]            defaults for every section that follows it
 *   bs=100
 *   [sync-1]            one job, named after its section
 *   sync=batch
 *   time_based          a flag: same as time_based=1
 *
 * As in fio, a [global] section may appear more than once and applies to
 * the sections after it; jobs run in file order, one after another. Every
 * error names the file and line: an unknown option, a bad value, an
 * option outside any section, a malformed section header, a file with no
 * job at all.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void joblist_free(struct joblist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

struct job *joblist_add(struct joblist *l, const struct job *job)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct job *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = *job;
	return &l->v[l->n++];
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut a trailing comment: ';' or '#' at the start or after white space. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if ((*p == ';' || *p == '#') && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

struct parser {
	const char *fname;
	unsigned line;
	char *err;
	size_t errlen;
	struct job global; /* defaults for the next sections */
	struct job *cur;   /* the section being read; &global in [global] */
	struct joblist *out;
	struct optlist *globals;
	size_t first_job; /* out->n when the file started */
	size_t jobs_seen;
};

static int fail(struct parser *p, const char *msg)
{
	snprintf(p->err, p->errlen, "%s:%u: %s", p->fname, p->line, msg);
	return -1;
}

/* Check and finish the job just read (the last one in out). */
static int close_section(struct parser *p)
{
	if (!p->cur || p->cur == &p->global)
		return 0;
	char msg[512];
	if (job_check(p->cur, msg, sizeof(msg))) {
		char full[600];
		snprintf(full, sizeof(full), "[%s]: %s", p->cur->name, msg);
		return fail(p, full);
	}
	return 0;
}

static int section(struct parser *p, char *s)
{
	size_t len = strlen(s);
	if (len < 2 || s[len - 1] != ']')
		return fail(p, "malformed section header (expected [name])");
	s[len - 1] = '\0';
	char *name = trim(s + 1);
	if (!*name)
		return fail(p, "empty section name");
	if (close_section(p))
		return -1;
	if (!strcmp(name, "global")) {
		p->cur = &p->global;
		return 0;
	}
	if (strlen(name) >= sizeof(p->global.name)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "section name longer than %zu characters",
			 sizeof(p->global.name) - 1);
		return fail(p, msg);
	}
	struct job *job = joblist_add(p->out, &p->global);
	if (!job)
		return fail(p, "out of memory");
	snprintf(job->name, sizeof(job->name), "%s", name);
	p->cur = job;
	p->jobs_seen++;
	return 0;
}

static int option(struct parser *p, char *s)
{
	char *eq = strchr(s, '=');
	char *value = NULL;
	if (eq) {
		*eq = '\0';
		value = trim(eq + 1);
	}
	char *key = trim(s);
	if (!*key)
		return fail(p, "option with no name before '='");
	if (!p->cur) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "option '%s' is outside any section: put it under [global] or a "
			 "[job] section",
			 key);
		return fail(p, msg);
	}
	char msg[512];
	if (job_set_option(p->cur, key, value, msg, sizeof(msg)))
		return fail(p, msg);
	if (p->cur == &p->global && p->globals)
		optlist_set(p->globals, job_option_name(key), value);
	return 0;
}

int jobfile_parse_text(const char *text, const char *fname, const struct job *base,
		       struct joblist *out, struct optlist *globals, char *err, size_t errlen)
{
	struct parser *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", fname);
		return -1;
	}
	p->fname = fname;
	p->err = err;
	p->errlen = errlen;
	p->global = *base;
	p->out = out;
	p->globals = globals;
	p->first_job = out->n;

	int rc = 0;
	const char *s = text;
	while (*s && rc == 0) {
		size_t len = strcspn(s, "\n");
		p->line++;
		char buf[4096];
		if (len >= sizeof(buf)) {
			rc = fail(p, "line too long");
			break;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s += len + (s[len] == '\n');
		char *l = trim(buf);
		if (*l == ';' || *l == '#' || !*l)
			continue;
		if (*l == '[') {
			rc = section(p, l);
			continue;
		}
		cut_comment(l);
		rc = option(p, trim(l));
	}
	if (rc == 0)
		rc = close_section(p);
	if (rc == 0 && p->jobs_seen == 0) {
		snprintf(err, errlen, "%s: no job sections (only [global] or nothing)", fname);
		rc = -1;
	}
	if (rc)
		out->n = p->first_job; /* drop this file's jobs */
	free(p);
	return rc;
}

int jobfile_parse_file(const char *path, const struct job *base, struct joblist *out,
		       struct optlist *globals, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 14, len = 0;
	char *text = malloc(cap);
	int rc = -1;
	if (!text)
		goto out;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= (16u << 20)) {
				snprintf(err, errlen, "%s: larger than 16 MiB", path);
				goto out;
			}
			char *bigger = realloc(text, cap * 2);
			if (!bigger)
				goto out;
			text = bigger;
			cap *= 2;
		}
		size_t got = fread(text + len, 1, cap - 1 - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: not a text file (NUL byte)", path);
		goto out;
	}
	rc = jobfile_parse_text(text, path, base, out, globals, err, errlen);
out:
	if (rc && !text)
		snprintf(err, errlen, "%s: out of memory", path);
	free(text);
	fclose(f);
	return rc;
}
