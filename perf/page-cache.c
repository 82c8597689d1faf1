/* SPDX-License-Identifier: Apache-2.0 */
/*
 * page-cache.c - what one unsynced 134-byte pwrite costs, by the state of
 * the page cache under it: a fresh fallocated file (each 4 KiB page is
 * allocated and zeroed by the first write into it), the same range written
 * again (the pages are cached), a fallocated file whose range was first
 * read (pread of unwritten extents fills the cache with zeros, no disk
 * I/O), and a zero-filled file (pwrite of zeros first, as
 * UWAL_PREALLOC_ZERO does before it syncs them). One thread, sequential
 * writes, no fdatasync: the writer's unsynced path, without the library.
 * The variants alternate within each round, rounds repeat, and the
 * spread is printed; the time to warm (read or zero) a page is printed
 * too, since someone pays it.
 *
 *   make -C perf page-cache && perf/page-cache [DIR [MIB [ROUNDS]]]
 *
 * DIR defaults to build/bench-data, MIB (the file size) to 128, ROUNDS
 * to 3. Each file is removed after its pass.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { REC = 134, CHUNK = 1 << 20, MAX_ROUNDS = 64 };
enum variant { FRESH, CACHED, READ_FIRST, ZERO_FIRST, NVAR };

static const char *const names[NVAR] = {
	[FRESH] = "fresh fallocated pages",
	[CACHED] = "cached pages (same range again)",
	[READ_FIRST] = "fallocated, read first",
	[ZERO_FIRST] = "zero-filled first",
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Sequential REC-byte writes over [0, size): ns per write. */
static double write_pass(int fd, size_t size)
{
	char rec[REC];
	memset(rec, 0x5a, sizeof(rec));
	size_t n = 0;
	double t0 = now_s();
	for (size_t off = 0; off + REC <= size; off += REC, n++)
		if (pwrite(fd, rec, REC, (off_t)off) != REC)
			die("pwrite");
	return (now_s() - t0) / (double)n * 1e9;
}

/* Read or zero-fill [0, size) in CHUNK pieces: us per 4 KiB page. */
static double warm(int fd, size_t size, int zero)
{
	char *buf = calloc(1, CHUNK);
	if (!buf)
		die("calloc");
	double t0 = now_s();
	for (size_t off = 0; off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? size - off : CHUNK;
		ssize_t r = zero ? pwrite(fd, buf, n, (off_t)off) : pread(fd, buf, n, (off_t)off);
		if (r != (ssize_t)n)
			die(zero ? "pwrite zeros" : "pread");
	}
	free(buf);
	return (now_s() - t0) / (double)(size / 4096) * 1e6;
}

static int make_file(const char *dir, size_t size, char *path, size_t cap)
{
	snprintf(path, cap, "%s/page-cache.tmp", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	if (fallocate(fd, 0, 0, (off_t)size))
		die("fallocate");
	return fd;
}

static void drop_file(int fd, const char *path)
{
	close(fd);
	unlink(path);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "build/bench-data";
	size_t size = (size_t)(argc > 2 ? atoi(argv[2]) : 128) << 20;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	char path[4096];
	double ns[NVAR][MAX_ROUNDS], warm_us[NVAR][MAX_ROUNDS];
	if (rounds < 1 || rounds > MAX_ROUNDS || size < CHUNK) {
		fprintf(stderr, "usage: %s [DIR [MIB>=1 [ROUNDS 1..%d]]]\n", argv[0], MAX_ROUNDS);
		return 2;
	}

	for (int r = 0; r < rounds; r++) {
		/* The cached pass is the fresh file's second pass. */
		int fd = make_file(dir, size, path, sizeof(path));
		ns[FRESH][r] = write_pass(fd, size);
		ns[CACHED][r] = write_pass(fd, size);
		drop_file(fd, path);
		for (int v = READ_FIRST; v <= ZERO_FIRST; v++) {
			fd = make_file(dir, size, path, sizeof(path));
			warm_us[v][r] = warm(fd, size, v == ZERO_FIRST);
			ns[v][r] = write_pass(fd, size);
			drop_file(fd, path);
		}
	}

	printf("%zu MiB per file, %d rounds, %d-byte pwrite, no fdatasync (%s)\n", size >> 20,
	       rounds, REC, dir);
	printf("%-34s ns per write (each round); us to warm a 4 KiB page\n",
	       "pages under the write");
	for (int v = 0; v < NVAR; v++) {
		printf("%-34s", names[v]);
		for (int r = 0; r < rounds; r++)
			printf("%s%.0f", r ? " / " : " ", ns[v][r]);
		if (v >= READ_FIRST) {
			double lo = warm_us[v][0], hi = warm_us[v][0];
			for (int r = 1; r < rounds; r++) {
				lo = warm_us[v][r] < lo ? warm_us[v][r] : lo;
				hi = warm_us[v][r] > hi ? warm_us[v][r] : hi;
			}
			printf("; %.1f-%.1f", lo, hi);
		}
		printf("\n");
	}
	return 0;
}
