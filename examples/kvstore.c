/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvstore.c - a tiny key-value store on top of a uwal log.
 *
 *   kvstore DIR set KEY VALUE     store VALUE under KEY (durable on return)
 *   kvstore DIR get KEY           print the value of KEY
 *   kvstore DIR                   read the same commands from stdin, one a line
 *
 * Several commands may follow each other on the command line:
 * "kvstore /tmp/kv set a 1 set b 2 get a".
 *
 * The log is the store: every "set" appends one record (index = the next
 * free index, key = KEY, value = VALUE) and returns only once the record
 * is on disk (UWAL_SYNC_BATCH). At start the whole log is replayed in log
 * order into an in-memory table, the last write of each key winning, so a
 * restarted store sees every value set before. Memory grows with the
 * number of distinct keys; a real store would also compact its log.
 *
 * Only the public API (uwal.h) is used. While one kvstore has the log open,
 * another process gets UWAL_ELOCKED: uwal locks the directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwal.h>

/* One key and its latest value. A plain array: this is an example. */
struct entry {
	char *key;
	char *value;
};

struct table {
	struct entry *v;
	size_t n, cap;
};

static struct entry *table_find(struct table *t, const char *key, size_t key_len)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->v[i].key) == key_len && !memcmp(t->v[i].key, key, key_len))
			return &t->v[i];
	return NULL;
}

static char *copy(const void *p, size_t len)
{
	char *s = malloc(len + 1);
	if (s) {
		if (len)
			memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

/* Set key to value in the table, replacing an older value. 0 or -1. */
static int table_set(struct table *t, const void *key, size_t key_len, const void *value,
		     size_t value_len)
{
	char *v = copy(value, value_len);
	if (!v)
		return -1;
	struct entry *e = table_find(t, key, key_len);
	if (e) {
		free(e->value);
		e->value = v;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct entry *bigger = realloc(t->v, cap * sizeof(*bigger));
		if (!bigger)
			goto fail;
		t->v = bigger;
		t->cap = cap;
	}
	t->v[t->n].key = copy(key, key_len);
	if (!t->v[t->n].key)
		goto fail;
	t->v[t->n++].value = v;
	return 0;
fail:
	free(v);
	return -1;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key);
		free(t->v[i].value);
	}
	free(t->v);
}

/* Replay the log: every record in log order, later ones replacing earlier. */
static int replay(uwal *w, struct table *t)
{
	uwal_iter *it;
	int err = uwal_iter_open(w, &it);
	if (err < 0)
		return err;
	uwal_record rec; /* its buffers belong to the iterator */
	while ((err = uwal_iter_next(it, &rec)) == 1) {
		if (table_set(t, rec.key, rec.key_len, rec.value, rec.value_len)) {
			err = -ENOMEM;
			break;
		}
	}
	uwal_iter_close(it);
	return err; /* 0 at the end of the log */
}

struct store {
	uwal *w;
	struct table t;
	uint64_t next; /* the index the next set will use */
};

static int do_set(struct store *s, const char *key, const char *value)
{
	/* Appends the record and waits until it is durable (UWAL_SYNC_BATCH).
	 * The table is updated only after the log took the write. */
	int err = uwal_write(s->w, s->next, key, strlen(key), value, strlen(value));
	if (err < 0) {
		fprintf(stderr, "kvstore: set %s: %s\n", key, uwal_strerror(err));
		return -1;
	}
	s->next++;
	if (table_set(&s->t, key, strlen(key), value, strlen(value))) {
		fprintf(stderr, "kvstore: out of memory\n");
		return -1;
	}
	printf("OK\n");
	return 0;
}

static int do_get(struct store *s, const char *key)
{
	struct entry *e = table_find(&s->t, key, strlen(key));
	if (!e) {
		printf("(not found)\n");
		return 1;
	}
	printf("%s\n", e->value);
	return 0;
}

/* Run argv-style words as commands. Returns 0, 1 (a key was not found) or
 * -1 (an error). */
static int run(struct store *s, char **words, int n)
{
	int status = 0;
	for (int i = 0; i < n;) {
		if (!strcmp(words[i], "set") && i + 2 < n) {
			if (do_set(s, words[i + 1], words[i + 2]))
				return -1;
			i += 3;
		} else if (!strcmp(words[i], "get") && i + 1 < n) {
			if (do_get(s, words[i + 1]))
				status = 1;
			i += 2;
		} else {
			fprintf(stderr, "kvstore: expected 'set KEY VALUE' or 'get KEY' at '%s'\n",
				words[i]);
			return -1;
		}
	}
	return status;
}

/* Commands from stdin: "set KEY VALUE" (VALUE is the rest of the line) or
 * "get KEY". */
static int run_stdin(struct store *s)
{
	char line[4096];
	int status = 0;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		char *save = NULL;
		char *cmd = strtok_r(line, " \t", &save);
		if (!cmd)
			continue;
		char *key = strtok_r(NULL, " \t", &save);
		char *rest = strtok_r(NULL, "", &save);
		char *words[3] = {cmd, key, rest};
		int n = rest ? 3 : key ? 2 : 1;
		int rc = run(s, words, n);
		if (rc < 0)
			return -1;
		if (rc)
			status = 1;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: kvstore DIR [set KEY VALUE | get KEY] ...\n"
				"       (no command: read them from stdin, one a line)\n");
		return 2;
	}
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = argv[1];
	cfg.sync_mode = UWAL_SYNC_BATCH; /* every acknowledged write is durable */

	struct store s = {0};
	int err = uwal_open(&cfg, &s.w); /* creates the log, or recovers it */
	if (err < 0) {
		fprintf(stderr, "kvstore: open %s: %s\n", argv[1], uwal_strerror(err));
		return 1;
	}
	int status = 1;
	err = replay(s.w, &s.t);
	if (err < 0) {
		fprintf(stderr, "kvstore: replay: %s\n", uwal_strerror(err));
		goto out;
	}
	s.next = uwal_last_index(s.w) + 1; /* 0 + 1 for an empty log */
	int rc = argc > 2 ? run(&s, argv + 2, argc - 2) : run_stdin(&s);
	status = rc < 0 ? 1 : rc;
out:
	err = uwal_close(s.w); /* writes and syncs anything queued, frees all */
	if (err < 0) {
		fprintf(stderr, "kvstore: close: %s\n", uwal_strerror(err));
		status = 1;
	}
	table_free(&s.t);
	return status;
}
