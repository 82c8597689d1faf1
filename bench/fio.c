/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fio.c - the raw device figures: run fio itself on the benchmark's
 * directory (rw=write, fdatasync after every write, ioengine=io_uring,
 * iodepth=1, a file written in full beforehand) and read from its JSON
 * (fio 3.x layout) the write IOPS - each I/O is one write + one
 * fdatasync, so IOPS is durable writes per second -, the write's clat
 * p50 and the fdatasync's mean, p50 and p99 (jobs[0].sync.lat_ns).
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

void fio_version(char *buf, size_t len)
{
	snprintf(buf, len, "fio");
	FILE *f = popen("fio --version 2>/dev/null", "r");
	if (!f)
		return;
	char line[64];
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			snprintf(buf, len, "%s", line);
	}
	pclose(f);
}

static int parse(const char *out, struct fio_result *res)
{
	/* fio may print notes before the JSON document. */
	const char *json = strchr(out, '{');
	static const char *const p_err[] = {"jobs", "0", "error", NULL};
	static const char *const p_iops[] = {"jobs", "0", "write", "iops", NULL};
	static const char *const p_clat[] = {"jobs",       "0",         "write", "clat_ns",
					     "percentile", "50.000000", NULL};
	static const char *const p_mean[] = {"jobs", "0", "sync", "lat_ns", "mean", NULL};
	static const char *const p_p50[] = {"jobs",       "0",         "sync", "lat_ns",
					    "percentile", "50.000000", NULL};
	static const char *const p_p99[] = {"jobs",       "0",         "sync", "lat_ns",
					    "percentile", "99.000000", NULL};
	static const char *const p_p999[] = {"jobs",       "0",         "sync", "lat_ns",
					     "percentile", "99.900000", NULL};
	static const char *const p_min[] = {"jobs", "0", "write", "iops_min", NULL};
	static const char *const p_max[] = {"jobs", "0", "write", "iops_max", NULL};
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
	if (json_find_number(json, p_iops, &res->iops) ||
	    json_find_number(json, p_clat, &res->clat_p50_ns) ||
	    json_find_number(json, p_mean, &res->sync_mean_ns) ||
	    json_find_number(json, p_p50, &res->sync_p50_ns) ||
	    json_find_number(json, p_p99, &res->sync_p99_ns)) {
		fprintf(stderr, "uwal-bench: fio's JSON lacks jobs[0].write.iops, "
				"write.clat_ns or sync.lat_ns (not the fio 3.x layout?)\n");
		return -1;
	}
	/* absent with fewer than one 500 ms sample: leave 0 */
	json_find_number(json, p_p999, &res->sync_p999_ns);
	json_find_number(json, p_min, &res->iops_min);
	json_find_number(json, p_max, &res->iops_max);
	return 0;
}

static void fmt_secs(char *buf, size_t len, double s)
{
	snprintf(buf, len, "%llums", (unsigned long long)(s * 1000 + 0.5));
}

int fio_run_raw(const char *directory, const char *name, uint64_t bs, unsigned records,
		double runtime_s, double ramp_s, struct fio_result *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->bs = bs;
	out->records = records;
	out->runtime_s = runtime_s;
	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s/%s", directory, name) >= (int)sizeof(dir))
		return -1;
	if (remove_tree(dir) != 0 || make_dirs(dir) != 0) {
		fprintf(stderr, "uwal-bench: cannot create %s\n", dir);
		return -1;
	}

	/* The file is written in full before the run (overwrite=1), as uwal
	 * zero-fills each segment before it takes writes: neither pays for
	 * unwritten-extent conversions during the measured run. Large enough
	 * that the run rarely wraps around it. */
	uint64_t size = bs * 8192;
	if (size < (16u << 20))
		size = 16u << 20;
	if (size > (256u << 20))
		size = 256u << 20;
	char rt[32], rp[32];
	fmt_secs(rt, sizeof(rt), runtime_s);
	fmt_secs(rp, sizeof(rp), ramp_s);
	snprintf(out->cmd, sizeof(out->cmd),
		 "fio --name=%s --rw=write --bs=%llu --size=%llu --fdatasync=1 "
		 "--ioengine=io_uring --iodepth=1 --overwrite=1 --time_based --runtime=%s "
		 "--ramp_time=%s",
		 name, (unsigned long long)bs, (unsigned long long)size, rt, rp);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s --output-format=json --directory=", out->cmd);
	int rc = -1;
	if (append_quoted(cmd, sizeof(cmd), dir) != 0)
		goto out;

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
	out->ok = rc == 0;
out:
	remove_tree(dir);
	return rc;
}
