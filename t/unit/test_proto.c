/*
 * test_proto.c - the wire codec: a table of frames, each encoded, decoded
 * whole and at every truncation point; then the rejections (bad headers,
 * oversize payloads, malformed pairs, bad HELLO/status).
 *
 * Inputs that must be rejected are copied into malloc'd buffers of their
 * exact size, so AddressSanitizer catches any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pyw_proto.h"

#define BUF_CAP 4096

static unsigned char *dup_exact(const unsigned char *p, size_t n)
{
    unsigned char *d = malloc(n ? n : 1);

    if (n) {
        memcpy(d, p, n);
    }
    return d;
}

/* A header with every field chosen by the test, valid or not. */
static void raw_header(unsigned char *b, uint8_t type, uint8_t flags,
                       uint16_t reserved, uint32_t length)
{
    b[0] = type;
    b[1] = flags;
    b[2] = (unsigned char)(reserved >> 8);
    b[3] = (unsigned char)reserved;
    b[4] = (unsigned char)(length >> 24);
    b[5] = (unsigned char)(length >> 16);
    b[6] = (unsigned char)(length >> 8);
    b[7] = (unsigned char)length;
}

/* ---- builders and verifiers, one pair per table row ---- */

static const char *env[][2] = {
    { "REQUEST_METHOD", "GET" }, { "PATH_INFO", "/x" }, { "EMPTY", "" },
};
static const char *hdrs[][2] = {
    { "Content-Type", "text/plain" }, { "X-A", "b" },
};

static size_t put_pairs(unsigned char *p, size_t cap, const char *(*pairs)[2],
                        size_t n)
{
    size_t i, off = 0, w;

    for (i = 0; i < n; i++) {
        w = pyw_pair_put(p + off, cap - off, pairs[i][0],
                         strlen(pairs[i][0]), pairs[i][1],
                         strlen(pairs[i][1]));
        CHECK(w == pyw_pair_size(strlen(pairs[i][0]), strlen(pairs[i][1])));
        off += w;
    }
    return off;
}

static void check_pairs(const unsigned char *p, size_t len,
                        const char *(*pairs)[2], size_t n)
{
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err = NULL;
    size_t i;

    pyw_pair_iter_init(&it, p, len);
    for (i = 0; i < n; i++) {
        CHECK_EQ(pyw_pair_next(&it, &name, &value, &err), 1);
        CHECK(name.len == strlen(pairs[i][0])
              && memcmp(name.data, pairs[i][0], name.len) == 0);
        CHECK(value.len == strlen(pairs[i][1])
              && memcmp(value.data, pairs[i][1], value.len) == 0);
    }
    CHECK_EQ(pyw_pair_next(&it, &name, &value, &err), 0);
}

/* Header plus payload bytes (payload already at b + 8). */
static size_t with_header(unsigned char *b, pyw_frame_type_e t, size_t len)
{
    CHECK_EQ(pyw_frame_header_put(b, BUF_CAP, t, (uint32_t)len), 8);
    return PYW_FRAME_HEADER_SIZE + len;
}

static size_t b_hello(unsigned char *b)
{
    return pyw_hello_put(b, BUF_CAP, 4242);
}

static void v_hello(const unsigned char *p, size_t len)
{
    pyw_hello_t h;
    const char *err = NULL;

    CHECK_EQ(pyw_hello_decode(p, len, &h, &err), 0);
    CHECK_EQ(h.magic, PYW_PROTO_MAGIC);
    CHECK_EQ(h.version, PYW_PROTO_VERSION);
    CHECK_EQ(h.pid, 4242);
}

static size_t b_request(unsigned char *b)
{
    return with_header(b, PYW_FRAME_REQUEST,
                       put_pairs(b + 8, BUF_CAP - 8, env, 3));
}

static void v_request(const unsigned char *p, size_t len)
{
    check_pairs(p, len, env, 3);
}

static size_t b_read(unsigned char *b)
{
    return pyw_read_put(b, BUF_CAP, 0x01020304u);
}

static void v_read(const unsigned char *p, size_t len)
{
    uint32_t n = 0;
    const char *err = NULL;

    CHECK_EQ(pyw_read_decode(p, len, &n, &err), 0);
    CHECK_EQ(n, 0x01020304u);
}

static size_t b_body(unsigned char *b)
{
    memcpy(b + 8, "hello body", 10);
    return with_header(b, PYW_FRAME_BODY, 10);
}

static void v_body(const unsigned char *p, size_t len)
{
    CHECK(len == 10 && memcmp(p, "hello body", 10) == 0);
}

static size_t b_body_end(unsigned char *b)
{
    return with_header(b, PYW_FRAME_BODY, 0);
}

static size_t b_abort(unsigned char *b)
{
    return with_header(b, PYW_FRAME_BODY_ABORT, 0);
}

static size_t b_end(unsigned char *b)
{
    return with_header(b, PYW_FRAME_END, 0);
}

static void v_empty(const unsigned char *p, size_t len)
{
    (void)p;
    CHECK_EQ(len, 0);
}

static size_t b_headers(unsigned char *b)
{
    size_t n = pyw_status_put(b + 8, BUF_CAP - 8, 404, "Not Found", 9);

    CHECK_EQ(n, pyw_status_size(9));
    n += put_pairs(b + 8 + n, BUF_CAP - 8 - n, hdrs, 2);
    return with_header(b, PYW_FRAME_HEADERS, n);
}

static void v_headers(const unsigned char *p, size_t len)
{
    uint16_t status = 0;
    pyw_slice_t reason;
    const unsigned char *rest;
    size_t rest_len;
    const char *err = NULL;

    CHECK_EQ(pyw_status_decode(p, len, &status, &reason, &rest, &rest_len,
                               &err), 0);
    CHECK_EQ(status, 404);
    CHECK(reason.len == 9 && memcmp(reason.data, "Not Found", 9) == 0);
    check_pairs(rest, rest_len, hdrs, 2);
}

static size_t b_data(unsigned char *b)
{
    int i;

    for (i = 0; i < 256; i++) {
        b[8 + i] = (unsigned char)i;
    }
    return with_header(b, PYW_FRAME_DATA, 256);
}

static void v_data(const unsigned char *p, size_t len)
{
    size_t i;
    int ok = (len == 256);

    for (i = 0; ok && i < len; i++) {
        ok = (p[i] == (unsigned char)i);
    }
    CHECK(ok);
}

static size_t b_error(unsigned char *b)
{
    return pyw_error_put(b, BUF_CAP, 503, "busy", 4);
}

static void v_error(const unsigned char *p, size_t len)
{
    uint16_t status = 0;
    pyw_slice_t reason;
    const char *err = NULL;

    CHECK_EQ(pyw_error_decode(p, len, &status, &reason, &err), 0);
    CHECK_EQ(status, 503);
    CHECK(reason.len == 4 && memcmp(reason.data, "busy", 4) == 0);
}

static size_t b_goodbye(unsigned char *b)
{
    return with_header(b, PYW_FRAME_GOODBYE, 0);
}

static size_t b_file(unsigned char *b)
{
    return pyw_file_put(b, BUF_CAP, 5000000000ull, 5452595ull);
}

static void v_file(const unsigned char *p, size_t len)
{
    uint64_t offset = 0, length = 0;
    const char *err = NULL;

    CHECK_EQ(pyw_file_decode(p, len, &offset, &length, &err), 0);
    CHECK(offset == 5000000000ull && length == 5452595ull);
    CHECK_EQ(pyw_file_decode(p, len - 1, &offset, &length, &err), -1);
}

static const struct {
    const char *what;
    uint8_t type;
    size_t (*build)(unsigned char *b);
    void (*verify)(const unsigned char *p, size_t len);
} frames[] = {
    { "HELLO",      PYW_FRAME_HELLO,      b_hello,    v_hello },
    { "REQUEST",    PYW_FRAME_REQUEST,    b_request,  v_request },
    { "READ",       PYW_FRAME_READ,       b_read,     v_read },
    { "BODY",       PYW_FRAME_BODY,       b_body,     v_body },
    { "BODY empty", PYW_FRAME_BODY,       b_body_end, v_empty },
    { "BODY_ABORT", PYW_FRAME_BODY_ABORT, b_abort,    v_empty },
    { "HEADERS",    PYW_FRAME_HEADERS,    b_headers,  v_headers },
    { "DATA",       PYW_FRAME_DATA,       b_data,     v_data },
    { "END",        PYW_FRAME_END,        b_end,      v_empty },
    { "ERROR",      PYW_FRAME_ERROR,      b_error,    v_error },
    { "GOODBYE",    PYW_FRAME_GOODBYE,    b_goodbye,  v_empty },
    { "FILE",       PYW_FRAME_FILE,       b_file,     v_file },
};

/* Every prefix shorter than the frame is NEED_MORE (with *f filled once
 * the header is complete); the whole frame, alone or followed by more
 * bytes, is OK. */
static void check_truncations(const unsigned char *b, size_t total,
                              uint8_t type)
{
    pyw_frame_t f;
    const char *err;
    unsigned char *copy;
    size_t n;
    int ok = 1;

    for (n = 0; n < total; n++) {
        copy = dup_exact(b, n);
        memset(&f, 0, sizeof(f));
        err = NULL;
        ok &= pyw_frame_decode(copy, n, &f, &err) == PYW_DECODE_NEED_MORE;
        ok &= err == NULL;
        if (n >= PYW_FRAME_HEADER_SIZE) {
            ok &= f.type == type && f.length == total - 8;
        }
        free(copy);
    }
    CHECK(ok);
    CHECK_EQ(pyw_frame_decode(b, total + 5, &f, &err), PYW_DECODE_OK);
}

static void test_round_trip(void)
{
    unsigned char b[BUF_CAP];
    unsigned char *copy;
    pyw_frame_t f;
    const char *err = "unset";
    size_t i, total;

    for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        memset(b, 0xee, sizeof(b));
        total = frames[i].build(b);
        CHECK(total >= PYW_FRAME_HEADER_SIZE);
        copy = dup_exact(b, total);
        CHECK_EQ(pyw_frame_decode(copy, total, &f, &err), PYW_DECODE_OK);
        CHECK(err == NULL);
        CHECK_EQ(f.type, frames[i].type);
        CHECK_EQ(f.flags, 0);
        CHECK_EQ(f.length, total - PYW_FRAME_HEADER_SIZE);
        CHECK_STR(pyw_frame_type_name(f.type),
                  strncmp(frames[i].what, "BODY empty", 10) == 0
                  ? "BODY" : frames[i].what);
        frames[i].verify(copy + PYW_FRAME_HEADER_SIZE, f.length);
        check_truncations(copy, total, frames[i].type);
        free(copy);
    }
}

/* Fixed, big-endian bytes: the format must not depend on the host. */
static void test_wire_bytes(void)
{
    static const unsigned char hello[20] = {
        1, 0, 0, 0, 0, 0, 0, 12,
        'P', 'Y', 'W', '1', 0, 1, 0, 0, 0x00, 0x01, 0x02, 0x03,
    };
    static const unsigned char pair[9] = { 0, 1, 0, 0, 0, 2, 'a', 'b', 'c' };
    unsigned char b[32];

    CHECK_EQ(pyw_hello_put(b, sizeof(b), 0x00010203u), 20);
    CHECK(memcmp(b, hello, 20) == 0);
    CHECK_EQ(pyw_pair_put(b, sizeof(b), "a", 1, "bc", 2), 9);
    CHECK(memcmp(b, pair, 9) == 0);
    CHECK_EQ(pyw_read_put(b, sizeof(b), 0x10000), 12);
    CHECK(b[0] == PYW_FRAME_READ && b[7] == 4 && b[8] == 0 && b[9] == 1
          && b[10] == 0 && b[11] == 0);
}

/* Encoders write nothing when cap is short, and refuse invalid frames. */
static void test_encode_limits(void)
{
    unsigned char b[64];

    CHECK_EQ(pyw_hello_put(b, 19, 1), 0);
    CHECK_EQ(pyw_read_put(b, 11, 1), 0);
    CHECK_EQ(pyw_error_put(b, 8 + 2 + 3, 500, "oops", 4), 0);
    CHECK_EQ(pyw_status_put(b, 4 + 3, 200, "OK!!", 4), 0);
    CHECK_EQ(pyw_pair_put(b, 6 + 3, "ab", 2, "cd", 2), 0);
    CHECK_EQ(pyw_pair_put(b, sizeof(b), "", 0, "v", 1), 0);
    CHECK_EQ(pyw_pair_put(b, sizeof(b), "n", PYW_MAX_NAME_LEN + 1, "", 0), 0);
    CHECK_EQ(pyw_frame_header_put(b, 7, PYW_FRAME_END, 0), 0);
    CHECK_EQ(pyw_frame_header_put(b, 8, (pyw_frame_type_e)0, 0), 0);
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_END, 1), 0);
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_HELLO, 11), 0);
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_DATA,
                                  PYW_MAX_DATA_PAYLOAD + 1), 0);
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_DATA,
                                  PYW_MAX_DATA_PAYLOAD), 8);
    /* Only REQUEST carries flags, and only those it knows. */
    CHECK_EQ(pyw_request_header_put(b, 8, PYW_REQUEST_RESENT, 0x1234, 3), 8);
    CHECK_EQ(b[PYW_FRAME_FLAGS_OFFSET], PYW_REQUEST_RESENT);
    CHECK(b[2] == 0x12 && b[3] == 0x34);
    CHECK_EQ(pyw_request_header_put(b, 8, PYW_REQUEST_PROBE, 0, 3), 8);
    CHECK_EQ(b[PYW_FRAME_FLAGS_OFFSET], PYW_REQUEST_PROBE);
    CHECK_EQ(pyw_request_header_put(b, 8, 0x04, 0, 3), 0);
    {
        pyw_frame_t f;
        const char *err = NULL;

        CHECK_EQ(pyw_request_header_put(b, 8, 0, 0xbeef, 0), 8);
        CHECK_EQ(pyw_frame_decode(b, 8, &f, &err), PYW_DECODE_OK);
        CHECK(f.type == PYW_FRAME_REQUEST && f.claim == 0xbeef
              && f.flags == 0);
    }
}

static const struct {
    uint8_t type, flags;
    uint16_t reserved;
    uint32_t length;
    pyw_decode_e expect;        /* with only the 8 header bytes present */
} headers[] = {
    { 0, 0, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_TYPE_MAX + 1, 0, 0, 0, PYW_DECODE_ERROR },
    { 255, 0, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 1, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0x80, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0, 1, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0, 0x8000, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0, 0, PYW_MAX_DATA_PAYLOAD + 1, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0, 0, 0xffffffffu, PYW_DECODE_ERROR },
    { PYW_FRAME_BODY, 0, 0, PYW_MAX_DATA_PAYLOAD + 1, PYW_DECODE_ERROR },
    { PYW_FRAME_REQUEST, 0, 0, PYW_MAX_REQUEST_PAYLOAD + 1, PYW_DECODE_ERROR },
    { PYW_FRAME_HEADERS, 0, 0, PYW_MAX_META_PAYLOAD + 1, PYW_DECODE_ERROR },
    { PYW_FRAME_ERROR, 0, 0, PYW_MAX_META_PAYLOAD + 1, PYW_DECODE_ERROR },
    { PYW_FRAME_HELLO, 0, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_HELLO, 0, 0, 11, PYW_DECODE_ERROR },
    { PYW_FRAME_HELLO, 0, 0, 13, PYW_DECODE_ERROR },
    { PYW_FRAME_READ, 0, 0, 3, PYW_DECODE_ERROR },
    { PYW_FRAME_READ, 0, 0, 5, PYW_DECODE_ERROR },
    { PYW_FRAME_END, 0, 0, 1, PYW_DECODE_ERROR },
    { PYW_FRAME_BODY_ABORT, 0, 0, 1, PYW_DECODE_ERROR },
    { PYW_FRAME_DATA, 0, 0, PYW_MAX_DATA_PAYLOAD, PYW_DECODE_NEED_MORE },
    { PYW_FRAME_BODY, 0, 0, PYW_MAX_DATA_PAYLOAD, PYW_DECODE_NEED_MORE },
    { PYW_FRAME_REQUEST, 0, 0, PYW_MAX_REQUEST_PAYLOAD, PYW_DECODE_NEED_MORE },
    { PYW_FRAME_HELLO, 0, 0, 12, PYW_DECODE_NEED_MORE },
    { PYW_FRAME_READ, 0, 0, 4, PYW_DECODE_NEED_MORE },
    { PYW_FRAME_END, 0, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_BODY_ABORT, 0, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_DATA, 0, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_REQUEST, PYW_REQUEST_RESENT, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_REQUEST, PYW_REQUEST_PROBE, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_REQUEST, 0x04, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_REQUEST, PYW_REQUEST_RESENT | 0x80, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_END, PYW_REQUEST_RESENT, 0, 0, PYW_DECODE_ERROR },
    { PYW_FRAME_REQUEST, 0, 0xffff, 0, PYW_DECODE_OK },     /* a claim */
    { PYW_FRAME_GOODBYE, PYW_GOODBYE_APACHE_STOP, 0, 0, PYW_DECODE_OK },
    { PYW_FRAME_GOODBYE, PYW_REQUEST_PROBE, 0, 0, PYW_DECODE_ERROR },
};

static void test_bad_headers(void)
{
    unsigned char *b;
    pyw_frame_t f;
    const char *err;
    size_t i;
    pyw_decode_e rc;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        b = malloc(PYW_FRAME_HEADER_SIZE);
        raw_header(b, headers[i].type, headers[i].flags,
                   headers[i].reserved, headers[i].length);
        err = NULL;
        rc = pyw_frame_decode(b, PYW_FRAME_HEADER_SIZE, &f, &err);
        if (!unit_check(rc == headers[i].expect, __FILE__, __LINE__,
                        "header row decodes as expected")) {
            fprintf(stderr, "     row %zu: got %d\n", i, (int)rc);
        }
        CHECK((rc == PYW_DECODE_ERROR) == (err != NULL));
        free(b);
    }
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_HELLO), PYW_HELLO_SIZE);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_READ), PYW_READ_SIZE);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_DATA), PYW_MAX_DATA_PAYLOAD);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_BODY), PYW_MAX_DATA_PAYLOAD);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_ERROR), PYW_MAX_META_PAYLOAD);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_END), 0);
    CHECK_EQ(pyw_frame_max_payload(PYW_FRAME_BODY_ABORT), 0);
    CHECK_EQ(pyw_frame_max_payload(0), 0);
    CHECK_EQ(pyw_frame_max_payload(200), 0);
    CHECK_STR(pyw_frame_type_name(0), "UNKNOWN");
    CHECK_STR(pyw_frame_type_name(PYW_FRAME_TYPE_MAX + 1), "UNKNOWN");
}

/* Pair lists whose lengths lie about the bytes that follow. */
static const struct {
    const char *what;
    unsigned char bytes[16];
    size_t len;
    int good_pairs;             /* pairs read before the -1 */
} bad_pairs[] = {
    { "1 byte of header", { 0 }, 1, 0 },
    { "5 bytes of header", { 0, 1, 0, 0, 0 }, 5, 0 },
    { "name overruns", { 0, 5, 0, 0, 0, 0, 'a', 'b', 'c', 'd' }, 10, 0 },
    { "value overruns", { 0, 1, 0, 0, 0, 10, 'n', 'v', 'v' }, 9, 0 },
    { "value 4G", { 0, 1, 0xff, 0xff, 0xff, 0xff, 'n', 'v' }, 8, 0 },
    { "name 64K", { 0xff, 0xff, 0, 0, 0, 0, 'n' }, 7, 0 },
    { "empty name", { 0, 0, 0, 0, 0, 1, 'v' }, 7, 0 },
    { "good then cut", { 0, 1, 0, 0, 0, 1, 'n', 'v', 0, 1, 0 }, 11, 1 },
};

static void test_bad_pairs(void)
{
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err;
    unsigned char *b;
    size_t i;
    int k, rc;

    for (i = 0; i < sizeof(bad_pairs) / sizeof(bad_pairs[0]); i++) {
        b = dup_exact(bad_pairs[i].bytes, bad_pairs[i].len);
        pyw_pair_iter_init(&it, b, bad_pairs[i].len);
        for (k = 0; k < bad_pairs[i].good_pairs; k++) {
            CHECK_EQ(pyw_pair_next(&it, &name, &value, &err), 1);
        }
        err = NULL;
        rc = pyw_pair_next(&it, &name, &value, &err);
        if (!unit_check(rc == -1 && err != NULL, __FILE__, __LINE__,
                        "malformed pair list gives -1")) {
            fprintf(stderr, "     case '%s': got %d\n", bad_pairs[i].what,
                    rc);
        }
        free(b);
    }
    pyw_pair_iter_init(&it, (const unsigned char *)"", 0);
    CHECK_EQ(pyw_pair_next(&it, &name, &value, &err), 0);
}

static void test_hello_checks(void)
{
    unsigned char b[32], *p = b + 8;
    pyw_hello_t h;
    const char *err;

    pyw_hello_put(b, sizeof(b), 7);
    err = NULL;
    CHECK_EQ(pyw_hello_decode(p, 11, &h, &err), -1);
    CHECK(err != NULL);
    p[0] = 'X';                             /* magic */
    err = NULL;
    CHECK_EQ(pyw_hello_decode(p, 12, &h, &err), -1);
    CHECK(err != NULL);
    pyw_hello_put(b, sizeof(b), 7);
    p[5] = 2;                               /* version 2 */
    err = NULL;
    CHECK_EQ(pyw_hello_decode(p, 12, &h, &err), -1);
    CHECK(err != NULL);
    pyw_hello_put(b, sizeof(b), 7);
    p[7] = 1;                               /* reserved */
    CHECK_EQ(pyw_hello_decode(p, 12, &h, &err), -1);
    pyw_hello_put(b, sizeof(b), 0xfffffffeu);
    CHECK_EQ(pyw_hello_decode(p, 12, &h, &err), 0);
    CHECK_EQ(h.pid, 0xfffffffeu);

    CHECK_EQ(pyw_read_decode(p, 3, &h.pid, &err), -1);
    CHECK_EQ(pyw_read_decode(p, 5, &h.pid, &err), -1);
}

static void test_status_checks(void)
{
    unsigned char b[64], *copy;
    uint16_t status;
    pyw_slice_t reason;
    const unsigned char *rest;
    size_t rest_len, n;
    const char *err;

    n = pyw_status_put(b, sizeof(b), 200, "", 0);
    CHECK_EQ(n, 4);
    CHECK_EQ(pyw_status_decode(b, n, &status, &reason, &rest, &rest_len,
                               &err), 0);
    CHECK(status == 200 && reason.len == 0 && rest_len == 0);
    CHECK_EQ(pyw_status_decode(b, 3, &status, &reason, &rest, &rest_len,
                               &err), -1);
    n = pyw_status_put(b, sizeof(b), 200, "OK", 2);
    copy = dup_exact(b, n - 1);             /* reason cut short */
    err = NULL;
    CHECK_EQ(pyw_status_decode(copy, n - 1, &status, &reason, &rest,
                               &rest_len, &err), -1);
    CHECK(err != NULL);
    free(copy);
    pyw_status_put(b, sizeof(b), 99, "", 0);
    CHECK_EQ(pyw_status_decode(b, 4, &status, &reason, &rest, &rest_len,
                               &err), -1);
    pyw_status_put(b, sizeof(b), 1000, "", 0);
    CHECK_EQ(pyw_status_decode(b, 4, &status, &reason, &rest, &rest_len,
                               &err), -1);

    n = pyw_error_put(b, sizeof(b), 500, "", 0);
    CHECK_EQ(n, 10);
    CHECK_EQ(pyw_error_decode(b + 8, 2, &status, &reason, &err), 0);
    CHECK(status == 500 && reason.len == 0);
    CHECK_EQ(pyw_error_decode(b + 8, 1, &status, &reason, &err), -1);
    pyw_error_put(b, sizeof(b), 0, "x", 1);
    CHECK_EQ(pyw_error_decode(b + 8, 3, &status, &reason, &err), -1);
}

static void test_decimal(void)
{
    CHECK_EQ(pyw_decimal("0", 1), 0);
    CHECK_EQ(pyw_decimal("65536", 5), 65536);
    CHECK_EQ(pyw_decimal("999999999999999999", 18), 999999999999999999LL);
    CHECK_EQ(pyw_decimal("1000000000000000000", 19), -1);  /* too long */
    CHECK_EQ(pyw_decimal("", 0), -1);
    CHECK_EQ(pyw_decimal("12a", 3), -1);
    CHECK_EQ(pyw_decimal("-1", 2), -1);
    CHECK_EQ(pyw_decimal(" 1", 2), -1);
    CHECK_EQ(pyw_decimal("12", 1), 1);                      /* len counts */
}

static void test_goodbye_flags(void)
{
    unsigned char b[PYW_FRAME_HEADER_SIZE];
    pyw_frame_t f;
    const char *err = NULL;

    CHECK_EQ(pyw_goodbye_put(b, sizeof(b), PYW_GOODBYE_APACHE_STOP),
             PYW_FRAME_HEADER_SIZE);
    CHECK_EQ(pyw_frame_decode(b, sizeof(b), &f, &err), PYW_DECODE_OK);
    CHECK_EQ(f.type, PYW_FRAME_GOODBYE);
    CHECK_EQ(f.flags, PYW_GOODBYE_APACHE_STOP);
    CHECK_EQ(pyw_goodbye_put(b, sizeof(b), 0x80), 0);     /* unknown */
}

int main(void)
{
    test_round_trip();
    test_wire_bytes();
    test_encode_limits();
    test_bad_headers();
    test_bad_pairs();
    test_hello_checks();
    test_status_checks();
    test_decimal();
    test_goodbye_flags();
    return UNIT_DONE();
}
