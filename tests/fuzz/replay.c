/* replay.c — runs one fuzz target of fuzz_targets.c without libFuzzer (gcc
 * has none), so that every target runs in ctest: its seeds (what
 * LLVMFuzzerInitialize writes to ./corpus, plus files given on the command
 * line), then seeded random mutations of them (bit flips, byte sets,
 * interesting values, inserts, deletes, truncation, splices) until the time
 * is up. A crash (signal or sanitizer abort) fails the test; the input that
 * caused it is in WORKDIR/crash-input and the seed and iteration are
 * printed first.
 *   replay WORKDIR SECONDS SEED [SEED_FILE...]
 * Not a coverage-guided fuzzer: it finds shallow bugs in seconds and keeps
 * every target compiling and running; tests/fuzz/run.sh (clang) is the deep
 * one. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define MAX_LEN 4096
#define MAX_SEEDS 256

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t n_seeds;
static uint64_t run_seed, iteration;
static uint8_t cur[MAX_LEN];
static size_t cur_len;

static void on_crash(int sig)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "replay: crash (signal %d) at seed %llu iteration %llu; input in "
                     "crash-input\n",
                     sig, (unsigned long long)run_seed, (unsigned long long)iteration);
    if (n > 0 && write(2, msg, (size_t)n) < 0)
        _exit(2);
    FILE *fp = fopen("crash-input", "wb");
    if (fp) {
        fwrite(cur, 1, cur_len, fp);
        fclose(fp);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void add_seed(const char *path)
{
    if (n_seeds >= MAX_SEEDS)
        return;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return;
    uint8_t *buf = malloc(MAX_LEN);
    size_t n = buf ? fread(buf, 1, MAX_LEN, fp) : 0;
    fclose(fp);
    if (buf == NULL)
        return;
    seeds[n_seeds] = buf;
    seed_len[n_seeds++] = n;
}

static void run(const uint8_t *data, size_t len)
{
    memcpy(cur, data, len);
    cur_len = len;
    /* A private copy of exactly len bytes: a read past the end is caught
     * under ASan. */
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static void mutate(wp_rng *r, uint8_t *buf, size_t *len)
{
    static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xdc, 0xdd,
                                          0xde, 0xdf, 0xce, 0xcf, 0xd9, 0xda, 0xdb};
    int rounds = 1 + (int)wp_rng_below(r, 4);
    for (int k = 0; k < rounds; k++) {
        size_t n = *len;
        switch (wp_rng_below(r, 8)) {
        case 0: /* flip a bit */
            if (n)
                buf[wp_rng_below(r, n)] ^= (uint8_t)(1u << wp_rng_below(r, 8));
            break;
        case 1: /* a random byte */
            if (n)
                buf[wp_rng_below(r, n)] = (uint8_t)wp_rng_u64(r);
            break;
        case 2: /* an interesting byte (msgpack and varint markers) */
            if (n)
                buf[wp_rng_below(r, n)] = interesting[wp_rng_below(r, sizeof interesting)];
            break;
        case 3: /* a big 32-bit value (declared lengths) */
            if (n >= 4) {
                size_t at = wp_rng_below(r, n - 3);
                uint32_t v = wp_rng_below(r, 2) ? 0xffffffffu : (uint32_t)wp_rng_u64(r);
                memcpy(buf + at, &v, 4);
            }
            break;
        case 4: /* insert bytes */
            if (n < MAX_LEN) {
                size_t at = wp_rng_below(r, n + 1), m = 1 + wp_rng_below(r, 8);
                if (m > MAX_LEN - n)
                    m = MAX_LEN - n;
                memmove(buf + at + m, buf + at, n - at);
                for (size_t i = 0; i < m; i++)
                    buf[at + i] = (uint8_t)wp_rng_u64(r);
                *len = n + m;
            }
            break;
        case 5: /* delete bytes */
            if (n) {
                size_t at = wp_rng_below(r, n), m = 1 + wp_rng_below(r, 8);
                if (m > n - at)
                    m = n - at;
                memmove(buf + at, buf + at + m, n - at - m);
                *len = n - m;
            }
            break;
        case 6: /* truncate */
            if (n)
                *len = wp_rng_below(r, n);
            break;
        default: /* splice another seed's tail */
            if (n_seeds > 0) {
                size_t s = wp_rng_below(r, n_seeds), at = wp_rng_below(r, n + 1);
                size_t from = seed_len[s] ? wp_rng_below(r, seed_len[s]) : 0;
                size_t m = seed_len[s] - from;
                if (m > MAX_LEN - at)
                    m = MAX_LEN - at;
                memcpy(buf + at, seeds[s] + from, m);
                *len = at + m;
            }
            break;
        }
    }
}

int main(int argc, char **argv)
{
    uint64_t secs = 0;
    if (argc < 4 || wp_parse_u64(argv[2], &secs) != WP_OK ||
        wp_parse_u64(argv[3], &run_seed) != WP_OK) {
        fprintf(stderr, "usage: replay WORKDIR SECONDS SEED [SEED_FILE...]\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "replay: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char cwd_files[16][1024];
    int n_files = 0;
    for (int i = 4; i < argc && n_files < 16; i++)
        if (realpath(argv[i], cwd_files[n_files]) != NULL)
            n_files++;
    if (chdir(argv[1]) != 0 || (mkdir("corpus", 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "replay: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    signal(SIGSEGV, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    DIR *d = opendir("corpus");
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "corpus/%s", e->d_name);
        add_seed(path);
    }
    if (d)
        closedir(d);
    for (int i = 0; i < n_files; i++)
        add_seed(cwd_files[i]);
    static const uint8_t empty[1];
    run(empty, 0);
    for (size_t i = 0; i < n_seeds; i++)
        run(seeds[i], seed_len[i]);
    wp_rng r;
    wp_rng_seed(&r, run_seed);
    uint64_t t_end = wp_clock_monotonic_ns() + secs * WP_NS_PER_S;
    static uint8_t buf[MAX_LEN];
    for (iteration = 1;; iteration++) {
        if ((iteration & 63) == 0 && wp_clock_monotonic_ns() >= t_end)
            break;
        size_t len = 0;
        if (n_seeds > 0) {
            size_t s = wp_rng_below(&r, n_seeds);
            memcpy(buf, seeds[s], seed_len[s]);
            len = seed_len[s];
        }
        mutate(&r, buf, &len);
        run(buf, len);
    }
    printf("{\"fuzz_replay\":true,\"seeds\":%zu,\"inputs\":%llu,\"seconds\":%llu,\"seed\":%llu}\n",
           n_seeds, (unsigned long long)iteration, (unsigned long long)secs,
           (unsigned long long)run_seed);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i]);
    return 0;
}
