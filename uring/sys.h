/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sys.h - what the system backend's two files (sys.c, ring.c) share: the
 * plain calls the ring's synchronous paths make, and the ring's operations
 * for the table in sys.c.
 */
#ifndef UWAL_SYS_H
#define UWAL_SYS_H

#include "uio.h"

/* Bytes written (possibly short) or -errno; dsync: RWF_DSYNC. */
ssize_t uw_sys_pwrite_n(int fd, const void *buf, size_t len, uint64_t off, bool dsync);
/* All of buf, or -errno (-EIO for a short write). */
int uw_sys_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int uw_sys_fdatasync(int fd);
int uw_sys_eventfd_read(int efd);

int uw_ring_sys_open(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
		     struct uw_ring_info *info);
int uw_ring_sys_run(struct uw_ring *r, const struct uw_io_op *ops, unsigned n, int *res,
		    unsigned flags);
int uw_ring_sys_idle(struct uw_ring *r);
void uw_ring_sys_close(struct uw_ring *r);

#endif
