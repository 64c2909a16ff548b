/*
 * pyw_memfd.h - shared pages in a file of fixed size: an anonymous memfd
 * sealed against growing and shrinking, so that a process that maps it
 * (a daemon, say) can write to it but never make another mapper's
 * accesses fault by truncating it.
 */
#ifndef PYW_MEMFD_H
#define PYW_MEMFD_H

#include <stddef.h>

/* A new close-on-exec memfd of `size` zero bytes, sealed at that size;
 * -1 with errno set on failure. */
int pyw_memfd_sealed(const char *name, size_t size);

#endif /* PYW_MEMFD_H */
