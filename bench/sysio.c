/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sysio.c - what the system says a job cost, beside uwal's own counters.
 *
 *   getrusage(RUSAGE_SELF)  CPU time and context switches of the whole
 *                           process (submitters, uwal's writer and
 *                           preparer, and io_uring's io-wq workers, which
 *                           are threads of this process)
 *   /proc/self/io           write_bytes: counted when page-cache memory is
 *                           dirtied, a whole folio at a time: on kernels
 *                           with large folios (6.18's ext4 here) one
 *                           128-byte write into a clean folio counts up to
 *                           1 MiB. An upper bound of what the process
 *                           dirtied, not of what reached the disk
 *   /sys/dev/block/M:m/stat the device under the job's directory: writes,
 *                           sectors, flushes, time busy; every process's
 *                           I/O and the journal's, as fio's "Disk stats"
 *   /proc/stat              the "cpu" line's steal column: time this VM's
 *                           vCPUs were runnable but the host ran something
 *                           else. On this machine CPU time and wake-ups slow
 *                           the disk (shared/NOTES.md), so a job's cost per
 *                           record sits beside its rate
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void devinfo_find(const char *dir, struct devinfo *out)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(out->why, sizeof(out->why), "cannot stat %s: %s", dir, strerror(errno));
		return;
	}
	unsigned maj = major(st.st_dev), min = minor(st.st_dev);
	if (maj == 0) {
		snprintf(out->why, sizeof(out->why),
			 "no block device under it (device %u:%u: tmpfs, overlay, btrfs?)", maj,
			 min);
		return;
	}
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", maj, min);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(out->why, sizeof(out->why), "%s: %s", link, strerror(errno));
		return;
	}
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	snprintf(out->name, sizeof(out->name), "%.63s", base ? base + 1 : target);
	snprintf(out->path, sizeof(out->path), "%s/stat", link);
	struct devstat ds;
	if (devstat_read(out->path, &ds) != 0) {
		snprintf(out->why, sizeof(out->why), "cannot read %.100s", out->path);
		return;
	}
	out->ok = true;
}

int devstat_read(const char *path, struct devstat *out)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	unsigned long long v[17] = {0};
	int n = fscanf(f,
		       "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
		       "%llu %llu %llu",
		       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
		       &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]);
	fclose(f);
	if (n < 11)
		return -1;
	out->rd_ios = v[0];
	out->rd_merges = v[1];
	out->rd_sectors = v[2];
	out->rd_ticks = v[3];
	out->wr_ios = v[4];
	out->wr_merges = v[5];
	out->wr_sectors = v[6];
	out->wr_ticks = v[7];
	out->in_flight = v[8];
	out->io_ticks = v[9];
	out->time_in_queue = v[10];
	if (n >= 17) {
		out->has_flush = true;
		out->flush_ios = v[15];
		out->flush_ticks = v[16];
	}
	return 0;
}

static int proc_write_bytes(uint64_t *out)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return -1;
	char line[128];
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "write_bytes: %llu", &v) == 1) {
			*out = v;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* The 8th value of /proc/stat's first line ("cpu user nice system idle
 * iowait irq softirq steal ..."). */
static int proc_steal(uint64_t *out)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	unsigned long long v[8];
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	*out = v[7];
	return 0;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void job_cost(const struct job_result *res, struct job_cost *out)
{
	const struct sysio *a = &res->io0, *b = &res->io1;
	memset(out, 0, sizeof(*out));
	out->cpu_s = tv_s(b->ru.ru_utime) - tv_s(a->ru.ru_utime) + tv_s(b->ru.ru_stime) -
		     tv_s(a->ru.ru_stime);
	out->nvcsw = (uint64_t)(b->ru.ru_nvcsw - a->ru.ru_nvcsw);
	out->nivcsw = (uint64_t)(b->ru.ru_nivcsw - a->ru.ru_nivcsw);
	if (res->records) {
		out->cpu_us_per_record = out->cpu_s * 1e6 / (double)res->records;
		out->ctx_per_record = (double)(out->nvcsw + out->nivcsw) / (double)res->records;
	}
	out->steal_ok = a->stat_ok && b->stat_ok && b->steal_ticks >= a->steal_ticks;
	if (out->steal_ok) {
		long hz = sysconf(_SC_CLK_TCK);
		out->steal_ms = (double)(b->steal_ticks - a->steal_ticks) * 1000.0 /
				(double)(hz > 0 ? hz : 100);
		double wall_ms = (double)(b->t_ns - a->t_ns) / 1e6;
		out->steal_pct = wall_ms > 0 ? 100.0 * out->steal_ms / wall_ms : 0;
	}
}

void sysio_take(const struct devinfo *dev, struct sysio *out)
{
	memset(out, 0, sizeof(*out));
	out->t_ns = now_ns();
	getrusage(RUSAGE_SELF, &out->ru);
	out->proc_ok = proc_write_bytes(&out->proc_write_bytes) == 0;
	out->dev_ok = dev && dev->ok && devstat_read(dev->path, &out->dev) == 0;
	out->stat_ok = proc_steal(&out->steal_ticks) == 0;
}
