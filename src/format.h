/* SPDX-License-Identifier: Apache-2.0 */
/*
 * format.h - uwal's on-disk format: pure encode/decode of segment headers
 * and frames. The format itself is specified at the top of format.c.
 */
#ifndef UWAL_FORMAT_H
#define UWAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define FMT_MAGIC "UWALSEG1"
/* The format version new segments get; FMT_VERSION_MIN..FMT_VERSION are read.
 * Version 2 adds the truncation frames (a version 1 segment holds none);
 * version 3 the segment key's high half and mark frames (the durable
 * watermark; a version 1 or 2 segment holds none). */
#define FMT_VERSION 3
#define FMT_VERSION_MIN 1
#define FMT_SEG_HDR_SIZE 32
#define FMT_FRAME_HDR_SIZE 16

/* Segment header flags. */
#define FMT_SEG_AFTER_GAP                                                                          \
	0x0001 /* the segment before this one was removed                                          \
		  by uwal_unsafe_recover() */

/* Record frame flags. */
#define FMT_FRAME_MORE 0x01 /* the next frame belongs to the same uwal_write_batch() call */

/* Frame types. */
#define FMT_FRAME_RECORD 1
#define FMT_FRAME_SEAL 2
#define FMT_FRAME_FRONT 3 /* truncate_front: every record before a position is void */
#define FMT_FRAME_BACK 4  /* truncate_back: from a position up to this frame is void */
#define FMT_FRAME_NEXT 5  /* the high-water mark of indexes (assigned indexes) */
#define FMT_FRAME_MARK 6  /* the durable watermark (version 3) */

/* Size of a mark frame: header, then a 16-byte payload. */
#define FMT_MARK_FRAME_SIZE (FMT_FRAME_HDR_SIZE + 16)

/* Size of a seal frame, payload included (upper bound). */
#define FMT_SEAL_FRAME_MAX (FMT_FRAME_HDR_SIZE + 1 + 9 + 9)

/* Size of a truncation frame, payload included (upper bound). */
#define FMT_TRUNC_FRAME_MAX (FMT_FRAME_HDR_SIZE + 1 + 9 + 9 + 9)

struct fmt_seg_hdr {
	uint16_t version;
	uint16_t flags;
	uint64_t seq;    /* segment number, as in the file name */
	uint32_t salt;   /* random, seeds every frame CRC of this segment */
	uint32_t key_hi; /* version 3: random, the segment key's high half; else 0 */
};

/* The segment's 64-bit key (version 3): salt, and key_hi above it. */
static inline uint64_t uw_fmt_seg_key(uint32_t salt, uint32_t key_hi)
{
	return (uint64_t)key_hi << 32 | salt;
}

struct fmt_frame {
	uint32_t len; /* payload bytes */
	uint8_t type; /* FMT_FRAME_* */
	uint8_t flags;
	uint32_t epoch;
	const uint8_t *payload;
};

/* A decoded record payload; key and value point into the payload. */
struct fmt_rec {
	uint64_t index;
	const void *key;
	uint32_t key_len;
	const void *value;
	uint32_t value_len;
};

/* CRC32C (Castagnoli) of buf, continuing from crc (no final inversion). */
uint32_t uw_fmt_crc_update(uint32_t crc, const void *buf, size_t len);

void uw_fmt_seg_hdr_encode(uint8_t out[FMT_SEG_HDR_SIZE], const struct fmt_seg_hdr *h);
/* 0, or UWAL_ECORRUPT if the magic, version or CRC is wrong. */
int uw_fmt_seg_hdr_decode(const uint8_t in[FMT_SEG_HDR_SIZE], struct fmt_seg_hdr *h);

/* Exact encoded size of a record frame (header + payload). */
size_t uw_fmt_record_frame_size(uint64_t index, size_t key_len, size_t value_len);
/*
 * Encode a record frame into out (which has room for
 * uw_fmt_record_frame_size()). Returns bytes written.
 */
size_t uw_fmt_record_frame_encode(uint8_t *out, uint32_t salt, uint8_t flags, uint64_t index,
				  const void *key, size_t key_len, const void *value,
				  size_t value_len);
/* Recompute the crc of the whole frame at frame (encoded for another
 * segment) for salt; returns the frame's size. */
size_t uw_fmt_frame_resalt(uint8_t *frame, uint32_t salt);
/* Encode a seal frame; returns bytes written (<= FMT_SEAL_FRAME_MAX). */
size_t uw_fmt_seal_frame_encode(uint8_t *out, uint32_t salt, uint64_t records, uint64_t next_seq);

/*
 * A truncation frame's payload: the record at (seq, off) is `index`; index
 * 0 (FRONT only) names no record: (seq, off) is the end of the frame itself.
 */
struct fmt_trunc {
	uint64_t index;
	uint64_t seq;
	uint64_t off;
};
/* Encode a FMT_FRAME_FRONT, FMT_FRAME_BACK or FMT_FRAME_NEXT frame (a
 * NEXT frame's index is the high-water mark, (seq, off) its own position);
 * returns bytes written (<= FMT_TRUNC_FRAME_MAX). */
size_t uw_fmt_trunc_frame_encode(uint8_t *out, uint32_t salt, uint8_t type,
				 const struct fmt_trunc *t);

/* A mark frame: the segment was durable before offset w, which holds
 * recs record frames; check is uw_fmt_mark_check() of the frame's offset. */
struct fmt_mark {
	uint64_t w;
	uint64_t recs;
	uint64_t check;
};
/* The 64-bit check a mark frame at offset off of a segment of this key
 * carries: a bijection of off for a given key (format.c, "Mark frames"). */
uint64_t uw_fmt_mark_check(uint64_t key, uint64_t off);
/* Encode the mark frame {w, recs} for offset off into out (room for
 * FMT_MARK_FRAME_SIZE); returns FMT_MARK_FRAME_SIZE. */
size_t uw_fmt_mark_frame_encode(uint8_t *out, uint32_t salt, uint64_t key, uint64_t off, uint64_t w,
				uint64_t recs);
/* Decode a mark frame's watermark and payload (f valid, of type
 * FMT_FRAME_MARK); 0 or UWAL_ECORRUPT (wrong length, or w past off, the
 * frame's own offset, or before the first frame). */
int uw_fmt_mark_decode(const struct fmt_frame *f, uint64_t off, struct fmt_mark *m);

enum fmt_frame_status {
	FMT_FRAME_OK = 0,
	FMT_FRAME_ZERO,  /* an all-zero frame header: no frame here */
	FMT_FRAME_SHORT, /* the frame runs past the available bytes */
	FMT_FRAME_BAD,   /* bad length, type or CRC */
	FMT_FRAME_END,   /* the frame reader reached its end (frames.c) */
};

/* Length of the frame starting at in (header + payload), read from its
 * header without checking anything; 0 if avail < header size. */
size_t uw_fmt_frame_peek_len(const uint8_t *in, size_t avail);
/*
 * Check and decode the frame at in[0..avail). max_len bounds the payload
 * length accepted. On FMT_FRAME_OK fills *f (payload points into in).
 */
enum fmt_frame_status uw_fmt_frame_decode(const uint8_t *in, size_t avail, uint32_t salt,
					  uint32_t max_len, struct fmt_frame *f);
/* A payload decoder; one per thread, reused across frames. */
struct fmt_dec {
	msgpack_zone zone; /* cleared, not freed, before each payload */
	msgpack_object obj;
};
/* 0, or -ENOMEM (d is then safe to destroy, and nothing else). */
int uw_fmt_dec_init(struct fmt_dec *d);
void uw_fmt_dec_destroy(struct fmt_dec *d);
/* Decode a record payload (key/value point into f's payload); 0 or
 * UWAL_ECORRUPT. The result stays valid until d decodes again. */
int uw_fmt_record_decode(struct fmt_dec *d, const struct fmt_frame *f, struct fmt_rec *r);
/* Decode a seal payload; 0 or UWAL_ECORRUPT. */
int uw_fmt_seal_decode(struct fmt_dec *d, const struct fmt_frame *f, uint64_t *records,
		       uint64_t *next_seq);

/* Decode a truncation payload (FRONT, BACK or NEXT); 0 or UWAL_ECORRUPT. */
int uw_fmt_trunc_decode(struct fmt_dec *d, const struct fmt_frame *f, struct fmt_trunc *t);

/* ---- index files (format.c, "Index files") ---------------------------- */

#define FMT_IDX_MAGIC "UWALIDX1"
#define FMT_IDX_VERSION 1
#define FMT_IDX_HDR_SIZE 96
#define FMT_IDX_TRUNC_SIZE 40
#define FMT_IDX_RUN_SIZE 12

/* A truncation frame (FRONT, BACK or NEXT) of a sealed segment: at off,
 * len bytes long, with its payload t. */
struct fmt_idx_trunc {
	uint8_t type;
	uint32_t len;
	uint64_t off;
	struct fmt_trunc t;
};

/* What a sealed segment's index file says of it. */
struct fmt_idx {
	uint64_t seq;
	uint16_t version; /* the segment's format version */
	uint32_t salt, key_hi;
	uint64_t file_size;         /* the segment file's size: its seal frame's end */
	uint64_t seal_off;          /* where the seal frame starts (the frames' end) */
	uint64_t records;           /* record frames in the segment (the seal's count) */
	uint64_t next_seq;          /* the seal's next segment number */
	uint64_t mark_w, mark_recs; /* the largest watermark of its mark frames */
	uint32_t ntrunc;
	struct fmt_idx_trunc *trunc; /* in file order */
	/* Every record frame, in file order: records entries. */
	uint64_t *keys;
	uint32_t *offs;
	bool sorted; /* keys strictly increasing (set by decode) */
};

/* Encode x into a malloc'd *out of *len bytes; 0 or -ENOMEM. */
int uw_fmt_idx_encode(const struct fmt_idx *x, uint8_t **out, size_t *len);
/* Decode and check the index file in[0..len) into *x (trunc, keys and offs
 * malloc'd: uw_fmt_idx_free()); 0, UWAL_ECORRUPT (torn, damaged, not an
 * index file, or inconsistent) or -ENOMEM. */
int uw_fmt_idx_decode(const uint8_t *in, size_t len, struct fmt_idx *x);
void uw_fmt_idx_free(struct fmt_idx *x);

/*
 * Files beside the log (format.c, "Files beside the log"): the header of
 * one of len bytes of contents (the CRC32C that ends it is
 * uw_fmt_crc_update() over header and contents, from 0xFFFFFFFF, then
 * inverted); and the check of a whole file read back (0 and the contents, or
 * UWAL_ECORRUPT).
 */
#define FMT_FILE_HDR_SIZE 24
void uw_fmt_file_header(uint8_t out[FMT_FILE_HDR_SIZE], uint64_t len);
int uw_fmt_file_check(const uint8_t *in, size_t size, const uint8_t **contents, size_t *len);

#endif
