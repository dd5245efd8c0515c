/* wpctl models — the model catalog of the placement service, with pins and
 * where each model is warm.
 *
 *   wpctl models [--json] [--endpoint ADDR[,ADDR...] | --dir D] */
#include "tools/wpctl/wpctl.h"
#include "tools/wpctl/flags.h"
#include "placement/client.h"

#include <stdlib.h>
#include <string.h>

int wpctl_models_main(int argc, char **argv)
{
    wpctl_target t = {0};
    bool json = false;
    const wpctl_flag flags[] = {
        WPF_PLACEMENT(&t),
        WPF_JSON(&json, "a JSON list of model objects"),
        WPF_END,
    };
    const wpctl_spec spec = {
        .name = "models",
        .about = "Lists the placement catalog: each model's size, cold-load time, timing\n"
                 "profile, the cities it is pinned to and how many nodes keep it warm.\n",
        .flags = flags,
    };
    WPCTL_PARSE_OR_RETURN(&spec, argc, argv, NULL);
    wp_placement_client *c;
    int rv = wpctl_placement_connect(t.endpoint, t.dir, &c);
    if (rv != WPCTL_OK)
        return rv;
    wp_model_profile *models = NULL;
    size_t n = 0;
    wp_err err = {0};
    if (wp_placement_client_catalog_list(c, &models, &n, &err) != WP_OK) {
        wp_placement_client_free(c);
        return wpctl_fail("models: %s", wp_err_text(&err));
    }
    /* Pins and warm counts from the assignment. */
    Warmpath__Placement__GetAssignment g = WARMPATH__PLACEMENT__GET_ASSIGNMENT__INIT;
    Warmpath__Placement__Request req = WARMPATH__PLACEMENT__REQUEST__INIT;
    req.op_case = WARMPATH__PLACEMENT__REQUEST__OP_GET_ASSIGNMENT;
    req.get_assignment = &g;
    Warmpath__Placement__Response *r = NULL;
    if (wp_placement_client_call(c, &req, &r, &err) != WP_OK ||
        r->body_case != WARMPATH__PLACEMENT__RESPONSE__BODY_ASSIGNMENT) {
        if (r)
            warmpath__placement__response__free_unpacked(r, NULL);
        free(models);
        wp_placement_client_free(c);
        return wpctl_fail("models: assignment: %s", err.msg[0] ? err.msg : "no answer");
    }
    const Warmpath__Placement__Assignment *a = r->assignment;
    wp_json j;
    if (json) {
        wp_json_init(&j, stdout, false);
        wp_json_arr_begin(&j);
    } else {
        printf("%-24s %9s %9s %10s %10s %5s %5s  %s\n", "MODEL", "SIZE_GB", "LOAD_MS", "TTFT_MS",
               "TOTAL_MS", "SLOTS", "WARM", "PINS");
    }
    for (size_t i = 0; i < n; i++) {
        const wp_model_profile *m = &models[i];
        unsigned warm = 0;
        for (size_t k = 0; k < a->n_nodes; k++)
            for (size_t x = 0; x < a->nodes[k]->n_models; x++)
                if (strcmp(a->nodes[k]->models[x]->model, m->name) == 0)
                    warm++;
        char pins[512] = "";
        size_t off = 0;
        for (size_t k = 0; k < a->n_pins; k++)
            if (strcmp(a->pins[k]->model, m->name) == 0 && off < sizeof pins - 40)
                off += (size_t)snprintf(pins + off, sizeof pins - off, "%s%s×%u", off ? "," : "",
                                        a->pins[k]->city, a->pins[k]->replicas);
        double ttft = wp_model_ttft_ms(m, m->typical_in_tokens);
        double total = wp_model_total_ms(m, m->typical_in_tokens, m->typical_out_tokens);
        if (json) {
            wp_json_obj_begin(&j);
            wp_json_key(&j, "name");
            wp_json_str(&j, m->name);
            wp_json_key(&j, "size_bytes");
            wp_json_uint(&j, m->size_bytes);
            wp_json_key(&j, "load_ms");
            wp_json_double(&j, wp_model_load_ms(m));
            wp_json_key(&j, "prefill_base_ms");
            wp_json_double(&j, m->prefill_base_ms);
            wp_json_key(&j, "prefill_ms_per_token");
            wp_json_double(&j, m->prefill_ms_per_token);
            wp_json_key(&j, "decode_ms_per_token");
            wp_json_double(&j, m->decode_ms_per_token);
            wp_json_key(&j, "slots_per_gpu");
            wp_json_uint(&j, m->slots_per_gpu);
            wp_json_key(&j, "load_bytes_per_s");
            wp_json_double(&j, m->load_bytes_per_s);
            wp_json_key(&j, "load_fixed_ms");
            wp_json_double(&j, m->load_fixed_ms);
            wp_json_key(&j, "typical_in_tokens");
            wp_json_uint(&j, m->typical_in_tokens);
            wp_json_key(&j, "typical_out_tokens");
            wp_json_uint(&j, m->typical_out_tokens);
            wp_json_key(&j, "warm_nodes");
            wp_json_uint(&j, warm);
            wp_json_key(&j, "pins");
            wp_json_arr_begin(&j);
            for (size_t k = 0; k < a->n_pins; k++)
                if (strcmp(a->pins[k]->model, m->name) == 0) {
                    wp_json_obj_begin(&j);
                    wp_json_key(&j, "city");
                    wp_json_str(&j, a->pins[k]->city);
                    wp_json_key(&j, "replicas");
                    wp_json_uint(&j, a->pins[k]->replicas);
                    wp_json_key(&j, "placed");
                    wp_json_uint(&j, a->pins[k]->placed);
                    wp_json_obj_end(&j);
                }
            wp_json_arr_end(&j);
            wp_json_obj_end(&j);
        } else {
            printf("%-24s %9.2f %9.0f %10.1f %10.1f %5u %5u  %s\n", m->name,
                   (double)m->size_bytes / 1e9, wp_model_load_ms(m), ttft, total,
                   m->slots_per_gpu, warm, pins[0] ? pins : "-");
        }
    }
    if (json) {
        wp_json_arr_end(&j);
        wp_json_end(&j);
    }
    warmpath__placement__response__free_unpacked(r, NULL);
    free(models);
    wp_placement_client_free(c);
    return WPCTL_OK;
}
