/* SPDX-License-Identifier: Apache-2.0 */
/*
 * select.c - the backend of the shipped library: new handles use the
 * system backend. The tests' internal build replaces this file with
 * tests/io/select.c, which lets a test choose.
 */
#include "uio.h"

struct uw_io *uw_io_select(void)
{
	return uw_io_system();
}
