/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_frame.c - libFuzzer target for the pure frame and header codec
 * (src/format.c): uw_fmt_frame_decode, uw_fmt_record_decode, uw_fmt_seal_decode and
 * uw_fmt_seg_hdr_decode on arbitrary bytes.
 *
 * Input: byte 0 = mode, bytes 1..4 = salt (LE), the rest = the bytes to
 * decode, copied into a buffer of exactly that size (so ASan sees any
 * overread). Mode bit 0: give the frame a valid CRC first; bit 1: no
 * max_len bound (else the bytes available); bit 2: give the first 32 bytes
 * a valid segment header CRC and decode them as a header.
 *
 * Properties checked beyond "no crash, no sanitizer report":
 * - an accepted frame has 1 <= len <= the bytes available and <= max_len,
 *   its payload inside the buffer, and uw_fmt_frame_peek_len agrees;
 * - the same bytes never validate under another salt;
 * - a decoded record or seal re-encodes to a frame that decodes to the
 *   same values; record fields point inside the payload; a record is never
 *   also a seal;
 * - a decoded header's fields are the bytes at their offsets.
 */
#include <stdbool.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "uwal.h"

static void check_record(const struct fmt_frame *f, const struct fmt_rec *r, uint32_t salt)
{
	const uint8_t *lo = f->payload, *hi = f->payload + f->len;
	FUZZ_CHECK(r->index != 0);
	FUZZ_CHECK(r->key_len == 0 ||
		   ((const uint8_t *)r->key >= lo && (const uint8_t *)r->key + r->key_len <= hi));
	FUZZ_CHECK(r->value_len == 0 || ((const uint8_t *)r->value >= lo &&
					 (const uint8_t *)r->value + r->value_len <= hi));
	size_t sz = uw_fmt_record_frame_size(r->index, r->key_len, r->value_len);
	FUZZ_CHECK(sz <= FMT_FRAME_HDR_SIZE + (size_t)f->len); /* ours is minimal */
	uint8_t *out = malloc(sz);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(uw_fmt_record_frame_encode(out, salt, f->flags, r->index, r->key, r->key_len,
					      r->value, r->value_len) == sz);
	struct fmt_frame f2;
	FUZZ_CHECK(uw_fmt_frame_decode(out, sz, salt, UINT32_MAX, &f2) == FMT_FRAME_OK);
	struct fmt_dec d2;
	uw_fmt_dec_init(&d2);
	struct fmt_rec r2;
	FUZZ_CHECK(uw_fmt_record_decode(&d2, &f2, &r2) == 0);
	FUZZ_CHECK(r2.index == r->index && r2.key_len == r->key_len &&
		   r2.value_len == r->value_len);
	FUZZ_CHECK(r->key_len == 0 || memcmp(r2.key, r->key, r->key_len) == 0);
	FUZZ_CHECK(r->value_len == 0 || memcmp(r2.value, r->value, r->value_len) == 0);
	uw_fmt_dec_destroy(&d2);
	free(out);
}

static void check_seal(uint64_t records, uint64_t next, uint32_t salt)
{
	uint8_t out[FMT_SEAL_FRAME_MAX];
	size_t n = uw_fmt_seal_frame_encode(out, salt, records, next);
	FUZZ_CHECK(n <= FMT_SEAL_FRAME_MAX);
	struct fmt_frame f;
	FUZZ_CHECK(uw_fmt_frame_decode(out, n, salt, UINT32_MAX, &f) == FMT_FRAME_OK);
	struct fmt_dec d;
	uw_fmt_dec_init(&d);
	uint64_t a, b;
	FUZZ_CHECK(uw_fmt_seal_decode(&d, &f, &a, &b) == 0 && a == records && b == next);
	uw_fmt_dec_destroy(&d);
}

static void fuzz_header(uint8_t *buf, size_t n)
{
	if (n < FMT_SEG_HDR_SIZE)
		return;
	fz_fix_header(buf);
	struct fmt_seg_hdr h;
	if (uw_fmt_seg_hdr_decode(buf, &h) != 0)
		return;
	FUZZ_CHECK(memcmp(buf, FMT_MAGIC, 8) == 0);
	FUZZ_CHECK(h.version >= FMT_VERSION_MIN && h.version <= FMT_VERSION);
	FUZZ_CHECK(h.flags == (uint16_t)(buf[10] | buf[11] << 8));
	FUZZ_CHECK(h.salt == fz_le32(buf + 12));
	FUZZ_CHECK(h.seq == ((uint64_t)fz_le32(buf + 16) | (uint64_t)fz_le32(buf + 20) << 32));
	/* encode of what was decoded is accepted again, with the same fields */
	uint8_t again[FMT_SEG_HDR_SIZE];
	uw_fmt_seg_hdr_encode(again, &h);
	struct fmt_seg_hdr h2;
	FUZZ_CHECK(uw_fmt_seg_hdr_decode(again, &h2) == 0);
	FUZZ_CHECK(h2.flags == h.flags && h2.salt == h.salt && h2.seq == h.seq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint8_t mode = data[0];
	uint32_t salt = fz_le32(data + 1);
	size_t n = size - 5;
	uint8_t *buf = malloc(n ? n : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data + 5, n);

	if (mode & 4) {
		fuzz_header(buf, n);
		free(buf);
		return 0;
	}
	if (mode & 1)
		fz_fix_frame(buf, n, salt);
	uint32_t max_len =
		(mode & 2) ? UINT32_MAX
			   : (n > FMT_FRAME_HDR_SIZE ? (uint32_t)(n - FMT_FRAME_HDR_SIZE) : 0);
	(void)uw_fmt_frame_peek_len(buf, n);
	struct fmt_frame f;
	enum fmt_frame_status st = uw_fmt_frame_decode(buf, n, salt, max_len, &f);
	FUZZ_CHECK(st == FMT_FRAME_OK || st == FMT_FRAME_ZERO || st == FMT_FRAME_SHORT ||
		   st == FMT_FRAME_BAD);
	if (st == FMT_FRAME_OK) {
		FUZZ_CHECK(f.len >= 1 && f.len <= max_len && f.len <= n - FMT_FRAME_HDR_SIZE);
		FUZZ_CHECK(f.payload == buf + FMT_FRAME_HDR_SIZE);
		FUZZ_CHECK(f.type >= FMT_FRAME_RECORD && f.type <= FMT_FRAME_MARK);
		FUZZ_CHECK(uw_fmt_frame_peek_len(buf, n) == FMT_FRAME_HDR_SIZE + (size_t)f.len);
		struct fmt_frame g;
		FUZZ_CHECK(uw_fmt_frame_decode(buf, n, salt ^ (mode | 1u) << 8, max_len, &g) !=
			   FMT_FRAME_OK);

		struct fmt_dec d;
		uw_fmt_dec_init(&d);
		struct fmt_rec r;
		uint64_t records, next;
		bool is_rec = uw_fmt_record_decode(&d, &f, &r) == 0;
		if (is_rec) {
			FUZZ_CHECK(f.type == FMT_FRAME_RECORD);
			check_record(&f, &r, salt);
		}
		bool is_seal = uw_fmt_seal_decode(&d, &f, &records, &next) == 0;
		if (is_seal) {
			FUZZ_CHECK(f.type == FMT_FRAME_SEAL);
			check_seal(records, next, salt);
		}
		FUZZ_CHECK(!(is_rec && is_seal));
		struct fmt_trunc t;
		if (uw_fmt_trunc_decode(&d, &f, &t) == 0)
			FUZZ_CHECK(!is_rec && !is_seal &&
				   (f.type == FMT_FRAME_FRONT || f.type == FMT_FRAME_BACK ||
				    f.type == FMT_FRAME_NEXT));
		struct fmt_mark m;
		if (uw_fmt_mark_decode(&f, FMT_SEG_HDR_SIZE, &m) == 0)
			FUZZ_CHECK(!is_rec && !is_seal && f.type == FMT_FRAME_MARK);
		uw_fmt_dec_destroy(&d);
	}
	free(buf);
	return 0;
}
