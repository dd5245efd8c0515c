/* wp_ports N — prints N free loopback ports (common/'s wp_loopback_ports),
 * one a line, for shell tests that start servers of their own (Prometheus). */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    uint64_t n = 1;
    if (argc > 2 || (argc == 2 && (wp_parse_u64(argv[1], &n) || n == 0 || n > 64))) {
        fprintf(stderr, "usage: wp_ports [N] (1..64)\n");
        return 2;
    }
    int ports[64];
    wp_err err;
    wp_err_clear(&err);
    if (wp_loopback_ports(ports, (size_t)n, &err) != WP_OK) {
        fprintf(stderr, "wp_ports: %s\n", wp_err_text(&err));
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        printf("%d\n", ports[i]);
    return 0;
}
