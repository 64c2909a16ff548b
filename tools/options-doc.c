/*
 * options-doc.c - README's PyWorkerDaemonProcess option table, made from
 * src/common/pyw_options.h, so the documentation cannot drift from the
 * parser.  `options-doc` prints the table; `--write README.md` puts it
 * between the markers; `--check README.md` fails if what is there now
 * differs (`make layout` runs it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyw_options.h"

#define BEGIN_MARK "<!-- options-doc:begin -->\n"
#define END_MARK   "<!-- options-doc:end -->\n"
#define TABLE_MAX  (64 * 1024)

static const char *placeholder(pyw_option_kind_e kind)
{
    switch (kind) {
    case PYW_OPT_INT:     return "N";
    case PYW_OPT_OCTAL:   return "0nnn";
    case PYW_OPT_SECONDS: return "S";
    case PYW_OPT_BYTES:   return "BYTES";
    default:              return "...";
    }
}

static size_t row(char *out, size_t cap, const char *name,
                  pyw_option_kind_e kind, int64_t min, int64_t max,
                  const char *defdoc, const char *doc)
{
    char range[64] = "";

    if (kind == PYW_OPT_INT) {
        snprintf(range, sizeof(range), " (%" PRId64 " to %" PRId64 ")",
                 min, max);
    }
    return (size_t)snprintf(out, cap, "| `%s=%s` | %s | %s%s |\n", name,
                            placeholder(kind), defdoc, doc, range);
}

#define DOC_ROW(field, name, kind, min, max, def, defdoc, doc) \
    n += row(table + n, TABLE_MAX - n, name, PYW_OPT_##kind, min, max, \
             defdoc, doc);

static const char *make_table(void)
{
    static char table[TABLE_MAX];
    size_t n = 0;

    n += (size_t)snprintf(table, TABLE_MAX, BEGIN_MARK
                          "| Option | Default | Meaning |\n"
                          "|---|---|---|\n");
    PYW_DAEMON_OPTIONS(DOC_ROW)
    snprintf(table + n, TABLE_MAX - n, END_MARK);
    return table;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) < 0
        || (buf = malloc((size_t)size + 1)) == NULL
        || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        perror(path);
        exit(2);
    }
    fclose(f);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

int main(int argc, char **argv)
{
    const char *table = make_table();
    char *text, *begin, *end;
    size_t len;
    FILE *f;

    if (argc == 1) {
        fputs(table, stdout);
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "--check") != 0
                      && strcmp(argv[1], "--write") != 0)) {
        fprintf(stderr, "usage: %s [--check|--write README.md]\n", argv[0]);
        return 2;
    }
    text = read_file(argv[2], &len);
    begin = strstr(text, BEGIN_MARK);
    end = begin ? strstr(begin, END_MARK) : NULL;
    if (end == NULL) {
        fprintf(stderr, "%s: no %.*s ... %.*s section\n", argv[2],
                (int)strlen(BEGIN_MARK) - 1, BEGIN_MARK,
                (int)strlen(END_MARK) - 1, END_MARK);
        return 1;
    }
    end += strlen(END_MARK);
    if (strcmp(argv[1], "--check") == 0) {
        return (size_t)(end - begin) == strlen(table)
               && memcmp(begin, table, strlen(table)) == 0 ? 0 : 1;
    }
    if ((f = fopen(argv[2], "wb")) == NULL) {
        perror(argv[2]);
        return 2;
    }
    fwrite(text, 1, (size_t)(begin - text), f);
    fputs(table, f);
    fputs(end, f);
    return fclose(f) == 0 ? 0 : 2;
}
