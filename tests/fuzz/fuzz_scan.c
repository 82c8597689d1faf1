/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_scan.c - libFuzzer target for the segment scanner (uw_seg_scan in
 * src/segment.c), which recovery, unsafe recover and iterators share.
 *
 * Input: byte 0 = mode. Mode bit 0 set: the rest of the input is the
 * whole file (header included; at least 32 bytes, as for every caller). Bit 0 clear: bytes 1..4 are
 * the salt, and the rest follows a valid segment header that carries it. Bit 1: give every frame,
 * back to back from offset 32, a valid CRC first (so the fuzzer reaches seals, payloads and the
 * rules after them). Bit 2: append zeros, as preallocation leaves them. The file lives in a memfd.
 *
 * Properties checked beyond "no crash, no sanitizer report":
 * - uw_seg_scan returns 0 (no I/O can fail on a memfd);
 * - the records it reports tile [32, end) back to back, in order, each a
 *   frame that uw_fmt_frame_decode accepts; records counts them;
 * - bad_off is 0 or equal to end; a sealed scan has no bad_off and its
 *   seal frame, valid, starts at end;
 * - end never passes the file's size; a scan that stopped without a seal
 *   or a bad frame stopped at zeros.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

static int g_fd = -1;

struct seen {
	const uint8_t *file;
	size_t size;
	uint32_t salt;
	uint64_t next; /* where the next record must start */
	uint64_t n;
	uint64_t *offs; /* offset of each record called back */
};

static int on_record(void *ctx, const struct fmt_rec *r, uint64_t off)
{
	struct seen *s = ctx;
	FUZZ_CHECK(off == s->next);
	FUZZ_CHECK(off < s->size);
	struct fmt_frame f;
	FUZZ_CHECK(uw_fmt_frame_decode(s->file + off, s->size - off, s->salt, UINT32_MAX, &f) ==
		   FMT_FRAME_OK);
	FUZZ_CHECK(f.type == FMT_FRAME_RECORD);
	FUZZ_CHECK(r->index != 0);
	FUZZ_CHECK(r->key_len <= f.len && r->value_len <= f.len);
	s->next = off + FMT_FRAME_HDR_SIZE + f.len;
	s->offs[s->n++] = off;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (g_fd < 0) {
		g_fd = memfd_create("uwal-fuzz-scan", MFD_CLOEXEC);
		FUZZ_CHECK(g_fd >= 0);
	}
	uint8_t mode = data[0];
	bool whole = mode & 1;
	size_t pad = (mode & 4) ? 4096 : 0;
	size_t body, hdr;
	uint32_t salt = 0;
	const uint8_t *in;
	if (whole) {
		/* uw_seg_scan's precondition, which its callers keep (they read the
		 * 32-byte header first): the file holds at least a header */
		if (size - 1 < FMT_SEG_HDR_SIZE)
			return 0;
		in = data + 1;
		body = size - 1;
		hdr = 0;
	} else {
		if (size < 5)
			return 0;
		salt = fz_le32(data + 1);
		in = data + 5;
		body = size - 5;
		hdr = FMT_SEG_HDR_SIZE;
	}
	size_t fsize = hdr + body + pad;
	uint8_t *file = calloc(1, fsize ? fsize : 1);
	FUZZ_CHECK(file != NULL);
	if (!whole) {
		struct fmt_seg_hdr h = {.version = FMT_VERSION, .flags = 0, .seq = 7, .salt = salt};
		uw_fmt_seg_hdr_encode(file, &h);
	}
	memcpy(file + hdr, in, body);
	if (whole) {
		struct fmt_seg_hdr h;
		if (fsize >= FMT_SEG_HDR_SIZE && uw_fmt_seg_hdr_decode(file, &h) == 0)
			salt = h.salt;
		else if (fsize >= 16)
			salt = fz_le32(file + 12);
	}
	if (mode & 2)
		fz_fix_frames(file, fsize, FMT_SEG_HDR_SIZE, salt);

	FUZZ_CHECK(ftruncate(g_fd, 0) == 0);
	FUZZ_CHECK(pwrite(g_fd, file, fsize, 0) == (ssize_t)fsize);
	if (whole) {
		struct fmt_seg_hdr h;
		(void)uw_seg_read_header(uw_io_system(), g_fd, &h);
	}

	struct seen s = {.file = file, .size = fsize, .salt = salt, .next = FMT_SEG_HDR_SIZE};
	s.offs = malloc((fsize / FMT_FRAME_HDR_SIZE + 1) * sizeof(*s.offs));
	FUZZ_CHECK(s.offs != NULL);
	struct uw_seg_scan out;
	int ret = uw_seg_scan(uw_io_system(), g_fd, salt, fsize, on_record, &s, &out);
	FUZZ_CHECK(ret == 0);
	/* Records of a batch left unfinished at the end are called back, then
	 * cut: the scan ends at the first of them. */
	FUZZ_CHECK(out.records + out.cut_records == s.n);
	if (fsize > FMT_SEG_HDR_SIZE) {
		FUZZ_CHECK(out.end == (out.cut_records ? s.offs[out.records] : s.next));
		FUZZ_CHECK(out.end <= fsize);
	}
	if (out.cut_records)
		FUZZ_CHECK(!out.sealed && out.bad_off == out.end);
	FUZZ_CHECK(out.bad_off == 0 || out.bad_off == out.end);
	if (out.sealed) {
		FUZZ_CHECK(out.bad_off == 0);
		struct fmt_frame f;
		FUZZ_CHECK(uw_fmt_frame_decode(file + out.end, fsize - out.end, salt, UINT32_MAX,
					       &f) == FMT_FRAME_OK);
		FUZZ_CHECK(f.type == FMT_FRAME_SEAL);
	}
	if (!out.sealed && out.bad_off == 0 && out.end < fsize) {
		/* it stopped on zeros: a frame header of zeros (or what is left) */
		size_t left =
			fsize - out.end < FMT_FRAME_HDR_SIZE ? fsize - out.end : FMT_FRAME_HDR_SIZE;
		for (size_t i = 0; i < left; i++)
			FUZZ_CHECK(file[out.end + i] == 0);
	}
	/* the scan without a callback agrees */
	struct uw_seg_scan out2;
	FUZZ_CHECK(uw_seg_scan(uw_io_system(), g_fd, salt, fsize, NULL, NULL, &out2) == 0);
	FUZZ_CHECK(out2.end == out.end && out2.bad_off == out.bad_off &&
		   out2.records == out.records && out2.sealed == out.sealed &&
		   out2.seal_next == out.seal_next && out2.cut_records == out.cut_records);
	free(s.offs);
	free(file);
	return 0;
}
