/*
 * pyw_proto.h - the Apache <-> daemon wire protocol (pure C, no I/O).
 *
 * Every frame is an 8 byte header followed by `length` payload bytes:
 *
 *   offset 0  u8   type      (pyw_frame_type_e)
 *   offset 1  u8   flags     (0, but for REQUEST's PYW_REQUEST_RESENT and
 *                            PYW_REQUEST_PROBE)
 *   offset 2  u16  claim     (0, but for REQUEST: the balancer's claim on
 *                            a free worker it carries, see pyw_board.h)
 *   offset 4  u32  length    payload bytes, big-endian
 *
 * All integers are big-endian and fixed width; no struct is ever sent raw.
 * A connection starts with one HELLO from the daemon.  After it, requests
 * run strictly one at a time, each as:
 *
 *   apache -> daemon   REQUEST (environ pairs)
 *   daemon -> apache   READ n           \  repeated while the app reads
 *   apache -> daemon   BODY / BODY(empty = end) / BODY_ABORT   /  wsgi.input
 *   daemon -> apache   HEADERS, DATA*, then END or ERROR
 *
 * The body is pulled by the daemon, so nothing is ever left unread in the
 * socket: after END or ERROR the connection is clean and may be reused.
 *
 * Pair lists (environ, response headers) are a sequence of
 *   u16 name_len, u32 value_len, name bytes, value bytes
 * filling the rest of the payload exactly.
 *
 * The codec never allocates and never touches a socket: it encodes into
 * caller buffers and decodes from them.
 */
#ifndef PYW_PROTO_H
#define PYW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PYW_PROTO_MAGIC        0x50595731u          /* "PYW1" */
#define PYW_PROTO_VERSION      1
#define PYW_FRAME_HEADER_SIZE  8
#define PYW_FRAME_FLAGS_OFFSET 1

/* REQUEST flag: a daemon turned this request down unread (GOODBYE) and
 * Apache sends it again.  The daemon that gets it never hands it back
 * to balance its group: a request moves at most once. */
#define PYW_REQUEST_RESENT     0x01
/* REQUEST flag: a health check of the group (Apache's pyw_hcheck.c), not
 * a visitor's request: it keeps no daemon from idle-timeout or
 * inactivity-timeout and counts for no maximum-requests. */
#define PYW_REQUEST_PROBE      0x02
/* GOODBYE flag: the daemon stops with Apache (stop, hard restart).  No
 * daemon of the group accepts until Apache is back, which waits for its
 * children: a request sent again would wait out the restart. */
#define PYW_GOODBYE_APACHE_STOP 0x01
#define PYW_HELLO_SIZE         12                   /* magic, version, 0, pid */
#define PYW_READ_SIZE          4                    /* u32 max bytes */
#define PYW_PAIR_OVERHEAD      6                    /* u16 + u32 lengths */
#define PYW_FILE_SIZE          16                   /* u64 offset, length */

/* Caps: a decoder refuses anything larger. */
#define PYW_MAX_META_PAYLOAD   (1u << 20)   /* HEADERS, ERROR */
/* The environ Apache sends: its headers may take LimitRequestFields x
 * LimitRequestFieldSize (800 KB by default), twice after an internal
 * redirect (ErrorDocument), which keeps each as REDIRECT_*. */
#define PYW_MAX_REQUEST_PAYLOAD (8u << 20)
#define PYW_MAX_DATA_PAYLOAD   (1u << 20)   /* one BODY or DATA frame */
#define PYW_MAX_NAME_LEN       0xffffu
/* Fields in one response's HEADERS.  Each costs Apache's header filter
 * about 2 KB however short it is: without a cap a tenant's 1 MiB frame
 * of empty headers held 270 MB of a shared Apache child. */
#define PYW_MAX_RESPONSE_HEADERS 1000

/* REQUEST pairs Apache adds for the daemon itself.  Apache sends the
 * request start, REQUEST_URI, the application group and (in a
 * subrequest or internal redirect) the URI served as the first pairs,
 * so a worker finds them without decoding the rest (any order is still
 * valid).  The application group is the resolved name,
 * "" for %{GLOBAL} (the main interpreter). */
#define PYW_ENV_REQUEST_START  "mod_pyworker.request_start" /* us, epoch */
#define PYW_ENV_APP_GROUP      "mod_pyworker.application_group"
/* In a subrequest (an SSI include) or an internal redirect (an
 * ErrorDocument, a local Location): the URI served, for the daemon's log
 * lines; REQUEST_URI is the original's, as CGI has it. */
#define PYW_ENV_SUBREQUEST_URI "mod_pyworker.uri"

typedef enum {
    PYW_FRAME_HELLO      = 1, /* d->a: magic, version, daemon pid         */
    PYW_FRAME_REQUEST    = 2, /* a->d: environ as pairs                   */
    PYW_FRAME_READ       = 3, /* d->a: u32 max body bytes wanted          */
    PYW_FRAME_BODY       = 4, /* a->d: body bytes; empty = end of body    */
    PYW_FRAME_BODY_ABORT = 5, /* a->d: client body unreadable; empty      */
    PYW_FRAME_HEADERS    = 6, /* d->a: u16 status, u16 reason_len, reason,
                                 then header pairs                       */
    PYW_FRAME_DATA       = 7, /* d->a: response body bytes                */
    PYW_FRAME_END        = 8, /* d->a: response complete; empty           */
    PYW_FRAME_ERROR      = 9, /* d->a: u16 status, reason text; the
                                 request failed (before or after headers) */
    PYW_FRAME_GOODBYE    = 10,/* d->a: empty; the daemon closes this idle
                                 connection without reading anything more:
                                 a REQUEST just sent was NOT run, so Apache
                                 may safely send it again elsewhere       */
    PYW_FRAME_FILE       = 11,/* d->a: u64 offset, u64 length; an open file
                                 descriptor travels with the frame's first
                                 byte (SCM_RIGHTS); body bytes of the
                                 response, Apache sends them itself       */
    PYW_FRAME_TYPE_MAX   = 11
} pyw_frame_type_e;

typedef enum {
    PYW_DECODE_OK        = 0,
    PYW_DECODE_NEED_MORE = 1,
    PYW_DECODE_ERROR     = -1
} pyw_decode_e;

typedef struct {
    uint8_t  type;
    uint8_t  flags;
    uint16_t claim;             /* REQUEST: a balancer claim, or 0 */
    uint32_t length;            /* payload length */
} pyw_frame_t;

typedef struct {
    const char *data;
    size_t      len;
} pyw_slice_t;

typedef struct {
    const unsigned char *pos;
    const unsigned char *end;
} pyw_pair_iter_t;

typedef struct {
    uint32_t magic;
    uint16_t version;
    uint32_t pid;
} pyw_hello_t;

/* ---- encoding: each returns bytes written (0 if `cap` is too small) ---- */

size_t pyw_frame_header_put(unsigned char *buf, size_t cap,
                            pyw_frame_type_e type, uint32_t length);
/* A GOODBYE frame with its flags; 0 for unknown flags. */
size_t pyw_goodbye_put(unsigned char *buf, size_t cap, uint8_t flags);
/* A REQUEST header, with its flags and claim; 0 for unknown flags. */
size_t pyw_request_header_put(unsigned char *buf, size_t cap, uint8_t flags,
                              uint16_t claim, uint32_t length);

/* Bytes one pair takes on the wire. */
static inline size_t pyw_pair_size(size_t name_len, size_t value_len)
{
    return PYW_PAIR_OVERHEAD + name_len + value_len;
}

size_t pyw_pair_put(unsigned char *buf, size_t cap,
                    const char *name, size_t name_len,
                    const char *value, size_t value_len);

/* Whole HELLO frame (header + payload): PYW_FRAME_HEADER_SIZE+PYW_HELLO_SIZE */
size_t pyw_hello_put(unsigned char *buf, size_t cap, uint32_t pid);

/* Whole READ frame: PYW_FRAME_HEADER_SIZE + PYW_READ_SIZE bytes. */
size_t pyw_read_put(unsigned char *buf, size_t cap, uint32_t max_bytes);

/* HEADERS payload prefix (status, reason); pairs follow via pyw_pair_put. */
static inline size_t pyw_status_size(size_t reason_len)
{
    return 4 + reason_len;
}
size_t pyw_status_put(unsigned char *buf, size_t cap, uint16_t status,
                      const char *reason, size_t reason_len);

/* Whole ERROR frame: header, u16 status, reason text. */
size_t pyw_error_put(unsigned char *buf, size_t cap, uint16_t status,
                     const char *reason, size_t reason_len);

/* Whole FILE frame: PYW_FRAME_HEADER_SIZE + PYW_FILE_SIZE bytes (the
 * descriptor is sent alongside by the caller). */
size_t pyw_file_put(unsigned char *buf, size_t cap, uint64_t offset,
                    uint64_t length);

/* ---- decoding ---- */

/*
 * Decode the frame header at buf.  OK: a whole frame (header and payload)
 * is in buf.  NEED_MORE: fewer bytes; if at least the header is there,
 * *f is filled so the caller knows how much to wait for.  ERROR: unknown
 * type, flags the type may not carry, a claim on another type than
 * REQUEST, or payload over the cap for its type; *err names why.
 */
pyw_decode_e pyw_frame_decode(const unsigned char *buf, size_t avail,
                              pyw_frame_t *f, const char **err);

/* Largest payload allowed for a frame type (0 for empty-only frames). */
uint32_t pyw_frame_max_payload(uint8_t type);

int pyw_hello_decode(const unsigned char *payload, size_t len,
                     pyw_hello_t *h, const char **err);          /* 0 / -1 */
int pyw_read_decode(const unsigned char *payload, size_t len,
                    uint32_t *max_bytes, const char **err);      /* 0 / -1 */
/* HEADERS: status and reason; *rest, *rest_len: the header pairs. */
int pyw_status_decode(const unsigned char *payload, size_t len,
                      uint16_t *status, pyw_slice_t *reason,
                      const unsigned char **rest, size_t *rest_len,
                      const char **err);                         /* 0 / -1 */
int pyw_file_decode(const unsigned char *payload, size_t len,
                    uint64_t *offset, uint64_t *length,
                    const char **err);                           /* 0 / -1 */
int pyw_error_decode(const unsigned char *payload, size_t len,
                     uint16_t *status, pyw_slice_t *reason,
                     const char **err);                          /* 0 / -1 */

/* Pairs are decoded on every request, about 30 of them, by the daemon's
 * worker (three, for its scans) and the adapter: inline, so a pair costs
 * no call. */
static inline void pyw_pair_iter_init(pyw_pair_iter_t *it,
                                      const unsigned char *p, size_t len)
{
    it->pos = p;
    it->end = p + len;
}

/* 1: a pair was read; 0: clean end; -1: malformed (*err says why). */
static inline int pyw_pair_next(pyw_pair_iter_t *it, pyw_slice_t *name,
                                pyw_slice_t *value, const char **err)
{
    const unsigned char *p = it->pos;
    size_t left = (size_t)(it->end - p);
    size_t name_len, value_len;

    if (left == 0) {
        return 0;
    }
    if (left < PYW_PAIR_OVERHEAD) {
        *err = "truncated pair header";
        return -1;
    }
    name_len = ((size_t)p[0] << 8) | p[1];
    value_len = ((size_t)p[2] << 24) | ((size_t)p[3] << 16)
                | ((size_t)p[4] << 8) | p[5];
    left -= PYW_PAIR_OVERHEAD;
    /* Compare each length with what is left, never their sum, so a huge
     * value_len cannot wrap around. */
    if (name_len == 0) {
        *err = "pair with an empty name";
        return -1;
    }
    if (name_len > left || value_len > left - name_len) {
        *err = "pair length overruns the payload";
        return -1;
    }
    name->data = (const char *)p + PYW_PAIR_OVERHEAD;
    name->len = name_len;
    value->data = name->data + name_len;
    value->len = value_len;
    it->pos = p + PYW_PAIR_OVERHEAD + name_len + value_len;
    return 1;
}

const char *pyw_frame_type_name(uint8_t type);

/* A decimal number as the environ and headers carry it (Content-Length,
 * Apache's request start): 1 to 18 ASCII digits, nothing else, so it
 * cannot overflow.  The value, or -1. */
int64_t pyw_decimal(const void *digits, size_t len);

/* 1 if the header name (len bytes, any case) frames a connection rather
 * than a response (RFC 9110 hop-by-hop, and Proxy-Connection): the
 * daemon's start_response refuses them, Apache drops them from what a
 * daemon sends. */
int pyw_hop_by_hop(const char *name, size_t len);

#endif /* PYW_PROTO_H */
