/* SPDX-License-Identifier: Apache-2.0 */
/*
 * internal.h - the parts of libuwal-raft shared by its files: the on-disk
 * encodings (raft/README.md describes them) and the small files that hold
 * term, vote and the last snapshot.
 */
#ifndef UWAL_RAFT_INTERNAL_H
#define UWAL_RAFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "bytes.h"
#include "uwal.h"

#define UR_META_NAME "raft-meta"
#define UR_SNAP_NAME "raft-snapshot"
#define UR_LOG_DIR "log"
#define UR_NET_DIR "net"

/* Entry records: the value starts with this header, the payload follows. */
#define UR_ENTRY_HEADER 16u
#define UR_ENTRY_FORMAT 1u

#define UR_META_SIZE 24u
#define UR_META_VERSION 2u
#define UR_SNAP_HEADER 48u
#define UR_SNAP_VERSION 2u

/* The raft error code for a uwal error code or -errno. */
int ur_raft_code(int rc);

int ur_meta_read(uwal *w, int dirfd, uint64_t *term, uint64_t *vote, char *err);
int ur_meta_write(uwal *w, uint64_t term, uint64_t vote, char *err);

/*
 * The snapshot file of dir: written like the metadata file, with gen (the
 * log generation, see raft/README.md). Read: a snapshot allocated as raft
 * frees it (raft_malloc, one buffer), or RAFT_NOTFOUND, RAFT_CORRUPT,
 * RAFT_NOMEM, RAFT_IOERR.
 */
int ur_snap_write(uwal *w, const struct raft_snapshot *snap, uint64_t gen, char *err);
int ur_snap_read(uwal *w, struct raft_snapshot **out, uint64_t *gen, char *err);
void ur_snap_free(struct raft_snapshot *snap);

#endif /* UWAL_RAFT_INTERNAL_H */
