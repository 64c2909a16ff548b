/*
 * pyw_option.c - "name=value" options described by a table of rows.
 *
 * Numbers are parsed by hand rather than with strtol()/strtod(): those
 * accept leading blanks, signs, hex and exponents, and report overflow
 * through errno.  Here a value is exactly digits plus the documented
 * suffix, and overflow is an error, never a wrapped number.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pyw_option.h"

#define PYW_OPTION_MAX_ROWS  64     /* bits in pyw_option_state_t.seen */

__attribute__((format(printf, 3, 4)))
static int option_fail(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;

    if (msg != NULL && msglen > 0) {
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- number syntax: 0, -EINVAL (bad syntax) or -ERANGE (overflow) ---- */

static int is_digit(char c, int base)
{
    return c >= '0' && c < '0' + base;
}

/* One or more digits in base (8 or 10); *sp is left after them. */
static int parse_uint(const char **sp, int base, int64_t *out)
{
    const char *s = *sp;
    int64_t v = 0;
    int d;

    if (!is_digit(*s, base)) {
        return -EINVAL;
    }
    for (; is_digit(*s, base); s++) {
        d = *s - '0';
        if (v > (INT64_MAX - d) / base) {
            return -ERANGE;
        }
        v = v * base + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

static int mul_check(int64_t *v, int64_t m)
{
    if (*v > INT64_MAX / m) {
        return -ERANGE;
    }
    *v *= m;
    return 0;
}

/* [-]digits */
static int parse_int(const char *s, int64_t *out)
{
    int neg = (*s == '-');
    int rc;

    s += neg;
    rc = parse_uint(&s, 10, out);
    if (rc == 0 && *s != '\0') {
        rc = -EINVAL;
    }
    if (rc == 0 && neg) {
        *out = -*out;
    }
    return rc;
}

/* Up to three decimals after the point, as milliseconds: ".5" -> 500. */
static int parse_millis(const char **sp, int64_t *frac)
{
    const char *s = *sp;
    int n;

    *frac = 0;
    for (n = 0; n < 3 && is_digit(*s, 10); n++, s++) {
        *frac = *frac * 10 + (*s - '0');
    }
    if (n == 0 || is_digit(*s, 10)) {
        return -EINVAL;         /* "1." or finer than a millisecond */
    }
    for (; n < 3; n++) {
        *frac *= 10;
    }
    *sp = s;
    return 0;
}

/* "30", "30s", "1.5", "1.5s", "500ms" -> milliseconds. */
static int parse_seconds(const char *s, int64_t *out)
{
    int64_t whole, frac = 0;
    int rc = parse_uint(&s, 10, &whole);

    if (rc < 0) {
        return rc;
    }
    if (strcmp(s, "ms") == 0) {
        *out = whole;
        return 0;
    }
    if (*s == '.') {
        s++;
        rc = parse_millis(&s, &frac);
        if (rc < 0) {
            return rc;
        }
    }
    if (*s == 's') {
        s++;
    }
    if (*s != '\0') {
        return -EINVAL;
    }
    if (mul_check(&whole, 1000) < 0 || whole > INT64_MAX - frac) {
        return -ERANGE;
    }
    *out = whole + frac;
    return 0;
}

/* "65536", "64K", "1m", "2G" (powers of 1024). */
static int parse_bytes(const char *s, int64_t *out)
{
    int rc = parse_uint(&s, 10, out);
    int64_t mult = 1;

    if (rc < 0) {
        return rc;
    }
    switch (*s) {
    case 'k': case 'K': mult = (int64_t)1 << 10; s++; break;
    case 'm': case 'M': mult = (int64_t)1 << 20; s++; break;
    case 'g': case 'G': mult = (int64_t)1 << 30; s++; break;
    default: break;
    }
    if (*s != '\0') {
        return -EINVAL;
    }
    return mul_check(out, mult);
}

static int parse_octal(const char *s, int64_t *out)
{
    int rc = parse_uint(&s, 8, out);

    return (rc == 0 && *s != '\0') ? -EINVAL : rc;
}

static int parse_number(pyw_option_kind_e kind, const char *s, int64_t *out)
{
    switch (kind) {
    case PYW_OPT_INT:     return parse_int(s, out);
    case PYW_OPT_SECONDS: return parse_seconds(s, out);
    case PYW_OPT_BYTES:   return parse_bytes(s, out);
    case PYW_OPT_OCTAL:   return parse_octal(s, out);
    default:              return -ENOTSUP;
    }
}

/* ---- messages ---- */

static const char *kind_expects(pyw_option_kind_e kind)
{
    switch (kind) {
    case PYW_OPT_INT:     return "an integer";
    case PYW_OPT_SECONDS: return "seconds, e.g. 30, 1.5 or 500ms";
    case PYW_OPT_BYTES:   return "bytes, e.g. 65536, 64K or 1M";
    case PYW_OPT_OCTAL:   return "an octal number, e.g. 0022";
    default:              return "a number";
    }
}

/* A bound shown in the unit the user writes: seconds, octal, or plain. */
static void format_bound(pyw_option_kind_e kind, int64_t v, char *buf,
                         size_t len)
{
    long long n = (long long)v;

    if (kind == PYW_OPT_OCTAL && v >= 0) {
        snprintf(buf, len, "%04llo", n);
    }
    else if (kind == PYW_OPT_SECONDS && v >= 0 && v % 1000 != 0) {
        snprintf(buf, len, "%lldms", n);
    }
    else if (kind == PYW_OPT_SECONDS && v >= 0) {
        snprintf(buf, len, "%llds", n / 1000);
    }
    else {
        snprintf(buf, len, "%lld", n);
    }
}

static int range_fail(pyw_option_kind_e kind, const char *label,
                      int64_t min, int64_t max, char *msg, size_t msglen)
{
    char lo[32], hi[32];

    format_bound(kind, min, lo, sizeof(lo));
    if (max == INT64_MAX) {
        return option_fail(msg, msglen, "%s is out of range (minimum %s)",
                           label, lo);
    }
    format_bound(kind, max, hi, sizeof(hi));
    return option_fail(msg, msglen, "%s is out of range (%s..%s)",
                       label, lo, hi);
}

/* Parse and bound-check; label is "name=value" or "'value'". */
static int value_check(pyw_option_kind_e kind, const char *label,
                       const char *value, int64_t min, int64_t max,
                       int64_t *out, char *msg, size_t msglen)
{
    int64_t v;
    int rc;

    if (*value == '\0') {
        return option_fail(msg, msglen, "%s: empty value (expected %s)",
                           label, kind_expects(kind));
    }
    rc = parse_number(kind, value, &v);
    if (rc == -ENOTSUP) {
        return option_fail(msg, msglen, "%s: not a numeric option", label);
    }
    if (rc == -EINVAL) {
        return option_fail(msg, msglen, "%s is not valid (expected %s)",
                           label, kind_expects(kind));
    }
    if (rc == -ERANGE || v < min || v > max) {
        return range_fail(kind, label, min, max, msg, msglen);
    }
    *out = v;
    return 0;
}

int pyw_option_value(pyw_option_kind_e kind, const char *value,
                     int64_t min, int64_t max, int64_t *out,
                     char *msg, size_t msglen)
{
    char label[160];

    snprintf(label, sizeof(label), "'%s'", value);
    return value_check(kind, label, value, min, max, out, msg, msglen);
}

/* ---- table ---- */

static int option_lookup(const pyw_option_t *table, const char *name)
{
    int i;

    for (i = 0; table[i].name != NULL; i++) {
        if (strcmp(table[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* Convert and store a non-empty value into target per the row's kind. */
static int option_store(const pyw_option_t *row, const char *value,
                        void *target, char *msg, size_t msglen)
{
    char *field = (char *)target + row->offset;
    char label[160];
    int64_t min = row->min, max = row->max, v;
    int is_int = (row->kind == PYW_OPT_INT || row->kind == PYW_OPT_OCTAL);

    if (row->kind == PYW_OPT_STRING) {
        memcpy(field, &value, sizeof(value));
        return 0;
    }
    if (is_int) {               /* stored in an int: never wrap */
        min = min < INT_MIN ? INT_MIN : min;
        max = max > INT_MAX ? INT_MAX : max;
    }
    snprintf(label, sizeof(label), "%s=%s", row->name, value);
    if (value_check(row->kind, label, value, min, max, &v, msg, msglen)) {
        return -1;
    }
    if (is_int) {
        int iv = (int)v;
        memcpy(field, &iv, sizeof(iv));
    }
    else {
        memcpy(field, &v, sizeof(v));
    }
    return 0;
}

int pyw_option_parse(const pyw_option_t *table, pyw_option_state_t *state,
                     char *word, void *target, char *msg, size_t msglen)
{
    char *value = strchr(word, '=');
    const pyw_option_t *row;
    int i;

    if (value != NULL) {
        *value++ = '\0';
    }
    i = option_lookup(table, word);
    if (i < 0) {
        return option_fail(msg, msglen, "unknown option '%s'", word);
    }
    row = &table[i];
    if (row->kind == PYW_OPT_UNSUPPORTED) {
        return option_fail(msg, msglen,
                           "'%s' is not supported yet by mod_pyworker", word);
    }
    if (value == NULL) {
        return option_fail(msg, msglen, "option '%s' needs a value "
                           "(%s=value)", word, word);
    }
    if (i >= PYW_OPTION_MAX_ROWS) {
        return option_fail(msg, msglen, "option '%s': option table has "
                           "more than %d rows", word, PYW_OPTION_MAX_ROWS);
    }
    if (state != NULL && (state->seen & ((uint64_t)1 << i))) {
        return option_fail(msg, msglen, "option '%s' given twice", word);
    }
    if (*value == '\0') {
        return option_fail(msg, msglen, "option '%s' has an empty value",
                           word);
    }
    if (option_store(row, value, target, msg, msglen) < 0) {
        return -1;
    }
    if (state != NULL) {
        state->seen |= (uint64_t)1 << i;
    }
    return 0;
}
