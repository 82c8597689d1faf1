/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testlog.c - the logs tests/tool.sh runs uwal(1) against, made through
 * the public API only.
 *
 *   testlog write DIR N [PER_SEGMENT]  records 1..N (key "k<i>", value
 *                                      "value <i>"), PER_SEGMENT records per
 *                                      segment (default: no limit), and one
 *                                      more, N+1, whose key and value are
 *                                      not text
 *   testlog hold DIR                   open the log, print "ready", and
 *                                      keep it open until SIGTERM or SIGINT
 *   testlog slow DIR FROM TO MS        open the log, print "ready", write
 *                                      records FROM..TO as above, one every
 *                                      MS milliseconds, each acknowledged
 *                                      before the next, then hold it open
 *                                      as hold does
 *
 * Segments are 64 KiB, so that the files are small.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uwal.h>

static int open_log(const char *dir, uint64_t per_segment, uwal **w)
{
	uwal_config cfg;
	uwal_config_init(&cfg);
	cfg.dir = dir;
	cfg.segment_size = 64 << 10;
	cfg.segment_threshold = per_segment;
	int err = uwal_open(&cfg, w);
	if (err < 0)
		fprintf(stderr, "testlog: open %s: %s\n", dir, uwal_strerror(err));
	return err;
}

static void put_std(uwal *w, uint64_t i, int *err)
{
	char key[32], value[64];
	int kl = snprintf(key, sizeof(key), "k%llu", (unsigned long long)i);
	int vl = snprintf(value, sizeof(value), "value %llu", (unsigned long long)i);
	*err = uwal_write(w, i, key, (size_t)kl, value, (size_t)vl);
}

static int write_log(const char *dir, uint64_t n, uint64_t per_segment)
{
	uwal *w;
	if (open_log(dir, per_segment, &w) < 0)
		return 1;
	int err = 0;
	for (uint64_t i = 1; i <= n && err == 0; i++)
		put_std(w, i, &err);
	static const unsigned char bkey[] = {0x00, 0xff, 'b', '\t'};
	static const unsigned char bval[] = {0xc3, 0x28, 0x01, '\\', 'x'};
	if (err == 0)
		err = uwal_write(w, n + 1, bkey, sizeof(bkey), bval, sizeof(bval));
	int cerr = uwal_close(w);
	if (err < 0 || cerr < 0) {
		fprintf(stderr, "testlog: write %s: %s\n", dir,
			uwal_strerror(err < 0 ? err : cerr));
		return 1;
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Open, say "ready", write from..to (none if from > to) one every ms
 * milliseconds, then keep the log open until SIGTERM or SIGINT. */
static int hold(const char *dir, uint64_t from, uint64_t to, unsigned ms)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	uwal *w;
	if (open_log(dir, 0, &w) < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	int err = 0;
	for (uint64_t i = from; i <= to && err == 0 && !stop; i++) {
		usleep(ms * 1000u);
		put_std(w, i, &err);
	}
	if (err < 0)
		fprintf(stderr, "testlog: slow %s: %s\n", dir, uwal_strerror(err));
	while (!stop)
		pause();
	return uwal_close(w) < 0 || err < 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "write"))
		return write_log(argv[2], strtoull(argv[3], NULL, 10),
				 argc == 5 ? strtoull(argv[4], NULL, 10) : 0);
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(argv[2], 1, 0, 0);
	if (argc == 6 && !strcmp(argv[1], "slow"))
		return hold(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
			    (unsigned)strtoul(argv[5], NULL, 10));
	fprintf(stderr, "usage: testlog write DIR N [PER_SEGMENT] | testlog hold DIR |\n"
			"       testlog slow DIR FROM TO MS\n");
	return 2;
}
