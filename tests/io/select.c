/* SPDX-License-Identifier: Apache-2.0 */
/*
 * select.c - the tests' replacement for uring/select.c: new handles use
 * the backend a test selected with tio_select(), else the fault backend.
 */
#include <stdatomic.h>

#include "faultio.h"

static _Atomic(struct uw_io *) selected;

void tio_select(struct uw_io *io)
{
	atomic_store(&selected, io);
}

struct uw_io *uw_io_select(void)
{
	struct uw_io *io = atomic_load(&selected);
	return io ? io : tio_fault_io();
}
