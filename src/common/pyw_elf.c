/*
 * pyw_elf.c - DT_NEEDED of a 64-bit ELF file (pyw_elf.h), read with pread:
 * the program headers give the dynamic segment and the load segments,
 * which map DT_STRTAB's address to a file offset.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyw_elf.h"

#define ELF_MAX_PHDRS    64
#define ELF_MAX_DYNAMIC  512
#define ELF_NAME_MAX     256

typedef struct {
    int        fd;
    Elf64_Phdr ph[ELF_MAX_PHDRS];
    int        nph;
} elf_file_t;

static int elf_read(int fd, void *buf, size_t len, off_t off)
{
    return pread(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static int elf_open(elf_file_t *e, const char *path)
{
    Elf64_Ehdr eh;

    if ((e->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return -1;
    }
    if (elf_read(e->fd, &eh, sizeof(eh), 0) < 0
        || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0
        || eh.e_ident[EI_CLASS] != ELFCLASS64
        || eh.e_phentsize != sizeof(Elf64_Phdr)
        || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS
        || elf_read(e->fd, e->ph, eh.e_phnum * sizeof(Elf64_Phdr),
                    (off_t)eh.e_phoff) < 0) {
        close(e->fd);
        return -1;
    }
    e->nph = eh.e_phnum;
    return 0;
}

/* The file offset of a virtual address, through the load segments. */
static off_t elf_offset(const elf_file_t *e, Elf64_Addr addr)
{
    int i;

    for (i = 0; i < e->nph; i++) {
        const Elf64_Phdr *p = &e->ph[i];

        if (p->p_type == PT_LOAD && addr >= p->p_vaddr
            && addr < p->p_vaddr + p->p_filesz) {
            return (off_t)(p->p_offset + (addr - p->p_vaddr));
        }
    }
    return -1;
}

/* The dynamic section into dyn (up to max entries); its count, or -1. */
static int elf_dynamic(const elf_file_t *e, Elf64_Dyn *dyn, int max)
{
    size_t n;
    int i;

    for (i = 0; i < e->nph; i++) {
        if (e->ph[i].p_type != PT_DYNAMIC) {
            continue;
        }
        n = e->ph[i].p_filesz / sizeof(Elf64_Dyn);
        n = n < (size_t)max ? n : (size_t)max;
        return elf_read(e->fd, dyn, n * sizeof(Elf64_Dyn),
                        (off_t)e->ph[i].p_offset) < 0 ? -1 : (int)n;
    }
    return 0;                   /* static: needs nothing */
}

static int elf_scan_needed(const elf_file_t *e, const Elf64_Dyn *dyn,
                           int n, const char *prefix)
{
    char name[ELF_NAME_MAX];
    off_t strtab = -1;
    int i;

    for (i = 0; i < n && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag == DT_STRTAB) {
            strtab = elf_offset(e, dyn[i].d_un.d_ptr);
        }
    }
    if (strtab < 0) {
        return n == 0 ? 0 : -1;
    }
    for (i = 0; i < n && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag != DT_NEEDED) {
            continue;
        }
        memset(name, 0, sizeof(name));
        if (pread(e->fd, name, sizeof(name) - 1,
                  strtab + (off_t)dyn[i].d_un.d_val) <= 0) {
            return -1;
        }
        if (strncmp(name, prefix, strlen(prefix)) == 0) {
            return 1;
        }
    }
    return 0;
}

int pyw_elf_needs(const char *path, const char *prefix)
{
    Elf64_Dyn *dyn = malloc(ELF_MAX_DYNAMIC * sizeof(*dyn));
    elf_file_t e;
    int n, rv = -1;

    if (dyn == NULL) {
        return -1;
    }
    if (elf_open(&e, path) == 0) {
        n = elf_dynamic(&e, dyn, ELF_MAX_DYNAMIC);
        rv = n < 0 ? -1 : elf_scan_needed(&e, dyn, n, prefix);
        close(e.fd);
    }
    free(dyn);
    return rv;
}
