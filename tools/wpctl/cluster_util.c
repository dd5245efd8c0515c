/* cluster_util.c — wpctl's cluster directory file and wp-node admin client
 * (see cluster.h). The cluster file is line-oriented text:
 *   # comment
 *   version 2                      (1: pids without start times; still read)
 *   option emulate_wan 0|1
 *   option probe_interval_ms N
 *   option gpus N
 *   option gpu_mem_mib N
 *   option gpu_backend N           (0 default, 1 + enum wp_gpu_kind)
 *   node ID CITY PID GOSSIP_ADDR ADMIN_ADDR [REQUEST_ADDR] [start=TICKS]
 *   placement ID PID API_ADDR RAFT_ADDR [start=TICKS]
 * TICKS is the process's start time (/proc/PID/stat field 22), written by
 * version 2 as the last field (the others keep their places, for scripts
 * that read the pid): with the pid it names one process (see cluster.h).
 *   modelfile NAME=PATH            (no spaces; given to every node)
 *   rttparams PATH                 (no spaces; --rtt-params of every node)
 *   keys PATH                      (no spaces; --keys of every daemon; absent:
 *                                   the cluster runs --insecure)
 * Lines are at most 1 KiB, fields at most their buffer sizes, at most
 * WPCTL_CLUSTER_MAX_NODES nodes; anything else is an error naming the line. */
#include "tools/wpctl/cluster.h"
#include "auth/auth.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static bool user_key; /* wpctl --key or $WP_KEY at start: never replaced */
static bool key_set;  /* $WP_KEY is the one wpctl_cluster_key_default set */

void wpctl_note_user_key(void)
{
    user_key = getenv("WP_KEY") != NULL;
}

void wpctl_cluster_key_default(const char *dir)
{
    if (user_key)
        return;
    /* Only the keys line is wanted: a scan, not a full load (this runs for
     * every command that names a cluster, and the file may be missing). */
    char path[1024], line[1100], keys[600] = "";
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, WPCTL_CLUSTER_FILE) >= sizeof path)
        return;
    FILE *fp = fopen(path, "r");
    if (fp) {
        while (fgets(line, sizeof line, fp)) {
            if (strncmp(line, "keys ", 5) != 0)
                continue;
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(keys, sizeof keys, "%.511s", line + 5);
            break;
        }
        fclose(fp);
    }
    if (keys[0]) {
        char key[640];
        snprintf(key, sizeof key, "%s/operator.key", keys);
        setenv("WP_KEY", key, 1);
        key_set = true;
    } else if (key_set) {
        unsetenv("WP_KEY");
        key_set = false;
    }
}

const char *wpctl_cluster_dir(const char *flag)
{
    const char *dir = ".cluster";
    const char *env = getenv("WP_CLUSTER_DIR");
    if (flag && flag[0])
        dir = flag;
    else if (env && env[0])
        dir = env;
    wpctl_cluster_key_default(dir);
    return dir;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l == 0 || l >= cap)
        return -1;
    memcpy(dst, src, l + 1);
    return 0;
}

static int parse_pid(const char *s, int64_t *pid)
{
    return wp_parse_int64(s, pid) || *pid < 0 || *pid > 0x3fffffff ? -1 : 0;
}

/* Takes a trailing "start=TICKS" off the tokens (version 2). */
static int take_start(char **tok, int *nt, uint64_t *start)
{
    *start = 0;
    if (*nt < 2 || strncmp(tok[*nt - 1], "start=", 6) != 0)
        return 0;
    (*nt)--;
    return wp_parse_u64(tok[*nt] + 6, start) ? -1 : 0;
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
        char *tok[10];
        int nt = 0;
        for (char *t = strtok(line, " \t"); t && nt < 10; t = strtok(NULL, " \t"))
            tok[nt++] = t;
        uint64_t start_ticks = 0;
        if (take_start(tok, &nt, &start_ticks) != 0) {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: bad start= field", path, lineno);
            break;
        }
        const char *metrics = ""; /* metrics=HOST:PORT, before start= */
        if (nt > 1 && strncmp(tok[nt - 1], "metrics=", 8) == 0)
            metrics = tok[--nt] + 8;
        if (strlen(metrics) >= WP_GOSSIP_ADDR_MAX) {
            rv = wp_errf(err, WP_EPARSE, "%s:%d: metrics= field too long", path, lineno);
            break;
        }
        if (nt == 2 && strcmp(tok[0], "version") == 0) {
            if (strcmp(tok[1], "1") != 0 && strcmp(tok[1], "2") != 0) {
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
        } else if (nt == 2 && strcmp(tok[0], "keys") == 0) {
            if (copy_field(c->keys, sizeof c->keys, tok[1])) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad keys line", path, lineno);
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
                parse_pid(tok[2], &pid) ||
                copy_field(pr->api, sizeof pr->api, tok[3]) ||
                copy_field(pr->raft, sizeof pr->raft, tok[4])) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad placement line", path, lineno);
                break;
            }
            pr->id = (uint32_t)id;
            snprintf(pr->metrics, sizeof pr->metrics, "%s", metrics);
            pr->start_ticks = start_ticks;
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
                copy_field(r->city, sizeof r->city, tok[2]) ||
                parse_pid(tok[3], &pid) || copy_field(r->gossip, sizeof r->gossip, tok[4]) ||
                copy_field(r->admin, sizeof r->admin, tok[5]) ||
                (nt == 7 && copy_field(r->request, sizeof r->request, tok[6]))) {
                rv = wp_errf(err, WP_EPARSE, "%s:%d: bad node line", path, lineno);
                break;
            }
            r->pid = (pid_t)pid;
            r->start_ticks = start_ticks;
            snprintf(r->metrics, sizeof r->metrics, "%s", metrics);
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
    fprintf(fp, "# warmpath local cluster, written by 'wpctl cluster up'\nversion 2\n");
    fprintf(fp, "option emulate_wan %d\noption probe_interval_ms %u\n", c->emulate_wan ? 1 : 0,
            c->probe_interval_ms);
    fprintf(fp, "option gpus %u\noption gpu_mem_mib %llu\n", c->gpus,
            (unsigned long long)c->gpu_mem_mib);
    fprintf(fp, "option gpu_backend %u\n", c->gpu_backend);
    for (size_t i = 0; i < c->n_model_files; i++)
        fprintf(fp, "modelfile %s\n", c->model_files[i]);
    if (c->rtt_params[0])
        fprintf(fp, "rttparams %s\n", c->rtt_params);
    if (c->keys[0])
        fprintf(fp, "keys %s\n", c->keys);
    for (size_t i = 0; i < c->n_placement; i++)
        fprintf(fp, "placement %u %ld %s %s%s%s start=%llu\n", c->placement[i].id,
                (long)c->placement[i].pid, c->placement[i].api, c->placement[i].raft,
                c->placement[i].metrics[0] ? " metrics=" : "", c->placement[i].metrics,
                (unsigned long long)c->placement[i].start_ticks);
    for (size_t i = 0; i < c->n; i++)
        fprintf(fp, "node %s %s %ld %s %s%s%s%s%s start=%llu\n", c->nodes[i].id,
                c->nodes[i].city, (long)c->nodes[i].pid, c->nodes[i].gossip, c->nodes[i].admin,
                c->nodes[i].request[0] ? " " : "", c->nodes[i].request,
                c->nodes[i].metrics[0] ? " metrics=" : "", c->nodes[i].metrics,
                (unsigned long long)c->nodes[i].start_ticks);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    return WP_OK;
}

/* ---------------------------------------------------------------- processes */

static int sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static int sys_pidfd_send_signal(int fd, int sig)
{
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
#else
    (void)fd;
    (void)sig;
    errno = ENOSYS;
    return -1;
#endif
}

/* Reads /proc/PID/stat: state and start time (0 if gone). */
static uint64_t read_stat(pid_t pid, char *state)
{
    char path[64], buf[1024];
    *state = '?';
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* comm may hold spaces and ')' */
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    *state = *p;
    /* Fields after comm: state is field 3; starttime is field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

uint64_t wpctl_proc_start_ticks(pid_t pid)
{
    char st = '?';
    uint64_t t = pid > 0 ? read_stat(pid, &st) : 0;
    return (st == 'Z' || st == 'X') ? 0 : t;
}

wpctl_proc wpctl_proc_of(pid_t pid)
{
    return (wpctl_proc){pid, wpctl_proc_start_ticks(pid)};
}

/* Version 1 records: argv[0] contains name (what wpctl did before pidfds). */
static bool argv0_has(pid_t pid, const char *name)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0'; /* argv[0] only */
    return name && strstr(buf, name) != NULL;
}

int wpctl_proc_open(wpctl_proc p, const char *name)
{
    if (p.pid <= 0)
        return -1;
    int fd = sys_pidfd_open(p.pid);
    if (fd < 0 && errno != ENOSYS)
        return -1; /* ESRCH: no such process */
    uint64_t now = wpctl_proc_start_ticks(p.pid);
    bool ours = now != 0 && (p.start_ticks ? now == p.start_ticks : argv0_has(p.pid, name));
    if (!ours) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd >= 0 ? fd : -2;
}

bool wpctl_proc_running(wpctl_proc p, const char *name)
{
    int fd = wpctl_proc_open(p, name);
    if (fd >= 0)
        close(fd);
    return fd != -1;
}

bool wpctl_node_running(const wpctl_node_rec *r)
{
    return wpctl_proc_running(wpctl_node_proc(r), "wp-node");
}

bool wpctl_placement_running(const wpctl_placement_rec *r)
{
    return wpctl_proc_running(wpctl_placement_proc(r), "wp-placement");
}

bool wpctl_proc_signal(wpctl_proc p, const char *name, int sig)
{
    int fd = wpctl_proc_open(p, name);
    if (fd == -1)
        return false;
    int rc = fd >= 0 ? sys_pidfd_send_signal(fd, sig) : kill(p.pid, sig);
    if (fd >= 0)
        close(fd);
    return rc == 0;
}

/* Signals each still-open process; fd -2: by pid (no pidfds). */
static void signal_all(const wpctl_proc *procs, const int *fds, size_t n, int sig)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            sys_pidfd_send_signal(fds[i], sig);
        else if (fds[i] == -2)
            kill(procs[i].pid, sig);
    }
}

/* Waits up to ms for the open processes to exit; closes the fds of those
 * that did (-1). Returns how many are left. */
static size_t wait_all(const wpctl_proc *procs, int *fds, size_t n, int ms)
{
    uint64_t deadline = wp_clock_monotonic_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            if (fds[i] == -1)
                continue;
            waitpid(procs[i].pid, NULL, WNOHANG); /* reap it if it is our child */
            bool gone;
            if (fds[i] >= 0) {
                struct pollfd pf = {.fd = fds[i], .events = POLLIN};
                gone = poll(&pf, 1, 0) > 0;
            } else {
                uint64_t now_ticks = wpctl_proc_start_ticks(procs[i].pid);
                gone = now_ticks == 0 ||
                       (procs[i].start_ticks != 0 && now_ticks != procs[i].start_ticks);
            }
            if (gone) {
                if (fds[i] >= 0)
                    close(fds[i]);
                fds[i] = -1;
                waitpid(procs[i].pid, NULL, WNOHANG);
            } else {
                left++;
            }
        }
        uint64_t now = wp_clock_monotonic_ns();
        if (left == 0 || now >= deadline)
            return left;
        /* Sleep on the pidfds themselves: wake as soon as one exits. */
        struct pollfd pf[64];
        nfds_t np = 0;
        for (size_t i = 0; i < n && np < 64; i++)
            if (fds[i] >= 0)
                pf[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        uint64_t rest_ms = (deadline - now) / 1000000u;
        int slice = rest_ms > 50 ? 50 : (int)rest_ms + 1;
        if (np)
            poll(pf, np, slice);
        else {
            struct timespec ts = {0, (long)slice * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

size_t wpctl_proc_stop(const wpctl_proc *procs, size_t n, const char *const *names, int grace_ms)
{
    if (n == 0)
        return 0;
    int *fds = calloc(n, sizeof *fds);
    if (!fds)
        return n;
    for (size_t i = 0; i < n; i++)
        fds[i] = wpctl_proc_open(procs[i], names ? names[i] : NULL);
    signal_all(procs, fds, n, SIGTERM);
    size_t left = wait_all(procs, fds, n, grace_ms);
    if (left) {
        signal_all(procs, fds, n, SIGKILL);
        left = wait_all(procs, fds, n, 2000);
    }
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return left;
}

int wpctl_resolve_admin(const char *dir_flag, const char *endpoint, const char *node_id,
                        char *out, size_t cap, wp_err *err)
{
    if (endpoint) {
        (void)wpctl_cluster_dir(dir_flag); /* the cluster's key, as without --endpoint */
        if (wp_endpoint_normalize(endpoint, out, cap) != WP_OK)
            return wp_errf(err, WP_ETOOBIG, "endpoint empty or too long");
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
        if (node_id ? strcmp(c->nodes[i].id, node_id) == 0 : wpctl_node_running(&c->nodes[i])) {
            snprintf(out, cap, "%s", c->nodes[i].admin);
            wp_err_clear(err);
            rv = WP_OK;
            break;
        }
    }
    free(c);
    return rv;
}

int wpctl_curve_client(void *sock, wp_err *err)
{
    /* $WP_KEY is read at each call (wpctl --key sets it; a test changes
     * it between calls): two small files, next to a connection's cost. */
    wp_curve_id id;
    wp_err lerr = {0};
    int loaded = wp_curve_id_from_env(&id, &lerr);
    if (loaded < 0) {
        if (err)
            *err = lerr;
        return lerr.code ? lerr.code : WP_EINVAL;
    }
    int rv = WP_OK;
    if (loaded == 1 && wp_curve_id_apply(&id, sock) != 0)
        rv = wp_errf(err, WP_EIO, "CURVE: %s", zmq_strerror(zmq_errno()));
    wp_curve_id_clear(&id);
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
    if ((rv = wpctl_curve_client(s, err)) != WP_OK)
        goto out;
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
