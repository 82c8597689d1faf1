/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uwal_raft.h - uwal as the log store of canonical raft (libraft 0.15).
 *
 * uwal_raft_init() fills a struct raft_io, the same shape as raft_uv_init():
 * a libraft program changes its storage by changing that one call. The
 * network, the timers and the randomness are raft's own (an inner
 * raft_uv_init() io, in the subdirectory "net" of dir, with the transport
 * given, e.g. raft_uv_tcp_init()); the storage methods (load, bootstrap,
 * recover, set_term, set_vote, append, truncate, snapshot_put,
 * snapshot_get) are uwal's:
 *
 *   dir/log/            the uwal log: one record per raft entry, its uwal
 *                       index the raft index (the encoding is in
 *                       raft/README.md)
 *   dir/raft-meta       term and vote (32 bytes, CRC32C-checked)
 *   dir/raft-snapshot   the last snapshot (CRC32C-checked)
 *   dir/net/            the inner raft_uv io's directory (nothing of the
 *                       log is kept there)
 *
 * Use:
 *   struct raft_uv_transport t;
 *   struct raft_io io;
 *   raft_uv_tcp_init(&t, loop);
 *   uwal_raft_init(&io, loop, dir, &t);
 *   raft_init(&raft, &io, &fsm, id, address);
 *   ... raft_bootstrap(), raft_start(), the loop runs ...
 *   raft_close(&raft, cb);   once cb has run:
 *   uwal_raft_close(&io);
 *   raft_uv_tcp_close(&t, NULL);
 *
 * Threading: every method runs on the loop's thread, as raft calls them.
 * append returns at once; its callback runs on the loop thread once the
 * entries are durable. truncate and snapshot_put do their fdatasyncs on
 * libuv's thread pool (uv_queue_work), never on the loop thread; set_term
 * and set_vote are durable when they return (raft requires it), so they
 * write and fdatasync on the loop thread, as raft_uv does.
 */
#ifndef UWAL_RAFT_H
#define UWAL_RAFT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UWAL_RAFT_BUILDING) && defined(__GNUC__)
#define UWAL_RAFT_API __attribute__((visibility("default")))
#else
#define UWAL_RAFT_API
#endif

struct raft_io;
struct raft_uv_transport;
struct uv_loop_s;

/*
 * Configure io to keep raft's log in uwal, under dir.
 *
 * Parameters:
 *   io         the struct to fill; pass it to raft_init()
 *   loop       the libuv loop raft runs on
 *   dir        an existing directory; "log", "net" and the files above are
 *              made in it. The path is copied.
 *   transport  an initialized raft_uv_transport (raft_uv_tcp_init()); it
 *              is given to the inner raft_uv io and must outlive io
 * Returns 0, or a raft error code (RAFT_NOMEM, RAFT_NOTFOUND: dir does not
 * exist, RAFT_INVALID: dir is not a directory, RAFT_NAMETOOLONG,
 * RAFT_IOERR); io->errmsg then says what failed. The uwal log is opened by
 * io->init (raft_init()), whose errors are RAFT_BUSY (the log is open
 * elsewhere), RAFT_CORRUPT and RAFT_IOERR.
 */
UWAL_RAFT_API int uwal_raft_init(struct raft_io *io, struct uv_loop_s *loop, const char *dir,
				 struct raft_uv_transport *transport);

/*
 * Release what uwal_raft_init() and io->init set up: the inner raft_uv io
 * and the uwal log (uwal_close(), which makes the log's tail durable).
 * Call it after raft_close()'s callback has run, as raft_uv_close(); or
 * after raft_init() failed. Not for a running io.
 */
UWAL_RAFT_API void uwal_raft_close(struct raft_io *io);

/*
 * Set the bytes preallocated per segment of the log (uwal_config's
 * segment_size; default 64 MiB, from 64 KiB to 4 GiB - 1). One append of
 * raft entries must fit in one segment. Call it before raft_init().
 * Returns 0, or RAFT_INVALID (io not from uwal_raft_init(), a size out of
 * range, or the log is open already).
 */
UWAL_RAFT_API int uwal_raft_set_segment_size(struct raft_io *io, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* UWAL_RAFT_H */
