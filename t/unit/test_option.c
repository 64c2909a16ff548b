/*
 * test_option.c - the "name=value" option table: each kind's syntax and
 * units, bounds, and the messages for unknown, duplicate, unsupported and
 * valueless options.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "pyw_option.h"

typedef struct {
    int         processes;
    int         umask;
    int64_t     timeout_ms;
    int64_t     buffer;
    const char *user;
} conf_t;

static const pyw_option_t table[] = {
    { "processes", PYW_OPT_INT, offsetof(conf_t, processes), 1, 100 },
    { "umask", PYW_OPT_OCTAL, offsetof(conf_t, umask), 0, 0777 },
    { "timeout", PYW_OPT_SECONDS, offsetof(conf_t, timeout_ms), 0,
      86400000 },
    { "buffer-size", PYW_OPT_BYTES, offsetof(conf_t, buffer), 1,
      INT64_MAX },
    { "user", PYW_OPT_STRING, offsetof(conf_t, user), 0, 0 },
    { "python-eggs", PYW_OPT_UNSUPPORTED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0 }
};

static char msg[256];

/* Parse one word with a fresh state: 0 or -1, message in msg. */
static int parse1(const char *word, conf_t *c)
{
    pyw_option_state_t st = { 0 };
    char w[128];

    snprintf(w, sizeof(w), "%s", word);
    msg[0] = '\0';
    return pyw_option_parse(table, &st, w, c, msg, sizeof(msg));
}

static const struct {
    const char *word;
    int64_t     ms;
} seconds[] = {
    { "timeout=0", 0 }, { "timeout=30", 30000 }, { "timeout=1.5", 1500 },
    { "timeout=0.25", 250 }, { "timeout=2.125", 2125 },
    { "timeout=500ms", 500 }, { "timeout=0ms", 0 }, { "timeout=30s", 30000 },
    { "timeout=1.5s", 1500 }, { "timeout=86400", 86400000 },
};

static const struct {
    const char *word;
    int64_t     bytes;
} bytes[] = {
    { "buffer-size=1", 1 }, { "buffer-size=65536", 65536 },
    { "buffer-size=64K", 65536 }, { "buffer-size=64k", 65536 },
    { "buffer-size=1M", 1048576 }, { "buffer-size=3m", 3145728 },
    { "buffer-size=2G", 2147483648LL }, { "buffer-size=8g", 8589934592LL },
};

/* Values each kind must refuse (syntax, range or overflow). */
static const char *bad_values[] = {
    "processes=0", "processes=101", "processes=-1", "processes=1x",
    "processes=+3", "processes= 3", "processes=0x10", "processes=1.0",
    "processes=99999999999999999999",
    "timeout=1.", "timeout=.5", "timeout=1.2345", "timeout=1.5ms",
    "timeout=-1", "timeout=5m", "timeout=86400.001", "timeout=1e3",
    "timeout=ms", "timeout=10 s", "timeout=9223372036854775807",
    "buffer-size=0", "buffer-size=1KB", "buffer-size=1T", "buffer-size=K",
    "buffer-size=1.5M", "buffer-size=9999999999G",
    "buffer-size=9223372036854775808",
    "umask=0008", "umask=01000", "umask=abc", "umask=-1",
};

static void test_values(void)
{
    conf_t c;
    size_t i;

    for (i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
        c.timeout_ms = -7;
        CHECK_EQ(parse1(seconds[i].word, &c), 0);
        CHECK_EQ(c.timeout_ms, seconds[i].ms);
    }
    for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        c.buffer = -7;
        CHECK_EQ(parse1(bytes[i].word, &c), 0);
        CHECK_EQ(c.buffer, bytes[i].bytes);
    }
    CHECK_EQ(parse1("processes=1", &c), 0);
    CHECK_EQ(c.processes, 1);
    CHECK_EQ(parse1("processes=100", &c), 0);
    CHECK_EQ(c.processes, 100);
    CHECK_EQ(parse1("umask=0002", &c), 0);
    CHECK_EQ(c.umask, 2);
    CHECK_EQ(parse1("umask=777", &c), 0);
    CHECK_EQ(c.umask, 0777);
    CHECK_EQ(parse1("umask=0", &c), 0);
    CHECK_EQ(c.umask, 0);
}

static void test_bad_values(void)
{
    conf_t c = { 5, 5, 5, 5, NULL };
    char name[64];
    size_t i;

    for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        if (!unit_check(parse1(bad_values[i], &c) == -1, __FILE__, __LINE__,
                        "bad value refused")) {
            fprintf(stderr, "     accepted '%s'\n", bad_values[i]);
        }
        /* The message names the option and the value. */
        snprintf(name, sizeof(name), "%s", bad_values[i]);
        CHECK(strstr(msg, name) != NULL);
    }
    CHECK(c.processes == 5 && c.umask == 5 && c.timeout_ms == 5
          && c.buffer == 5);                  /* nothing stored */
    parse1("processes=0", &c);
    CHECK_STR(msg, "processes=0 is out of range (1..100)");
    parse1("umask=01000", &c);
    CHECK_STR(msg, "umask=01000 is out of range (0000..0777)");
    parse1("timeout=86401", &c);
    CHECK_STR(msg, "timeout=86401 is out of range (0s..86400s)");
    parse1("buffer-size=0", &c);
    CHECK_STR(msg, "buffer-size=0 is out of range (minimum 1)");
    parse1("timeout=abc", &c);
    CHECK_STR(msg, "timeout=abc is not valid "
              "(expected seconds, e.g. 30, 1.5 or 500ms)");
}

static void test_table_errors(void)
{
    pyw_option_state_t st = { 0 };
    conf_t c = { 0 };
    char w1[] = "processes=2", w2[] = "processes=3", w3[] = "user=www";

    CHECK_EQ(pyw_option_parse(table, &st, w1, &c, msg, sizeof(msg)), 0);
    CHECK_EQ(pyw_option_parse(table, &st, w2, &c, msg, sizeof(msg)), -1);
    CHECK_STR(msg, "option 'processes' given twice");
    CHECK_EQ(c.processes, 2);
    CHECK_EQ(pyw_option_parse(table, &st, w3, &c, msg, sizeof(msg)), 0);
    CHECK(c.user == w3 + 5);                  /* points into the word */
    CHECK_STR(c.user, "www");

    CHECK_EQ(parse1("bogus=1", &c), -1);
    CHECK_STR(msg, "unknown option 'bogus'");
    CHECK_EQ(parse1("Processes=1", &c), -1);
    CHECK_STR(msg, "unknown option 'Processes'");
    CHECK_EQ(parse1("python-eggs=/tmp", &c), -1);
    CHECK_STR(msg, "'python-eggs' is not supported yet by mod_pyworker");
    CHECK_EQ(parse1("python-eggs", &c), -1);
    CHECK_STR(msg, "'python-eggs' is not supported yet by mod_pyworker");
    CHECK_EQ(parse1("processes", &c), -1);
    CHECK(strstr(msg, "'processes'") && strstr(msg, "value"));
    CHECK_EQ(parse1("processes=", &c), -1);
    CHECK(strstr(msg, "'processes'") && strstr(msg, "empty"));
    CHECK_EQ(parse1("user=", &c), -1);
    CHECK(strstr(msg, "'user'") && strstr(msg, "empty"));
    CHECK_EQ(parse1("=1", &c), -1);
    CHECK_STR(msg, "unknown option ''");
    /* No message buffer: still just -1. */
    CHECK_EQ(pyw_option_parse(table, NULL, w2, &c, NULL, 0), -1);
}

/* Rows past the 64th cannot be tracked for duplicates: refused. */
static void test_too_many_rows(void)
{
    static char names[66][16];
    pyw_option_t big[67];
    conf_t c;
    char w0[] = "o0=1", w63[] = "o63=1", w64[] = "o64=1";
    int i;

    for (i = 0; i < 66; i++) {
        snprintf(names[i], sizeof(names[i]), "o%d", i);
        big[i] = (pyw_option_t){ names[i], PYW_OPT_INT,
                                 offsetof(conf_t, processes), 0, 10 };
    }
    big[66] = (pyw_option_t){ NULL, 0, 0, 0, 0 };
    CHECK_EQ(pyw_option_parse(big, NULL, w0, &c, msg, sizeof(msg)), 0);
    CHECK_EQ(pyw_option_parse(big, NULL, w63, &c, msg, sizeof(msg)), 0);
    CHECK_EQ(pyw_option_parse(big, NULL, w64, &c, msg, sizeof(msg)), -1);
}

static void test_value_alone(void)
{
    int64_t v = -1;

    CHECK_EQ(pyw_option_value(PYW_OPT_SECONDS, "2.5", 0, 60000, &v,
                              msg, sizeof(msg)), 0);
    CHECK_EQ(v, 2500);
    CHECK_EQ(pyw_option_value(PYW_OPT_BYTES, "16k", 0, INT64_MAX, &v,
                              msg, sizeof(msg)), 0);
    CHECK_EQ(v, 16384);
    CHECK_EQ(pyw_option_value(PYW_OPT_INT, "-5", -10, 10, &v,
                              msg, sizeof(msg)), 0);
    CHECK_EQ(v, -5);
    CHECK_EQ(pyw_option_value(PYW_OPT_INT, "11", -10, 10, &v,
                              msg, sizeof(msg)), -1);
    CHECK_STR(msg, "'11' is out of range (-10..10)");
    CHECK_EQ(pyw_option_value(PYW_OPT_INT, "", 0, 10, &v,
                              msg, sizeof(msg)), -1);
    CHECK_EQ(pyw_option_value(PYW_OPT_STRING, "x", 0, 10, &v,
                              msg, sizeof(msg)), -1);
    CHECK_EQ(v, -5);
}

int main(void)
{
    test_values();
    test_bad_values();
    test_table_errors();
    test_too_many_rows();
    test_value_alone();
    return UNIT_DONE();
}
