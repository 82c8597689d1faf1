/* SPDX-License-Identifier: Apache-2.0 */
/*
 * criterion-tsan-shim.c - lets Criterion's test runner start under TSan.
 *
 * Linked into the test executables of UWAL_TSAN builds only; not part of
 * libuwal.
 *
 * Criterion (Debian's 2.4.1, through BoxFort 0.1.2) places its shared
 * "inheritable arena" with MAP_FIXED at 0x200000000000 + (rand_r() &
 * 0x3fffff) * 16 MiB, probing up to 10 random slots. Under ThreadSanitizer
 * nearly all of that range is TSan's shadow or reserved memory, so the
 * runner aborts with "Could not initialize inheritable arena"
 * (Snaipe/Criterion#274). This file interposes rand_r() and, only when the
 * caller lives in libcriterion, returns a value whose slot is free and
 * inside TSan's application range for PIE binaries (0x5500..0x5680 << 32),
 * which the test run keeps stable by disabling ASLR (setarch -R).
 * Every other caller gets the C library's rand_r() unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_BASE 0x200000000000ull /* BoxFort's mmap_base */
#define ARENA_SHIFT 24               /* slot size: 16 MiB */
#define ARENA_MASK 0x3fffffull       /* slot number mask */
#define APP_LO 0x560000000000ull     /* upper part of TSan's PIE app range, */
#define APP_HI 0x568000000000ull     /* clear of the binary at 0x5555... */

int rand_r(unsigned int *seedp);

/* True when no page of [addr, addr + len) is mapped. */
static int range_free(uintptr_t addr, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char vec;

	for (uintptr_t p = addr; p < addr + len; p += (uintptr_t)page)
		if (mincore((void *)p, (size_t)page, &vec) == 0 || errno != ENOMEM)
			return 0;
	return 1;
}

/* A slot number whose 64 MiB are free inside the app range; -1 if none. */
static long free_slot(void)
{
	for (uintptr_t a = APP_LO; a + (64u << 20) <= APP_HI; a += 1ull << ARENA_SHIFT)
		if (range_free(a, 64u << 20))
			return (long)((a - ARENA_BASE) >> ARENA_SHIFT);
	return -1;
}

static int called_from_criterion(void *ret)
{
	Dl_info info;

	return dladdr(ret, &info) && info.dli_fname && strstr(info.dli_fname, "libcriterion");
}

int rand_r(unsigned int *seedp)
{
	static int (*real_rand_r)(unsigned int *);
	int v;
	long slot;

	if (!real_rand_r)
		real_rand_r = (int (*)(unsigned int *))dlsym(RTLD_NEXT, "rand_r");
	v = real_rand_r(seedp);
	if (!called_from_criterion(__builtin_return_address(0)))
		return v;
	slot = free_slot();
	if (slot < 0 || (unsigned long)slot > ARENA_MASK)
		return v;
	return (int)(((unsigned int)v & ~(unsigned int)ARENA_MASK) | (unsigned int)slot);
}
