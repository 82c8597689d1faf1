/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tailer.c - print the records of a uwal log in log order.
 *
 *   tailer DIR [--from INDEX]
 *
 * One line per record: its index, its key and its value, separated by
 * tabs. Bytes that are not printable are written as \xNN, so any key or
 * value prints on one line. --from INDEX leaves out the records whose
 * index is below INDEX.
 *
 * The log must not be open elsewhere: uwal_open() locks the directory, so
 * a tailer run while another process writes the log fails with
 * UWAL_ELOCKED. Only the public API (uwal.h) is used.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uwal.h>

static void print_bytes(const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++) {
		if (isprint(b[i]) && b[i] != '\\')
			putchar(b[i]);
		else
			printf("\\x%02x", b[i]);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: tailer DIR [--from INDEX]\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t from = 0;
	if (argc != 2 && argc != 4)
		return usage();
	if (argc == 4) {
		char *end;
		errno = 0;
		if (strcmp(argv[2], "--from") || !*argv[3] || *argv[3] == '-')
			return usage();
		from = strtoull(argv[3], &end, 10);
		if (*end || errno)
			return usage();
	}

	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = argv[1];
	uwal *w;
	int err = uwal_open(&cfg, &w); /* recovers the log; creates it if missing */
	if (err < 0) {
		fprintf(stderr, "tailer: open %s: %s\n", argv[1], uwal_strerror(err));
		return 1;
	}

	/* The iterator sees the records present now, in log order. */
	uwal_iter *it;
	err = uwal_iter_open(w, &it);
	if (err == 0) {
		uwal_record rec; /* its buffers belong to the iterator */
		while ((err = uwal_iter_next(it, &rec)) == 1) {
			if (rec.index < from)
				continue;
			printf("%" PRIu64 "\t", rec.index);
			print_bytes(rec.key, rec.key_len);
			putchar('\t');
			print_bytes(rec.value, rec.value_len);
			putchar('\n');
		}
		uwal_iter_close(it); /* before uwal_close() */
	}
	if (err < 0)
		fprintf(stderr, "tailer: %s\n", uwal_strerror(err));
	int cerr = uwal_close(w);
	if (cerr < 0)
		fprintf(stderr, "tailer: close: %s\n", uwal_strerror(cerr));
	return err < 0 || cerr < 0 ? 1 : 0;
}
