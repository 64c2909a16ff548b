/*
 * test_spec.c - the daemon spec crosses exec whole: every option and
 * resolved field survives encode -> memfd -> decode; NULL strings stay
 * NULL; arrays keep their order; a spec of another build (unknown key),
 * a truncated one or a bad number is refused with a message.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_spec.h"

static const char *const scripts[] = { "/srv/a/app.wsgi", "/srv/b x.wsgi" };
static const char *const app_groups[] = { "", "shop|/x" };
static const gid_t gids[] = { 44, 1001 };

static void sample(pyw_daemon_spec_t *s)
{
    memset(s, 0, sizeof(*s));
    PYW_OPTIONS_SET_DEFAULTS(s);
    s->threads = 7;
    s->python_home = "/srv/venv";
    s->python_executable = "/opt/py/bin/python3.12";
    s->request_timeout_ms = 1500;
    s->memory_limit = (int64_t)3 << 32;     /* past 32 bits */
    s->umask = 0027;
    s->cpu_priority = -5;
    s->group = "site1";
    s->process_index = 3;
    s->wboard_lane = 1;
    s->drop_privileges = 1;
    s->uid = 4000000000u;                   /* past INT_MAX */
    s->gid = 33;
    s->script_uid = 1001;
    s->script_gid = (gid_t)-1;              /* any owner's group */
    s->import_scripts = scripts;
    s->n_import_scripts = 2;
    s->import_app_groups = app_groups;
    s->n_import_app_groups = 2;
    s->supplementary_gids = gids;
    s->n_supplementary_gids = 2;
    s->response_write_timeout_ms = 300000;
    s->replacing = 1;
    s->log_level = 7;
    s->log_format = "%{cu}t [%-m:%l] \"%M\"% ,\\ referer";
    s->listen_fd = 9;                       /* never encoded */
}

static void test_round_trip(void)
{
    pyw_daemon_spec_t in, out;
    size_t len;
    char msg[256] = "";
    char *buf;

    sample(&in);
    buf = pyw_spec_encode(&in, &len);
    CHECK(buf != NULL);
    CHECK_EQ(pyw_spec_decode(buf, len, &out, msg, sizeof(msg)), 0);
    CHECK_EQ(out.threads, 7);
    CHECK_EQ(out.processes, 1);             /* a default */
    CHECK_EQ(out.deadlock_timeout_ms, 300000);
    CHECK_STR(out.python_home, "/srv/venv");
    CHECK_STR(out.python_executable, "/opt/py/bin/python3.12");
    CHECK(out.python_path == NULL);
    CHECK(out.display_name == NULL);
    CHECK_EQ(out.request_timeout_ms, 1500);
    CHECK_EQ(out.memory_limit, (int64_t)3 << 32);
    CHECK_EQ(out.umask, 0027);
    CHECK_EQ(out.cpu_priority, -5);
    CHECK_STR(out.group, "site1");
    CHECK_STR(out.log_format, "%{cu}t [%-m:%l] \"%M\"% ,\\ referer");
    CHECK(out.log_server == NULL);
    CHECK_EQ(out.process_index, 3);
    CHECK_EQ(out.wboard_lane, 1);
    CHECK_EQ(out.drop_privileges, 1);
    CHECK_EQ(out.uid, 4000000000u);
    CHECK_EQ(out.gid, 33);
    CHECK_EQ(out.script_uid, 1001);
    CHECK(out.script_gid == (gid_t)-1);
    CHECK_EQ(out.n_import_scripts, 2);
    CHECK_STR(out.import_scripts[0], "/srv/a/app.wsgi");
    CHECK_STR(out.import_scripts[1], "/srv/b x.wsgi");
    CHECK_EQ(out.n_import_app_groups, 2);
    CHECK_STR(out.import_app_groups[0], "");    /* %{GLOBAL} */
    CHECK_STR(out.import_app_groups[1], "shop|/x");
    CHECK_EQ(out.n_supplementary_gids, 2);
    CHECK_EQ(out.supplementary_gids[1], 1001);
    CHECK_EQ(out.response_write_timeout_ms, 300000);
    CHECK_EQ(out.log_level, 7);
    CHECK_EQ(out.replacing, 1);
    CHECK_EQ(out.listen_fd, -1);
    CHECK_EQ(out.status_fd, -1);
    free((void *)out.import_scripts);
    free((void *)out.import_app_groups);
    free((void *)out.supplementary_gids);
    free(buf);
}

static void test_through_a_memfd(void)
{
    pyw_daemon_spec_t in, out;
    char msg[256] = "";
    size_t len;
    char *buf, *kept;
    int fd = memfd_create("t", 0);

    sample(&in);
    buf = pyw_spec_encode(&in, &len);
    CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len);
    CHECK_EQ(pyw_spec_read_fd(fd, &kept, &out, msg, sizeof(msg)), 0);
    CHECK(out.user_name == NULL);
    CHECK_STR(out.import_scripts[1], "/srv/b x.wsgi");
    free((void *)out.import_scripts);
    free((void *)out.import_app_groups);
    free((void *)out.supplementary_gids);
    free(kept);
    close(fd);
    free(buf);
}

static void test_refusals(void)
{
    pyw_daemon_spec_t out;
    char msg[256];
    char other[] = "threads\0" "4\0" "future-option\0" "1";
    char truncated[] = "threads\0" "4\0" "group";
    char bad[] = "threads\0" "four";

    CHECK_EQ(pyw_spec_decode(other, sizeof(other), &out, msg,
                             sizeof(msg)), -1);
    CHECK(strstr(msg, "future-option") != NULL);
    CHECK(strstr(msg, "different builds") != NULL);
    CHECK_EQ(pyw_spec_decode(truncated, sizeof(truncated), &out, msg,
                             sizeof(msg)), -1);
    CHECK_EQ(pyw_spec_decode(bad, sizeof(bad), &out, msg, sizeof(msg)), -1);
    CHECK(strstr(msg, "threads='four'") != NULL);
    CHECK_EQ(pyw_spec_decode(bad, 0, &out, msg, sizeof(msg)), -1);
}

int main(void)
{
    test_round_trip();
    test_through_a_memfd();
    test_refusals();
    return UNIT_DONE();
}
