/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bytes.h - little-endian integers in byte buffers, for libuwal-raft's
 * files and records (internal.h) and the server's client protocol
 * (proto.h).
 */
#ifndef UWAL_RAFT_BYTES_H
#define UWAL_RAFT_BYTES_H

#include <stdint.h>

static inline void ur_put32(unsigned char *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void ur_put64(unsigned char *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t ur_get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t ur_get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif /* UWAL_RAFT_BYTES_H */
