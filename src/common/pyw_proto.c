/*
 * pyw_proto.c - the Apache <-> daemon wire codec.
 *
 * Bytes in, bytes out: every field is written and read with explicit
 * shifts at a named offset, so the wire format does not depend on the
 * compiler's struct layout or the host's byte order.  Nothing here
 * allocates or performs I/O; every length read from the wire is checked
 * against what is left in the caller's buffer before it is used.
 */
#include <string.h>
#include <strings.h>

#include "pyw_proto.h"

/* Frame header offsets. */
#define HDR_TYPE      0
#define HDR_FLAGS     PYW_FRAME_FLAGS_OFFSET
#define HDR_RESERVED  2       /* REQUEST: the claim */
#define HDR_LENGTH    4

/* HELLO payload offsets. */
#define HELLO_MAGIC    0
#define HELLO_VERSION  4
#define HELLO_ZERO     6
#define HELLO_PID      8

/* Status line on the wire: u16 status, then (HEADERS) u16 reason_len. */
#define STATUS_MIN  100
#define STATUS_MAX  999

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
           | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Payload bounds per type: HELLO and READ have a fixed size, END and
 * BODY_ABORT are empty, the rest are capped; the flags each type may
 * carry.  Index 0 is "no such type". */
static const struct {
    const char *name;
    uint32_t    min;
    uint32_t    max;
    uint8_t     flags;
} frame_types[PYW_FRAME_TYPE_MAX + 1] = {
    [0]                    = { NULL, 0, 0, 0 },
    [PYW_FRAME_HELLO]      = { "HELLO", PYW_HELLO_SIZE, PYW_HELLO_SIZE, 0 },
    [PYW_FRAME_REQUEST]    = { "REQUEST", 0, PYW_MAX_REQUEST_PAYLOAD,
                               PYW_REQUEST_RESENT | PYW_REQUEST_PROBE },
    [PYW_FRAME_READ]       = { "READ", PYW_READ_SIZE, PYW_READ_SIZE, 0 },
    [PYW_FRAME_BODY]       = { "BODY", 0, PYW_MAX_DATA_PAYLOAD, 0 },
    [PYW_FRAME_BODY_ABORT] = { "BODY_ABORT", 0, 0, 0 },
    [PYW_FRAME_HEADERS]    = { "HEADERS", 0, PYW_MAX_META_PAYLOAD, 0 },
    [PYW_FRAME_DATA]       = { "DATA", 0, PYW_MAX_DATA_PAYLOAD, 0 },
    [PYW_FRAME_END]        = { "END", 0, 0, 0 },
    [PYW_FRAME_ERROR]      = { "ERROR", 0, PYW_MAX_META_PAYLOAD, 0 },
    [PYW_FRAME_GOODBYE]    = { "GOODBYE", 0, 0, PYW_GOODBYE_APACHE_STOP },
    [PYW_FRAME_FILE]       = { "FILE", PYW_FILE_SIZE, PYW_FILE_SIZE, 0 },
};

static int type_known(uint8_t type)
{
    return type >= 1 && type <= PYW_FRAME_TYPE_MAX;
}

uint32_t pyw_frame_max_payload(uint8_t type)
{
    return type_known(type) ? frame_types[type].max : 0;
}

const char *pyw_frame_type_name(uint8_t type)
{
    return type_known(type) ? frame_types[type].name : "UNKNOWN";
}

/* ---- encoding ---- */

/* Also refuses (returns 0) an unknown type or a length the peer's decoder
 * would reject, so a bug shows up at the sender. */
static size_t header_put(unsigned char *buf, size_t cap,
                         pyw_frame_type_e type, uint8_t flags,
                         uint16_t claim, uint32_t length)
{
    if (cap < PYW_FRAME_HEADER_SIZE || !type_known((uint8_t)type)
        || length > frame_types[type].max
        || length < frame_types[type].min
        || (flags & ~frame_types[type].flags) != 0
        || (claim != 0 && type != PYW_FRAME_REQUEST)) {
        return 0;
    }
    buf[HDR_TYPE] = (unsigned char)type;
    buf[HDR_FLAGS] = flags;
    put16(buf + HDR_RESERVED, claim);
    put32(buf + HDR_LENGTH, length);
    return PYW_FRAME_HEADER_SIZE;
}

size_t pyw_frame_header_put(unsigned char *buf, size_t cap,
                            pyw_frame_type_e type, uint32_t length)
{
    return header_put(buf, cap, type, 0, 0, length);
}

size_t pyw_goodbye_put(unsigned char *buf, size_t cap, uint8_t flags)
{
    return header_put(buf, cap, PYW_FRAME_GOODBYE, flags, 0, 0);
}

size_t pyw_request_header_put(unsigned char *buf, size_t cap, uint8_t flags,
                              uint16_t claim, uint32_t length)
{
    return header_put(buf, cap, PYW_FRAME_REQUEST, flags, claim, length);
}

/* An empty name is refused on both sides: neither an environ key nor a
 * header name may be empty. */
size_t pyw_pair_put(unsigned char *buf, size_t cap,
                    const char *name, size_t name_len,
                    const char *value, size_t value_len)
{
    size_t need;

    /* The value bound keeps pyw_pair_size() from wrapping anywhere. */
    if (name_len == 0 || name_len > PYW_MAX_NAME_LEN
        || value_len > UINT32_MAX - PYW_MAX_NAME_LEN - PYW_PAIR_OVERHEAD) {
        return 0;
    }
    need = pyw_pair_size(name_len, value_len);
    if (cap < need) {
        return 0;
    }
    put16(buf, (uint16_t)name_len);
    put32(buf + 2, (uint32_t)value_len);
    memcpy(buf + PYW_PAIR_OVERHEAD, name, name_len);
    if (value_len) {
        memcpy(buf + PYW_PAIR_OVERHEAD + name_len, value, value_len);
    }
    return need;
}

size_t pyw_hello_put(unsigned char *buf, size_t cap, uint32_t pid)
{
    unsigned char *p = buf + PYW_FRAME_HEADER_SIZE;

    if (cap < PYW_FRAME_HEADER_SIZE + PYW_HELLO_SIZE) {
        return 0;
    }
    pyw_frame_header_put(buf, cap, PYW_FRAME_HELLO, PYW_HELLO_SIZE);
    put32(p + HELLO_MAGIC, PYW_PROTO_MAGIC);
    put16(p + HELLO_VERSION, PYW_PROTO_VERSION);
    put16(p + HELLO_ZERO, 0);
    put32(p + HELLO_PID, pid);
    return PYW_FRAME_HEADER_SIZE + PYW_HELLO_SIZE;
}

size_t pyw_read_put(unsigned char *buf, size_t cap, uint32_t max_bytes)
{
    if (cap < PYW_FRAME_HEADER_SIZE + PYW_READ_SIZE) {
        return 0;
    }
    pyw_frame_header_put(buf, cap, PYW_FRAME_READ, PYW_READ_SIZE);
    put32(buf + PYW_FRAME_HEADER_SIZE, max_bytes);
    return PYW_FRAME_HEADER_SIZE + PYW_READ_SIZE;
}

size_t pyw_file_put(unsigned char *buf, size_t cap, uint64_t offset,
                    uint64_t length)
{
    unsigned char *p = buf + PYW_FRAME_HEADER_SIZE;

    if (cap < PYW_FRAME_HEADER_SIZE + PYW_FILE_SIZE) {
        return 0;
    }
    pyw_frame_header_put(buf, cap, PYW_FRAME_FILE, PYW_FILE_SIZE);
    put32(p, (uint32_t)(offset >> 32));
    put32(p + 4, (uint32_t)offset);
    put32(p + 8, (uint32_t)(length >> 32));
    put32(p + 12, (uint32_t)length);
    return PYW_FRAME_HEADER_SIZE + PYW_FILE_SIZE;
}

size_t pyw_status_put(unsigned char *buf, size_t cap, uint16_t status,
                      const char *reason, size_t reason_len)
{
    if (reason_len > 0xffff || cap < pyw_status_size(reason_len)) {
        return 0;
    }
    put16(buf, status);
    put16(buf + 2, (uint16_t)reason_len);
    if (reason_len) {
        memcpy(buf + 4, reason, reason_len);
    }
    return pyw_status_size(reason_len);
}

size_t pyw_error_put(unsigned char *buf, size_t cap, uint16_t status,
                     const char *reason, size_t reason_len)
{
    size_t total;

    if (reason_len > PYW_MAX_META_PAYLOAD - 2) {
        return 0;
    }
    total = PYW_FRAME_HEADER_SIZE + 2 + reason_len;
    if (cap < total) {
        return 0;
    }
    pyw_frame_header_put(buf, cap, PYW_FRAME_ERROR,
                         (uint32_t)(2 + reason_len));
    put16(buf + PYW_FRAME_HEADER_SIZE, status);
    if (reason_len) {
        memcpy(buf + PYW_FRAME_HEADER_SIZE + 2, reason, reason_len);
    }
    return total;
}

/* ---- decoding ---- */

/* Validate a complete 8-byte header; fills *f.  0 or -1 with *err. */
static int header_check(const unsigned char *buf, pyw_frame_t *f,
                        const char **err)
{
    f->type = buf[HDR_TYPE];
    f->flags = buf[HDR_FLAGS];
    f->claim = get16(buf + HDR_RESERVED);
    f->length = get32(buf + HDR_LENGTH);

    if (!type_known(f->type)) {
        *err = "unknown frame type";
        return -1;
    }
    if ((f->flags & ~frame_types[f->type].flags) != 0
        || (f->claim != 0 && f->type != PYW_FRAME_REQUEST)) {
        *err = "unknown flags, or a claim on a frame other than REQUEST";
        return -1;
    }
    if (f->length > frame_types[f->type].max) {
        *err = "frame payload larger than allowed for its type";
        return -1;
    }
    if (f->length < frame_types[f->type].min) {
        *err = "frame payload shorter than its type requires";
        return -1;
    }
    return 0;
}

pyw_decode_e pyw_frame_decode(const unsigned char *buf, size_t avail,
                              pyw_frame_t *f, const char **err)
{
    const char *dummy;

    if (err == NULL) {
        err = &dummy;
    }
    *err = NULL;
    if (avail < PYW_FRAME_HEADER_SIZE) {
        return PYW_DECODE_NEED_MORE;
    }
    /* A bad header is reported as soon as the header is complete, without
     * waiting for a payload that may never come. */
    if (header_check(buf, f, err) < 0) {
        return PYW_DECODE_ERROR;
    }
    if (avail - PYW_FRAME_HEADER_SIZE < f->length) {
        return PYW_DECODE_NEED_MORE;
    }
    return PYW_DECODE_OK;
}

int pyw_hello_decode(const unsigned char *payload, size_t len,
                     pyw_hello_t *h, const char **err)
{
    if (len != PYW_HELLO_SIZE) {
        *err = "HELLO payload has the wrong size";
        return -1;
    }
    h->magic = get32(payload + HELLO_MAGIC);
    h->version = get16(payload + HELLO_VERSION);
    h->pid = get32(payload + HELLO_PID);
    if (h->magic != PYW_PROTO_MAGIC) {
        *err = "HELLO has a bad magic number (not a mod_pyworker daemon)";
        return -1;
    }
    if (h->version != PYW_PROTO_VERSION) {
        *err = "HELLO has an unsupported protocol version";
        return -1;
    }
    if (get16(payload + HELLO_ZERO) != 0) {
        *err = "HELLO has non-zero reserved bits";
        return -1;
    }
    return 0;
}

int pyw_read_decode(const unsigned char *payload, size_t len,
                    uint32_t *max_bytes, const char **err)
{
    if (len != PYW_READ_SIZE) {
        *err = "READ payload has the wrong size";
        return -1;
    }
    *max_bytes = get32(payload);
    return 0;
}

int pyw_file_decode(const unsigned char *payload, size_t len,
                    uint64_t *offset, uint64_t *length, const char **err)
{
    if (len != PYW_FILE_SIZE) {
        *err = "FILE payload has the wrong size";
        return -1;
    }
    *offset = ((uint64_t)get32(payload) << 32) | get32(payload + 4);
    *length = ((uint64_t)get32(payload + 8) << 32) | get32(payload + 12);
    if (*offset > (uint64_t)INT64_MAX || *length > (uint64_t)INT64_MAX
        || *offset + *length > (uint64_t)INT64_MAX) {
        *err = "FILE range out of bounds";
        return -1;
    }
    return 0;
}

static int status_check(uint16_t status, const char **err)
{
    if (status < STATUS_MIN || status > STATUS_MAX) {
        *err = "status code out of range (100..999)";
        return -1;
    }
    return 0;
}

int pyw_status_decode(const unsigned char *payload, size_t len,
                      uint16_t *status, pyw_slice_t *reason,
                      const unsigned char **rest, size_t *rest_len,
                      const char **err)
{
    size_t reason_len;

    if (len < 4) {
        *err = "HEADERS payload too short for a status";
        return -1;
    }
    *status = get16(payload);
    reason_len = get16(payload + 2);
    if (status_check(*status, err) < 0) {
        return -1;
    }
    if (reason_len > len - 4) {
        *err = "HEADERS reason length overruns the payload";
        return -1;
    }
    reason->data = (const char *)payload + 4;
    reason->len = reason_len;
    *rest = payload + 4 + reason_len;
    *rest_len = len - 4 - reason_len;
    return 0;
}

int pyw_error_decode(const unsigned char *payload, size_t len,
                     uint16_t *status, pyw_slice_t *reason,
                     const char **err)
{
    if (len < 2) {
        *err = "ERROR payload too short for a status";
        return -1;
    }
    *status = get16(payload);
    if (status_check(*status, err) < 0) {
        return -1;
    }
    reason->data = (const char *)payload + 2;
    reason->len = len - 2;
    return 0;
}

int64_t pyw_decimal(const void *digits, size_t len)
{
    const unsigned char *d = digits;
    int64_t n = 0;
    size_t i;

    if (len == 0 || len > 18) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return -1;
        }
        n = n * 10 + (d[i] - '0');
    }
    return n;
}

int pyw_hop_by_hop(const char *name, size_t len)
{
#define HOP(s) { s, sizeof(s) - 1 }
    static const struct { const char *name; size_t len; } hop[] = {
        HOP("connection"), HOP("keep-alive"), HOP("proxy-authenticate"),
        HOP("proxy-authorization"), HOP("proxy-connection"), HOP("te"),
        HOP("trailer"), HOP("trailers"), HOP("transfer-encoding"),
        HOP("upgrade"),
    };
#undef HOP
    size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if (len == hop[i].len && strncasecmp(name, hop[i].name, len) == 0) {
            return 1;
        }
    }
    return 0;
}
