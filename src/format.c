/* SPDX-License-Identifier: Apache-2.0 */
/*
 * format.c - the on-disk format of uwal, specified here once and mirrored
 * in README.md. Encode and decode are pure functions, side by side.
 *
 * All integers are little-endian.
 *
 * Segment file "<prefix><20-digit decimal segment number>":
 *
 *   offset size  field
 *   0      8     magic "UWALSEG1"
 *   8      2     format version: 3 (new segments); 1 and 2 are read too.
 *                A version 1 segment holds no truncation frames; a
 *                version 1 or 2 segment no mark frames
 *   10     2     flags: 0x0001 AFTER_GAP = the segment before this one was
 *                removed by uwal_unsafe_recover(), so the number gap is
 *                expected
 *   12     4     salt: random, chosen when the segment is created
 *   16     8     segment number (must equal the one in the file name)
 *   24     4     key_hi (version 3): random, chosen with the salt; the
 *                segment key is key_hi << 32 | salt (64 bits). Before
 *                version 3: reserved, written 0, not read
 *   28     4     CRC32C of bytes 0..27 (standard CRC32C)
 *   32     ...   frames, back to back, then zeros to the end of the file
 *
 * Frame:
 *
 *   offset size  field
 *   0      4     len: payload length in bytes, >= 1
 *   4      1     type: 1 = record, 2 = seal, 3 = front, 4 = back, 5 = next,
 *                6 = mark (version 3)
 *   5      1     flags: 0x01 MORE (record frames only) = the next frame
 *                belongs to the same uwal_write_batch() call; other bits 0
 *   6      2     reserved, 0
 *   8      4     epoch: in a mark frame, the watermark W (below); in
 *                other frames 0, reserved (writers write 0, readers
 *                ignore it)
 *   12     4     crc
 *   16     len   payload, msgpack:
 *                  record: array(3) [uint index, bin key, bin value]
 *                  seal:   array(2) [uint records in segment,
 *                                    uint number of the next segment]
 *                  front:  array(3) [uint index, uint segment, uint offset]
 *                  back:   array(3) [uint index, uint segment, uint offset]
 *                  next:   array(3) [uint high-water index, uint segment,
 *                                    uint offset]
 *                  mark:   not msgpack: a fixed 16 bytes, so that it can be
 *                          searched for: u64 check, u64 records (below)
 *
 * The crc covers the frame header's first 12 bytes and the payload, seeded
 * with the segment's salt. In terms of isa-l's crc32_iscsi(buf, len, init),
 * which neither inverts its result nor takes more than an int of length
 * (longer buffers are fed in pieces):
 *
 *   c   = crc32_iscsi(header[0..12), 12, salt ^ 0xFFFFFFFF)
 *   c   = crc32_iscsi(payload, len, c)
 *   crc = c ^ 0xFFFFFFFF
 *
 * With salt 0 this is the standard CRC32C of header[0..12) || payload.
 * Because the salt differs per segment, bytes left from another segment (a
 * reused or copied file) never validate. The length is inside the CRC, so a
 * damaged length cannot make garbage pass as a frame.
 *
 * Validity: a frame is valid when its length fits in the file, its type is
 * known, its reserved fields and unknown flags are 0 and its crc matches. A
 * frame header of 16 zero bytes means "no frame here".
 *
 * Batches: the records of one uwal_write_batch() call are consecutive
 * frames of one segment, all but the last flagged MORE. A batch is whole
 * only if its last frame (MORE clear) is valid: recovery cuts a torn tail
 * back to the first frame of an unfinished batch, so a batch that was not
 * acknowledged is either entirely in the log or not at all. A seal frame
 * right after a MORE frame is invalid.
 *
 * Sealed segments: at rotation, a seal frame is written after the last
 * record and fdatasynced before the next segment takes any write. Every
 * segment but the last one in the log must end with a valid seal; a bad
 * frame before it is corruption. In the last (unsealed) segment the log
 * ends at the first frame that is not valid: after a power loss unsynced
 * pages may have reached the disk in any order, so what follows is a torn
 * tail, which recovery cuts off by truncating the file there (and
 * preallocating it again) - unless a later mark frame says it was durable
 * (see "The durable watermark").
 *
 * Positions: a frame's position in log order is (segment number, offset),
 * compared segment first. A truncation frame names a position P = (segment,
 * offset) and, there, the record `index` (it must be that record, when that
 * segment is still in the log). Truncation frames are written into the
 * active segment (never after a MORE frame) and fdatasynced before the call
 * returns; they carry no record and do not count in a seal's records.
 *
 *   front (uwal_truncate_front): every record before P is void. index 0
 *          names no record: P is then this frame's own position (the
 *          whole log before it is void).
 *   back  (uwal_truncate_back): every record from P up to this frame is
 *          void. P lies in an earlier segment than the frame, or (version
 *          3 segments only) in the frame's own segment before it: the
 *          records from P to the frame are then a void of the segment,
 *          and the records after the frame are live again (they may
 *          reuse the voided indexes). No segment file is ever cut. (A
 *          writer of version 2 segments sealed the active segment first
 *          and put the frame into the next one; files written before
 *          truncation frames may have been cut at P instead, with no
 *          frame; they read the same.)
 *
 *   next   (version 2 segments): no record is voided; index H >= 1 is the
 *          high-water mark of indexes at this point of the log, the largest
 *          index ever assigned or written before it (records gone by
 *          retention or front truncation included); P is this frame's own
 *          position. The writer puts one before each front frame and,
 *          when retention is on (max_segments), one at the start of each
 *          new segment. Recovery takes the next
 *          assigned index as one more than the largest of: the H of every
 *          next frame, k - 1 for every back frame naming record k, each
 *          one overriding what came before it in log order, and the live
 *          records' indexes.
 *
 * The durable watermark (version 3 segments). A mark frame at offset X
 * states that the segment was durable (an fdatasync had completed, or an
 * RWF_DSYNC write while nothing before it was unsynced) before offset W,
 * its epoch; FMT_SEG_HDR_SIZE <= W <= X. Its payload is
 *
 *   0      8     check = fmix64(key + X * 0x9e3779b97f4a7c15) (mod 2^64),
 *                fmix64 being MurmurHash3's 64-bit finalizer; key is the
 *                segment key
 *   8      8     records: how many record frames lie before W
 *
 * so it is 32 bytes in all, with header bytes 0..7 always 10 00 00 00 06
 * 00 00 00. It is valid like any frame (crc), with a payload of exactly 16
 * bytes, W in range and records no more than the record frames before it;
 * never after a MORE frame. Writers put one before a batch when the
 * watermark moved since the last one (the batch after a durable batch
 * vouches for it), one unsynced when the writer goes idle (the next write
 * starts at the same offset, overwriting it), and one at close, after the
 * final fdatasync, itself fdatasynced. A mark frame is never written
 * before it is true, and never lies unsynced before a durable frame.
 *
 * Finding marks past damage. In the last segment, let P be where the
 * frame-by-frame scan cut (the first bad or zero frame header, or the
 * first frame of an unfinished batch) and S >= P where it stopped.
 * Recovery looks at every offset X in (S, end of the nonzero bytes] for a
 * mark frame: the 8 fixed header bytes, a crc that matches (seeded with
 * the salt), check == the value above for X and this segment's key, W and
 * the payload in range. For a given key, check is a bijection of X (a
 * multiplication by an odd constant, an addition and fmix64 are each
 * bijections mod 2^64), so a mark frame of this segment copied to another
 * offset (inside a record's value, say) never matches; bytes not derived
 * from this segment's key (random data, zeros, another segment's frames)
 * match a uniformly random 64-bit key's check with odds 2^-64, and must
 * then pass the 32-bit crc as well: at most 2^-64 per candidate (about
 * 2^-96 for random bytes).
 *
 * The guarantee. Let W* be the largest W of the mark frames so found. If
 * P < W*, frames that were durable would be cut: the damage is
 * corruption, not a torn tail, and every open (read-write, NO_REPAIR,
 * READONLY) fails with UWAL_ECORRUPT naming the file, the offset S and the
 * records behind it (the mark's records count minus those before P). If
 * P >= W* (or no mark frame is found) the tail from P on is cut as before.
 * So what can be cut is only what no surviving mark frame vouches for:
 * everything written after the last fdatasync (unsynced writes), and the
 * last durable batch (or batches, for a sync covering several) whose
 * vouching mark frame never reached the disk; a legitimately torn tail
 * (unsynced sectors lost in any order) is never refused, because no mark
 * frame states a W before an fdatasync covering [32, W) completed.
 * uwal_unsafe_recover() cuts a refused tail at P (losing the durable
 * records behind the damage). Version 1 and 2 segments hold no mark
 * frame (their epoch fields are 0) and vouch for nothing: they open
 * exactly as before; the writer adds no mark frame to them.
 *
 * Why version 3 and not a meaning for version 2's reserved fields: a
 * version 2 reader takes a type 6 frame for a bad frame, which in a sealed
 * segment is corruption; a version bump makes such a library fail with
 * UWAL_EVERSION instead, which it never repairs. The 64-bit key needs the
 * header's reserved word too.
 *
 * Recovery applies the truncation frames in log order, as it meets them:
 * a record is live if no truncation frame after it voids it. A record's
 * index must be unique among the live records at the moment it is read;
 * so after a back frame the indexes it voided may appear again, and the
 * later copy (the only live one) is the record. Segments whose records are
 * all void and that precede every segment with a live record are removed
 * at open (what the frames say about them is then moot: a frame only ever
 * voids records before it). Each segment's live records lie in one range,
 * [after its last back frame naming an earlier segment or the front
 * position, before a later segment's back cut), less the voids its own
 * back frames made.
 *
 * Index files (optional, still format version 3). A sealed segment may
 * have an index file "<prefix><20 digits>.idx" beside it: what recovery
 * needs of the segment to rebuild its part of the in-memory index and of
 * the log's state without reading its frames. Libraries before index
 * files ignore the name (it is no segment name), and a log without index
 * files opens by reading every frame, as before: the segment format is
 * unchanged, so this is no new version. All integers little-endian:
 *
 *   offset size  field
 *   0      8     magic "UWALIDX1"
 *   8      8     length: the file's size in bytes, crc included
 *   16     8     segment number
 *   24     2     the segment's format version (its header's)
 *   26     2     index file version: 1
 *   28     4     the segment's salt
 *   32     4     the segment's key_hi (0 before version 3)
 *   36     4     reserved, 0
 *   40     8     the segment file's size (the end of its seal frame)
 *   48     8     seal offset: where the seal frame starts
 *   56     8     records: the record frames in the segment (the seal's)
 *   64     8     the seal's next segment number
 *   72     8     the largest watermark W of the segment's mark frames (0:
 *                none), and 80 8 the records count of that mark frame
 *   88     4     T: truncation frames (FRONT, BACK, NEXT) in the segment
 *   92     4     R: runs of record indexes
 *   96     40*T  the truncation frames, in file order: u8 type, 3 bytes 0,
 *                u32 frame length, u64 frame offset, u64 index, u64
 *                segment, u64 offset (the frame's payload)
 *   ...    12*R  runs, in file order: u64 first index, u32 count >= 1: the
 *                record frames' indexes are first, first + 1, ...; the
 *                counts add up to records
 *   ...          records LEB128 varints: each record frame's offset minus
 *                the previous one's (the first: minus 0), in file order
 *   len-4  4     crc: standard CRC32C of bytes 0..len-5
 *
 * Its writer scans the sealed segment with the frame reader recovery
 * uses, writes the file as "<name>.idx.tmp", fdatasyncs it and renames it
 * into place (no directory fsync: an index lost in a crash only means a
 * scan). An index is trusted only if all of this holds, else the segment
 * is read frame by frame as if it had none: the magic, length (= the
 * file's size), versions and crc; the reserved bytes 0; offsets strictly
 * increasing inside [32, seal offset), truncation frames inside it
 * between records; segment number, version, salt and key_hi equal to the
 * segment header's; the segment file exactly the recorded size; and a
 * valid seal frame (crc with the salt) at the seal offset that ends the
 * file, with the recorded records count and next number. A segment file
 * replaced, cut or extended, and an index of another segment or of an
 * earlier file of that number (another key), so never pass; bit rot
 * inside a sealed segment's frames does not show until they are read
 * (UWAL_OPEN_VERIFY reads every frame, and ignores index files).
 * Recovery replays an index in file order as the frame reader would: each
 * record, each truncation frame at its place among them.
 *
 * Files beside the log (uwal_file_put(), files.c): "<prefix>file.<name>",
 * no part of the log (recovery never reads them), each replaced whole:
 *
 *   offset size  field
 *   0      8     magic "UWALFIL1"
 *   8      4     file version: 1
 *   12     4     reserved, 0
 *   16     8     length L of the contents
 *   24     L     the contents, as given
 *   24+L   4     crc: standard CRC32C of bytes 0..23+L
 *
 * A file of another size than 28 + L, another magic or version, nonzero
 * reserved bytes or a bad crc is refused whole (UWAL_ECORRUPT).
 */
#include "format.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "uwal.h"

_Static_assert(sizeof(FMT_MAGIC) - 1 == 8, "magic is 8 bytes");
_Static_assert(FMT_SEG_HDR_SIZE == 8 + 2 + 2 + 4 + 8 + 4 + 4, "segment header layout");
_Static_assert(FMT_FRAME_HDR_SIZE == 4 + 1 + 1 + 2 + 4 + 4, "frame header layout");

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

#if defined(UWAL_HAVE_ISAL_CRC32_ISCSI_00) && defined(__x86_64__)
/* isa-l's SSE4.2 version, exported by libisal but not declared in crc.h. */
unsigned int crc32_iscsi_00(unsigned char *buf, int len, unsigned int init);
/* Below this many bytes it beats the dispatched (carry-less multiply)
 * version here: a frame header, and payloads up to a few KiB
 * (perf/crc-small.c). */
#define SMALL_CRC 4096
static bool small_crc_ok;
__attribute__((constructor)) static void small_crc_init(void)
{
	small_crc_ok = __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t uw_fmt_crc_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
#ifdef SMALL_CRC
	if (len < SMALL_CRC && small_crc_ok)
		return crc32_iscsi_00((unsigned char *)p, (int)len, crc);
#endif
	/* crc32_iscsi takes an int length: feed long buffers in pieces. */
	while (len > 0) {
		int n = len > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)len;
		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return crc;
}

/* ---- segment header -------------------------------------------------- */

void uw_fmt_seg_hdr_encode(uint8_t out[FMT_SEG_HDR_SIZE], const struct fmt_seg_hdr *h)
{
	memcpy(out, FMT_MAGIC, 8);
	put16(out + 8, h->version);
	put16(out + 10, h->flags);
	put32(out + 12, h->salt);
	put64(out + 16, h->seq);
	put32(out + 24, h->version >= 3 ? h->key_hi : 0);
	put32(out + 28, ~uw_fmt_crc_update(0xFFFFFFFFu, out, 28));
}

int uw_fmt_seg_hdr_decode(const uint8_t in[FMT_SEG_HDR_SIZE], struct fmt_seg_hdr *h)
{
	if (memcmp(in, FMT_MAGIC, 8) != 0)
		return UWAL_ECORRUPT;
	if (get32(in + 28) != ~uw_fmt_crc_update(0xFFFFFFFFu, in, 28))
		return UWAL_ECORRUPT;
	h->version = get16(in + 8);
	/* A whole header (magic and CRC check) of a newer version is not
	 * damage: this library cannot read it, and must not repair it. */
	if (h->version > FMT_VERSION)
		return UWAL_EVERSION;
	if (h->version < FMT_VERSION_MIN)
		return UWAL_ECORRUPT;
	h->flags = get16(in + 10);
	h->salt = get32(in + 12);
	h->seq = get64(in + 16);
	/* Reserved before version 3 (written 0, not checked). */
	h->key_hi = h->version >= 3 ? get32(in + 24) : 0;
	return 0;
}

/* ---- frames ---------------------------------------------------------- */

static size_t uint_size(uint64_t v)
{
	if (v < 128)
		return 1;
	if (v <= UINT8_MAX)
		return 2;
	if (v <= UINT16_MAX)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

static size_t bin_hdr_size(size_t len)
{
	return len <= UINT8_MAX ? 2 : len <= UINT16_MAX ? 3 : 5;
}

size_t uw_fmt_record_frame_size(uint64_t index, size_t key_len, size_t value_len)
{
	return FMT_FRAME_HDR_SIZE + 1 + uint_size(index) + bin_hdr_size(key_len) + key_len +
	       bin_hdr_size(value_len) + value_len;
}

/* msgpack-c writes through this callback straight into our buffer. */
struct cursor {
	uint8_t *p;
};

static int cursor_write(void *data, const char *buf, size_t len)
{
	struct cursor *c = data;
	memcpy(c->p, buf, len);
	c->p += len;
	return 0;
}

static void seal_crc(uint8_t *out, uint32_t len, uint32_t salt)
{
	uint32_t c = uw_fmt_crc_update(salt ^ 0xFFFFFFFFu, out, 12);
	c = uw_fmt_crc_update(c, out + FMT_FRAME_HDR_SIZE, len);
	put32(out + 12, c ^ 0xFFFFFFFFu);
}

static size_t finish_frame_epoch(uint8_t *out, uint8_t *end, uint8_t type, uint8_t flags,
				 uint32_t epoch, uint32_t salt)
{
	uint32_t len = (uint32_t)(end - out - FMT_FRAME_HDR_SIZE);

	put32(out, len);
	out[4] = type;
	out[5] = flags;
	put16(out + 6, 0);
	put32(out + 8, epoch);
	seal_crc(out, len, salt);
	return (size_t)(end - out);
}

static size_t finish_frame(uint8_t *out, uint8_t *end, uint8_t type, uint8_t flags, uint32_t salt)
{
	return finish_frame_epoch(out, end, type, flags, 0, salt);
}

size_t uw_fmt_frame_resalt(uint8_t *frame, uint32_t salt)
{
	uint32_t len = get32(frame);
	seal_crc(frame, len, salt);
	return FMT_FRAME_HDR_SIZE + (size_t)len;
}

size_t uw_fmt_record_frame_encode(uint8_t *out, uint32_t salt, uint8_t flags, uint64_t index,
				  const void *key, size_t key_len, const void *value,
				  size_t value_len)
{
	struct cursor c = {out + FMT_FRAME_HDR_SIZE};
	msgpack_packer pk;

	msgpack_packer_init(&pk, &c, cursor_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, index);
	msgpack_pack_bin_with_body(&pk, key_len ? key : "", key_len);
	msgpack_pack_bin_with_body(&pk, value_len ? value : "", value_len);
	return finish_frame(out, c.p, FMT_FRAME_RECORD, flags & FMT_FRAME_MORE, salt);
}

size_t uw_fmt_seal_frame_encode(uint8_t *out, uint32_t salt, uint64_t records, uint64_t next_seq)
{
	struct cursor c = {out + FMT_FRAME_HDR_SIZE};
	msgpack_packer pk;

	msgpack_packer_init(&pk, &c, cursor_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, records);
	msgpack_pack_uint64(&pk, next_seq);
	return finish_frame(out, c.p, FMT_FRAME_SEAL, 0, salt);
}

size_t uw_fmt_trunc_frame_encode(uint8_t *out, uint32_t salt, uint8_t type,
				 const struct fmt_trunc *t)
{
	struct cursor c = {out + FMT_FRAME_HDR_SIZE};
	msgpack_packer pk;

	msgpack_packer_init(&pk, &c, cursor_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, t->index);
	msgpack_pack_uint64(&pk, t->seq);
	msgpack_pack_uint64(&pk, t->off);
	return finish_frame(out, c.p, type, 0, salt);
}

/* MurmurHash3's 64-bit finalizer: a bijection of 64-bit words. */
static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

uint64_t uw_fmt_mark_check(uint64_t key, uint64_t off)
{
	/* off -> off * odd -> + key -> fmix64: each step a bijection. */
	return fmix64(key + off * 0x9e3779b97f4a7c15ull);
}

size_t uw_fmt_mark_frame_encode(uint8_t *out, uint32_t salt, uint64_t key, uint64_t off, uint64_t w,
				uint64_t recs)
{
	put64(out + FMT_FRAME_HDR_SIZE, uw_fmt_mark_check(key, off));
	put64(out + FMT_FRAME_HDR_SIZE + 8, recs);
	return finish_frame_epoch(out, out + FMT_MARK_FRAME_SIZE, FMT_FRAME_MARK, 0, (uint32_t)w,
				  salt);
}

int uw_fmt_mark_decode(const struct fmt_frame *f, uint64_t off, struct fmt_mark *m)
{
	if (f->type != FMT_FRAME_MARK || f->len != FMT_MARK_FRAME_SIZE - FMT_FRAME_HDR_SIZE ||
	    f->epoch < FMT_SEG_HDR_SIZE || f->epoch > off)
		return UWAL_ECORRUPT;
	m->w = f->epoch;
	m->check = get64(f->payload);
	m->recs = get64(f->payload + 8);
	return 0;
}

size_t uw_fmt_frame_peek_len(const uint8_t *in, size_t avail)
{
	if (avail < FMT_FRAME_HDR_SIZE)
		return 0;
	return FMT_FRAME_HDR_SIZE + (size_t)get32(in);
}

enum fmt_frame_status uw_fmt_frame_decode(const uint8_t *in, size_t avail, uint32_t salt,
					  uint32_t max_len, struct fmt_frame *f)
{
	static const uint8_t zero[FMT_FRAME_HDR_SIZE];

	if (avail < FMT_FRAME_HDR_SIZE)
		return memcmp(in, zero, avail) == 0 ? FMT_FRAME_ZERO : FMT_FRAME_SHORT;
	if (memcmp(in, zero, FMT_FRAME_HDR_SIZE) == 0)
		return FMT_FRAME_ZERO;
	uint32_t len = get32(in);
	uint8_t type = in[4];
	uint8_t allowed = type == FMT_FRAME_RECORD ? FMT_FRAME_MORE : 0;
	if (len == 0 || len > max_len || (in[5] & ~allowed) != 0 || get16(in + 6) != 0 ||
	    type < FMT_FRAME_RECORD || type > FMT_FRAME_MARK)
		return FMT_FRAME_BAD;
	if ((size_t)len > avail - FMT_FRAME_HDR_SIZE)
		return FMT_FRAME_SHORT;
	uint32_t c = uw_fmt_crc_update(salt ^ 0xFFFFFFFFu, in, 12);
	c = uw_fmt_crc_update(c, in + FMT_FRAME_HDR_SIZE, len);
	if ((c ^ 0xFFFFFFFFu) != get32(in + 12))
		return FMT_FRAME_BAD;
	f->len = len;
	f->type = type;
	f->flags = in[5];
	f->epoch = get32(in + 8);
	f->payload = in + FMT_FRAME_HDR_SIZE;
	return FMT_FRAME_OK;
}

/*
 * Payload decoding uses msgpack-c's unpacker. The caller keeps one
 * fmt_dec per thread of decoding and reuses it; bin objects point into
 * the payload (no copy). Anything that is not one of the shapes uwal
 * writes is corruption.
 *
 * The decoder keeps its own msgpack_zone and clears it before each
 * payload (msgpack_unpack into that zone): msgpack_unpack_next() frees
 * its result's zone and allocates a new one on every call, a malloc and
 * a free per record that made a reused unpack_next 81 ns per 100-byte
 * record here against 41 ns (2M decodes each, 2026-12-02), and showed as
 * a third of the preparer's CPU while it indexed sealed segments.
 */
int uw_fmt_dec_init(struct fmt_dec *d)
{
	memset(d, 0, sizeof(*d));
	/* The largest shape uwal decodes (shape_ok) is an array of three
	 * objects: its 72 bytes fit the zone's first chunk, which a clear
	 * keeps, so no decode allocates and none can fail for want of
	 * memory, which would read as damage. */
	if (!msgpack_zone_init(&d->zone, 1024)) {
		d->zone.chunk_size = 0;
		return -ENOMEM;
	}
	return 0;
}

void uw_fmt_dec_destroy(struct fmt_dec *d)
{
	if (d->zone.chunk_size != 0)
		msgpack_zone_destroy(&d->zone);
}

/*
 * The msgpack unpacker allocates for a container as soon as it reads the
 * container's header, before it checks that the bytes exist: a crafted
 * payload (a valid CRC takes a crafted file or a collision) could make it
 * allocate gigabytes. So before unpacking, walk the top level once: one
 * fixarray of `shape` elements, each a uint ('u') or a bin ('b') that fits
 * in the payload. Then msgpack-c decodes nothing but what uwal writes.
 */
static bool shape_ok(const uint8_t *p, uint32_t len, const char *shape)
{
	const uint8_t *end = p + len;
	size_t n = strlen(shape);

	if (len < 1 || *p++ != (uint8_t)(0x90 | n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p >= end)
			return false;
		uint8_t t = *p++;
		size_t hdr = 0, body = 0;
		if (shape[i] == 'u') {
			if (t < 0x80)
				continue;
			if (t < 0xcc || t > 0xcf)
				return false;
			body = (size_t)1 << (t - 0xcc); /* 1, 2, 4, 8 bytes */
		} else {
			if (t < 0xc4 || t > 0xc6)
				return false;
			hdr = (size_t)1 << (t - 0xc4); /* 1, 2, 4 length bytes */
			if ((size_t)(end - p) < hdr)
				return false;
			for (size_t k = 0; k < hdr; k++)
				body = body << 8 | p[k];
		}
		if ((size_t)(end - p) < hdr + body)
			return false;
		p += hdr + body;
	}
	return p == end;
}

static int unpack_array(struct fmt_dec *d, const struct fmt_frame *f, uint32_t n,
			const msgpack_object **items)
{
	size_t off = 0;
	msgpack_zone_clear(&d->zone);
	int ret = msgpack_unpack((const char *)f->payload, f->len, &off, &d->zone, &d->obj);
	if (ret != MSGPACK_UNPACK_SUCCESS || off != f->len)
		return UWAL_ECORRUPT;
	const msgpack_object *o = &d->obj;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
		return UWAL_ECORRUPT;
	*items = o->via.array.ptr;
	return 0;
}

int uw_fmt_record_decode(struct fmt_dec *d, const struct fmt_frame *f, struct fmt_rec *rec)
{
	const msgpack_object *it;

	if (f->type != FMT_FRAME_RECORD || !shape_ok(f->payload, f->len, "ubb") ||
	    unpack_array(d, f, 3, &it) < 0)
		return UWAL_ECORRUPT;
	if (it[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || it[0].via.u64 == 0 ||
	    it[1].type != MSGPACK_OBJECT_BIN || it[2].type != MSGPACK_OBJECT_BIN)
		return UWAL_ECORRUPT;
	rec->index = it[0].via.u64;
	rec->key = it[1].via.bin.ptr;
	rec->key_len = it[1].via.bin.size;
	rec->value = it[2].via.bin.ptr;
	rec->value_len = it[2].via.bin.size;
	return 0;
}

int uw_fmt_seal_decode(struct fmt_dec *d, const struct fmt_frame *f, uint64_t *records,
		       uint64_t *next_seq)
{
	const msgpack_object *it;

	if (f->type != FMT_FRAME_SEAL || !shape_ok(f->payload, f->len, "uu") ||
	    unpack_array(d, f, 2, &it) < 0)
		return UWAL_ECORRUPT;
	if (it[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    it[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return UWAL_ECORRUPT;
	*records = it[0].via.u64;
	*next_seq = it[1].via.u64;
	return 0;
}

int uw_fmt_trunc_decode(struct fmt_dec *d, const struct fmt_frame *f, struct fmt_trunc *t)
{
	const msgpack_object *it;

	if ((f->type != FMT_FRAME_FRONT && f->type != FMT_FRAME_BACK &&
	     f->type != FMT_FRAME_NEXT) ||
	    !shape_ok(f->payload, f->len, "uuu") || unpack_array(d, f, 3, &it) < 0)
		return UWAL_ECORRUPT;
	for (int i = 0; i < 3; i++)
		if (it[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return UWAL_ECORRUPT;
	t->index = it[0].via.u64;
	t->seq = it[1].via.u64;
	t->off = it[2].via.u64;
	/* A BACK frame always names the record it cuts at. */
	if ((f->type == FMT_FRAME_BACK || f->type == FMT_FRAME_NEXT) && t->index == 0)
		return UWAL_ECORRUPT;
	return 0;
}

/* ---- index files ------------------------------------------------------- */

_Static_assert(sizeof(FMT_IDX_MAGIC) - 1 == 8, "index magic is 8 bytes");
_Static_assert(FMT_IDX_HDR_SIZE == 8 * 3 + 2 + 2 + 4 * 3 + 8 * 6 + 4 * 2, "index header layout");

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* The runs of consecutive indexes in keys[0..n). */
static uint32_t count_runs(const uint64_t *keys, uint64_t n)
{
	uint32_t runs = 0;
	for (uint64_t i = 0; i < n; i++)
		if (i == 0 || keys[i] != keys[i - 1] + 1)
			runs++;
	return runs;
}

int uw_fmt_idx_encode(const struct fmt_idx *x, uint8_t **out, size_t *len)
{
	uint32_t nruns = count_runs(x->keys, x->records);
	size_t cap = FMT_IDX_HDR_SIZE + (size_t)x->ntrunc * FMT_IDX_TRUNC_SIZE +
		     (size_t)nruns * FMT_IDX_RUN_SIZE + (size_t)x->records * 5 + 4;
	uint8_t *b = calloc(1, cap);
	if (!b)
		return -ENOMEM;
	memcpy(b, FMT_IDX_MAGIC, 8);
	put64(b + 16, x->seq);
	put16(b + 24, x->version);
	put16(b + 26, FMT_IDX_VERSION);
	put32(b + 28, x->salt);
	put32(b + 32, x->key_hi);
	put64(b + 40, x->file_size);
	put64(b + 48, x->seal_off);
	put64(b + 56, x->records);
	put64(b + 64, x->next_seq);
	put64(b + 72, x->mark_w);
	put64(b + 80, x->mark_recs);
	put32(b + 88, x->ntrunc);
	put32(b + 92, nruns);
	uint8_t *p = b + FMT_IDX_HDR_SIZE;
	for (uint32_t i = 0; i < x->ntrunc; i++, p += FMT_IDX_TRUNC_SIZE) {
		const struct fmt_idx_trunc *t = &x->trunc[i];
		p[0] = t->type;
		put32(p + 4, t->len);
		put64(p + 8, t->off);
		put64(p + 16, t->t.index);
		put64(p + 24, t->t.seq);
		put64(p + 32, t->t.off);
	}
	for (uint64_t i = 0; i < x->records;) {
		uint64_t k = i + 1;
		while (k < x->records && x->keys[k] == x->keys[k - 1] + 1 && k - i < UINT32_MAX)
			k++;
		put64(p, x->keys[i]);
		put32(p + 8, (uint32_t)(k - i));
		p += FMT_IDX_RUN_SIZE;
		i = k;
	}
	uint64_t prev = 0;
	for (uint64_t i = 0; i < x->records; i++) {
		p += put_varint(p, x->offs[i] - prev);
		prev = x->offs[i];
	}
	size_t n = (size_t)(p - b) + 4;
	put64(b + 8, n);
	put32(p, ~uw_fmt_crc_update(0xFFFFFFFFu, b, n - 4));
	*out = b;
	*len = n;
	return 0;
}

void uw_fmt_idx_free(struct fmt_idx *x)
{
	free(x->trunc);
	free(x->keys);
	free(x->offs);
	x->trunc = NULL;
	x->keys = NULL;
	x->offs = NULL;
}

/* The trunc entries, runs and offsets of an index (header checked). */
static int idx_decode_body(const uint8_t *p, const uint8_t *end, uint32_t nruns, struct fmt_idx *x)
{
	uint64_t prev_end = FMT_SEG_HDR_SIZE;
	for (uint32_t i = 0; i < x->ntrunc; i++, p += FMT_IDX_TRUNC_SIZE) {
		struct fmt_idx_trunc *t = &x->trunc[i];
		t->type = p[0];
		t->len = get32(p + 4);
		t->off = get64(p + 8);
		t->t.index = get64(p + 16);
		t->t.seq = get64(p + 24);
		t->t.off = get64(p + 32);
		if ((t->type != FMT_FRAME_FRONT && t->type != FMT_FRAME_BACK &&
		     t->type != FMT_FRAME_NEXT) ||
		    p[1] || p[2] || p[3] || t->len <= FMT_FRAME_HDR_SIZE ||
		    t->len > FMT_TRUNC_FRAME_MAX || t->off < prev_end ||
		    t->off + t->len > x->seal_off)
			return UWAL_ECORRUPT;
		prev_end = t->off + t->len;
	}
	uint64_t k = 0;
	x->sorted = true;
	for (uint32_t r = 0; r < nruns; r++, p += FMT_IDX_RUN_SIZE) {
		uint64_t first = get64(p);
		uint32_t count = get32(p + 8);
		if (first == 0 || count == 0 || count > x->records - k ||
		    first + (count - 1) < first)
			return UWAL_ECORRUPT;
		if (k > 0 && first <= x->keys[k - 1])
			x->sorted = false;
		for (uint32_t c = 0; c < count; c++)
			x->keys[k++] = first + c;
	}
	if (k != x->records)
		return UWAL_ECORRUPT;
	/* Offsets, and where each lies among the truncation frames: never
	 * inside one. */
	uint64_t off = 0;
	uint32_t t = 0;
	for (uint64_t i = 0; i < x->records; i++) {
		uint64_t d = 0;
		unsigned shift = 0;
		for (;;) {
			if (p == end || shift > 28)
				return UWAL_ECORRUPT;
			uint8_t c = *p++;
			d |= (uint64_t)(c & 0x7f) << shift;
			if (!(c & 0x80))
				break;
			shift += 7;
		}
		/* A frame is at least a header and one byte. */
		if (i == 0 ? d < FMT_SEG_HDR_SIZE : d <= FMT_FRAME_HDR_SIZE)
			return UWAL_ECORRUPT;
		off += d;
		if (off >= x->seal_off)
			return UWAL_ECORRUPT;
		while (t < x->ntrunc && x->trunc[t].off + x->trunc[t].len <= off)
			t++;
		if (t < x->ntrunc && x->trunc[t].off <= off)
			return UWAL_ECORRUPT;
		x->offs[i] = (uint32_t)off;
	}
	return p == end ? 0 : UWAL_ECORRUPT;
}

int uw_fmt_idx_decode(const uint8_t *in, size_t len, struct fmt_idx *x)
{
	memset(x, 0, sizeof(*x));
	if (len < FMT_IDX_HDR_SIZE + 4 || memcmp(in, FMT_IDX_MAGIC, 8) != 0 ||
	    get64(in + 8) != len || get16(in + 26) != FMT_IDX_VERSION || get32(in + 36) != 0)
		return UWAL_ECORRUPT;
	if (get32(in + len - 4) != ~uw_fmt_crc_update(0xFFFFFFFFu, in, len - 4))
		return UWAL_ECORRUPT;
	x->seq = get64(in + 16);
	x->version = get16(in + 24);
	x->salt = get32(in + 28);
	x->key_hi = get32(in + 32);
	x->file_size = get64(in + 40);
	x->seal_off = get64(in + 48);
	x->records = get64(in + 56);
	x->next_seq = get64(in + 64);
	x->mark_w = get64(in + 72);
	x->mark_recs = get64(in + 80);
	x->ntrunc = get32(in + 88);
	uint32_t nruns = get32(in + 92);
	size_t body = len - 4 - FMT_IDX_HDR_SIZE;
	/* Every count bounded by the bytes that hold it (a record takes at
	 * least one varint byte), before anything is allocated. */
	if (x->seal_off < FMT_SEG_HDR_SIZE || x->seal_off > UINT32_MAX ||
	    x->file_size <= x->seal_off || x->records > body || nruns > body / FMT_IDX_RUN_SIZE ||
	    x->ntrunc > body / FMT_IDX_TRUNC_SIZE ||
	    (uint64_t)nruns * FMT_IDX_RUN_SIZE + (uint64_t)x->ntrunc * FMT_IDX_TRUNC_SIZE +
			    x->records >
		    body ||
	    x->mark_w > x->seal_off || x->mark_recs > x->records)
		return UWAL_ECORRUPT;
	x->trunc = malloc((x->ntrunc ? x->ntrunc : 1) * sizeof(*x->trunc));
	x->keys = malloc((x->records ? x->records : 1) * sizeof(*x->keys));
	x->offs = malloc((x->records ? x->records : 1) * sizeof(*x->offs));
	if (!x->trunc || !x->keys || !x->offs) {
		uw_fmt_idx_free(x);
		return -ENOMEM;
	}
	int ret = idx_decode_body(in + FMT_IDX_HDR_SIZE, in + len - 4, nruns, x);
	if (ret < 0)
		uw_fmt_idx_free(x);
	return ret;
}

/* ---- files beside the log ---------------------------------------------- */

static const char file_magic[8] = {'U', 'W', 'A', 'L', 'F', 'I', 'L', '1'};

void uw_fmt_file_header(uint8_t out[FMT_FILE_HDR_SIZE], uint64_t len)
{
	memcpy(out, file_magic, sizeof(file_magic));
	put32(out + 8, 1);
	put32(out + 12, 0);
	put64(out + 16, len);
}

int uw_fmt_file_check(const uint8_t *in, size_t size, const uint8_t **contents, size_t *len)
{
	if (size < FMT_FILE_HDR_SIZE + 4 || memcmp(in, file_magic, sizeof(file_magic)) != 0 ||
	    get32(in + 8) != 1 || get32(in + 12) != 0 ||
	    get64(in + 16) != size - FMT_FILE_HDR_SIZE - 4)
		return UWAL_ECORRUPT;
	uint32_t c = uw_fmt_crc_update(0xFFFFFFFFu, in, size - 4) ^ 0xFFFFFFFFu;
	if (c != get32(in + size - 4))
		return UWAL_ECORRUPT;
	*contents = in + FMT_FILE_HDR_SIZE;
	*len = size - FMT_FILE_HDR_SIZE - 4;
	return 0;
}
