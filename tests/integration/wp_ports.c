/* wp_ports N — prints N free loopback TCP ports, one per line, chosen the
 * way every C test and `wpctl cluster` chooses them (common/net.c,
 * wp_loopback_ports). The shell integration tests call it through
 * tests/integration/lib.sh (wp_ports) instead of guessing with $RANDOM,
 * whose range overlapped the kernel's ephemeral ports. */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    uint64_t n = 0;
    if (argc != 2 || wp_parse_u64(argv[1], &n) != WP_OK || n < 1 || n > 64) {
        fprintf(stderr, "usage: wp_ports N (1..64)\n");
        return 2;
    }
    int ports[64];
    wp_err err;
    if (wp_loopback_ports(ports, (size_t)n, &err) != WP_OK) {
        fprintf(stderr, "wp_ports: %s\n", wp_err_text(&err));
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        printf("%d\n", ports[i]);
    return 0;
}
