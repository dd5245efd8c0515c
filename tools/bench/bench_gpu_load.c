/* bench_gpu_load — cold-load time against model size: for generated
 * checkpoints of about 4, 20, 110 and 330 MB, the time wp_gpu_model_load
 * takes to read the file, place the weights (host memory for cpu, device
 * memory for cuda) and run one warm-up step, and the rate in GB/s (file
 * bytes / load time). Each size is measured twice: with the file in the
 * page cache (just written) and after asking the kernel to drop this
 * file's cached pages (fsync + posix_fadvise DONTNEED), i.e. from disk.
 * Each figure is the median of 3 loads (the first reported apart).
 * One JSON object per figure; on a machine without a CUDA device, a line
 * says cuda was skipped.
 *
 * usage: bench_gpu_load [--max-mb N]   (skip sizes above N MB; default 400)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "gpu_worker/gpu_worker.h"

/* Writes back the file and reads it once (untimed), so the "warm"
 * measurement neither competes with the writeback of the file we just
 * generated nor pays the first read after a write (on this VM the first
 * read of a freshly written file was several times slower). */
static int sync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rv = fsync(fd);
    static char buf[1 << 16];
    while (rv == 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            rv = (int)n;
            break;
        }
    }
    close(fd);
    return rv;
}

static int drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rv = fsync(fd);
    if (rv == 0)
        rv = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return rv;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Loads the model RUNS times (dropping the file's cached pages before each
 * when !cached) and prints the first and the median load. The first load
 * is reported apart: on this VM the first touch of fresh guest memory made
 * it several times slower, whatever the page cache held. */
#define RUNS 3
static int measure(int kind, const char *path, const wp_llama_config *cfg, uint64_t bytes,
                   bool cached)
{
    double load_s[RUNS], first_s = 0;
    uint64_t mem = 0;
    for (int r = 0; r < RUNS; r++) {
        if (!cached && drop_cache(path) != 0)
            fprintf(stderr, "bench_gpu_load: could not drop the page cache of %s\n", path);
        wp_err err;
        wp_gpu_model *m;
        if (wp_gpu_model_load(kind, path, &m, &err) != WP_OK) {
            fprintf(stderr, "bench_gpu_load: %s: %s\n", wp_gpu_kind_name(kind), wp_err_text(&err));
            return 1;
        }
        load_s[r] = (double)wp_gpu_model_load_ns(m) / 1e9;
        if (r == 0)
            first_s = load_s[0];
        mem = wp_gpu_model_mem_bytes(m);
        wp_gpu_model_unload(m);
    }
    qsort(load_s, RUNS, sizeof load_s[0], cmp_double);
    double s = load_s[RUNS / 2];
    wp_json j;
    wp_json_init(&j, stdout, false);
    wp_json_obj_begin(&j);
    wp_json_key(&j, "bench");
    wp_json_str(&j, "gpu_cold_load");
    wp_json_key(&j, "backend");
    wp_json_str(&j, wp_gpu_kind_name(kind));
    wp_json_key(&j, "page_cache");
    wp_json_str(&j, cached ? "warm" : "dropped");
    wp_json_key(&j, "params");
    wp_json_uint(&j, wp_llama_param_count(cfg));
    wp_json_key(&j, "file_bytes");
    wp_json_uint(&j, bytes);
    wp_json_key(&j, "mem_bytes");
    wp_json_uint(&j, mem);
    wp_json_key(&j, "runs");
    wp_json_int(&j, RUNS);
    wp_json_key(&j, "first_load_ms");
    wp_json_double(&j, first_s * 1e3);
    wp_json_key(&j, "load_ms_median");
    wp_json_double(&j, s * 1e3);
    wp_json_key(&j, "gb_per_s");
    wp_json_double(&j, s > 0 ? (double)bytes / s / 1e9 : 0.0);
    wp_json_obj_end(&j);
    wp_json_end(&j);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t max_mb = 400;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: bench_gpu_load [--max-mb N]\n"
               "Cold-load time and GB/s against model size (cpu; cuda when a device exists).\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--max-mb") == 0) {
        if (wp_parse_int64(argv[2], &max_mb) != WP_OK || max_mb < 1) {
            fprintf(stderr, "bench_gpu_load: bad --max-mb '%s'\n", argv[2]);
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "bench_gpu_load: bad arguments (try --help)\n");
        return 2;
    }
    const wp_llama_config sizes[] = {
        {128, 352, 2, 4, 4, 4096, 256, true},
        {256, 704, 4, 8, 8, 8192, 256, true},
        {512, 1376, 6, 8, 8, 16384, 256, true},
        {768, 2048, 8, 12, 12, 32000, 256, true},
    };
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    bool have_cuda = wp_gpu_cuda_device_count() > 0;
    int rv = 0;
    for (size_t i = 0; i < WP_ARRAY_LEN(sizes) && rv == 0; i++) {
        uint64_t bytes;
        wp_err err;
        if (wp_llama_config_check(&sizes[i], &bytes, &err) != WP_OK) {
            fprintf(stderr, "bench_gpu_load: %s\n", wp_err_text(&err));
            return 1;
        }
        if (bytes > (uint64_t)max_mb << 20)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/bench_gpu_load.XXXXXX", tmp);
        int fd = mkstemp(path);
        if (fd < 0) {
            perror("bench_gpu_load: mkstemp");
            return 1;
        }
        close(fd);
        if (wp_llama_gen(path, &sizes[i], 1, 0.02, &err) != WP_OK) {
            fprintf(stderr, "bench_gpu_load: %s\n", wp_err_text(&err));
            remove(path);
            return 1;
        }
        if (sync_file(path) != 0)
            fprintf(stderr, "bench_gpu_load: fsync %s failed\n", path);
        for (int cached = 1; cached >= 0 && rv == 0; cached--) {
            rv = measure(WP_GPU_CPU, path, &sizes[i], bytes, cached);
            if (rv == 0 && have_cuda)
                rv = measure(WP_GPU_CUDA, path, &sizes[i], bytes, cached);
        }
        remove(path);
    }
    if (!have_cuda)
        printf("{\"bench\":\"gpu_cold_load\",\"backend\":\"cuda\",\"skipped\":true,"
               "\"reason\":\"%s\"}\n",
               wp_gpu_cuda_built() ? "no CUDA device" : "built without CUDA");
    return rv;
}
