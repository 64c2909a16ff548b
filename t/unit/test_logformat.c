/*
 * test_logformat.c - ErrorLogFormat rendered as Apache renders it: the
 * default form byte for byte, the time forms, fields dropped when an
 * item has no output ('-' writes "-"), level conditions, escapes, "% "
 * separators, a request's environ values (%e %i %V), and formats refused
 * (no %M, an item cut off).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "pyw_logformat.h"

static pyw_logformat_ctx_t ctx(int level)
{
    pyw_logformat_ctx_t c;
    struct tm tm = { 0 };

    memset(&c, 0, sizeof(c));
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 11;
    tm.tm_mday = 7;
    tm.tm_hour = 8;
    tm.tm_min = 4;
    tm.tm_sec = 2;
    tm.tm_isdst = -1;
    c.now.tv_sec = mktime(&tm);
    c.now.tv_usec = 586447;
    c.level = level;
    c.module = "pyworker";
    c.server = "alpha.test";
    c.pid = 42;
    c.tid = 7;
    c.sys_tid = 43;
    c.msg = "PYW0363: hello";
    c.msg_len = strlen(c.msg);
    return c;
}

/* Renders fmt at level (in a request when req); "(refused)" if it does
 * not parse. */
static const char *render_in(const char *fmt, int level, int req)
{
    static char line[512];
    pyw_logformat_t *f = pyw_logformat_parse(fmt);
    pyw_logformat_ctx_t c = ctx(level);

    if (req) {
        c.client = "127.0.0.1:40312";
        c.log_id = "Y2xpZW50aWQ";
    }
    if (f == NULL) {
        return "(refused)";
    }
    pyw_logformat_render(f, &c, line, sizeof(line));
    pyw_logformat_free(f);
    return line;
}

static const char *render(const char *fmt, int level)
{
    return render_in(fmt, level, 0);
}

#define RENDERS(fmt, level, want) CHECK_STR(render(fmt, level), want)
#define RENDERS_IN_REQUEST(fmt, want) CHECK_STR(render_in(fmt, 3, 1), want)

static int uses(const char *fmt, char letter)
{
    pyw_logformat_t *f = pyw_logformat_parse(fmt);
    int rc = f != NULL && pyw_logformat_uses(f, letter);

    pyw_logformat_free(f);
    return rc;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();

    RENDERS(PYW_LOGFORMAT_DEFAULT, 3,
            "[Mon Dec 07 08:04:02.586447 2026] [pyworker:error] "
            "[pid 42:tid 7] PYW0363: hello");
    /* OpenStack's ErrorLogFormat, and the other time forms. */
    RENDERS("%{cu}t %M", 4, "2026-12-07 08:04:02.586447 PYW0363: hello");
    RENDERS("%{c}t|%t %M", 4, "2026-12-07 08:04:02|Mon Dec 07 08:04:02 2026"
            " PYW0363: hello");
    RENDERS("%{g}T %P %v %M", 6, "43 42 alpha.test PYW0363: hello");

    /* The example in Apache's manual: %7F only on debug lines; %E, the
     * client and the referer have no output in a daemon: their fields
     * go, the message stays. */
    RENDERS("[%{u}t] [%-m:%l] [pid %P:tid %T] %7F: %E: [client\\ %a] %M% "
            ",\\ referer\\ %{Referer}i", 3,
            "[Mon Dec 07 08:04:02.586447 2026] [pyworker:error] "
            "[pid 42:tid 7] PYW0363: hello");
    /* '-' writes "-" where the field would go. */
    RENDERS("[%-a] [%-{X-Id}i] %M", 3, "[-] [-] PYW0363: hello");
    /* A field takes the space before it; a dropped first field leaves
     * the next one's (as in Apache). */
    RENDERS("[%a] [%l] %M", 3, " [error] PYW0363: hello");
    /* A level condition: the field shows on lines at least as verbose. */
    RENDERS("%6l| %M", 6, "info| PYW0363: hello");
    RENDERS("%6l| %M", 4, " PYW0363: hello");
    /* The message is written even where its field is dropped. */
    RENDERS("x%a%M", 3, "PYW0363: hello");
    /* "% " separates without a space; "\ " is a space inside a field. */
    RENDERS("%M% [%a]% <%l>", 3, "PYW0363: hello<error>");
    RENDERS("a\\ b\\tc\\n%%%M", 3, "a b\tc\n%PYW0363: hello");
    RENDERS("  lead %M", 3, "  lead PYW0363: hello");

    /* In a request: its client and Apache's log id for it; the
     * connection's (%{c}a, %{c}L) are Apache's alone. */
    RENDERS_IN_REQUEST("[%L] [client\\ %a] %M",
                       "[Y2xpZW50aWQ] [client 127.0.0.1:40312] "
                       "PYW0363: hello");
    RENDERS_IN_REQUEST("[%{c}L] [%{c}a] %M", " PYW0363: hello");
    /* The request's environ: %{NAME}e as is, %{Name}i as its CGI
     * variable, %V as SERVER_NAME; each key once. */
    {
        pyw_logformat_t *f = pyw_logformat_parse(
            "[%{UNIQUE_ID}e] [%{X-Request-Id}i|%{x-request-id}i] "
            "[%{Content-Type}i] [%V] [%-{X_Under}i] [%{Gone}e] %M");
        const char *vals[] = { "ZQ1", "r-7", "text/plain", "site.test" };
        pyw_logformat_ctx_t c = ctx(3);
        char line[256];

        CHECK(f != NULL);
        CHECK_EQ(pyw_logformat_var_count(f), 5);
        CHECK_STR(pyw_logformat_var_key(f, 0), "UNIQUE_ID");
        CHECK_STR(pyw_logformat_var_key(f, 1), "HTTP_X_REQUEST_ID");
        CHECK_STR(pyw_logformat_var_key(f, 2), "CONTENT_TYPE");
        CHECK_STR(pyw_logformat_var_key(f, 3), "SERVER_NAME");
        CHECK_STR(pyw_logformat_var_key(f, 4), "Gone");
        CHECK(pyw_logformat_var_key(f, 5) == NULL);
        /* A header with '_' never reaches the environ: none. */
        pyw_logformat_render(f, &c, line, sizeof(line));
        CHECK_STR(line, " [-] PYW0363: hello");
        {
            const char *all[5] = { vals[0], vals[1], vals[2], vals[3],
                                   NULL };

            c.vars = all;
            pyw_logformat_render(f, &c, line, sizeof(line));
            CHECK_STR(line, "[ZQ1] [r-7|r-7] [text/plain] [site.test] [-] "
                      "PYW0363: hello");
        }
        pyw_logformat_free(f);
    }
    CHECK(uses("[%L] %M", 'L'));
    CHECK(!uses("[%{C}L] %M", 'L'));
    CHECK(!uses("[%{c}L] %M", 'L'));
    CHECK(!uses("[%l] %M", 'L'));

    /* Refused: no %M (Apache refuses it too), an item cut off. */
    RENDERS("[%l]", 3, "(refused)");
    RENDERS("%M %{u", 3, "(refused)");
    RENDERS("%M %-", 3, "(refused)");

    /* A line longer than the buffer is cut, NUL-ended. */
    {
        char small[16];
        pyw_logformat_t *f = pyw_logformat_parse("[%l] %M");
        pyw_logformat_ctx_t c = ctx(3);
        size_t n = pyw_logformat_render(f, &c, small, sizeof(small));

        CHECK_EQ(n, sizeof(small) - 1);
        CHECK_STR(small, "[error] PYW0363");
        pyw_logformat_free(f);
    }
    return UNIT_DONE();
}
