/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common.h - helpers shared by uwal's libFuzzer targets: little-endian
 * access and "fix-ups" that give fuzzed frames and headers valid CRCs, so
 * that the fuzzer reaches the payload decoder and the recovery rules
 * instead of stopping at a checksum it cannot guess.
 *
 * The CRCs are computed here from the format's specification (format.c's
 * comment block) with uw_fmt_crc_update(), the engine's CRC32C primitive.
 */
#ifndef UWAL_FUZZ_COMMON_H
#define UWAL_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* abort() with a reason on stderr: every violated property is a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", #cond, __FILE__,   \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline uint32_t fz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fz_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Give the frame at buf[0..avail) a valid CRC for salt if its length fits;
 * returns its total size, or 0 if it does not fit. */
static inline size_t fz_fix_frame(uint8_t *buf, size_t avail, uint32_t salt)
{
	if (avail < FMT_FRAME_HDR_SIZE)
		return 0;
	uint32_t len = fz_le32(buf);
	if (len > avail - FMT_FRAME_HDR_SIZE)
		return 0;
	uint32_t c = uw_fmt_crc_update(salt ^ 0xFFFFFFFFu, buf, 12);
	c = uw_fmt_crc_update(c, buf + FMT_FRAME_HDR_SIZE, len);
	fz_put32(buf + 12, c ^ 0xFFFFFFFFu);
	return FMT_FRAME_HDR_SIZE + len;
}

/* Fix every frame from off on, back to back, as far as lengths fit. */
static inline void fz_fix_frames(uint8_t *buf, size_t size, size_t off, uint32_t salt)
{
	while (off < size) {
		size_t n = fz_fix_frame(buf + off, size - off, salt);
		if (n == 0)
			break;
		off += n;
	}
}

/* Give a 32-byte segment header a valid CRC (bytes 28..31). */
static inline void fz_fix_header(uint8_t *hdr)
{
	fz_put32(hdr + 28, ~uw_fmt_crc_update(0xFFFFFFFFu, hdr, 28));
}

#endif
