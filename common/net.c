/* net.c — loopback port reservation for the live world's local clusters,
 * tests and benchmarks (pure cores never call it).
 *
 * Each port is found by binding a TCP socket to 127.0.0.1:0 and reading the
 * kernel's choice back; all sockets stay open until every port is picked, so
 * the ports are distinct, and then they are closed for the daemons to bind.
 * Between that close and a daemon's bind another process may take a port:
 * callers that start many daemons at once serialize (ctest RESOURCE_LOCK)
 * or retry. */
#include "common/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int wp_loopback_ports(int *ports, size_t count, wp_err *err)
{
    int *fds = calloc(count, sizeof *fds);
    if (!fds)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    int rv = WP_OK;
    size_t opened = 0;
    for (; opened < count; opened++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t al = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
            if (fd >= 0)
                close(fd);
            rv = wp_errf(err, WP_EIO, "cannot reserve a loopback port: %s", strerror(errno));
            break;
        }
        fds[opened] = fd;
        ports[opened] = ntohs(a.sin_port);
    }
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    return rv;
}

/* ---------------------------------------------------------------- endpoints */

int wp_endpoint_normalize(const char *in, char *out, size_t cap)
{
    if (!in || !in[0])
        return WP_EINVAL;
    int w = strstr(in, "://") ? snprintf(out, cap, "%s", in) : snprintf(out, cap, "tcp://%s", in);
    return (w < 0 || (size_t)w >= cap) ? WP_ETOOBIG : WP_OK;
}

/* The host of an endpoint: after the scheme, up to the last ':' (so an
 * IPv6 "[::1]:7001" keeps its brackets). */
static void endpoint_host(const char *ep, const char **host, size_t *len)
{
    const char *s = strstr(ep, "://");
    s = s ? s + 3 : ep;
    const char *colon = strrchr(s, ':');
    *host = s;
    *len = colon ? (size_t)(colon - s) : strlen(s);
}

bool wp_endpoint_is_wildcard(const char *ep)
{
    static const char *const wild[] = {"0.0.0.0", "*", "::", "[::]", ""};
    const char *h;
    size_t len;
    endpoint_host(ep, &h, &len);
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++)
        if (strlen(wild[i]) == len && strncmp(h, wild[i], len) == 0)
            return true;
    return false;
}

int wp_endpoint_with_host(const char *ep, const char *like, char *out, size_t cap)
{
    const char *h, *lh;
    size_t len, llen;
    endpoint_host(ep, &h, &len);
    endpoint_host(like, &lh, &llen);
    int w = llen == 0 ? snprintf(out, cap, "%s", ep)
                      : snprintf(out, cap, "%.*s%.*s%s", (int)(h - ep), ep, (int)llen, lh, h + len);
    return (w < 0 || (size_t)w >= cap) ? WP_ETOOBIG : WP_OK;
}
