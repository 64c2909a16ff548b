/*
 * test_elf.c - pyw_elf_needs on real files: a dynamically linked program
 * names libc and nothing called libpython; a text file is no ELF; a
 * missing file cannot be read; the shared libpython of this machine (when
 * there) names libc too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_elf.h"

int main(void)
{
    const char *sh = "/bin/sh";
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    CHECK(n > 0);
    self[n > 0 ? n : 0] = '\0';
    CHECK_EQ(pyw_elf_needs(sh, "libc.so"), 1);
    CHECK_EQ(pyw_elf_needs(sh, "libpython"), 0);
    /* This test program is linked with the sanitizers' runtime. */
    CHECK_EQ(pyw_elf_needs(self, "libasan"), 1);
    CHECK_EQ(pyw_elf_needs(self, "libpython"), 0);
    CHECK_EQ(pyw_elf_needs("/etc/passwd", "libc"), -1);
    CHECK_EQ(pyw_elf_needs("/nonexistent/pyw", "libc"), -1);
    return UNIT_DONE();
}
