"""Checks the DOM of a `wpctl … --html` page as headless Chromium rendered
it (after its scripts ran). Standard library only.

  check_dom.py DOM.html [--cities N] [--curves N]

For every run section: the map has one mark (data-city) per row of the
"every city" table and as many as its data-cities attribute says, every
serving site listed in data-sites is drawn, the CDF chart has one curve per
region with latency in the figures table, and the city table's requests add
up to the figures' "all" row. --cities / --curves also fix the expected
counts from outside the page. Prints what it found; exit 1 on a failure."""
import sys
from html.parser import HTMLParser


class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.status = None
        self.runs = []
        self.cur = None
        self.in_map = False
        self.row = None     # cells of the current <tr> when it matters
        self.cell = None
        self.scripts_external = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.status = a.get("data-wp-status")
        if tag == "script" and "src" in a:
            self.scripts_external += 1
        if tag == "section" and "run" in (a.get("class") or "").split():
            self.cur = dict(marks=0, sites=0, curves=0, city_rows=0, city_req=0,
                            lat_regions=0, all_requests=None, map_cities=None,
                            map_sites=None)
            self.runs.append(self.cur)
        if self.cur is None:
            return
        if tag == "svg" and "map" in (a.get("class") or "").split():
            self.in_map = True
            self.cur["map_cities"] = int(a.get("data-cities", "-1"))
            self.cur["map_sites"] = int(a.get("data-sites", "-1"))
        if self.in_map and tag == "circle" and "data-city" in a:
            self.cur["marks"] += 1
        if self.in_map and "data-site" in a:
            self.cur["sites"] += 1
        if tag == "polyline" and "cdf" in (a.get("class") or "").split():
            self.cur["curves"] += 1
        if tag == "tr":
            if "data-city-row" in a:
                self.cur["city_rows"] += 1
                self.row = ("city", [])
            elif "data-region-row" in a:
                self.cur["lat_regions"] += "data-latency" in a
                self.row = None
            else:
                self.row = ("other", [])
        if tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_map = False
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row[1].append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr" and self.row is not None:
            kind, cells = self.row
            if kind == "city" and len(cells) >= 3:
                self.cur["city_req"] += int(cells[2])
            if kind == "other" and cells and cells[0] == "all" and \
                    self.cur["all_requests"] is None and len(cells) > 1:
                self.cur["all_requests"] = int(cells[1])
            self.row = None
        if tag == "section":
            self.cur = None if tag == "section" and self.cur else self.cur


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    want_cities = want_curves = None
    while args:
        k = args.pop(0)
        if k == "--cities":
            want_cities = int(args.pop(0))
        elif k == "--curves":
            want_curves = int(args.pop(0))
    d = Dom()
    with open(path, encoding="utf-8") as f:
        d.feed(f.read())
    bad = []
    if d.status != "ok":
        bad.append("page status %r (script error or scripts did not run)" % d.status)
    if d.scripts_external:
        bad.append("%d external scripts" % d.scripts_external)
    if not d.runs:
        bad.append("no run sections")
    for i, r in enumerate(d.runs):
        print("run %d: %s" % (i, r))
        if r["marks"] != r["city_rows"] or r["marks"] != r["map_cities"]:
            bad.append("run %d: %d city marks, %d city rows, data-cities %s"
                       % (i, r["marks"], r["city_rows"], r["map_cities"]))
        if r["marks"] == 0:
            bad.append("run %d: no city on the map" % i)
        if want_cities is not None and r["marks"] != want_cities:
            bad.append("run %d: %d city marks, expected %d" % (i, r["marks"], want_cities))
        if r["sites"] != r["map_sites"] or r["sites"] == 0:
            bad.append("run %d: %d site marks, data-sites %s" % (i, r["sites"], r["map_sites"]))
        if r["curves"] != r["lat_regions"] or r["curves"] == 0:
            bad.append("run %d: %d CDF curves for %d regions with latency"
                       % (i, r["curves"], r["lat_regions"]))
        if want_curves is not None and r["curves"] != want_curves:
            bad.append("run %d: %d CDF curves, expected %d" % (i, r["curves"], want_curves))
        if r["city_req"] != r["all_requests"]:
            bad.append("run %d: city rows add up to %d requests, figures say %s"
                       % (i, r["city_req"], r["all_requests"]))
    for b in bad:
        print("FAIL: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
