/* SPDX-License-Identifier: Apache-2.0 */
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
 * error names the file and line and comes with a hint: an unknown option,
 * a bad value, an option outside any section, a malformed section header,
 * a file with no job at all. Parsing goes on after an error, so a file's
 * errors are all reported at once; after a malformed section header the
 * options up to the next header are skipped rather than each reported.
 * fio's options that are not uwal-bench's go through fiocompat.c, whose
 * warnings (an option that does not apply) and notes (fio's fdatasync=1
 * read as sync=always) are reported with their lines too.
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

void jobmsgs_free(struct jobmsgs *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

void jobmsgs_add(struct jobmsgs *m, enum jobmsg_kind kind, const char *file, unsigned line,
		 const char *text, const char *hint)
{
	if (kind == JOBMSG_ERROR)
		m->errors++;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct jobmsg *v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return; /* counted in errors all the same */
		m->v = v;
		m->cap = cap;
	}
	struct jobmsg *msg = &m->v[m->n++];
	msg->kind = kind;
	snprintf(msg->file, sizeof(msg->file), "%s", file);
	msg->line = line;
	snprintf(msg->text, sizeof(msg->text), "%s", text);
	snprintf(msg->hint, sizeof(msg->hint), "%s", hint ? hint : "");
}

void jobmsg_format(const struct jobmsg *m, char *buf, size_t len)
{
	static const char *const label[] = {"", "warning: ", "note: "};
	char where[300];
	if (m->line)
		snprintf(where, sizeof(where), "%s:%u", m->file, m->line);
	else
		snprintf(where, sizeof(where), "%s", m->file);
	int k = snprintf(buf, len, "%s: %s%s", where, label[m->kind], m->text);
	if (m->hint[0] && k >= 0 && (size_t)k < len)
		snprintf(buf + k, len - (size_t)k, "\n  hint: %s", m->hint);
}

void jobmsgs_print(FILE *f, const struct jobmsgs *m, const char *prefix)
{
	for (size_t i = 0; i < m->n; i++) {
		char buf[1200];
		jobmsg_format(&m->v[i], buf, sizeof(buf));
		/* every line of the message led by prefix */
		for (char *line = buf, *nl; line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			fprintf(f, "%s%s\n", prefix, line);
		}
	}
	if (m->errors > m->n)
		fprintf(f, "%s(%zu more errors not shown: out of memory)\n", prefix,
			m->errors - m->n);
}

struct parser {
	const char *fname;
	unsigned line;
	struct jobmsgs *msgs;
	size_t errors0;    /* msgs->errors when the file started */
	struct job global; /* defaults for the next sections */
	struct job *cur;   /* the section being read; &global in [global] */
	unsigned cur_line; /* its header's line */
	bool skipping;     /* after a bad section header: until the next one */
	struct joblist *out;
	struct optlist *globals;
	size_t first_job; /* out->n when the file started */
	size_t jobs_seen;
};

/* Record an error and go on: every error of a file is reported at once. */
static void fail(struct parser *p, unsigned line, const char *msg, const char *hint)
{
	jobmsgs_add(p->msgs, JOBMSG_ERROR, p->fname, line, msg, hint);
}

/* Check and finish the job just read (the last one in out). */
static void close_section(struct parser *p)
{
	if (!p->cur || p->cur == &p->global)
		return;
	char msg[512];
	if (job_check(p->cur, msg, sizeof(msg))) {
		char full[600];
		snprintf(full, sizeof(full), "[%s]: %s", p->cur->name, msg);
		fail(p, p->cur_line, full, "set the options the job is missing in its section");
	}
}

static void section(struct parser *p, char *s)
{
	close_section(p);
	p->cur = NULL;
	p->skipping = true; /* unless the header is good */
	size_t len = strlen(s);
	if (len < 2 || s[len - 1] != ']') {
		fail(p, p->line, "malformed section header (expected [name])",
		     "a section header is [name] alone on its line; the options up to the next "
		     "section are skipped");
		return;
	}
	s[len - 1] = '\0';
	char *name = trim(s + 1);
	if (!*name) {
		fail(p, p->line, "empty section name", "name the job: [my-job]");
		return;
	}
	if (!strcmp(name, "global")) {
		p->cur = &p->global;
		p->cur_line = p->line;
		p->skipping = false;
		return;
	}
	if (strlen(name) >= sizeof(p->global.name)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "section name longer than %zu characters",
			 sizeof(p->global.name) - 1);
		fail(p, p->line, msg, "use a shorter job name");
		return;
	}
	struct job *job = joblist_add(p->out, &p->global);
	if (!job) {
		fail(p, p->line, "out of memory", NULL);
		return;
	}
	snprintf(job->name, sizeof(job->name), "%s", name);
	p->cur = job;
	p->cur_line = p->line;
	p->skipping = false;
	p->jobs_seen++;
}

static void option(struct parser *p, char *s)
{
	if (p->skipping)
		return;
	char *eq = strchr(s, '=');
	char *value = NULL;
	if (eq) {
		*eq = '\0';
		value = trim(eq + 1);
	}
	char *key = trim(s);
	if (!*key) {
		fail(p, p->line, "option with no name before '='", "write key=value");
		return;
	}
	if (!p->cur) {
		char msg[200];
		snprintf(msg, sizeof(msg), "option '%s' is outside any section", key);
		fail(p, p->line, msg, "put it under [global] or a [job] section");
		return;
	}
	struct opt_note note;
	switch (bench_set_option(p->cur, key, value, &note)) {
	case BENCH_OPT_ERROR:
		fail(p, p->line, note.text, note.hint);
		return;
	case BENCH_OPT_MAPPED:
		jobmsgs_add(p->msgs, JOBMSG_NOTE, p->fname, p->line, note.text, NULL);
		if (p->cur == &p->global && p->globals)
			optlist_set(p->globals, note.key, note.value);
		return;
	case BENCH_OPT_IGNORED:
		if (note.text[0])
			jobmsgs_add(p->msgs, JOBMSG_WARNING, p->fname, p->line, note.text, NULL);
		return;
	default:
		if (p->cur == &p->global && p->globals)
			optlist_set(p->globals, job_option_name(key), value);
	}
}

int jobfile_parse_text(const char *text, const char *fname, const struct job *base,
		       struct joblist *out, struct optlist *globals, struct jobmsgs *msgs)
{
	struct parser *p = calloc(1, sizeof(*p));
	if (!p) {
		jobmsgs_add(msgs, JOBMSG_ERROR, fname, 0, "out of memory", NULL);
		return -1;
	}
	p->fname = fname;
	p->msgs = msgs;
	p->errors0 = msgs->errors;
	p->global = *base;
	p->out = out;
	p->globals = globals;
	p->first_job = out->n;

	const char *s = text;
	while (*s) {
		size_t len = strcspn(s, "\n");
		p->line++;
		char buf[4096];
		if (len >= sizeof(buf)) {
			fail(p, p->line, "line too long", "a line holds at most 4095 bytes");
			s += len + (s[len] == '\n');
			continue;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s += len + (s[len] == '\n');
		char *l = trim(buf);
		if (*l == ';' || *l == '#' || !*l)
			continue;
		if (*l == '[') {
			section(p, l);
			continue;
		}
		cut_comment(l);
		option(p, trim(l));
	}
	close_section(p);
	if (p->jobs_seen == 0)
		fail(p, 0, "no job sections (only [global] or nothing)",
		     "add a [name] section for each job, after [global]");
	int rc = msgs->errors > p->errors0 ? -1 : 0;
	if (rc)
		out->n = p->first_job; /* drop this file's jobs */
	free(p);
	return rc;
}

int jobfile_parse_file(const char *path, const struct job *base, struct joblist *out,
		       struct optlist *globals, struct jobmsgs *msgs)
{
	char why[128];
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
		jobmsgs_add(msgs, JOBMSG_ERROR, path, 0, why, NULL);
		return -1;
	}
	size_t cap = 1 << 14, len = 0;
	char *text = malloc(cap);
	const char *err = text ? NULL : "out of memory";
	int rc = -1;
	for (; text;) {
		if (len + 1 >= cap) {
			char *bigger = cap < (16u << 20) ? realloc(text, cap * 2) : NULL;
			if (!bigger) {
				err = cap < (16u << 20) ? "out of memory" : "larger than 16 MiB";
				break;
			}
			text = bigger;
			cap *= 2;
		}
		size_t got = fread(text + len, 1, cap - 1 - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (!err && ferror(f))
		err = "read error";
	if (!err) {
		text[len] = '\0';
		if (strlen(text) != len)
			err = "not a text file (NUL byte)";
	}
	if (err)
		jobmsgs_add(msgs, JOBMSG_ERROR, path, 0, err, NULL);
	else
		rc = jobfile_parse_text(text, path, base, out, globals, msgs);
	free(text);
	fclose(f);
	return rc;
}
