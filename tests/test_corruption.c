/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_corruption.c - what uwal_open() does with every kind of damage a
 * crash or a bad disk can leave in a log of several segments: the last
 * segment cut at every byte of its last frames, ranges zeroed, single bits
 * flipped in segment headers, frame headers, payloads and CRCs of sealed
 * and last segments, garbage after the last frame, segment files removed or
 * duplicated under another number.
 *
 * The contract checked for every case (verify()): uwal_open() either
 * succeeds having cut a torn tail - every whole frame before the damage
 * still readable with the right bytes, nothing after a cut in the last
 * segment - or returns UWAL_ECORRUPT and log_fn names the file and the
 * offset; it never crashes; no read returns a record whose bytes differ
 * from what was written (so none whose CRC failed); after
 * uwal_unsafe_recover() the log opens, keeps every record of the files it
 * did not remove, and takes writes again.
 *
 * Each case starts from a pristine copy of one log, restored file by file
 * (recovery truncates and preallocates the tail again, so the damaged
 * directory is never reused).
 */
#include "helpers.h"

#include "format.h"

static char *g_dir;      /* the log under test */
static char *g_pristine; /* the log as written, copied back before each case */

static void setup(void)
{
	g_dir = th_tmpdir();
	g_pristine = th_tmpdir();
	tio_clear();
}

static void teardown(void)
{
	th_rmrf(g_dir);
	th_rmrf(g_pristine);
	free(g_dir);
	free(g_pristine);
}

TestSuite(corruption, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the pristine log and its model --------------------------------------- */

#define SEG_SIZE (64u << 10)
#define THRESHOLD 6 /* records per segment */
#define NREC 22     /* segments 0..2 sealed with 6 records, 3 holds 4, 4 prepared */
#define MAXSEG 8
#define MAXFRAMES 64

/* Contents of record idx: key "k<idx>", a 4..64-byte value (short, so that
 * cutting at every byte of the last frames stays cheap). */
static size_t rec_key(uint64_t idx, char *buf)
{
	return th_key(idx, buf);
}

static size_t rec_vlen(uint64_t idx)
{
	return 4 + (size_t)((idx * 37) % 61);
}

static int rec_write(uwal *w, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[80];
	size_t kl = rec_key(idx, key), vl = rec_vlen(idx);
	th_fill(idx, val, vl);
	return uwal_write(w, idx, key, kl, val, vl);
}

/* true if r holds exactly what rec_write(idx) wrote. */
static bool rec_ok(const uwal_record *r, uint64_t idx)
{
	char key[TH_KEY_MAX];
	unsigned char val[80];
	size_t kl = rec_key(idx, key), vl = rec_vlen(idx);
	th_fill(idx, val, vl);
	return r->index == idx && r->key_len == kl && r->value_len == vl &&
	       memcmp(r->key, key, kl) == 0 && memcmp(r->value, val, vl) == 0;
}

struct seg_model {
	char name[TH_NAME_MAX];
	th_frame f[MAXFRAMES];
	size_t nf;
	uint64_t size;
};

struct rec_model {
	uint64_t idx;
	size_t seg;
	uint64_t off, end;
};

static struct {
	size_t nseg;
	struct seg_model s[MAXSEG];
	size_t nrec;
	struct rec_model r[NREC];
	size_t last_data; /* the last segment holding records */
} g_m;

static const char *seg_path(char *buf, size_t n, size_t seg)
{
	cr_assert_lt(seg, MAXSEG);
	int r = snprintf(buf, n, "%s/%.*s", g_dir, (int)(TH_NAME_MAX - 1), g_m.s[seg].name);
	cr_assert(r > 0 && (size_t)r < n);
	return buf;
}

/* Delete every file of dir (not recursive: logs have no subdirectories). */
static void clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	char p[4352];
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			cr_assert_eq(unlink(th_join(p, sizeof(p), dir, e->d_name)), 0,
				     "unlink %s: %s", p, strerror(errno));
	closedir(d);
}

static void copy_dir(const char *from, const char *to)
{
	DIR *d = opendir(from);
	cr_assert_not_null(d);
	struct dirent *e;
	char a[4352], b[4352];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t len;
		unsigned char *buf = th_read_file(th_join(a, sizeof(a), from, e->d_name), &len);
		th_create_file(th_join(b, sizeof(b), to, e->d_name), buf, len);
		free(buf);
	}
	closedir(d);
}

/* Set: restore() leaves the last data segment as a power cut instead of
 * uwal_close() would, with no mark frame after its last record (nothing
 * vouches for the unsynced records: a torn tail may be cut). */
static bool g_unvouched;

static void restore(void)
{
	clear_dir(g_dir);
	copy_dir(g_pristine, g_dir);
	if (g_unvouched) {
		char p[4352];
		seg_path(p, sizeof(p), g_m.last_data);
		th_unvouch_tail(p);
	}
}

static void base_config(uwal_config *cfg, th_log *log)
{
	th_config(cfg, g_dir);
	cfg->segment_size = SEG_SIZE;
	cfg->segment_threshold = THRESHOLD;
	/* Every frame read: a default open would trust a sealed segment's
	 * index file and not read its frames (test_fastopen.c). */
	cfg->open_flags = UWAL_OPEN_VERIFY;
	if (log) {
		cfg->log_fn = th_log_fn;
		cfg->log_ctx = log;
	}
}

/*
 * Write the log, wait until the segment after the last one is prepared (so
 * that the layout does not depend on the preparer's timing), close it, keep
 * a pristine copy and describe it in g_m.
 */
static void build_log(void)
{
	uwal_config cfg;
	base_config(&cfg, NULL);
	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= NREC; i++)
		cr_assert_eq(rec_write(w, i), 0, "write %llu", (unsigned long long)i);
	for (int t = 0; t < 5000 && th_segment_count(g_dir, "segment_") < 5; t++)
		th_sleep_ms(1);
	th_close(w);

	memset(&g_m, 0, sizeof(g_m));
	th_seglist *l = th_segments(g_dir, "segment_");
	cr_assert_eq(l->n, 5, "expected 4 data segments and a prepared one, found %zu", l->n);
	for (size_t i = 0; i < l->n; i++) {
		struct seg_model *s = &g_m.s[i];
		char p[4352];
		snprintf(s->name, sizeof(s->name), "%s", l->name[i]);
		th_join(p, sizeof(p), g_dir, s->name);
		s->nf = th_scan(p, s->f, MAXFRAMES, NULL);
		s->size = th_file_size(p);
		for (size_t k = 0; k < s->nf; k++) {
			if (s->f[k].type != TH_FRAME_RECORD)
				continue;
			cr_assert_lt(g_m.nrec, NREC);
			g_m.r[g_m.nrec++] =
				(struct rec_model){s->f[k].index, i, s->f[k].off,
						   s->f[k].off + TH_FRAME_HEADER + s->f[k].len};
			g_m.last_data = i;
		}
	}
	g_m.nseg = l->n;
	free(l);
	cr_assert_eq(g_m.nrec, NREC);
	cr_assert_eq(g_m.last_data, 3);
	for (size_t i = 0; i < NREC; i++)
		cr_assert_eq(g_m.r[i].idx, i + 1, "records are not in index order on disk");
	for (size_t i = 0; i < 3; i++) {
		const struct seg_model *s = &g_m.s[i];
		cr_assert(s->nf == THRESHOLD + 1 && s->f[s->nf - 1].type == TH_FRAME_SEAL,
			  "%s is not sealed after %d records", s->name, THRESHOLD);
	}
	copy_dir(g_dir, g_pristine);
}

/* The frame of segment seg that holds byte off (NULL if none does). */
static const th_frame *frame_at(size_t seg, uint64_t off)
{
	const struct seg_model *s = &g_m.s[seg];
	for (size_t k = 0; k < s->nf; k++)
		if (off >= s->f[k].off && off < s->f[k].off + TH_FRAME_HEADER + s->f[k].len)
			return &s->f[k];
	return NULL;
}

/* The k-th record frame of a segment; k < 0 counts from the end. */
static const th_frame *record_frame(size_t seg, int k)
{
	const struct seg_model *s = &g_m.s[seg];
	int n = 0;
	for (size_t i = 0; i < s->nf; i++)
		n += s->f[i].type == TH_FRAME_RECORD;
	if (k < 0)
		k += n;
	cr_assert(k >= 0 && k < n);
	for (size_t i = 0; i < s->nf; i++)
		if (s->f[i].type == TH_FRAME_RECORD && k-- == 0)
			return &s->f[i];
	return NULL;
}

static const th_frame *seal_frame(size_t seg)
{
	const struct seg_model *s = &g_m.s[seg];
	cr_assert(s->nf > 0 && s->f[s->nf - 1].type == TH_FRAME_SEAL);
	return &s->f[s->nf - 1];
}

/* ---- damage ------------------------------------------------------------ */

static void flip_bit(size_t seg, uint64_t off, unsigned bit)
{
	char p[4352];
	seg_path(p, sizeof(p), seg);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	cr_assert(fd >= 0);
	unsigned char b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= (unsigned char)(1u << bit);
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void zero_range(size_t seg, uint64_t off, size_t len)
{
	char p[4352];
	unsigned char z[512] = {0};
	cr_assert_leq(len, sizeof(z));
	th_write_at(seg_path(p, sizeof(p), seg), off, z, len);
}

static void cut(size_t seg, uint64_t len)
{
	char p[4352];
	th_truncate(seg_path(p, sizeof(p), seg), len);
}

/* ---- the contract --------------------------------------------------------- */

enum outcome {
	MUST_CUT,     /* open succeeds, keeps exactly the records before the damage */
	MUST_CORRUPT, /* open fails with UWAL_ECORRUPT naming file and offset */
	EITHER,       /* either of the two */
};

struct dmg {
	const char *what;
	enum outcome kind;
	size_t seg;       /* the damaged segment (model number) */
	uint64_t at;      /* first damaged byte: records whose frames end at or
			     before it, in this or earlier segments, must survive */
	const char *file; /* ECORRUPT: the file log_fn must name (default seg's) */
	uint64_t log_off; /* ECORRUPT: the offset log_fn must give */
	const char *word; /* ECORRUPT: a word the message must contain, or NULL */
};

static bool before_damage(const struct dmg *d, const struct rec_model *r)
{
	return r->seg < d->seg || (r->seg == d->seg && r->end <= d->at);
}

/*
 * Check what the open handle holds: every record it returns (by get or by
 * iteration, in log order) has exactly the bytes written; the records in
 * must[] are all there. Returns the number of records found.
 */
static size_t check_contents(uwal *w, const bool must[NREC], const char *what)
{
	bool present[NREC] = {false};
	size_t found = 0;
	for (size_t i = 0; i < NREC; i++) {
		uint64_t idx = g_m.r[i].idx;
		uwal_record r;
		memset(&r, 0, sizeof(r));
		int rc = uwal_get(w, idx, &r);
		cr_assert(rc == 0 || rc == UWAL_ENOTFOUND, "%s: get(%llu) returned %d (%s)", what,
			  (unsigned long long)idx, rc, uwal_strerror(rc));
		if (rc == 0) {
			cr_assert(rec_ok(&r, idx), "%s: record %llu has wrong bytes", what,
				  (unsigned long long)idx);
			uwal_record_free(&r);
			present[i] = true;
			found++;
		}
		cr_assert(present[i] || !must[i], "%s: record %llu, before the damage, is lost",
			  what, (unsigned long long)idx);
	}
	/* the iterator sees the same records, in log order */
	uwal_iter *it = NULL;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	size_t seen = 0, pos = 0;
	int rc;
	while ((rc = uwal_iter_next(it, &r)) == 1) {
		while (pos < NREC && g_m.r[pos].idx != r.index)
			pos++;
		cr_assert_lt(pos, NREC, "%s: iterator returned %llu out of order or unknown", what,
			     (unsigned long long)r.index);
		cr_assert(present[pos], "%s: iterator returned %llu, get did not find it", what,
			  (unsigned long long)r.index);
		cr_assert(rec_ok(&r, r.index), "%s: iterated record %llu has wrong bytes", what,
			  (unsigned long long)r.index);
		pos++;
		seen++;
	}
	uwal_iter_close(it);
	cr_assert_eq(rc, 0, "%s: iterator failed: %d (%s)", what, rc, uwal_strerror(rc));
	cr_assert_eq(seen, found, "%s: iterator saw %zu records, get found %zu", what, seen, found);
	return found;
}

/* The handle takes a write, and it is there after a reopen; returns the
 * reopened handle (w is closed). */
static uwal *check_writable(const uwal_config *cfg, uwal *w, const char *what)
{
	uint64_t idx = 1000;
	int rc = rec_write(w, idx);
	cr_assert_eq(rc, 0, "%s: write after recovery: %d (%s)", what, rc, uwal_strerror(rc));
	th_close(w);
	w = th_open(cfg);
	uwal_record r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, idx, &r), 0, "%s: record written after recovery is lost", what);
	cr_assert(rec_ok(&r, idx));
	uwal_record_free(&r);
	return w;
}

static bool in_list(char **list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

/*
 * Open the damaged log and check the contract for d. deep: also write after
 * recovery and reopen (slower; done for a sample of the cases).
 */
static void verify(const struct dmg *d, bool deep)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	base_config(&cfg, &log);
	bool must[NREC];
	for (size_t i = 0; i < NREC; i++)
		must[i] = before_damage(d, &g_m.r[i]);

	uwal *w = NULL;
	int rc = uwal_open(&cfg, &w);
	cr_assert(rc == 0 || rc == UWAL_ECORRUPT, "%s: uwal_open returned %d (%s)", d->what, rc,
		  uwal_strerror(rc));
	if (rc == 0) {
		cr_assert_neq(d->kind, MUST_CORRUPT, "%s: opened, want UWAL_ECORRUPT", d->what);
		size_t found = check_contents(w, must, d->what);
		if (d->kind == MUST_CUT) {
			size_t want = 0;
			for (size_t i = 0; i < NREC; i++)
				want += must[i];
			cr_assert_eq(found, want,
				     "%s: %zu records survive a cut that should leave %zu", d->what,
				     found, want);
			cr_assert_eq(uwal_last_index(w), want ? g_m.r[want - 1].idx : 0);
			char p[4352];
			cr_assert_eq(th_file_size(seg_path(p, sizeof(p), g_m.last_data)), SEG_SIZE,
				     "%s: the cut tail was not preallocated again", d->what);
		}
		if (deep)
			w = check_writable(&cfg, w, d->what);
		th_close(w);
		th_log_destroy(&log);
		return;
	}

	/* UWAL_ECORRUPT */
	cr_assert_neq(d->kind, MUST_CUT, "%s: UWAL_ECORRUPT, want the tail cut; log:\n%s", d->what,
		      log.buf);
	const char *file = d->file ? d->file : g_m.s[d->seg].name;
	char off[64];
	snprintf(off, sizeof(off), "offset %llu", (unsigned long long)d->log_off);
	cr_assert(th_log_has(&log, file), "%s: log_fn did not name %s; got:\n%s", d->what, file,
		  log.buf);
	cr_assert(th_log_has(&log, off), "%s: log_fn did not say \"%s\"; got:\n%s", d->what, off,
		  log.buf);
	if (d->word)
		cr_assert(th_log_has(&log, d->word), "%s: log_fn did not say \"%s\"; got:\n%s",
			  d->what, d->word, log.buf);
	/* refusing changes nothing: a second open refuses the same way */
	cr_assert_eq(uwal_open(&cfg, &w), UWAL_ECORRUPT, "%s: second open", d->what);

	char **removed = NULL;
	size_t nrm = 0;
	rc = uwal_unsafe_recover(g_dir, NULL, &removed, &nrm);
	cr_assert_eq(rc, 0, "%s: uwal_unsafe_recover: %d (%s)", d->what, rc, uwal_strerror(rc));
	/* every record of a file it kept survives (the damaged file, if
	 * kept, up to the damage) */
	for (size_t i = 0; i < NREC; i++) {
		const struct rec_model *r = &g_m.r[i];
		char p[4352];
		bool kept = !in_list(removed, nrm, g_m.s[r->seg].name) &&
			    th_exists(seg_path(p, sizeof(p), r->seg));
		must[i] = kept && (r->seg != d->seg || r->end <= d->at);
	}
	rc = uwal_open(&cfg, &w);
	cr_assert_eq(rc, 0, "%s: open after uwal_unsafe_recover: %d (%s); log:\n%s", d->what, rc,
		     uwal_strerror(rc), log.buf);
	check_contents(w, must, d->what);
	if (deep)
		w = check_writable(&cfg, w, d->what);
	th_close(w);
	uwal_free_list(removed, nrm);
	th_log_destroy(&log);
}

/* Restore the pristine log, damage it with fn(arg...), verify. */
#define CASE(d, deep, damage)                                                                      \
	do {                                                                                       \
		restore();                                                                         \
		damage;                                                                            \
		verify(d, deep);                                                                   \
	} while (0)

/* ---- (a) the last segment cut at every byte of its last three frames -------- */

/* Guards against a torn tail losing whole frames before the cut, keeping a
 * partial frame, or failing the open. */
TH_TEST(corruption, last_segment_cut_at_every_byte_of_its_last_frames)
{
	build_log();
	size_t seg = g_m.last_data;
	uint64_t from = record_frame(seg, -3)->off;
	const th_frame *last = record_frame(seg, -1);
	uint64_t to = last->off + TH_FRAME_HEADER + last->len;
	unsigned n = 0;
	for (uint64_t len = from; len <= to; len++, n++) {
		char what[512];
		snprintf(what, sizeof(what), "last segment cut at %llu", (unsigned long long)len);
		struct dmg d = {what, MUST_CUT, seg, len, NULL, 0, NULL};
		CASE(&d, n % 32 == 0, cut(seg, len));
	}
	cr_assert_gt(n, 3 * TH_FRAME_HEADER);
}

/* Guards against a cut in the header of the last segment crashing the open
 * or being taken for an empty segment (the header is durable before the
 * file gets its name, so this is damage, not a torn tail). */
TH_TEST(corruption, last_segment_cut_inside_its_header)
{
	build_log();
	size_t seg = g_m.last_data;
	for (uint64_t len = 0; len < TH_SEG_HEADER; len += 3) {
		char what[512];
		snprintf(what, sizeof(what), "last segment cut to %llu header bytes",
			 (unsigned long long)len);
		struct dmg d = {what, EITHER, seg, 0, NULL, 0, NULL};
		CASE(&d, len == 0, cut(seg, len));
	}
}

/* Guards against a sealed segment that lost its seal or frames being taken
 * for a torn tail (acknowledged records after it would vanish). */
TH_TEST(corruption, sealed_segment_cut_is_refused)
{
	build_log();
	size_t seg = 1;
	uint64_t from = record_frame(seg, -2)->off;
	const th_frame *s = seal_frame(seg);
	uint64_t to = s->off + TH_FRAME_HEADER + s->len;
	for (uint64_t len = from; len < to; len += 5) {
		char what[512];
		snprintf(what, sizeof(what), "sealed segment cut at %llu", (unsigned long long)len);
		struct dmg d = {what, MUST_CORRUPT, seg, len, NULL, frame_at(seg, len)->off, NULL};
		CASE(&d, len == from, cut(seg, len));
	}
}

/* ---- (b) zeroed ranges --------------------------------------------------- */

/* Zeroed ranges in the last segment: cut as a torn tail when no mark frame
 * after them vouches for them (unvouched), refused naming the offset when
 * one does (the close's). */
static void zeroed_last(bool unvouched)
{
	build_log();
	g_unvouched = unvouched;
	size_t seg = g_m.last_data;
	for (int k = 0; k < 4; k++) {
		const th_frame *f = record_frame(seg, k);
		static const struct {
			uint64_t at, len;
		} where[] = {{0, 16}, {0, 4}, {4, 8}, {12, 4}, {16, 3}, {20, 100}};
		for (size_t j = 0; j < sizeof(where) / sizeof(where[0]); j++) {
			uint64_t at = f->off + where[j].at;
			char what[512];
			snprintf(what, sizeof(what), "last segment zeroed [%llu,+%llu)",
				 (unsigned long long)at, (unsigned long long)where[j].len);
			/* A range past the last record zeroes the close's mark
			 * frame too: then nothing vouches for it. */
			const th_frame *last = record_frame(seg, -1);
			bool vouched = !unvouched &&
				       at + where[j].len <= last->off + TH_FRAME_HEADER + last->len;
			struct dmg d = {
				what, f->off < last->off || vouched ? MUST_CORRUPT : MUST_CUT,
				seg,  at,
				NULL, f->off,
				NULL};
			if (unvouched)
				d.kind = MUST_CUT;
			CASE(&d, j == 0, zero_range(seg, at, where[j].len));
		}
	}
}

/* Guards against a zeroed range (pages that never reached the disk) inside
 * the unsynced tail being read past, or whole frames before it being lost. */
TH_TEST(corruption, zeroed_range_in_last_segment_is_a_torn_tail)
{
	zeroed_last(true);
}

/* Guards against a zeroed range that a mark frame vouches for (written
 * before an fdatasync completed) being cut as a torn tail. */
TH_TEST(corruption, zeroed_range_in_the_durable_part_of_the_last_segment_is_refused)
{
	zeroed_last(false);
}

/* Guards against a zeroed range in a sealed segment being cut silently. */
TH_TEST(corruption, zeroed_range_in_sealed_segment_is_refused_naming_file_and_offset)
{
	build_log();
	for (size_t seg = 0; seg < 3; seg++) {
		for (size_t k = 0; k < g_m.s[seg].nf; k++) {
			const th_frame *f = &g_m.s[seg].f[k];
			static const uint64_t at[] = {0, 5, 16};
			for (size_t j = 0; j < 3; j++) {
				uint64_t a = f->off + at[j];
				char what[512];
				snprintf(what, sizeof(what), "%s zeroed [%llu,+24)",
					 g_m.s[seg].name, (unsigned long long)a);
				struct dmg d = {what, MUST_CORRUPT, seg, a, NULL, f->off, NULL};
				CASE(&d, k == 2 && j == 0, zero_range(seg, a, 24));
			}
		}
	}
}

/* ---- (c) bit flips ----------------------------------------------------------- */

/* Guards against a damaged segment header (magic, version, flags, salt,
 * number, reserved, CRC) being accepted, in a sealed and in the last
 * segment, or crashing the open. */
TH_TEST(corruption, every_bit_of_segment_headers)
{
	build_log();
	static const size_t segs[] = {0, 1, 3, 4};
	for (size_t s = 0; s < 4; s++) {
		size_t seg = segs[s];
		for (unsigned bit = 0; bit < TH_SEG_HEADER * 8; bit++) {
			char what[512];
			snprintf(what, sizeof(what), "%s header bit %u", g_m.s[seg].name, bit);
			/* the prepared, empty segment may be dropped or refused */
			struct dmg d = {what,    seg == 4 ? EITHER : MUST_CORRUPT, seg, 0, NULL, 0,
					"header"};
			CASE(&d, bit % 64 == 0, flip_bit(seg, bit / 8, bit % 8));
		}
	}
}

/* Flip every bit of the header and some of the payload of frame f. */
static void flip_frame(size_t seg, const th_frame *f, enum outcome kind)
{
	uint64_t end = f->off + TH_FRAME_HEADER + f->len;
	for (uint64_t off = f->off; off < end; off++) {
		bool header = off < f->off + TH_FRAME_HEADER;
		for (unsigned bit = 0; bit < 8; bit++) {
			/* every bit of the header; one bit per payload byte */
			if (!header && bit != off % 8)
				continue;
			char what[512];
			snprintf(what, sizeof(what), "%s frame at %llu: bit %u of byte %llu",
				 g_m.s[seg].name, (unsigned long long)f->off, bit,
				 (unsigned long long)(off - f->off));
			struct dmg d = {what, kind, seg, off, NULL, f->off, NULL};
			CASE(&d, off == f->off && bit == 0, flip_bit(seg, off, bit));
		}
	}
}

/* Guards against a damaged frame length, type, flag, epoch, CRC or payload
 * in a sealed segment being accepted or cut silently. */
TH_TEST(corruption, every_bit_of_a_sealed_record_frame)
{
	build_log();
	flip_frame(1, record_frame(1, 2), MUST_CORRUPT);
}

/* Guards against a damaged seal frame letting a sealed segment pass. */
TH_TEST(corruption, every_bit_of_a_seal_frame)
{
	build_log();
	flip_frame(0, seal_frame(0), MUST_CORRUPT);
}

/* Guards against a damaged frame in the unsynced tail of the last segment
 * being read past (or returned), or the frames before it being lost. */
TH_TEST(corruption, every_bit_of_a_frame_in_the_last_segment)
{
	build_log();
	g_unvouched = true;
	flip_frame(g_m.last_data, record_frame(g_m.last_data, -2), MUST_CUT);
	flip_frame(g_m.last_data, record_frame(g_m.last_data, 0), MUST_CUT);
}

/* Guards against a damaged frame that a mark frame vouches for being cut
 * as a torn tail. */
TH_TEST(corruption, every_bit_of_a_durable_frame_in_the_last_segment_is_refused)
{
	build_log();
	flip_frame(g_m.last_data, record_frame(g_m.last_data, -2), MUST_CORRUPT);
	flip_frame(g_m.last_data, record_frame(g_m.last_data, 0), MUST_CORRUPT);
}

/* Guards against a seal with a valid CRC but the wrong record count (a
 * sealed segment that lost records would otherwise pass). */
TH_TEST(corruption, seal_with_wrong_record_count_is_refused)
{
	build_log();
	size_t seg = 1;
	const th_frame *s = seal_frame(seg);
	char p[4352];
	seg_path(p, sizeof(p), seg);
	size_t len;
	unsigned char *file = th_read_file(p, &len);
	struct fmt_seg_hdr h;
	cr_assert_eq(uw_fmt_seg_hdr_decode(file, &h), 0);
	free(file);
	static const uint64_t counts[] = {0, THRESHOLD - 1, THRESHOLD + 1, 1000};
	for (size_t i = 0; i < 4; i++) {
		uint8_t seal[FMT_SEAL_FRAME_MAX];
		size_t n = uw_fmt_seal_frame_encode(seal, h.salt, counts[i], h.seq + 1);
		char what[512];
		snprintf(what, sizeof(what), "seal claiming %llu records",
			 (unsigned long long)counts[i]);
		struct dmg d = {what, MUST_CORRUPT, seg, s->off, NULL, s->off, NULL};
		CASE(&d, i == 0, th_write_at(p, s->off, seal, n));
	}
}

/* ---- (d) garbage after the last frame --------------------------------------- */

static void fill_random(unsigned char *buf, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

/* Guards against garbage after the last frame being taken for frames, or
 * the cut dropping the records before it. */
TH_TEST(corruption, garbage_after_the_last_frame_is_cut)
{
	build_log();
	size_t seg = g_m.last_data;
	const th_frame *last = record_frame(seg, -1);
	uint64_t end = last->off + TH_FRAME_HEADER + last->len;
	char p[4352];
	seg_path(p, sizeof(p), seg);
	for (uint32_t seed = 1; seed <= 24; seed++) {
		unsigned char junk[300];
		size_t n = 1 + seed * 11 % sizeof(junk);
		fill_random(junk, n, seed);
		if (seed % 3 == 0) {
			/* a plausible frame header: small length, record type */
			junk[0] = (unsigned char)(seed * 7);
			junk[1] = junk[2] = junk[3] = 0;
			junk[4] = TH_FRAME_RECORD;
			junk[5] = junk[6] = junk[7] = 0;
		}
		char what[512];
		snprintf(what, sizeof(what), "%zu bytes of garbage after the last frame", n);
		struct dmg d = {what, MUST_CUT, seg, end, NULL, 0, NULL};
		CASE(&d, seed == 1, th_write_at(p, end, junk, n));
	}
	/* the torn tail is reported, with file and offset */
	restore();
	unsigned char junk[64];
	fill_random(junk, sizeof(junk), 99);
	junk[0] |= 1;
	th_write_at(p, end, junk, sizeof(junk));
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	base_config(&cfg, &log);
	uwal *w = th_open(&cfg);
	th_close(w);
	char off[64];
	snprintf(off, sizeof(off), "offset %llu", (unsigned long long)end);
	cr_assert(th_log_has(&log, g_m.s[seg].name) && th_log_has(&log, off),
		  "the torn tail cut was not reported with file and %s; got:\n%s", off, log.buf);
	th_log_destroy(&log);
}

/* Guards against a frame of another segment (another salt) validating after
 * the last frame of this one. */
TH_TEST(corruption, frame_copied_from_another_segment_does_not_validate)
{
	build_log();
	size_t seg = g_m.last_data;
	const th_frame *last = record_frame(seg, -1);
	uint64_t end = last->off + TH_FRAME_HEADER + last->len;
	char p[4352], q[4352];
	seg_path(p, sizeof(p), seg);
	size_t len;
	unsigned char *src = th_read_file(seg_path(q, sizeof(q), 2), &len);
	for (int k = 0; k < 6; k++) {
		const th_frame *f = record_frame(2, k);
		struct dmg d = {"frame of segment 2 after the last frame",
				MUST_CUT,
				seg,
				end,
				NULL,
				0,
				NULL};
		CASE(&d, k == 0, th_write_at(p, end, src + f->off, TH_FRAME_HEADER + f->len));
		cr_assert_eq(th_file_size(p), SEG_SIZE);
	}
	free(src);
}

/* Guards against a stale frame behind zeros in the last segment surviving
 * recovery (it must be destroyed, so that it can never validate later). */
TH_TEST(corruption, stale_frame_behind_zeros_in_the_last_segment_is_destroyed)
{
	build_log();
	size_t seg = g_m.last_data;
	const th_frame *last = record_frame(seg, -1);
	uint64_t end = last->off + TH_FRAME_HEADER + last->len;
	char p[4352];
	seg_path(p, sizeof(p), seg);
	size_t len;
	unsigned char *file = th_read_file(p, &len);
	uint64_t stale_at = 40000;
	struct dmg d = {"stale valid frame at 40000", MUST_CUT, seg, end, NULL, 0, NULL};
	CASE(&d, true, th_write_at(p, stale_at, file + last->off, TH_FRAME_HEADER + last->len));
	free(file);
	/* verify() reopened and closed: the stale bytes must be gone */
	file = th_read_file(p, &len);
	for (uint64_t i = stale_at; i < stale_at + TH_FRAME_HEADER; i++)
		cr_assert_eq(file[i], 0, "byte %llu of the stale frame survived recovery",
			     (unsigned long long)i);
	free(file);
}

/* Guards against junk appended to a sealed segment (after its seal) making
 * the log unreadable or hiding records. */
TH_TEST(corruption, garbage_after_a_seal)
{
	build_log();
	for (size_t seg = 0; seg < 3; seg++) {
		const th_frame *s = seal_frame(seg);
		uint64_t end = s->off + TH_FRAME_HEADER + s->len;
		unsigned char junk[200];
		fill_random(junk, sizeof(junk), (uint32_t)seg + 7);
		char p[4352];
		struct dmg d = {"garbage after a seal", EITHER, seg, end, NULL, end, NULL};
		CASE(&d, seg == 0,
		     th_write_at(seg_path(p, sizeof(p), seg), end, junk, sizeof(junk)));
	}
}

/* ---- (e) missing and duplicated segment files ---------------------------- */

/* Guards against a missing segment in the middle going unnoticed (its
 * records would silently vanish). */
TH_TEST(corruption, missing_middle_segment_is_refused)
{
	build_log();
	for (size_t seg = 1; seg <= 3; seg++) {
		char p[4352], what[512];
		snprintf(what, sizeof(what), "%s removed", g_m.s[seg].name);
		/* refused naming the segment after the hole */
		struct dmg d = {what, MUST_CORRUPT, seg, 0, g_m.s[seg + 1].name, 0, "missing"};
		CASE(&d, true, cr_assert_eq(unlink(seg_path(p, sizeof(p), seg)), 0));
	}
}

/* Guards against the oldest segment's removal (what retention does) or the
 * prepared one's making the log unopenable. */
TH_TEST(corruption, missing_first_or_prepared_segment)
{
	build_log();
	static const size_t segs[] = {0, 4};
	for (size_t i = 0; i < 2; i++) {
		size_t seg = segs[i];
		char p[4352], what[512];
		snprintf(what, sizeof(what), "%s removed", g_m.s[seg].name);
		struct dmg d = {what, EITHER, seg, 0, NULL, 0, NULL};
		CASE(&d, true, cr_assert_eq(unlink(seg_path(p, sizeof(p), seg)), 0));
	}
}

/* Guards against a segment file copied under another number being
 * accepted: its header names its own number. */
TH_TEST(corruption, segment_duplicated_under_another_number_is_refused)
{
	build_log();
	char from[4352], to[4352], name[TH_NAME_MAX];
	size_t len;

	/* a copy of segment 1 beyond the end */
	snprintf(name, sizeof(name), "segment_%020d", 9);
	unsigned char *buf = th_read_file(seg_path(from, sizeof(from), 1), &len);
	struct dmg d1 = {"segment 1 copied as 9", MUST_CORRUPT, 5, 0, name, 0, "header"};
	CASE(&d1, true, th_create_file(th_join(to, sizeof(to), g_dir, name), buf, len));

	/* a copy of segment 1 in place of segment 2 */
	struct dmg d2 = {"segment 1 copied over 2", MUST_CORRUPT, 2, 0, NULL, 0, "header"};
	CASE(&d2, true, th_create_file(seg_path(to, sizeof(to), 2), buf, len));

	/* a copy of the last segment in place of the prepared one */
	free(buf);
	buf = th_read_file(seg_path(from, sizeof(from), 3), &len);
	struct dmg d3 = {"segment 3 copied over 4", MUST_CORRUPT, 4, 0, NULL, 0, "header"};
	CASE(&d3, true, th_create_file(seg_path(to, sizeof(to), 4), buf, len));
	free(buf);
}

/*
 * Regression: uwal_unsafe_recover() once ignored duplicate indexes, so it
 * removed nothing here and uwal_open() kept failing with UWAL_ECORRUPT
 * "duplicate index". It now removes the later copy.
 *
 * A copy of a sealed segment under a new number whose header was rewritten
 * to match (a restored backup, or a retention unlink that never became
 * durable before a crash while its indexes were written again): every
 * frame is valid, but the indexes repeat. The open refuses it (duplicate
 * index); uwal_unsafe_recover() must then make the log openable.
 *
 * Guards against a log that neither opens nor can be repaired.
 */
TH_TEST(corruption, duplicated_segment_with_a_valid_header_is_repairable)
{
	build_log();
	char from[4352], to[4352];
	size_t len;
	unsigned char *buf = th_read_file(seg_path(from, sizeof(from), 1), &len);
	struct fmt_seg_hdr h;
	cr_assert_eq(uw_fmt_seg_hdr_decode(buf, &h), 0);
	h.seq = 5;
	uw_fmt_seg_hdr_encode(buf, &h);
	char name[TH_NAME_MAX];
	snprintf(name, sizeof(name), "segment_%020d", 5);
	/* the copy follows the prepared segment 4: refused for its first
	 * record, a duplicate */
	struct dmg d = {"sealed segment 1 copied as 5 with a valid header",
			MUST_CORRUPT,
			5,
			0,
			name,
			record_frame(1, 0)->off,
			"duplicate"};
	CASE(&d, true, th_create_file(th_join(to, sizeof(to), g_dir, name), buf, len));
	free(buf);
}

/*
 * Regression: as above (uwal_unsafe_recover() once ignored duplicates).
 *
 * The same duplicate as the last segment of the log, right after the
 * sealed ones: the repeated indexes are the only damage.
 */
TH_TEST(corruption, duplicate_indexes_in_a_valid_segment_are_repairable)
{
	build_log();
	char from[4352], to[4352];
	size_t len;
	/* the log becomes: 0, 1, 2 (sealed), 3 = a copy of 1 renumbered */
	unsigned char *buf = th_read_file(seg_path(from, sizeof(from), 1), &len);
	struct fmt_seg_hdr h;
	cr_assert_eq(uw_fmt_seg_hdr_decode(buf, &h), 0);
	h.seq = 3;
	uw_fmt_seg_hdr_encode(buf, &h);
	const th_frame *first = record_frame(1, 0);
	struct dmg d = {"segment 3 replaced by a renumbered copy of 1",
			MUST_CORRUPT,
			3,
			0,
			NULL,
			first->off,
			"duplicate"};
	CASE(&d, true, {
		cr_assert_eq(unlink(seg_path(to, sizeof(to), 4)), 0);
		th_create_file(seg_path(to, sizeof(to), 3), buf, len);
	});
	free(buf);
}

/*
 * Retention drops the oldest segment at rotation, but its indexes stay
 * taken until the file's removal is durable (unlink + directory fsync): if
 * they were freed earlier, an index written again could meet its old copy
 * after a crash that lost the unlink, and the log would never open again.
 *
 * Guards against an index of a dropped segment being reusable before the
 * segment is gone for good.
 */
TH_TEST(corruption, retention_frees_indexes_only_after_the_removal_is_durable)
{
	th_log log;
	th_log_init(&log);
	uwal_config cfg;
	base_config(&cfg, &log);
	cfg.segment_threshold = 4;
	cfg.max_segments = 2;
	char seg0[4352];
	th_join(seg0, sizeof(seg0), g_dir, "segment_00000000000000000000");

	uwal *w = th_open(&cfg);
	for (uint64_t i = 1; i <= 9; i++) /* 9 rotates again: retention drops 0 */
		cr_assert_eq(rec_write(w, i), 0);
	/* Until segment 0 is removed, index 1 is taken; the moment a write of
	 * it succeeds, the file must already be gone. */
	int rc = UWAL_EEXIST;
	for (int t = 0; t < 5000 && rc == UWAL_EEXIST; t++) {
		bool present_before = th_exists(seg0);
		rc = rec_write(w, 1);
		if (rc == UWAL_EEXIST)
			th_sleep_ms(1);
		else
			cr_assert_not(present_before && th_exists(seg0),
				      "index 1 reused while segment 0 was still on disk");
	}
	cr_assert_eq(rc, 0, "index 1 was never freed: %d (%s)", rc, uwal_strerror(rc));
	cr_assert_not(th_exists(seg0));
	th_close(w);

	/* The log reopens with the new record 1 and the survivors. */
	w = th_open(&cfg);
	uwal_record r;
	for (uint64_t i = 5; i <= 9; i++) {
		memset(&r, 0, sizeof(r));
		cr_assert_eq(uwal_get(w, i, &r), 0, "record %llu", (unsigned long long)i);
		cr_assert(rec_ok(&r, i));
		uwal_record_free(&r);
	}
	memset(&r, 0, sizeof(r));
	cr_assert_eq(uwal_get(w, 1, &r), 0);
	cr_assert(rec_ok(&r, 1));
	uwal_record_free(&r);
	th_close(w);
	th_log_destroy(&log);
}

/* ---- a payload that passes its CRC but claims a huge msgpack container ---- */

/* A frame of the given type and payload with a valid CRC for salt. */
static size_t make_frame(uint8_t *out, uint32_t salt, uint8_t type, const uint8_t *payload,
			 uint32_t len)
{
	memset(out, 0, FMT_FRAME_HDR_SIZE);
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(len >> (8 * i));
	out[4] = type;
	memcpy(out + FMT_FRAME_HDR_SIZE, payload, len);
	uint32_t c = uw_fmt_crc_update(salt ^ 0xFFFFFFFFu, out, 12);
	c = uw_fmt_crc_update(c, out + FMT_FRAME_HDR_SIZE, len) ^ 0xFFFFFFFFu;
	for (int i = 0; i < 4; i++)
		out[12 + i] = (uint8_t)(c >> (8 * i));
	return FMT_FRAME_HDR_SIZE + len;
}

static uint32_t salt_of(size_t seg)
{
	char p[4352];
	size_t len;
	unsigned char *file = th_read_file(seg_path(p, sizeof(p), seg), &len);
	struct fmt_seg_hdr h;
	cr_assert_eq(uw_fmt_seg_hdr_decode(file, &h), 0);
	free(file);
	return h.salt;
}

/*
 * Regression (fixed by a shape check before unpacking in src/format.c): a
 * frame whose CRC is valid but whose payload is not what uwal
 * writes reaches msgpack_unpack_next() (uw_fmt_record_decode and
 * uw_fmt_seal_decode in src/format.c), which allocates 32 bytes per entry a
 * map32 header claims (16 per array32 entry) before checking that the
 * bytes exist: the 7-byte payload 93 01 df ff ff ff ff asks for 128 GiB.
 * Without a sanitizer malloc fails (or reserves untouched memory) and the
 * frame is refused, so the plain build passes; under ASan the allocator
 * aborts the process ("allocator is out of memory"). Found by
 * tests/fuzz/fuzz_frame (input in tests/fuzz/crashes/).
 * A valid CRC takes a crafted file or a CRC collision, but the contract is
 * "never crashes, whatever the bytes".
 *
 * Guards against on-disk bytes choosing the size of an allocation.
 */
TH_TEST(corruption, valid_crc_with_a_huge_msgpack_count_is_refused_without_crashing)
{
	build_log();
	/* after the last frame of the last segment: a torn tail */
	size_t seg = g_m.last_data;
	const th_frame *last = record_frame(seg, -1);
	uint64_t end = last->off + TH_FRAME_HEADER + last->len;
	static const uint8_t rec_bomb[] = {0x93, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff};
	uint8_t frame[64];
	size_t n = make_frame(frame, salt_of(seg), TH_FRAME_RECORD, rec_bomb, sizeof(rec_bomb));
	char p[4352];
	struct dmg d = {
		"record frame claiming a map of 2^32 entries", MUST_CUT, seg, end, NULL, 0, NULL};
	CASE(&d, true, th_write_at(seg_path(p, sizeof(p), seg), end, frame, n));

	/* in place of a seal: refused */
	static const uint8_t seal_bomb[] = {0x92, 0xdd, 0xff, 0xff, 0xff, 0xff};
	const th_frame *s = seal_frame(1);
	n = make_frame(frame, salt_of(1), TH_FRAME_SEAL, seal_bomb, sizeof(seal_bomb));
	struct dmg d2 = {"seal frame claiming an array of 2^32 entries",
			 MUST_CORRUPT,
			 1,
			 s->off,
			 NULL,
			 s->off,
			 NULL};
	CASE(&d2, true, th_write_at(seg_path(p, sizeof(p), 1), s->off, frame, n));
}
