/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - uwal_config: its defaults, how a caller's struct of another
 * size is read (the size scheme), and its validation, which names the
 * field and its allowed range through log_fn.
 *
 * The size scheme: uwal_config_init() is a macro that passes sizeof *cfg,
 * and the init function records it in cfg->size. uwal_open() reads only
 * that many bytes; fields the caller's struct does not have keep their
 * defaults. A struct larger than this library's (a program built against
 * a newer header) is accepted only if the bytes this library does not know
 * are zero, as Linux does for its extensible structs (openat2's how).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_SEGMENT_SIZE (64ull << 20)
#define MIN_SEGMENT_SIZE (64ull << 10)
#define MAX_SEGMENT_SIZE ((4ull << 30) - 1) /* offsets are 32-bit */

static void defaults(uwal_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->prefix = "segment_";
	cfg->segment_size = DEFAULT_SEGMENT_SIZE;
	cfg->sync_mode = UWAL_SYNC_NONE;
	cfg->max_batch_size = 1024;
	cfg->queue_capacity = 1024;
	cfg->ring_entries = 64;
	cfg->prealloc = UWAL_PREALLOC_AUTO; /* perf/prealloc-nosync.fio */
	cfg->write_path = UWAL_WRITE_PWRITE;
	cfg->durable_write = UWAL_DURABLE_DSYNC; /* perf/durable-write.fio */
	cfg->writer_spin_us = 50;
	cfg->wait_spin_us = 200;
	cfg->async_window = 1024;
	cfg->writeback_kib = 8192; /* perf/writeback.fio */
	cfg->rejoin_us = 100;      /* perf/rejoin.fio */
	cfg->ring_poll_us = 300;   /* perf/ring-poll.fio */
}

void uwal_config_init_sized(uwal_config *cfg, size_t size)
{
	if (!cfg || size < sizeof(uint32_t))
		return;
	uwal_config d;
	defaults(&d);
	size_t n = size < sizeof(d) ? size : sizeof(d);
	memset(cfg, 0, size);
	memcpy(cfg, &d, n);
	cfg->size = (uint32_t)size;
}

static void say(const uwal_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const uwal_config *c, const char *fmt, ...)
{
	if (!c->log_fn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log_fn(c->log_ctx, UWAL_LOG_ERROR, msg);
}

bool uw_cfg_prefix_ok(const char *p)
{
	size_t l = strlen(p);
	return l > 0 && l <= UW_MAX_PREFIX && !strchr(p, '/') && strcmp(p, ".") != 0 &&
	       strcmp(p, "..") != 0;
}

/* The IORING_SETUP_* flags uwal knows how to drive, and the ones it refuses
 * by name (each of these hangs or breaks the write path, or needs setup
 * parameters uwal does not pass). Values from the kernel's ABI, so they
 * are named even where the installed liburing headers predate them. */
static const struct {
	uint32_t flag;
	const char *name;
	bool ok;
} ring_flags[] = {
	{1u << 0, "IORING_SETUP_IOPOLL", false}, /* buffered files never complete: hangs */
	{1u << 1, "IORING_SETUP_SQPOLL", true},
	{1u << 2, "IORING_SETUP_SQ_AFF", true},
	{1u << 3, "IORING_SETUP_CQSIZE", false}, /* needs cq_entries */
	{1u << 4, "IORING_SETUP_CLAMP", true},
	{1u << 5, "IORING_SETUP_ATTACH_WQ", false},  /* needs wq_fd */
	{1u << 6, "IORING_SETUP_R_DISABLED", false}, /* every submission fails -EBADFD */
	{1u << 7, "IORING_SETUP_SUBMIT_ALL", true},
	{1u << 8, "IORING_SETUP_COOP_TASKRUN", true},
	{1u << 9, "IORING_SETUP_TASKRUN_FLAG", true},
	{1u << 10, "IORING_SETUP_SQE128", false},
	{1u << 11, "IORING_SETUP_CQE32", false},
	{1u << 12, "IORING_SETUP_SINGLE_ISSUER", true},
	{1u << 13, "IORING_SETUP_DEFER_TASKRUN", true},
	{1u << 14, "IORING_SETUP_NO_MMAP", false},
	{1u << 15, "IORING_SETUP_REGISTERED_FD_ONLY", false},
	{1u << 16, "IORING_SETUP_NO_SQARRAY", false}, /* liburing 2.3 cannot drive it */
};

static int check_ring_flags(const uwal_config *c)
{
	for (uint32_t bit = 1; bit; bit <<= 1) {
		if (!(c->ring_flags & bit))
			continue;
		const char *name = NULL;
		bool ok = false;
		for (size_t i = 0; i < sizeof(ring_flags) / sizeof(ring_flags[0]); i++) {
			if (ring_flags[i].flag == bit) {
				name = ring_flags[i].name;
				ok = ring_flags[i].ok;
			}
		}
		if (!ok) {
			say(c,
			    "invalid config: ring_flags has %s (0x%x), which uwal cannot drive; "
			    "allowed: SQPOLL, SQ_AFF, CLAMP, SUBMIT_ALL, COOP_TASKRUN, "
			    "TASKRUN_FLAG, SINGLE_ISSUER, DEFER_TASKRUN",
			    name ? name : "an unknown flag", bit);
			return UWAL_EINVAL;
		}
	}
	uint32_t sqpoll = 1u << 1, defer = 1u << 13, single = 1u << 12;
	if ((c->ring_flags & defer) && (c->ring_flags & sqpoll)) {
		say(c, "invalid config: ring_flags: IORING_SETUP_DEFER_TASKRUN cannot be combined "
		       "with IORING_SETUP_SQPOLL");
		return UWAL_EINVAL;
	}
	(void)single; /* uwal adds SINGLE_ISSUER itself where the kernel has it */
	return 0;
}

/* Each field's range; the message names the field. */
#define RANGE(field, lo, hi)                                                                       \
	do {                                                                                       \
		if ((uint64_t)c->field < (uint64_t)(lo) || (uint64_t)c->field > (uint64_t)(hi)) {  \
			say(c, "invalid config: %s = %llu, allowed %llu..%llu", #field,            \
			    (unsigned long long)c->field, (unsigned long long)(lo),                \
			    (unsigned long long)(hi));                                             \
			return UWAL_EINVAL;                                                        \
		}                                                                                  \
	} while (0)

static int check(const uwal_config *c)
{
	if (!c->dir || !c->dir[0]) {
		say(c, "invalid config: dir is %s", c->dir ? "empty" : "NULL");
		return UWAL_EINVAL;
	}
	if (!c->prefix || !uw_cfg_prefix_ok(c->prefix)) {
		say(c,
		    "invalid config: prefix must be 1..%d bytes, contain no '/' and not be "
		    "\".\" or \"..\"",
		    UW_MAX_PREFIX);
		return UWAL_EINVAL;
	}
	RANGE(segment_size, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
	RANGE(sync_mode, UWAL_SYNC_NONE, UWAL_SYNC_ALWAYS);
	RANGE(prealloc, UWAL_PREALLOC_ZERO, UWAL_PREALLOC_AUTO);
	RANGE(write_path, UWAL_WRITE_PWRITE, UWAL_WRITE_URING);
	RANGE(durable_write, UWAL_DURABLE_LINKED, UWAL_DURABLE_DSYNC);
	RANGE(wait_nap_pct, 0, 100);
	RANGE(max_batch_size, 1, 65536);
	RANGE(max_batch_delay_us, 0, 1000000);
	RANGE(queue_capacity, 2, 1u << 20);
	RANGE(ring_entries, 8, 4096);
	RANGE(ring_poll_us, 0, 1000000);
	RANGE(async_window, 1, 1u << 20);
	RANGE(writeback_kib, 0, 4u << 20);
	RANGE(rejoin_us, 0, 10000);
	uint32_t known = UWAL_OPEN_READONLY | UWAL_OPEN_NO_REPAIR | UWAL_OPEN_VERIFY;
	if (c->open_flags & ~known) {
		say(c,
		    "invalid config: open_flags = 0x%x has unknown bits 0x%x; allowed: "
		    "UWAL_OPEN_READONLY, UWAL_OPEN_NO_REPAIR, UWAL_OPEN_VERIFY",
		    c->open_flags, c->open_flags & ~known);
		return UWAL_EINVAL;
	}
	return check_ring_flags(c);
}

int uw_cfg_load(const uwal_config *in, uwal_config *out)
{
	if (in->size < offsetof(uwal_config, size) + sizeof(in->size)) {
		/* Not filled by uwal_config_init(): nothing says how big it is.
		 * log_fn cannot be trusted either. */
		return UWAL_EINVAL;
	}
	defaults(out);
	if (in->size > sizeof(*out)) {
		const uint8_t *extra = (const uint8_t *)in + sizeof(*out);
		for (size_t i = 0; i < in->size - sizeof(*out); i++) {
			if (extra[i]) {
				uwal_config tmp = *in;
				say(&tmp,
				    "invalid config: the struct is %u bytes and sets fields this "
				    "library (%zu bytes, version %s) does not know",
				    in->size, sizeof(*out), UWAL_VERSION_STRING);
				return UWAL_EINVAL;
			}
		}
	}
	memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
	out->size = sizeof(*out);
	int ret = check(out);
	/* The handle only ever sees what AUTO stands for. */
	if (ret == 0 && out->prealloc == UWAL_PREALLOC_AUTO)
		out->prealloc = out->sync_mode == UWAL_SYNC_NONE ? UWAL_PREALLOC_FALLOCATE
								 : UWAL_PREALLOC_ZERO;
	return ret;
}
