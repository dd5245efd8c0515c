/* errors.c — the project's error list and readable error messages. */
#include "common/common.h"

#include <stdio.h>
#include <string.h>

static const char *const wp_errtext[] = {
#define WP_ERR_TEXT(name, text) text,
    WP_ERRORS(WP_ERR_TEXT)
#undef WP_ERR_TEXT
};

const char *wp_strerror(int rv)
{
    if (rv < 0 || rv >= WP_ERR_COUNT)
        return "unknown error";
    return wp_errtext[rv];
}

int wp_errf(wp_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int wp_err_wrap(wp_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return WP_EINVAL;
    char prefix[WP_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Build "prefix: old" in a buffer large enough for both, then keep
     * what fits (truncation of a long message is acceptable). */
    char both[2 * WP_ERRMSG_LEN + 4];
    size_t plen = strlen(prefix);
    memcpy(both, prefix, plen);
    memcpy(both + plen, ": ", 2);
    const char *old = wp_err_text(err);
    size_t olen = strlen(old);
    memcpy(both + plen + 2, old, olen + 1);
    size_t n = plen + 2 + olen;
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy(err->msg, both, n);
    err->msg[n] = '\0';
    return err->code;
}

void wp_err_clear(wp_err *err)
{
    if (err) {
        err->code = WP_OK;
        err->msg[0] = '\0';
    }
}

const char *wp_err_text(const wp_err *err)
{
    if (err == NULL)
        return "";
    return err->msg[0] ? err->msg : wp_strerror(err->code);
}
