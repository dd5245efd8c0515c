/* cluster_util.c — wpctl's cluster directory file and wp-node admin client
 * (see cluster.h). The cluster file is line-oriented text:
 *   # comment
 *   version 1
 *   option emulate_wan 0|1
 *   option probe_interval_ms N
 *   option gpus N
 *   option gpu_mem_mib N
 *   option gpu_backend N           (0 default, 1 + enum wp_gpu_kind)
 *   node ID CITY PID GOSSIP_ADDR ADMIN_ADDR [REQUEST_ADDR]
 *   placement ID PID API_ADDR RAFT_ADDR
 *   modelfile NAME=PATH            (no spaces; given to every node)
 *   rttparams PATH                 (no spaces; --rtt-params of every node)
 * Lines are at most 1 KiB, fields at most their buffer sizes, at most
 * WPCTL_CLUSTER_MAX_NODES nodes; anything else is an error naming the line. */
#include "tools/wpctl/cluster.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

const char *wpctl_cluster_dir(const char *flag)
{
    if (flag && flag[0])
        return flag;
    const char *env = getenv("WP_CLUSTER_DIR");
    if (env && env[0])
        return env;
    return ".cluster";
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l == 0 || l >= cap)
        return -1;
    memcpy(dst, src, l + 1);
    return 0;
}

int wpctl_cluster_load(const char *dir, wpctl_cluster *c, wp_err *err)
{
    memset(c, 0, sizeof *c);
    if (strlen(dir) >= sizeof c->dir - 32)
        return wp_errf(err, WP_ETOOBIG, "cluster dir path too long");
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, WPCTL_CLUSTER_FILE);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return wp_errf(err, WP_ENOTFOUND, "no cluster at %s (%s); start one with 'wpctl cluster up'",
                       dir, strerror(errno));
    char line[1100];
    int lineno = 0;
    int rv = WP_OK;
    bool have_version = false;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            rv = wp_errf(err, WP_ETOOBIG, "%s:%d: line too long", path, lineno);
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *tok[8];
        int nt = 0;
        for (char *t = strtok(line, " \t"); t && nt < 8; t = strtok(NULL, " \t"))
            tok[nt++] = t;
        if (nt == 2 && strcmp(tok[0], "version") == 0) {
            if (strcmp(tok[1], "1") != 0) {
                rv = wp_errf(err, WP_EUNSUPPORTED, "%s:%d: version %s", path, lineno, tok[1]);
                break;
            }
            have_version = true;
        } else if (nt == 3 && strcmp(tok[0], "option") == 0) {
            int64_t v;
            if (wp_parse_int64(tok[2], &v) || v < 0 || v > 1000000000) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad option value '%s'", path, lineno, tok[2]);
                break;
            }
            if (strcmp(tok[1], "emulate_wan") == 0)
                c->emulate_wan = v != 0;
            else if (strcmp(tok[1], "probe_interval_ms") == 0 && v <= 600000)
                c->probe_interval_ms = (uint32_t)v;
            else if (strcmp(tok[1], "gpus") == 0 && v <= 1024)
                c->gpus = (uint32_t)v;
            else if (strcmp(tok[1], "gpu_mem_mib") == 0)
                c->gpu_mem_mib = (uint64_t)v;
            else if (strcmp(tok[1], "gpu_backend") == 0 && v <= 3)
                c->gpu_backend = (uint32_t)v;
            else {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: unknown option or value out of range", path,
                             lineno);
                break;
            }
        } else if (nt == 2 && strcmp(tok[0], "rttparams") == 0) {
            if (copy_field(c->rtt_params, sizeof c->rtt_params, tok[1])) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad rttparams line", path, lineno);
                break;
            }
        } else if (nt == 2 && strcmp(tok[0], "modelfile") == 0) {
            if (c->n_model_files >= WPCTL_CLUSTER_MAX_MODEL_FILES ||
                copy_field(c->model_files[c->n_model_files], sizeof c->model_files[0], tok[1]) ||
                !strchr(tok[1], '=')) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad modelfile line", path, lineno);
                break;
            }
            c->n_model_files++;
        } else if (nt == 5 && strcmp(tok[0], "placement") == 0) {
            if (c->n_placement >= WPCTL_CLUSTER_MAX_PLACEMENT) {
                rv = wp_errf(err, WP_ETOOBIG, "%s:%d: more than %u placement servers", path,
                             lineno, WPCTL_CLUSTER_MAX_PLACEMENT);
                break;
            }
            wpctl_placement_rec *pr = &c->placement[c->n_placement];
            int64_t id, pid;
            if (wp_parse_int64(tok[1], &id) || id < 1 || id > 1000000 ||
                wp_parse_int64(tok[2], &pid) || pid < 0 || pid > 0x3fffffff ||
                copy_field(pr->api, sizeof pr->api, tok[3]) ||
                copy_field(pr->raft, sizeof pr->raft, tok[4])) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad placement line", path, lineno);
                break;
            }
            pr->id = (uint32_t)id;
            pr->pid = (pid_t)pid;
            c->n_placement++;
        } else if ((nt == 6 || nt == 7) && strcmp(tok[0], "node") == 0) {
            if (c->n >= WPCTL_CLUSTER_MAX_NODES) {
                rv = wp_errf(err, WP_ETOOBIG, "%s:%d: more than %u nodes", path, lineno,
                             WPCTL_CLUSTER_MAX_NODES);
                break;
            }
            wpctl_node_rec *r = &c->nodes[c->n];
            int64_t pid;
            if (copy_field(r->id, sizeof r->id, tok[1]) ||
                copy_field(r->city, sizeof r->city, tok[2]) || wp_parse_int64(tok[3], &pid) ||
                pid < 0 || pid > 0x3fffffff || copy_field(r->gossip, sizeof r->gossip, tok[4]) ||
                copy_field(r->admin, sizeof r->admin, tok[5]) ||
                (nt == 7 && copy_field(r->request, sizeof r->request, tok[6]))) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad node line", path, lineno);
                break;
            }
            r->pid = (pid_t)pid;
            c->n++;
        } else {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: unexpected line", path, lineno);
            break;
        }
    }
    fclose(fp);
    if (rv == WP_OK && !have_version)
        rv = wp_errf(err, WP_EPARSE, "%s: no version line", path);
    return rv;
}

int wpctl_cluster_save(const wpctl_cluster *c, wp_err *err)
{
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/%s", c->dir, WPCTL_CLUSTER_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", tmp, strerror(errno));
    fprintf(fp, "# warmpath local cluster, written by 'wpctl cluster up'\nversion 1\n");
    fprintf(fp, "option emulate_wan %d\noption probe_interval_ms %u\n", c->emulate_wan ? 1 : 0,
            c->probe_interval_ms);
    fprintf(fp, "option gpus %u\noption gpu_mem_mib %llu\n", c->gpus,
            (unsigned long long)c->gpu_mem_mib);
    fprintf(fp, "option gpu_backend %u\n", c->gpu_backend);
    for (size_t i = 0; i < c->n_model_files; i++)
        fprintf(fp, "modelfile %s\n", c->model_files[i]);
    if (c->rtt_params[0])
        fprintf(fp, "rttparams %s\n", c->rtt_params);
    for (size_t i = 0; i < c->n_placement; i++)
        fprintf(fp, "placement %u %ld %s %s\n", c->placement[i].id, (long)c->placement[i].pid,
                c->placement[i].api, c->placement[i].raft);
    for (size_t i = 0; i < c->n; i++)
        fprintf(fp, "node %s %s %ld %s %s%s%s\n", c->nodes[i].id, c->nodes[i].city,
                (long)c->nodes[i].pid, c->nodes[i].gossip, c->nodes[i].admin,
                c->nodes[i].request[0] ? " " : "", c->nodes[i].request);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    return WP_OK;
}

bool wpctl_pid_is_node(pid_t pid)
{
    return wpctl_pid_is_proc(pid, "wp-node");
}

bool wpctl_pid_is_proc(pid_t pid, const char *name)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    if (!rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
        return false;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    fp = fopen(path, "r");
    if (!fp)
        return false;
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0'; /* argv[0] only */
    return strstr(buf, name) != NULL;
}

int wpctl_resolve_admin(const char *dir_flag, const char *endpoint, const char *node_id,
                        char *out, size_t cap, wp_err *err)
{
    if (endpoint) {
        int w = strstr(endpoint, "://") ? snprintf(out, cap, "%s", endpoint)
                                        : snprintf(out, cap, "tcp://%s", endpoint);
        if (w < 0 || (size_t)w >= cap)
            return wp_errf(err, WP_ETOOBIG, "endpoint too long");
        return WP_OK;
    }
    wpctl_cluster *c = malloc(sizeof *c);
    if (!c)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    int rv = wpctl_cluster_load(wpctl_cluster_dir(dir_flag), c, err);
    if (rv) {
        free(c);
        return rv;
    }
    rv = wp_errf(err, WP_ENOTFOUND, node_id ? "no node '%s' in cluster %s"
                                            : "no running node%s in cluster %s",
                 node_id ? node_id : "", c->dir);
    for (size_t i = 0; i < c->n; i++) {
        if (node_id ? strcmp(c->nodes[i].id, node_id) == 0 : wpctl_pid_is_node(c->nodes[i].pid)) {
            snprintf(out, cap, "%s", c->nodes[i].admin);
            wp_err_clear(err);
            rv = WP_OK;
            break;
        }
    }
    free(c);
    return rv;
}

int wpctl_admin_call(const char *endpoint, const Warmpath__Admin__AdminRequest *req,
                     int timeout_ms, Warmpath__Admin__AdminResponse **resp, wp_err *err)
{
    *resp = NULL;
    size_t plen = warmpath__admin__admin_request__get_packed_size(req);
    uint8_t *buf = malloc(WP_ADMIN_HDR_BYTES + plen);
    if (!buf)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    wp_admin_frame_header(buf, plen);
    warmpath__admin__admin_request__pack(req, buf + WP_ADMIN_HDR_BYTES);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    int rv = WP_OK;
    if (!s) {
        rv = wp_errf(err, WP_EIO, "zmq: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    int zero = 0;
    int64_t maxmsg = WP_FRAME_MAX_BYTES + WP_ADMIN_HDR_BYTES;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_connect(s, endpoint) != 0) {
        rv = wp_errf(err, WP_EINVAL, "admin endpoint %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    if (zmq_send(s, buf, WP_ADMIN_HDR_BYTES + plen, 0) < 0) {
        rv = wp_errf(err, WP_EUNAVAIL, "admin endpoint %s: send: %s", endpoint,
                     zmq_strerror(zmq_errno()));
        goto out;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s, 0) < 0) {
        zmq_msg_close(&msg);
        rv = wp_errf(err, WP_ETIMEDOUT, "admin endpoint %s: no answer within %d ms", endpoint,
                     timeout_ms);
        goto out;
    }
    size_t rlen;
    const uint8_t *rb = zmq_msg_data(&msg);
    rv = wp_admin_frame_check(rb, zmq_msg_size(&msg), &rlen, err);
    if (rv == WP_OK) {
        *resp = warmpath__admin__admin_response__unpack(NULL, rlen, rb + WP_ADMIN_HDR_BYTES);
        if (!*resp)
            rv = wp_errf(err, WP_EPARSE, "admin endpoint %s: response does not unpack", endpoint);
    }
    zmq_msg_close(&msg);
    if (rv == WP_OK && (*resp)->error && (*resp)->error[0]) {
        rv = wp_errf(err, WP_EPROTO, "%s: %.200s", endpoint, (*resp)->error);
        warmpath__admin__admin_response__free_unpacked(*resp, NULL);
        *resp = NULL;
    } else if (rv == WP_OK && !(*resp)->status) {
        rv = wp_errf(err, WP_EPROTO, "%s: response without status", endpoint);
        warmpath__admin__admin_response__free_unpacked(*resp, NULL);
        *resp = NULL;
    }
out:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    free(buf);
    return rv;
}
