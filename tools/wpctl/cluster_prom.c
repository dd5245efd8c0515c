/* cluster_prom.c — the Prometheus scrape configuration of a local cluster:
 * DIR/prometheus.yml names DIR/prometheus_targets.json (file_sd, relative to
 * the configuration's folder, so the folder can move), which lists every
 * daemon's metrics address with its kind (node, placement), id (label
 * `daemon`) and city as target labels; none of them is a label name the
 * daemons export (a clash would rename theirs to exported_*). Prometheus
 * re-reads the target file when it changes. */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void target(FILE *fp, bool *first, const char *addr, const char *role, const char *id,
                   const char *city)
{
    if (!addr[0])
        return;
    fprintf(fp, "%s\n  {\"targets\": [\"%s\"], \"labels\": {\"kind\": \"%s\", \"daemon\": \"%s\"",
            *first ? "" : ",", addr, role, id);
    if (city && city[0])
        fprintf(fp, ", \"city\": \"%s\"", city);
    fprintf(fp, "}}");
    *first = false;
}

static int write_file(const char *dir, const char *name, const wpctl_cluster *c, bool targets,
                      wp_err *err)
{
    char path[700], tmp[710];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return wp_errf(err, WP_EIO, "%s: %s", tmp, strerror(errno));
    if (targets) {
        bool first = true;
        fprintf(fp, "[");
        for (size_t i = 0; i < c->n; i++)
            target(fp, &first, c->nodes[i].metrics, "node", c->nodes[i].id, c->nodes[i].city);
        for (size_t i = 0; i < c->n_placement; i++) {
            char id[32];
            snprintf(id, sizeof id, "placement-%u", c->placement[i].id);
            target(fp, &first, c->placement[i].metrics, "placement", id, NULL);
        }
        fprintf(fp, "\n]\n");
    } else {
        fprintf(fp,
                "# Written by 'wpctl cluster up': scrapes every daemon of this cluster.\n"
                "#   prometheus --config.file=%s/prometheus.yml\n"
                "global:\n"
                "  scrape_interval: 5s\n"
                "  evaluation_interval: 5s\n"
                "scrape_configs:\n"
                "  - job_name: warmpath\n"
                "    file_sd_configs:\n"
                "      - files: ['prometheus_targets.json']\n"
                "        refresh_interval: 5s\n",
                dir);
    }
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return wp_errf(err, WP_EIO, "%s: %s", path, strerror(errno));
    return WP_OK;
}

int wpctl_cluster_write_prometheus(const wpctl_cluster *c, wp_err *err)
{
    int rc = write_file(c->dir, "prometheus_targets.json", c, true, err);
    return rc != WP_OK ? rc : write_file(c->dir, "prometheus.yml", c, false, err);
}
