#!/usr/bin/env python3
"""derive_presets.py — derive warmpath's shipped topology data from the public
data set in ../shared/data (a development tool; the build never runs it).

Writes, relative to the repository root:
  topology/data/edge.csv    Cloudflare PoPs (cloudflare_colos_filled.csv)
  topology/data/aws.csv     AWS regions   (cloud_regions_aws_azure_gcp.csv)
  topology/data/azure.csv   Azure regions (same file)
  topology/data/gcp.csv     GCP regions   (same file)
  topology/data/tiny.csv    8 edge cities, at least one per region
  topology/data/users.csv   population points (simplemaps_worldcities_basic.csv)
  topology/countries.c      ISO 3166-1 alpha-2 -> region table
  tests/fixtures/topo/azure_rtt_p50.csv   measured Azure inter-region p50 RTT

Decisions (also in topology/data/SOURCES.md):
  * Regions start from UN M49 (iso3166_countries_regions.csv). Western Asia
    and Iran form `middle-east`, except Cyprus and the Caucasus (Georgia,
    Armenia, Azerbaijan), which go to `europe` (EU / Council of Europe
    members whose transit runs mostly through Europe). Egypt stays in
    `africa` as in M49. The Americas split by M49 intermediate region: South
    America -> `south-america`, everything else (Northern America, Central
    America, the Caribbean) -> `north-america`. Taiwan (no M49 region in the
    file) -> `asia`; Antarctica -> `oceania` (no population). Two user-
    assigned codes found in the city data are added: XK (Kosovo) -> europe,
    XW (West Bank, simplemaps) -> middle-east.
  * Cloud regions carry no country: each gets the country of the nearest
    world city (great circle); the script prints them for a manual check.
  * users.csv keeps the cities with population >= USERS_MIN_POPULATION.
  * pop_weight of a preset city = total population of the user points whose
    nearest city (great circle, which is also the lowest model RTT, since the
    model is increasing in distance) in that preset is this one.

Run: python3 scripts/derive_presets.py [DATA_DIR]   (default ../shared/data
relative to the repository root, i.e. /work/shared/data).
"""
import csv
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "..", "shared", "data")
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"

R_KM = 6371.0088
USERS_MIN_POPULATION = 20000
TINY_CODES = ["FRA", "IAD", "GRU", "JNB", "DXB", "SIN", "SYD", "NRT"]

REGIONS = ["africa", "asia", "europe", "middle-east", "north-america", "oceania",
           "south-america"]
MIDDLE_EAST = {"AE", "BH", "KW", "OM", "QA", "SA", "IR", "IQ", "IL", "PS", "JO", "LB",
               "SY", "YE", "TR"}
EUROPE_OVERRIDE = {"CY", "GE", "AM", "AZ"}
EXTRA = [("XK", "Kosovo", "europe"), ("XW", "West Bank", "middle-east")]
# Nearest-city country checked by hand; these three were wrong (the nearest
# listed city lies across a border): Israel Central's metro coordinates sit
# nearer to Al-Arish (EG), Jurong West nearer to Johor Bahru (MY), Eemshaven
# nearer to Emden (DE).
COUNTRY_FIX = {"israelcentral": "IL", "asia-southeast1": "SG", "europe-west4": "NL"}


def rd(name):
    with open(os.path.join(DATA, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def region_of(row):
    a2 = row["alpha-2"]
    if a2 in MIDDLE_EAST:
        return "middle-east"
    if a2 in EUROPE_OVERRIDE:
        return "europe"
    if a2 == "TW":
        return "asia"
    if a2 == "AQ":
        return "oceania"
    reg, sub, inter = row["region"], row["sub-region"], row["intermediate-region"]
    if reg == "Africa":
        return "africa"
    if reg == "Europe":
        return "europe"
    if reg == "Oceania":
        return "oceania"
    if reg == "Asia":
        if sub == "Western Asia":
            raise SystemExit("unmapped Western Asia country " + a2)
        return "asia"
    if reg == "Americas":
        return "south-america" if inter == "South America" else "north-america"
    raise SystemExit("no region for %s %r" % (a2, row))


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_KM * math.asin(min(1.0, math.sqrt(h)))


def unit(lat, lon):
    p, l = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(l), math.cos(p) * math.sin(l), math.sin(p))


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print("wrote %s (%d rows, %d bytes)" % (os.path.relpath(path, ROOT), len(rows),
                                          os.path.getsize(path)))


def fmt(x):
    return ("%.5f" % x).rstrip("0").rstrip(".")


def main():
    iso = rd("iso3166_countries_regions.csv")
    country_region = {}
    table = []
    for row in iso:
        reg = region_of(row)
        country_region[row["alpha-2"]] = reg
        table.append((row["alpha-2"], row["name"], reg))
    for a2, name, reg in EXTRA:
        country_region[a2] = reg
        table.append((a2, name, reg))
    table.sort()

    # ---- users
    users = []
    listed = 0.0
    for row in rd("simplemaps_worldcities_basic.csv"):
        pop = float(row["population"]) if row["population"] else 0.0
        listed += pop
        if pop < USERS_MIN_POPULATION:
            continue
        if row["iso2"] not in country_region:
            raise SystemExit("unknown country %s" % row["iso2"])
        name = row["city_ascii"][:47]
        users.append((name, row["iso2"], float(row["lat"]), float(row["lng"]), int(pop)))
    kept = sum(u[4] for u in users)
    print("users: %d points, %.0f of %.0f listed people (%.2f%%)" %
          (len(users), kept, listed, 100.0 * kept / listed))
    write_csv(os.path.join(ROOT, "topology", "data", "users.csv"),
              ["name", "country", "lat", "lon", "population"],
              [(u[0], u[1], fmt(u[2]), fmt(u[3]), u[4]) for u in users])
    uvecs = [unit(u[2], u[3]) for u in users]

    def pop_weights(cities):
        cv = [unit(c[3], c[4]) for c in cities]
        w = [0] * len(cities)
        for uv, u in zip(uvecs, users):
            best = max(range(len(cv)),
                       key=lambda i: cv[i][0] * uv[0] + cv[i][1] * uv[1] + cv[i][2] * uv[2])
            w[best] += u[4]
        return w

    def emit(name, cities):
        w = pop_weights(cities)
        rows = [(c[0], c[1], c[2], country_region[c[2]], fmt(c[3]), fmt(c[4]), w[i])
                for i, c in enumerate(cities)]
        write_csv(os.path.join(ROOT, "topology", "data", name + ".csv"),
                  ["code", "name", "country", "region", "lat", "lon", "pop_weight"], rows)

    # ---- edge
    edge = []
    for row in rd("cloudflare_colos_filled.csv"):
        if not row["lat"] or not row["lon"]:
            print("edge: dropping %s (%s): no coordinates" % (row["colo"], row["name"]))
            continue
        if row["cca2"] not in country_region:
            raise SystemExit("edge: unknown country " + row["cca2"])
        name = row["name"].split(",")[0].strip()
        edge.append((row["colo"], name, row["cca2"], float(row["lat"]), float(row["lon"])))
    emit("edge", edge)
    byc = {c[0]: c for c in edge}
    emit("tiny", [byc[c] for c in TINY_CODES])

    # ---- cloud regions: country = nearest world city
    world = [(float(r["lat"]), float(r["lng"]), r["iso2"], r["city_ascii"])
             for r in rd("simplemaps_worldcities_basic.csv")]
    clouds = {"aws": [], "azure": [], "gcp": []}
    for row in rd("cloud_regions_aws_azure_gcp.csv"):
        lat, lon = float(row["lat"]), float(row["lon"])
        near = min(world, key=lambda w: haversine(lat, lon, w[0], w[1]))
        name = row["display_name"]
        if name.startswith("(") and ") " in name:
            name = name.split(") ", 1)[1]
        if not name:
            name = row["city_or_state"]
        name = name[:63]
        print("%-6s %-24s %-32s -> %s (%s, %.0f km)" %
              (row["provider"], row["region"], name, near[2], near[3],
               haversine(lat, lon, near[0], near[1])))
        cc = COUNTRY_FIX.get(row["region"], near[2])
        clouds[row["provider"]].append((row["region"], name, cc, lat, lon))
    for p in ("aws", "azure", "gcp"):
        emit(p, clouds[p])

    # ---- countries.c
    path = os.path.join(ROOT, "topology", "countries.c")
    with open(path, "w", encoding="utf-8") as f:
        f.write("/* topology/countries.c — GENERATED by scripts/derive_presets.py from\n"
                " * iso3166_countries_regions.csv (lukes/ISO-3166-Countries-with-Regional-\n"
                " * Codes, CC BY-SA 4.0; see topology/data/SOURCES.md). Do not edit by hand:\n"
                " * change the script and run it again.\n"
                " *\n"
                " * ISO 3166-1 alpha-2 -> one of the seven regions, sorted by code for\n"
                " * bsearch. The rules (UN M49 base, middle-east defined explicitly) are\n"
                " * in the script's docstring. */\n")
        f.write('#include "topology/topology_int.h"\n\n')
        f.write("const wp_country_region wp_country_table[] = {\n")
        enum = {r: "WP_REGION_" + r.upper().replace("-", "_") for r in REGIONS}
        for a2, name, reg in table:
            cname = name.replace("*/", "")
            f.write('    {"%s", %s}, /* %s */\n' % (a2, enum[reg], cname))
        f.write("};\n")
        f.write("const size_t wp_country_table_len = sizeof wp_country_table / "
                "sizeof wp_country_table[0];\n")
    print("wrote topology/countries.c (%d countries)" % len(table))

    # ---- azure RTT fixture
    rows = []
    for r in rd("azure_interregion_rtt_p50_2026-07_long.csv"):
        rows.append((r["src_lat"], r["src_lon"], r["dst_lat"], r["dst_lon"], r["rtt_p50_ms"]))
    write_csv(os.path.join(ROOT, "tests", "fixtures", "topo", "azure_rtt_p50.csv"),
              ["src_lat", "src_lon", "dst_lat", "dst_lon", "rtt_ms"], rows)

    # ---- backbone graph (topohub/TopoGen) -> two compact CSVs
    import json
    with open(os.path.join(DATA, "topogen_backbone_graph.json"), encoding="utf-8") as f:
        g = json.load(f)
    kind = {"City": "city", "Seacable Landing Point": "landing", "Seacable Waypoint": "waypoint"}
    nodes = sorted(g["nodes"], key=lambda n: n["id"])
    write_csv(os.path.join(ROOT, "topology", "data", "backbone_nodes.csv"),
              ["id", "kind", "lat", "lon"],
              [(n["id"], kind[n["type"]], "%.4f" % n["latitude"], "%.4f" % n["longitude"])
               for n in nodes])
    etype = {"normal": "land", "seacable": "sea"}
    write_csv(os.path.join(ROOT, "topology", "data", "backbone_edges.csv"),
              ["u", "v", "kind", "km"],
              [(e["u"], e["v"], etype[e["type"]], "%.1f" % e["distance"]) for e in g["edges"]])
    print("wrote backbone_nodes.csv (%d), backbone_edges.csv (%d)" % (len(nodes), len(g["edges"])))

    # ---- M-Lab access latency: copied as is (already derived upstream)
    with open(os.path.join(DATA, "mlab_ndt_min_rtt_by_country_2025-10.csv"), encoding="utf-8") as f:
        body = f.read()
    with open(os.path.join(ROOT, "topology", "data", "access_mlab.csv"), "w", encoding="utf-8") as f:
        f.write(body)


if __name__ == "__main__":
    main()
