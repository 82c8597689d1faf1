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

void sysio_take(const struct devinfo *dev, struct sysio *out)
{
	memset(out, 0, sizeof(*out));
	out->t_ns = now_ns();
	getrusage(RUSAGE_SELF, &out->ru);
	out->proc_ok = proc_write_bytes(&out->proc_write_bytes) == 0;
	out->dev_ok = dev && dev->ok && devstat_read(dev->path, &out->dev) == 0;
}
