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
