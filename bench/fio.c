/*
 * fio.c - the raw device figure: run fio's single durable writer (128-byte
 * writes, fdatasync after each, io_uring, queue depth 1) in the benchmark's
 * directory and read IOPS and fdatasync latency from its JSON (fio 3.33
 * layout: jobs[0].write.iops, jobs[0].sync.lat_ns.percentile["50.000000"]).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

bool fio_available(void)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[4096];
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len > 0 && len + sizeof("/fio") <= sizeof(buf)) {
			memcpy(buf, path, len);
			memcpy(buf + len, "/fio", sizeof("/fio"));
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Append s to buf (of size cap) quoted for sh. Returns -1 if it does not
 * fit. */
static int append_quoted(char *buf, size_t cap, const char *s)
{
	size_t len = strlen(buf);
	if (len + 1 >= cap)
		return -1;
	buf[len++] = '\'';
	for (; *s; s++) {
		const char *piece = *s == '\'' ? "'\\''" : NULL;
		size_t plen = piece ? 4 : 1;
		if (len + plen + 2 > cap)
			return -1;
		if (piece)
			memcpy(buf + len, piece, plen);
		else
			buf[len] = *s;
		len += plen;
	}
	buf[len++] = '\'';
	buf[len] = '\0';
	return 0;
}

/* Read all of f into a malloc'd NUL-terminated string. */
static char *slurp(FILE *f)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	for (;;) {
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
		size_t got = fread(buf + len, 1, cap - 1 - len, f);
		len += got;
		if (got == 0)
			break;
	}
	buf[len] = '\0';
	return buf;
}

static int parse(const char *out, struct fio_result *res)
{
	/* fio may print notes before the JSON document. */
	const char *json = strchr(out, '{');
	static const char *const p_err[] = { "jobs", "0", "error", NULL };
	static const char *const p_iops[] = { "jobs", "0", "write", "iops", NULL };
	static const char *const p_p50[] = { "jobs", "0", "sync", "lat_ns", "percentile",
		                             "50.000000", NULL };
	static const char *const p_p99[] = { "jobs", "0", "sync", "lat_ns", "percentile",
		                             "99.000000", NULL };
	double err = 0;
	if (!json) {
		fprintf(stderr, "uwal-bench: fio printed no JSON\n");
		return -1;
	}
	if (json_find_number(json, p_err, &err) == 0 && err != 0) {
		fprintf(stderr, "uwal-bench: fio's job failed with error %.0f (%s)\n", err,
		        strerror((int)err));
		return -1;
	}
	if (json_find_number(json, p_iops, &res->iops) || json_find_number(json, p_p50, &res->sync_p50_ns) ||
	    json_find_number(json, p_p99, &res->sync_p99_ns)) {
		fprintf(stderr, "uwal-bench: fio's JSON lacks jobs[0].write.iops or "
		                "jobs[0].sync.lat_ns.percentile (not the fio 3.33 layout?)\n");
		return -1;
	}
	return 0;
}

int fio_run_raw(const char *directory, unsigned runtime_s, struct fio_result *out)
{
	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s/fio-raw", directory) >= (int)sizeof(dir))
		return -1;
	if (remove_tree(dir) != 0 || (mkdir(directory, 0755) != 0 && errno != EEXIST) ||
	    mkdir(dir, 0755) != 0) {
		fprintf(stderr, "uwal-bench: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}

	char cmd[8192] = "fio --name=raw --directory=";
	int rc = -1;
	if (append_quoted(cmd, sizeof(cmd), dir) != 0)
		goto out;
	size_t len = strlen(cmd);
	snprintf(cmd + len, sizeof(cmd) - len,
	         " --rw=write --bs=128 --size=16m --fdatasync=1 --ioengine=io_uring"
	         " --iodepth=1 --time_based --runtime=%u --output-format=json",
	         runtime_s);

	fflush(stdout);
	FILE *f = popen(cmd, "r");
	if (!f) {
		fprintf(stderr, "uwal-bench: cannot run fio: %s\n", strerror(errno));
		goto out;
	}
	char *text = slurp(f);
	int status = pclose(f);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "uwal-bench: fio failed (status %d): %s\n", status, cmd);
		free(text);
		goto out;
	}
	if (!text) {
		fprintf(stderr, "uwal-bench: out of memory reading fio's output\n");
		goto out;
	}
	rc = parse(text, out);
	free(text);
out:
	remove_tree(dir);
	return rc;
}
