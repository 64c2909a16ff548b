/*
 * pyw_option.h - table-driven "name=value" option parsing (pure C).
 *
 * PyWorkerDaemonProcess and the alias directives describe their options as
 * rows of data; pyw_option_parse() applies one "name=value" word to a
 * caller struct.  Messages name the option and the bad value.
 */
#ifndef PYW_OPTION_H
#define PYW_OPTION_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PYW_OPT_INT,        /* decimal integer within [min, max]               */
    PYW_OPT_SECONDS,    /* seconds, stored as milliseconds (int64); "1.5"
                           and "500ms" accepted                            */
    PYW_OPT_BYTES,      /* bytes (int64); K/M/G suffixes, powers of 1024   */
    PYW_OPT_OCTAL,      /* e.g. umask=0002 (int)                           */
    PYW_OPT_STRING,     /* const char *, pointing into the input word       */
    PYW_OPT_UNSUPPORTED /* known mod_wsgi option not implemented yet       */
} pyw_option_kind_e;

typedef struct {
    const char        *name;
    pyw_option_kind_e  kind;
    size_t             offset;   /* offsetof() into the target struct     */
    int64_t            min;
    int64_t            max;
} pyw_option_t;

/* Seen-flags: one bit per table row, to reject duplicates. */
typedef struct {
    uint64_t seen;
} pyw_option_state_t;

/*
 * Parse one "name=value" word against table (terminated by a row with
 * name == NULL) into target.  Returns 0, or -1 with msg (of msglen bytes)
 * holding a message such as "unknown option 'foo'" or
 * "threads=0 is out of range (1..1000)".
 * The word is modified in place (the '=' becomes '\0'); STRING values
 * point into it.
 */
int pyw_option_parse(const pyw_option_t *table, pyw_option_state_t *state,
                     char *word, void *target, char *msg, size_t msglen);

/* Parse a value of the given kind alone (used for directive arguments). */
int pyw_option_value(pyw_option_kind_e kind, const char *value,
                     int64_t min, int64_t max, int64_t *out,
                     char *msg, size_t msglen);

#endif /* PYW_OPTION_H */
