/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.h - the client protocol of uwal-raft-server(1), shared by the server
 * (raft/server.c) and uwal-raft-client (raft/client.c).
 *
 * TCP, on the node's raft port + 1000 (same host). Every message, in both
 * directions, is a frame: one byte of type, a 4-byte little-endian body
 * length, the body. Requests on one connection are answered one at a time,
 * in order; a client may send several before reading the replies.
 *
 *   request              body                     reply
 *   'A' APPEND           the record (0..1 MiB)    'K' + u64 LE raft index, once
 *                                                 committed and applied here;
 *                                                 'L' (not the leader) or 'E'
 *   'R' READ             u64 LE raft index        'K' + the record, or 'N'
 *   'S' STATUS           empty                    'K' + one line of text
 *
 *   reply 'K' OK; 'N' NOT FOUND (no record at that index has been applied
 *   on this node: not committed yet, not known here yet, or an index raft
 *   used for something else); 'L' NOT LEADER: body "ID RAFT-ADDRESS
 *   CLIENT-ADDRESS" of the leader this node knows, or empty if it knows
 *   none (an election is on): the record was not appended; 'E' ERROR: body
 *   a message. An 'E' to an APPEND after raft took the record (leadership
 *   lost before it committed) means it may or may not be committed.
 *
 * A frame of another type or longer than PROTO_MAX_BODY gets an 'E' and the
 * connection is closed.
 */
#ifndef UWAL_RAFT_PROTO_H
#define UWAL_RAFT_PROTO_H

#include "bytes.h"

#include <stddef.h>
#include <stdint.h>

#define PROTO_HEADER 5u
#define PROTO_MAX_BODY (1u << 20)
#define PROTO_CLIENT_PORT_OFFSET 1000u

enum {
	PROTO_APPEND = 'A',
	PROTO_READ = 'R',
	PROTO_STATUS = 'S',
	PROTO_OK = 'K',
	PROTO_NOT_FOUND = 'N',
	PROTO_NOT_LEADER = 'L',
	PROTO_ERROR = 'E',
};

#endif /* UWAL_RAFT_PROTO_H */
