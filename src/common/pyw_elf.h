/*
 * pyw_elf.h - what shared libraries an ELF executable asks for.
 */
#ifndef PYW_ELF_H
#define PYW_ELF_H

/* 1 if the 64-bit ELF file at path names a shared library (DT_NEEDED)
 * whose name starts with prefix, 0 if not, -1 if it cannot be read as
 * one. */
int pyw_elf_needs(const char *path, const char *prefix);

#endif /* PYW_ELF_H */
