/* http.c — the /metrics endpoint on libmicrohttpd (its own polling thread).
 * Each GET /metrics renders the registry into a fresh buffer that MHD frees
 * after sending; nothing here touches the daemon's loop. */
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wp_metrics_http {
    struct MHD_Daemon *d;
    wp_metrics *m;
};

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    wp_metrics_http *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (*con_cls == NULL) { /* first call: headers only */
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size != 0)
        return reply(c, MHD_HTTP_BAD_REQUEST, "no body expected\n");
    if (strcmp(url, "/") == 0)
        return reply(c, MHD_HTTP_OK, "warmpath: metrics at /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
    size_t len = 0;
    char *text = wp_metrics_render(h->m, &len);
    if (!text)
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int wp_metrics_parse_addr(const char *spec, char *host, size_t host_cap, uint16_t *port,
                          wp_err *err)
{
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    if (!colon || colon == spec || (size_t)(colon - spec) >= host_cap)
        return wp_errf(err, WP_EINVAL, "metrics address must be HOST:PORT, got '%s'",
                       spec ? spec : "");
    uint64_t p = 0;
    if (wp_parse_u64(colon + 1, &p) != WP_OK || p == 0 || p > 65535)
        return wp_errf(err, WP_EINVAL, "metrics port must be 1..65535, got '%s'", colon + 1);
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_cap, "127.0.0.1");
    else if (strcmp(host, "*") == 0)
        snprintf(host, host_cap, "0.0.0.0");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return wp_errf(err, WP_EINVAL, "metrics host must be an IPv4 address, got '%s'", host);
    *port = (uint16_t)p;
    return WP_OK;
}

int wp_metrics_http_start(wp_metrics *m, const char *addr, wp_metrics_http **out, wp_err *err)
{
    char host[64];
    uint16_t port;
    int rc = wp_metrics_parse_addr(addr, host, sizeof host, &port, err);
    if (rc != WP_OK)
        return rc;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    wp_metrics_http *h = calloc(1, sizeof *h);
    if (!h)
        return wp_errf(err, WP_ENOMEM, "metrics: out of memory");
    h->m = m;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return wp_errf(err, WP_EIO, "metrics: cannot listen on %s (in use?)", addr);
    }
    *out = h;
    return WP_OK;
}

void wp_metrics_http_stop(wp_metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
