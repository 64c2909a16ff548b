/*
 * pyw_sockdiag.c - the accept queue of a listening Unix socket (see
 * pyw_sockdiag.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "pyw_sockdiag.h"

#define SD_LISTEN   10          /* TCP_LISTEN: the kernel's state number */
#define SD_NOCOOKIE (~0U)       /* INET_DIAG_NOCOOKIE: no cookie check   */

static int sockdiag_ask(int fd, uint32_t ino)
{
    struct {
        struct nlmsghdr      nlh;
        struct unix_diag_req req;
    } msg;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = 1U << SD_LISTEN;
    msg.req.udiag_ino = ino;
    msg.req.udiag_show = UDIAG_SHOW_RQLEN;
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = SD_NOCOOKIE;
    return sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel,
                  sizeof(kernel)) == (ssize_t)sizeof(msg) ? 0 : -errno;
}

/* The queue length in one reply, or -errno. */
static int sockdiag_parse(const struct nlmsghdr *nlh, size_t len,
                          uint32_t ino)
{
    const struct unix_diag_msg *m;
    const struct rtattr *a;
    int left;

    if (!NLMSG_OK(nlh, len)) {
        return -EPROTO;
    }
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(nlh);

        return nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0
               ? e->error : -EPROTO;
    }
    if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY
        || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m))) {
        return -EPROTO;
    }
    m = NLMSG_DATA(nlh);
    if (m->udiag_ino != ino) {
        return -EPROTO;
    }
    if (m->udiag_state != SD_LISTEN) {
        return -EINVAL;
    }
    left = (int)(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
    for (a = (const struct rtattr *)(m + 1); RTA_OK(a, left);
         a = RTA_NEXT(a, left)) {
        if (a->rta_type == UNIX_DIAG_RQLEN
            && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
            const struct unix_diag_rqlen *q = RTA_DATA(a);

            return q->udiag_rqueue > 0x7fffffffU ? 0x7fffffff
                                                 : (int)q->udiag_rqueue;
        }
    }
    return -EPROTO;
}

int pyw_sockdiag_unix_backlog(uint64_t ino)
{
    union {
        struct nlmsghdr nlh;
        char            bytes[1024];
    } reply;
    ssize_t n;
    int fd, rv;

    if (ino == 0 || ino > UINT32_MAX) {
        return -EINVAL;
    }
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        return -errno;
    }
    /* The kernel answers within sendto(): the reply is queued already. */
    rv = sockdiag_ask(fd, (uint32_t)ino);
    if (rv == 0) {
        n = recv(fd, &reply, sizeof(reply), MSG_DONTWAIT);
        rv = n < 0 ? -errno : sockdiag_parse(&reply.nlh, (size_t)n,
                                             (uint32_t)ino);
    }
    close(fd);
    return rv;
}
