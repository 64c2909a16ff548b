/*
 * options-doc.c - the PyWorkerDaemonProcess option lists of README.md (a
 * table), conf/pyworker.conf (comment lines) and tools/pyworker-migrate
 * (a Python dict of kinds and bounds), made from src/common/pyw_options.h,
 * so neither the documentation nor the migration tool can drift from the
 * parser.  `options-doc` prints the table; `--write FILE...` puts the
 * list between each file's markers; `--check FILE...` fails if what is
 * there now differs (`make layout` runs it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyw_options.h"

#define MD_BEGIN   "<!-- options-doc:begin -->\n"
#define MD_END     "<!-- options-doc:end -->\n"
#define CONF_BEGIN "    # options-doc:begin\n"
#define CONF_END   "    # options-doc:end\n"
#define PY_BEGIN   "# options-doc:begin python\n"
#define PY_END     "# options-doc:end python\n"
#define TABLE_MAX  (64 * 1024)
#define CONF_WIDTH 76

typedef enum { LIST_MARKDOWN, LIST_CONF, LIST_PYTHON } list_format_e;

/* Each format's begin and end markers, in list_format_e's order. */
static const char *const marks[][2] = {
    { MD_BEGIN, MD_END }, { CONF_BEGIN, CONF_END }, { PY_BEGIN, PY_END }
};

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

/* The conf file's lines: "#   name=VALUE [default]", then the meaning
 * wrapped under it; backticks dropped. */
static size_t conf_row(char *out, size_t cap, const char *name,
                       pyw_option_kind_e kind, const char *defdoc,
                       const char *doc)
{
    char text[1024], *word, *save;
    size_t n, col;

    n = (size_t)snprintf(out, cap, "    #   %s=%s [", name,
                         placeholder(kind));
    for (; *defdoc != '\0' && n + 1 < cap; defdoc++) {
        if (*defdoc != '`') {
            out[n++] = *defdoc;
        }
    }
    n += (size_t)snprintf(out + n, cap - n, "]\n    #       ");
    col = 12;
    snprintf(text, sizeof(text), "%s", doc);
    for (word = strtok_r(text, " ", &save); word != NULL;
         word = strtok_r(NULL, " ", &save)) {
        char clean[256];
        size_t i, j;

        for (i = j = 0; word[i] != '\0' && j + 1 < sizeof(clean); i++) {
            if (word[i] != '`') {
                clean[j++] = word[i];
            }
        }
        clean[j] = '\0';
        if (col > 12 && col + 1 + j > CONF_WIDTH) {
            n += (size_t)snprintf(out + n, cap - n, "\n    #       ");
            col = 12;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", col > 12 ? " " : "",
                              clean);
        col += j + (col > 12);
    }
    n += (size_t)snprintf(out + n, cap - n, "\n");
    return n;
}

/* The migration tool's line: "name": ("KIND", min, max), */
static size_t py_row(char *out, size_t cap, const char *name,
                     const char *kind, int64_t min, int64_t max)
{
    return (size_t)snprintf(out, cap, "    \"%s\": (\"%s\", %" PRId64 ", %"
                            PRId64 "),\n", name, kind, min, max);
}

#define DOC_ROW(field, name, kind, min, max, def, defdoc, doc) \
    if (format == LIST_MARKDOWN) { \
        n += row(list + n, TABLE_MAX - n, name, PYW_OPT_##kind, min, max, \
                 defdoc, doc); \
    } else if (format == LIST_CONF) { \
        n += conf_row(list + n, TABLE_MAX - n, name, PYW_OPT_##kind, \
                      defdoc, doc); \
    } else { \
        n += py_row(list + n, TABLE_MAX - n, name, #kind, min, max); \
    }

static const char *list_begin(list_format_e format)
{
    switch (format) {
    case LIST_MARKDOWN: return MD_BEGIN "| Option | Default | Meaning |\n"
                                        "|---|---|---|\n";
    case LIST_CONF:     return CONF_BEGIN;
    default:            return PY_BEGIN "DAEMON_OPTIONS = {\n";
    }
}

static const char *list_end(list_format_e format)
{
    switch (format) {
    case LIST_MARKDOWN: return MD_END;
    case LIST_CONF:     return CONF_END;
    default:            return "}\n" PY_END;
    }
}

/* The whole marked section, markers included. */
static const char *make_list(list_format_e format)
{
    static char list[TABLE_MAX];
    size_t n;

    n = (size_t)snprintf(list, TABLE_MAX, "%s", list_begin(format));
    PYW_DAEMON_OPTIONS(DOC_ROW)
    snprintf(list + n, TABLE_MAX - n, "%s", list_end(format));
    return list;
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

/* Markdown by name; a Python section by its marker; else conf lines. */
static list_format_e format_of(const char *path, const char *text)
{
    size_t n = strlen(path);

    if (n > 3 && strcmp(path + n - 3, ".md") == 0) {
        return LIST_MARKDOWN;
    }
    return strstr(text, PY_BEGIN) != NULL ? LIST_PYTHON : LIST_CONF;
}

/* 0 fresh (or rewritten), 1 stale or without markers. */
static int update(const char *path, int write)
{
    char *text, *begin, *end;
    list_format_e format;
    const char *list;
    size_t len;
    FILE *f;

    text = read_file(path, &len);
    format = format_of(path, text);
    list = make_list(format);
    begin = strstr(text, marks[format][0]);
    end = begin ? strstr(begin, marks[format][1]) : NULL;
    if (end == NULL) {
        fprintf(stderr, "%s: no options-doc:begin ... end section\n", path);
        return 1;
    }
    end += strlen(marks[format][1]);
    if (!write) {
        return (size_t)(end - begin) == strlen(list)
               && memcmp(begin, list, strlen(list)) == 0 ? 0 : 1;
    }
    if ((f = fopen(path, "wb")) == NULL) {
        perror(path);
        return 2;
    }
    fwrite(text, 1, (size_t)(begin - text), f);
    fputs(list, f);
    fputs(end, f);
    return fclose(f) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    int i, write, rc = 0;

    if (argc == 1) {
        fputs(make_list(LIST_MARKDOWN), stdout);
        return 0;
    }
    write = strcmp(argv[1], "--write") == 0;
    if (argc < 3 || (!write && strcmp(argv[1], "--check") != 0)) {
        fprintf(stderr, "usage: %s [--check|--write FILE...]\n", argv[0]);
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (update(argv[i], write) != 0) {
            fprintf(stderr, "%s: option list is stale\n", argv[i]);
            rc = 1;
        }
    }
    return rc;
}
