/* arch/cc.h: lwIP's compiler and platform glue for Linux and macOS (glibc/libc, gcc/clang).
 *
 * lwIP's arch.h includes this before anything else; the defaults in arch.h cover types (stdint,
 * inttypes, limits) and printf formats, so only what differs from those defaults is here. */
#ifndef KT_LWIP_ARCH_CC_H
#define KT_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Byte order from the C library (glibc <endian.h>, macOS <machine/endian.h>): lwIP's arch.h would
 * otherwise assume little endian. */
#if defined(__APPLE__)
#include <machine/endian.h>
#else
#include <endian.h>
#endif

/* Random numbers (lwIP's initial local port) from netstack.c, which uses arc4random: rand() is
 * predictable and not seeded. */
unsigned int kt_netstack_lwip_rand(void);
#define LWIP_RAND() (kt_netstack_lwip_rand())

/* A failed lwIP assertion is a bug in lwIP or in our use of it: report it and abort rather than
 * run on with corrupt state. */
void kt_netstack_lwip_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) kt_netstack_lwip_assert((x), __FILE__, __LINE__)

/* LWIP_PLATFORM_DIAG keeps its default (printf): it is only used with LWIP_DEBUG, which is off. */

#endif
