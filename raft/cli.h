/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - what uwal-raft-server (raft/server.c) and uwal-raft-client
 * (raft/client.c) print alike: a message on stderr behind a prefix (the
 * program's name, and the server's id).
 */
#ifndef UWAL_RAFT_CLI_H
#define UWAL_RAFT_CLI_H

#include <stdarg.h>
#include <stdio.h>

/* "PREFIX: message\n" on stderr. */
static inline void ur_cli_vsay(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#endif
