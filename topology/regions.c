/* topology/regions.c — the seven report regions and the country → region
 * lookup over the generated table in countries.c. */
#include "topology/topology_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const region_names[WP_REGION_COUNT] = {
    "africa", "asia", "europe", "middle-east", "north-america", "oceania", "south-america",
};

const char *wp_region_name(wp_region r)
{
    if ((int)r < 0 || r >= WP_REGION_COUNT)
        return "unknown";
    return region_names[r];
}

int wp_region_parse(const char *name, wp_region *out)
{
    if (name == NULL)
        return WP_EINVAL;
    for (int r = 0; r < WP_REGION_COUNT; r++) {
        if (strcmp(name, region_names[r]) == 0) {
            *out = (wp_region)r;
            return WP_OK;
        }
    }
    return WP_ENOTFOUND;
}

static int cmp_country(const void *key, const void *elem)
{
    const wp_country_region *e = elem;
    return strcmp((const char *)key, e->iso2);
}

int wp_region_of_country(const char *iso2, wp_region *out)
{
    if (iso2 == NULL)
        return WP_EINVAL;
    if (strlen(iso2) != 2 || !isalpha((unsigned char)iso2[0]) ||
        !isalpha((unsigned char)iso2[1]))
        return WP_ENOTFOUND;
    char key[3] = {(char)toupper((unsigned char)iso2[0]), (char)toupper((unsigned char)iso2[1]),
                   '\0'};
    const wp_country_region *e =
        bsearch(key, wp_country_table, wp_country_table_len, sizeof wp_country_table[0],
                cmp_country);
    if (e == NULL)
        return WP_ENOTFOUND;
    *out = e->region;
    return WP_OK;
}
