/*
 * pyw_rewind.h - the bytes of a stream read so far, kept so that they can
 * be read again (wsgi.input's seek()).  Append-only: bytes [0, size) are
 * kept, in memory up to mem_max, beyond that in a file without a name
 * (O_TMPFILE, else a file removed as soon as it is made) in `dir`.
 *
 * Pure C + POSIX, no locking, no logging: the owner serialises calls and
 * reports errors.  pyw_rewind_add() and pyw_rewind_read() may wait on the
 * disk once a file is in use; the owner decides what it lets go of around
 * them (the GIL).  Memory comes from malloc(), never from Python.
 *
 * A failure to keep (no memory, no file, disk full) is sticky: `err` is
 * set, `size` stops growing, and bytes [0, size) stay readable.  The
 * stream itself is not affected; only reading back beyond `size` is.
 */
#ifndef PYW_REWIND_H
#define PYW_REWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char     *mem;      /* bytes [0, size) while fd < 0                */
    size_t    mem_cap;
    size_t    mem_max;  /* more than this: a file                      */
    uint64_t  expect;   /* the stream's length if known (a hint), or 0 */
    int       fd;       /* -1 until the file is made                   */
    uint64_t  size;     /* bytes kept                                  */
    int       err;      /* -errno once keeping failed, else 0          */
    char     *dir;      /* where the file goes (a copy); NULL: /tmp    */
} pyw_rewind_t;

/* Empty; nothing allocated.  expect: the stream's length when known (a
 * longer one goes to a file from its first byte), else 0. */
void pyw_rewind_init(pyw_rewind_t *rw, size_t mem_max, uint64_t expect);

/* 1 if adding len bytes would make the file now: the caller's cue to
 * give pyw_rewind_set_dir() the current directory first. */
int pyw_rewind_needs_file(const pyw_rewind_t *rw, size_t len);

/* Where the file goes: an absolute path, copied; anything else (NULL,
 * "", relative) means /tmp.  0 or -ENOMEM. */
int pyw_rewind_set_dir(pyw_rewind_t *rw, const char *dir);

/* Keep len more bytes: 0, or the sticky -errno (nothing more is kept). */
int pyw_rewind_add(pyw_rewind_t *rw, const void *data, size_t len);

/* Copy up to len kept bytes from offset off: the count (0 at or past
 * `size`), or -errno if the file could not be read. */
ssize_t pyw_rewind_read(const pyw_rewind_t *rw, uint64_t off, void *dst,
                        size_t len);

/* 1 when reads come from the file (they may wait on the disk). */
int pyw_rewind_on_disk(const pyw_rewind_t *rw);

/* Close the file and free the memory; the object is empty again (its
 * size 0) and may be reused after pyw_rewind_init(). */
void pyw_rewind_free(pyw_rewind_t *rw);

#endif /* PYW_REWIND_H */
