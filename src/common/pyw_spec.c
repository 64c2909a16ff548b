/*
 * pyw_spec.c - the daemon spec as "key\0value\0" pairs (see pyw_spec.h).
 *
 * One table says where each key lives in the struct and how it is
 * stored; the options' rows come from pyw_options.h, so a new option
 * crosses exec without a line here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyw_spec.h"

typedef enum {
    SPEC_INT,       /* int                                             */
    SPEC_I64,       /* int64_t                                         */
    SPEC_ID,        /* uid_t / gid_t                                   */
    SPEC_STR,       /* const char *; NULL is left out                  */
    SPEC_STRV,      /* const char *const * with an int count after it  */
    SPEC_IDV        /* const gid_t * with an int count after it        */
} spec_kind_e;

typedef struct {
    const char  *key;
    spec_kind_e  kind;
    size_t       offset;
    size_t       count_offset;  /* SPEC_STRV / SPEC_IDV */
} spec_row_t;

#define SPEC_KIND_INT      SPEC_INT
#define SPEC_KIND_OCTAL    SPEC_INT
#define SPEC_KIND_SECONDS  SPEC_I64
#define SPEC_KIND_BYTES    SPEC_I64
#define SPEC_KIND_STRING   SPEC_STR

#define SPEC_OPTION_ROW(field, name, kind, min, max, def, defdoc, doc) \
    { name, SPEC_KIND_##kind, offsetof(pyw_daemon_spec_t, field), 0 },
#define SPEC_ROW(key, kind, field) \
    { key, kind, offsetof(pyw_daemon_spec_t, field), 0 }
#define SPEC_ARRAY(key, kind, field, count) \
    { key, kind, offsetof(pyw_daemon_spec_t, field), \
      offsetof(pyw_daemon_spec_t, count) }

static const spec_row_t spec_rows[] = {
    PYW_DAEMON_OPTIONS(SPEC_OPTION_ROW)
    SPEC_ROW(".group", SPEC_STR, group),
    SPEC_ROW(".process-index", SPEC_INT, process_index),
    SPEC_ROW(".keeper-pid", SPEC_INT, keeper_pid),
    SPEC_ROW(".apache-pid", SPEC_INT, apache_pid),
    SPEC_ROW(".wboard-lane", SPEC_INT, wboard_lane),
    SPEC_ROW(".drop-privileges", SPEC_INT, drop_privileges),
    SPEC_ROW(".uid", SPEC_ID, uid),
    SPEC_ROW(".gid", SPEC_ID, gid),
    SPEC_ROW(".user-name", SPEC_STR, user_name),
    SPEC_ROW(".script-uid", SPEC_ID, script_uid),
    SPEC_ROW(".script-gid", SPEC_ID, script_gid),
    SPEC_ARRAY(".supplementary-gid", SPEC_IDV, supplementary_gids,
               n_supplementary_gids),
    SPEC_ARRAY(".import-script", SPEC_STRV, import_scripts,
               n_import_scripts),
    SPEC_ARRAY(".import-app-group", SPEC_STRV, import_app_groups,
               n_import_app_groups),
    SPEC_ARRAY(".import-mode", SPEC_STRV, import_modes, n_import_modes),
    SPEC_ROW(".response-write-timeout", SPEC_I64, response_write_timeout_ms),
    SPEC_ROW(".script-reloading", SPEC_INT, script_reloading),
    SPEC_ROW(".log-level", SPEC_INT, log_level),
    SPEC_ROW(".log-format", SPEC_STR, log_format),
    SPEC_ROW(".log-server", SPEC_STR, log_server),
    SPEC_ROW(".log-syslog", SPEC_INT, log_syslog),
    SPEC_ROW(".syslog-facility", SPEC_INT, syslog_facility),
    SPEC_ROW(".syslog-tag", SPEC_STR, syslog_tag),
    SPEC_ROW(".startup-delay", SPEC_INT, startup_delay_ms),
    SPEC_ROW(".quiet-since", SPEC_I64, quiet_since_ms),
    SPEC_ROW(".replacing", SPEC_INT, replacing),
    { NULL, 0, 0, 0 }
};

#define SPEC_FIELD(spec, row, type) \
    ((type *)((char *)(spec) + (row)->offset))
#define SPEC_COUNT(spec, row) \
    ((int *)((char *)(spec) + (row)->count_offset))

/* ---- encoding ---- */

typedef struct {
    char   *buf;
    size_t  len, cap;
    int     failed;
} spec_out_t;

static void out_bytes(spec_out_t *o, const char *s, size_t n)
{
    char *nb;
    size_t cap;

    if (o->failed) {
        return;
    }
    if (o->len + n > o->cap) {
        cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n) {
            cap *= 2;
        }
        if ((nb = realloc(o->buf, cap)) == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void out_pair(spec_out_t *o, const char *key, const char *value)
{
    out_bytes(o, key, strlen(key) + 1);
    out_bytes(o, value, strlen(value) + 1);
}

static void out_number(spec_out_t *o, const char *key, long long v)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", v);
    out_pair(o, key, num);
}

static void encode_row(spec_out_t *o, const pyw_daemon_spec_t *spec,
                       const spec_row_t *row)
{
    int i, n;

    switch (row->kind) {
    case SPEC_INT:
        out_number(o, row->key, *SPEC_FIELD(spec, row, const int));
        break;
    case SPEC_I64:
        out_number(o, row->key, *SPEC_FIELD(spec, row, const int64_t));
        break;
    case SPEC_ID:
        out_number(o, row->key, *SPEC_FIELD(spec, row, const uid_t));
        break;
    case SPEC_STR:
        if (*SPEC_FIELD(spec, row, const char *const) != NULL) {
            out_pair(o, row->key, *SPEC_FIELD(spec, row, const char *const));
        }
        break;
    case SPEC_STRV:
        n = *SPEC_COUNT(spec, row);
        for (i = 0; i < n; i++) {
            out_pair(o, row->key,
                     (*SPEC_FIELD(spec, row, const char *const *const))[i]);
        }
        break;
    case SPEC_IDV:
        n = *SPEC_COUNT(spec, row);
        for (i = 0; i < n; i++) {
            out_number(o, row->key,
                       (*SPEC_FIELD(spec, row, const gid_t *const))[i]);
        }
        break;
    }
}

char *pyw_spec_encode(const pyw_daemon_spec_t *spec, size_t *len)
{
    spec_out_t o = { NULL, 0, 0, 0 };
    const spec_row_t *row;

    for (row = spec_rows; row->key != NULL; row++) {
        encode_row(&o, spec, row);
    }
    if (o.failed || o.buf == NULL) {
        free(o.buf);
        errno = ENOMEM;
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

/* ---- decoding ---- */

__attribute__((format(printf, 3, 4)))
static int spec_fail(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno != 0 || end == s || *end != '\0') ? -1 : 0;
}

static int append(void **array, int *count, const void *item, size_t size)
{
    char *grown = realloc(*array, (size_t)(*count + 1) * size);

    if (grown == NULL) {
        return -1;
    }
    memcpy(grown + (size_t)*count * size, item, size);
    *array = grown;
    (*count)++;
    return 0;
}

static int decode_row(pyw_daemon_spec_t *spec, const spec_row_t *row,
                      const char *value)
{
    long long v = 0;
    gid_t id;

    if (row->kind != SPEC_STR && row->kind != SPEC_STRV
        && parse_ll(value, &v) < 0) {
        return -1;
    }
    switch (row->kind) {
    case SPEC_INT:
        *SPEC_FIELD(spec, row, int) = (int)v;
        return v == (int)v ? 0 : -1;
    case SPEC_I64:
        *SPEC_FIELD(spec, row, int64_t) = (int64_t)v;
        return 0;
    case SPEC_ID:
        *SPEC_FIELD(spec, row, uid_t) = (uid_t)v;
        return 0;
    case SPEC_STR:
        *SPEC_FIELD(spec, row, const char *) = value;
        return 0;
    case SPEC_STRV:
        return append(SPEC_FIELD(spec, row, void *), SPEC_COUNT(spec, row),
                      &value, sizeof(value));
    case SPEC_IDV:
        id = (gid_t)v;
        return append(SPEC_FIELD(spec, row, void *), SPEC_COUNT(spec, row),
                      &id, sizeof(id));
    }
    return -1;
}

static const spec_row_t *spec_lookup(const char *key)
{
    const spec_row_t *row;

    for (row = spec_rows; row->key != NULL; row++) {
        if (strcmp(row->key, key) == 0) {
            return row;
        }
    }
    return NULL;
}

int pyw_spec_decode(char *buf, size_t len, pyw_daemon_spec_t *spec,
                    char *msg, size_t msglen)
{
    const spec_row_t *row;
    char *p = buf, *end = buf + len, *key, *value;

    memset(spec, 0, sizeof(*spec));
    spec->listen_fd = spec->status_fd = spec->log_fd = -1;
    spec->script_uid = (uid_t)-1;       /* absent: scripts of any owner */
    spec->script_gid = (gid_t)-1;
    if (len == 0 || buf[len - 1] != '\0') {
        return spec_fail(msg, msglen, "spec is empty or truncated "
                         "(%zu bytes)", len);
    }
    while (p < end) {
        key = p;
        p += strlen(p) + 1;
        if (p >= end) {
            return spec_fail(msg, msglen, "spec key '%s' has no value", key);
        }
        value = p;
        p += strlen(p) + 1;
        if ((row = spec_lookup(key)) == NULL) {
            return spec_fail(msg, msglen, "unknown spec key '%s': the "
                             "daemon program and mod_pyworker.so come "
                             "from different builds", key);
        }
        if (decode_row(spec, row, value) < 0) {
            return spec_fail(msg, msglen, "bad spec value %s='%s'", key,
                             value);
        }
    }
    return 0;
}

int pyw_spec_read_fd(int fd, char **bufp, pyw_daemon_spec_t *spec,
                     char *msg, size_t msglen)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap), *grown;
    ssize_t n;

    *bufp = NULL;
    while (buf != NULL) {
        n = pread(fd, buf + len, cap - len, (off_t)len);
        if (n == 0) {
            if (pyw_spec_decode(buf, len, spec, msg, msglen) < 0) {
                free(buf);
                return -1;
            }
            *bufp = buf;
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            free(buf);
            return spec_fail(msg, msglen, "cannot read the spec from "
                             "descriptor %d: %s", fd, strerror(errno));
        }
        len += n > 0 ? (size_t)n : 0;
        if (len == cap) {
            grown = realloc(buf, cap *= 2);
            if (grown == NULL) {
                free(buf);
            }
            buf = grown;
        }
    }
    return spec_fail(msg, msglen, "out of memory reading the spec");
}
