/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zero-pace.c - what zero-filling a new segment does to the durable writes
 * of the log beside it, by how the zeros are written. One thread appends
 * 134-byte records to a zero-filled file with pwrite + fdatasync (the raw
 * loop); a second thread, like uwal's preparer, keeps creating 64 MiB
 * files: fallocate, zero-fill, fdatasync, then a pause (the files are
 * removed once the pass is over). The zeros go out whole (written, then
 * one fdatasync) or in pieces of 1 MiB,
 * 256 KiB or 64 KiB, each written back (sync_file_range WAIT_BEFORE |
 * WRITE | WAIT_AFTER) before the next. A quiet pass (no zero-filling)
 * comes first in each round. The variants alternate within each round,
 * rounds repeat; per pass: the log's writes/s, p50, p99.9 and max of one
 * write + fdatasync, and how long one file's zero-fill + fdatasync took.
 *
 *   make -C perf zero-pace && perf/zero-pace [DIR [SECONDS [ROUNDS]]]
 *
 * DIR defaults to build/bench-data, SECONDS (per pass) to 2, ROUNDS to 3.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { REC = 134, FILE_MIB = 64, LOG_MIB = 64, MAX_OPS = 1 << 20, MAX_ROUNDS = 32 };
enum { PAUSE_MS = 200 }; /* between two files: a segment every ~0.3 s */
enum { MAX_FILES = 16 };

struct variant {
	const char *name;
	int fill;     /* 0: no zero-filling at all */
	size_t piece; /* 0: whole, then fdatasync */
};

static const struct variant variants[] = {
	{"quiet (no zero-fill)", 0, 0}, {"whole, then fdatasync", 1, 0},
	{"1 MiB pieces", 1, 1 << 20},   {"256 KiB pieces", 1, 256 << 10},
	{"64 KiB pieces", 1, 64 << 10},
};
enum { NVAR = sizeof(variants) / sizeof(variants[0]) };

static const char *g_dir;
static atomic_int g_stop;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A file of mib MiB, fallocated and zero-filled in the given way (piece 0:
 * whole), then fdatasynced; the caller removes it. */
static void zero_file(const char *path, size_t mib, size_t piece)
{
	static char zeros[1 << 20];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	size_t size = mib << 20;
	if (fallocate(fd, 0, 0, (off_t)size) < 0)
		die("fallocate");
	size_t step = piece ? piece : sizeof(zeros);
	for (size_t off = 0; off < size; off += step) {
		if (pwrite(fd, zeros, step, (off_t)off) != (ssize_t)step)
			die("pwrite zeros");
		if (piece && sync_file_range(fd, (off_t)off, (off_t)step,
					     SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						     SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			die("sync_file_range");
	}
	if (fdatasync(fd) < 0)
		die("fdatasync zeros");
	close(fd);
}

struct filler {
	size_t piece;
	uint64_t files, ns; /* files made, time in zero-fill + fdatasync */
};

static void file_name(char *path, size_t len, uint64_t i)
{
	snprintf(path, len, "%s/zero-pace-%llu.tmp", g_dir, (unsigned long long)i);
}

/* The files stay until the pass is over: an unlink frees 64 MiB, and on a
 * filesystem mounted with discard that stalls the log by itself. */
static void *filler_main(void *p)
{
	struct filler *f = p;
	char path[4096];
	while (!atomic_load(&g_stop) && f->files < MAX_FILES) {
		file_name(path, sizeof(path), f->files);
		uint64_t t0 = now_ns();
		zero_file(path, FILE_MIB, f->piece);
		f->ns += now_ns() - t0;
		f->files++;
		for (int i = 0; i < PAUSE_MS && !atomic_load(&g_stop); i++)
			usleep(1000);
	}
	return NULL;
}

static uint64_t lat[MAX_OPS];

/* One pass: the log loop for secs seconds beside the variant's filler. */
static void pass(const struct variant *v, int secs, double *rate, uint64_t pct[3], double *fill_ms)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/zero-pace-log", g_dir);
	zero_file(path, LOG_MIB, 0);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		die("open log");
	struct filler f = {.piece = v->piece};
	pthread_t t;
	atomic_store(&g_stop, 0);
	if (v->fill && pthread_create(&t, NULL, filler_main, &f) != 0)
		die("pthread_create");
	char rec[REC];
	memset(rec, 0x5a, sizeof(rec));
	size_t n = 0;
	uint64_t start = now_ns(), end = start + (uint64_t)secs * 1000000000u;
	off_t off = 0;
	while (n < MAX_OPS && off + REC <= (off_t)LOG_MIB << 20) {
		uint64_t t0 = now_ns();
		if (t0 >= end)
			break;
		if (pwrite(fd, rec, REC, off) != REC || fdatasync(fd) < 0)
			die("log write");
		lat[n++] = now_ns() - t0;
		off += REC;
	}
	double elapsed = (double)(now_ns() - start) / 1e9;
	atomic_store(&g_stop, 1);
	if (v->fill)
		pthread_join(t, NULL);
	close(fd);
	unlink(path);
	for (uint64_t i = 0; i < f.files; i++) {
		file_name(path, sizeof(path), i);
		unlink(path);
	}
	sync();
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	*rate = (double)n / elapsed;
	pct[0] = lat[n / 2];
	pct[1] = lat[n - 1 - n / 1000];
	pct[2] = lat[n - 1];
	*fill_ms = f.files ? (double)f.ns / 1e6 / (double)f.files : 0;
}

int main(int argc, char **argv)
{
	g_dir = argc > 1 ? argv[1] : "build/bench-data";
	int secs = argc > 2 ? atoi(argv[2]) : 2;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	if (secs < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: zero-pace [DIR [SECONDS [ROUNDS<=%d]]]\n", MAX_ROUNDS);
		return 2;
	}
	static double rate[NVAR][MAX_ROUNDS], fill[NVAR][MAX_ROUNDS];
	static uint64_t pct[NVAR][MAX_ROUNDS][3];
	printf("%-24s %5s %9s %8s %10s %10s %12s\n", "variant", "round", "writes/s", "p50 us",
	       "p99.9 us", "max us", "fill ms/file");
	for (int r = 0; r < rounds; r++)
		for (int v = 0; v < NVAR; v++) {
			pass(&variants[v], secs, &rate[v][r], pct[v][r], &fill[v][r]);
			printf("%-24s %5d %9.0f %8.1f %10.1f %10.1f %12.1f\n", variants[v].name,
			       r + 1, rate[v][r], (double)pct[v][r][0] / 1e3,
			       (double)pct[v][r][1] / 1e3, (double)pct[v][r][2] / 1e3, fill[v][r]);
			fflush(stdout);
		}
	printf("\nspread over %d rounds (min-max)\n", rounds);
	printf("%-24s %15s %15s %19s\n", "variant", "writes/s", "p99.9 us", "max us");
	for (int v = 0; v < NVAR; v++) {
		double rlo = rate[v][0], rhi = rlo, plo = (double)pct[v][0][1], phi = plo;
		double mlo = (double)pct[v][0][2], mhi = mlo;
		for (int r = 1; r < rounds; r++) {
			double x = rate[v][r], p = (double)pct[v][r][1], m = (double)pct[v][r][2];
			rlo = x < rlo ? x : rlo, rhi = x > rhi ? x : rhi;
			plo = p < plo ? p : plo, phi = p > phi ? p : phi;
			mlo = m < mlo ? m : mlo, mhi = m > mhi ? m : mhi;
		}
		printf("%-24s %7.0f-%-7.0f %7.0f-%-7.0f %9.0f-%-9.0f\n", variants[v].name, rlo, rhi,
		       plo / 1e3, phi / 1e3, mlo / 1e3, mhi / 1e3);
	}
	return 0;
}
