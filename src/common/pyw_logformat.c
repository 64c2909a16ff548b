/*
 * pyw_logformat.c - Apache's ErrorLogFormat, for lines the daemons write
 * (see pyw_logformat.h for what a daemon can fill in).
 *
 * The format is parsed once, when the daemon starts, into a small array
 * of items whose texts live in one block after it; rendering a line
 * allocates nothing and takes no lock.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pyw_logformat.h"

#define LOGFMT_MAX_ITEMS 64
#define LOGFMT_KEY_MAX   64         /* an environ key a line shows      */
#define LOGFMT_NO_VAR    255

typedef struct {
    char          what;         /* the item's letter; 0: literal text     */
    unsigned char field_start;  /* a space or "% " before it              */
    unsigned char hyphen;       /* '-': "-" when it has no output         */
    unsigned char min_level;    /* a number: only on lines this verbose   */
    unsigned char var;          /* %e %i %V: index of its environ key     */
    const char   *arg;          /* the text, or {arg} (NULL: none)        */
} logfmt_item_t;

struct pyw_logformat {
    int           n;
    int           nvars;
    char          var_keys[PYW_LOGFORMAT_MAX_VARS][LOGFMT_KEY_MAX];
    logfmt_item_t items[LOGFMT_MAX_ITEMS];
    char          store[];      /* the texts and args, each NUL-ended     */
};

static const char *const logfmt_levels[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};
static const char *const logfmt_days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const logfmt_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* ---- parsing ---- */

/* Literal text up to the next item, or up to a space that follows text
 * (it starts the next field); backslash escapes as Apache reads them. */
static const char *logfmt_text(const char *s, char **d)
{
    int at_start = 1;

    while (*s && *s != '%' && (*s != ' ' || at_start)) {
        if (*s != '\\') {
            at_start = at_start && *s == ' ';
            *(*d)++ = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case 'r':  *(*d)++ = '\r'; s++; break;
        case 'n':  *(*d)++ = '\n'; s++; break;
        case 't':  *(*d)++ = '\t'; s++; break;
        case '\0': *(*d)++ = '\\'; break;
        default:   *(*d)++ = *s++; break;
        }
    }
    *(*d)++ = '\0';
    return s;
}

/* One %-item after its '%': modifiers, then the letter.  NULL if the
 * string ends first. */
static const char *logfmt_item(const char *s, logfmt_item_t *it, char **d)
{
    while (*s) {
        if (*s == '{') {
            it->arg = *d;
            for (s++; *s && *s != '}'; s++) {
                *(*d)++ = *s;
            }
            *(*d)++ = '\0';
            s += *s == '}';
        }
        else if (*s == '-') {
            it->hyphen = 1;
            s++;
        }
        else if (*s == '+') {
            s++;                /* Apache refuses it in this format */
        }
        else if (*s >= '0' && *s <= '9') {
            int level = 0;

            while (*s >= '0' && *s <= '9') {
                level = level * 10 + (*s++ - '0');
            }
            it->min_level = (unsigned char)(level > 255 ? 255 : level);
        }
        else {
            it->what = *s;
            return s + 1;
        }
    }
    return NULL;
}

/* The environ key an item shows: %{NAME}e as is, %{Name}i as its CGI
 * variable (HTTP_NAME; Content-Type and Content-Length without HTTP_;
 * none for a name with '_', as such headers never become HTTP_ keys),
 * %V as SERVER_NAME.  0, or -1: none. */
static int logfmt_env_key(const logfmt_item_t *it, char *key, size_t cap)
{
    const char *a = it->arg;
    size_t n = 0;

    if (it->what == 'V') {
        return snprintf(key, cap, "SERVER_NAME") < (int)cap ? 0 : -1;
    }
    if (a == NULL || *a == '\0' || strlen(a) + 6 > cap) {
        return -1;
    }
    if (it->what == 'e') {
        strcpy(key, a);
        return 0;
    }
    if (strchr(a, '_') != NULL) {
        return -1;              /* no such header reaches the environ */
    }
    if (strcasecmp(a, "Content-Type") != 0
        && strcasecmp(a, "Content-Length") != 0) {
        n = (size_t)snprintf(key, cap, "HTTP_");
    }
    for (; *a; a++) {
        key[n++] = *a == '-' ? '_' : (char)toupper((unsigned char)*a);
    }
    key[n] = '\0';
    return 0;
}

/* Gives an item that shows an environ value the index of its key. */
static void logfmt_add_var(pyw_logformat_t *f, logfmt_item_t *it)
{
    char key[LOGFMT_KEY_MAX];
    int i;

    it->var = LOGFMT_NO_VAR;
    if ((it->what != 'e' && it->what != 'i' && it->what != 'V')
        || logfmt_env_key(it, key, sizeof(key)) < 0) {
        return;
    }
    for (i = 0; i < f->nvars && strcmp(f->var_keys[i], key) != 0; i++) {
    }
    if (i == PYW_LOGFORMAT_MAX_VARS) {
        return;
    }
    if (i == f->nvars) {
        strcpy(f->var_keys[f->nvars++], key);
    }
    it->var = (unsigned char)i;
}

int pyw_logformat_var_count(const pyw_logformat_t *f)
{
    return f->nvars;
}

const char *pyw_logformat_var_key(const pyw_logformat_t *f, int i)
{
    return i >= 0 && i < f->nvars ? f->var_keys[i] : NULL;
}

pyw_logformat_t *pyw_logformat_parse(const char *fmt)
{
    size_t len = strlen(fmt);
    pyw_logformat_t *f = calloc(1, sizeof(*f) + 2 * len + 2);
    char *d;
    const char *s = fmt;
    int has_message = 0;

    if (f == NULL) {
        return NULL;
    }
    d = f->store;
    while (*s) {
        logfmt_item_t *it;
        int sep = 0;

        while (s[0] == '%' && s[1] == ' ') {    /* "% ": a bare separator */
            sep = 1;
            s += 2;
        }
        if (f->n == LOGFMT_MAX_ITEMS) {
            goto fail;
        }
        it = &f->items[f->n++];
        it->field_start = sep || *s == ' ';
        if (s[0] == '%' && s[1] == '%') {
            it->arg = strcpy(d, "%");
            d += 2;
            s += 2;
        }
        else if (*s == '%') {
            if ((s = logfmt_item(s + 1, it, &d)) == NULL) {
                goto fail;
            }
            has_message |= it->what == 'M';
            logfmt_add_var(f, it);
        }
        else {
            it->arg = d;
            s = logfmt_text(s, &d);
        }
    }
    if (has_message) {
        return f;
    }
fail:
    free(f);
    return NULL;
}

void pyw_logformat_free(pyw_logformat_t *f)
{
    free(f);
}

int pyw_logformat_uses(const pyw_logformat_t *f, char letter)
{
    int i;

    for (i = 0; i < f->n; i++) {
        if (f->items[i].what == letter
            && (f->items[i].arg == NULL
                || strcasecmp(f->items[i].arg, "c") != 0)) {
            return 1;
        }
    }
    return 0;
}

/* ---- rendering ---- */

static size_t logfmt_put(char *buf, size_t cap, const char *s, size_t n)
{
    if (cap == 0) {
        return 0;
    }
    if (n > cap - 1) {
        n = cap - 1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return n;
}

/* A string that may be absent (NULL: no output). */
static size_t logfmt_str(char *buf, size_t cap, const char *s)
{
    return s != NULL ? logfmt_put(buf, cap, s, strlen(s)) : 0;
}

static size_t logfmt_printf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t logfmt_printf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (cap == 0) {
        return 0;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Apache's ctime forms: "Mon Dec 07 08:42:02[.123456] 2026", or with
 * 'c' "2026-12-07 08:42:02[.123456]".  English names whatever the
 * application sets its locale to, as in Apache. */
static size_t logfmt_time(const char *arg, const struct timeval *tv,
                          char *buf, size_t cap)
{
    int usec = arg != NULL && strchr(arg, 'u') != NULL;
    int compact = arg != NULL && strchr(arg, 'c') != NULL;
    char frac[16] = "";
    struct tm tm;

    localtime_r(&tv->tv_sec, &tm);
    if (usec) {
        snprintf(frac, sizeof(frac), ".%06ld", (long)tv->tv_usec);
    }
    if (compact) {
        return logfmt_printf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d%s",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    }
    return logfmt_printf(buf, cap, "%s %s %02d %02d:%02d:%02d%s %d",
                         logfmt_days[tm.tm_wday], logfmt_months[tm.tm_mon],
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac,
                         tm.tm_year + 1900);
}

/* One item's output; 0 when the daemon has nothing for it. */
static size_t logfmt_value(const logfmt_item_t *it,
                           const pyw_logformat_ctx_t *c,
                           char *buf, size_t cap)
{
    const char *name;

    switch (it->what) {
    case 0:
        return logfmt_put(buf, cap, it->arg, strlen(it->arg));
    case 't':
        return logfmt_time(it->arg, &c->now, buf, cap);
    case 'l':
        name = logfmt_levels[c->level < 0 ? 0 : c->level > 7 ? 7 : c->level];
        return logfmt_put(buf, cap, name, strlen(name));
    case 'm':
        return logfmt_put(buf, cap, c->module, strlen(c->module));
    case 'P':
        return logfmt_printf(buf, cap, "%ld", c->pid);
    case 'T':
        return it->arg != NULL && it->arg[0] == 'g'
               ? logfmt_printf(buf, cap, "%ld", c->sys_tid)
               : logfmt_printf(buf, cap, "%lu", c->tid);
    case 'v':
        return logfmt_str(buf, cap, c->server);
    case 'a':                   /* %{c}a: Apache's connection peer */
        return it->arg == NULL || it->arg[0] != 'c'
               ? logfmt_str(buf, cap, c->client) : 0;
    case 'L':                   /* %{c}L, %{C}L: a connection's id */
        return it->arg == NULL || strcasecmp(it->arg, "c") != 0
               ? logfmt_str(buf, cap, c->log_id) : 0;
    case 'e':
    case 'i':
    case 'V':
        return it->var != LOGFMT_NO_VAR && c->vars != NULL
               ? logfmt_str(buf, cap, c->vars[it->var]) : 0;
    default:
        return 0;               /* about a connection or request record */
    }
}

size_t pyw_logformat_render(const pyw_logformat_t *f,
                            const pyw_logformat_ctx_t *c,
                            char *buf, size_t cap)
{
    size_t len = 0, field = 0, n;
    int skipping = 0, i;

    if (cap == 0) {
        return 0;
    }
    buf[0] = '\0';
    for (i = 0; i < f->n; i++) {
        const logfmt_item_t *it = &f->items[i];

        if (it->field_start) {
            if (skipping) {
                skipping = 0;
            }
            else {
                field = len;
            }
        }
        if (it->what == 'M') {              /* written even in a skip */
            len += logfmt_put(buf + len, cap - len, c->msg, c->msg_len);
            continue;
        }
        if (skipping) {
            continue;
        }
        if (it->min_level > c->level
            || ((n = logfmt_value(it, c, buf + len, cap - len)) == 0
                && !it->hyphen)) {
            len = field;                    /* drop the whole field */
            skipping = 1;
        }
        else {
            len += n > 0 ? n : logfmt_put(buf + len, cap - len, "-", 1);
        }
    }
    buf[len] = '\0';
    return len;
}
