"""Write the walkthrough notebooks (run: ``python notebooks/_build.py``). Outputs are not stored."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
from pathlib import Path
import tempfile

# the repository root: the folder above this notebook that holds data/geojson
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "geojson").exists())
DATA = ROOT / "data" / "geojson"
OUT = Path(tempfile.mkdtemp(prefix="gridgis-notebook-"))
print(DATA, OUT)"""

NOTEBOOKS = {
    "01_load_and_check_a_city.ipynb": [
        (
            "md",
            "# 1 · Load a city and check it\n\nThe sample city (Lujiazui–Weifang, Pudong) is one GeoJSON per "
            "layer in `data/geojson/`, in EPSG:4326. `read_city` normalises each layer to its spec.",
        ),
        ("code", SETUP),
        (
            "code",
            """\
from gridgis.io import read_city

city = read_city(DATA)
{layer: len(frame) for layer, frame in city.items()}""",
        ),
        ("md", "Each layer on its own: codes, required fields, enumerations, geometry validity, China's extent."),
        (
            "code",
            """\
from gridgis.layers import LAYERS, validate_frame

for layer, spec in LAYERS.items():
    problems = validate_frame(spec, city[layer]) if layer in city else []
    print(f"{spec.label_zh:>4} {layer:<12} {len(city.get(layer, [])):>6} features, {len(problems)} problems")""",
        ),
        (
            "md",
            "Across layers: every grid inside its community, grids covering the community without gaps or "
            "overlaps, households in range.",
        ),
        (
            "code",
            """\
from gridgis.layers.hierarchy import check_city

report = check_city(city)
print(report.summary()[:2000])""",
        ),
        ("md", "Households per grid against the 300–500 range the checks use (one source: the grid layer's spec)."),
        (
            "code",
            """\
import matplotlib.pyplot as plt
from gridgis.layers.grid import HOUSEHOLD_RANGE

grids = city["grids"].sort_values("households")
fig, ax = plt.subplots(figsize=(10, 3))
ax.bar(range(len(grids)), grids["households"], color=["tab:red" if not HOUSEHOLD_RANGE[0] <= h <= HOUSEHOLD_RANGE[1]
                                                      else "tab:blue" for h in grids["households"]])
ax.axhspan(*HOUSEHOLD_RANGE, color="tab:green", alpha=0.15, label="300-500 households")
ax.set_xlabel("grids (sorted)"); ax.set_ylabel("households"); ax.legend()
plt.show()""",
        ),
    ],
    "02_align_a_community.ipynb": [
        (
            "md",
            "# 2 · Align a community's grids with its compounds\n\nWhere a grid line cuts a compound, "
            "`gridgis.alignment` proposes new grid lines that follow compound boundaries.",
        ),
        ("code", SETUP),
        (
            "code",
            """\
from gridgis.io import read_city

city = read_city(DATA)
community = city["communities"].iloc[0]
code = community["code"]
part = {layer: frame[frame["code"].str.startswith(code)] for layer, frame in city.items()
        if layer in ("compounds", "buildings", "grids", "micro_grids")}
part["communities"] = city["communities"][city["communities"]["code"] == code]
part["streets"] = city["streets"]
part["stations"] = city["stations"][city["stations"]["area_code"] == code]
print(community["name"], code, {k: len(v) for k, v in part.items()})""",
        ),
        (
            "code",
            """\
from gridgis.alignment.report import analyze

analysis = analyze(part["compounds"], part["grids"], part["buildings"], part["communities"])
cut = analysis.cut_compounds()
print(f"{len(cut)} compounds cut by a grid line")
[(c["name"], c["status_zh"], [p["grid"] for p in c["pieces"]]) for c in cut[:5]]""",
        ),
        (
            "code",
            """\
from gridgis.alignment.propose import propose_alignment

proposal = propose_alignment(part["compounds"], part["grids"], part["buildings"], part["communities"])
proposal.impact.head()""",
        ),
        ("md", "The alignment map: cut compounds in red, proposed grid lines dashed orange, current grids blue."),
        (
            "code",
            """\
from gridgis.maps.folium_maps import save_map
from gridgis.maps.views import alignment_map, cut_compounds

cut_frame = cut_compounds(part["compounds"], analysis.compounds)
m = alignment_map(part, cut_frame, proposal.grids)
path = save_map(m, OUT / "alignment.html")
print(path, path.stat().st_size // 1024, "KiB")
m  # the map, here in the notebook""",
        ),
    ],
    "03_route_tickets.ipynb": [
        (
            "md",
            "# 3 · Route tickets to micro-grids, grids and communities\n\nA ticket's location decides who "
            "handles it. `RoutingIndex` answers point → micro-grid → grid → community → street.",
        ),
        ("code", SETUP),
        (
            "code",
            """\
from gridgis.io import read_city
from gridgis.routing import RoutingIndex

city = read_city(DATA)
index = RoutingIndex.build(city)
tickets = city["tickets"]
print(len(tickets), "tickets")""",
        ),
        (
            "code",
            """\
first = tickets.geometry.iloc[0]
result = index.route(first.x, first.y)
result.to_dict()""",
        ),
        (
            "code",
            """\
import matplotlib.pyplot as plt

routed = index.route_many(tickets.geometry.x.to_numpy(), tickets.geometry.y.to_numpy())
busiest = routed.groupby("grid_code").size().sort_values(ascending=False).head(15)
ax = busiest.plot.barh(figsize=(8, 4), title="tickets per grid (15 busiest)")
ax.invert_yaxis(); ax.set_xlabel("tickets")
plt.show()
busiest.head(10)""",
        ),
        (
            "md",
            "Who answers: the 吹哨报到 matter catalogue gives each ticket's matter a responsible department "
            "and a tier (small matters fast, big ones by consultation, hard ones escalated).",
        ),
        (
            "code",
            """\
from gridgis.tickets.catalogue import default_catalogue

catalogue = default_catalogue()
routed["matter_code"] = tickets["matter_code"].to_numpy()
known = routed[routed["matter_code"].map(catalogue.has)]
known.assign(matter=known["matter_code"].map(lambda c: catalogue.item(c).name),
             department=known["matter_code"].map(lambda c: catalogue.item(c).department))[
    ["grid_code", "community_code", "matter", "department"]].head(8)""",
        ),
        ("md", "The workload map: tickets as a heat map, grids coloured by ticket volume."),
        (
            "code",
            """\
from gridgis.maps.folium_maps import save_map
from gridgis.maps.views import workload_map

stats = routed.groupby("grid_code").size().rename("volume").reset_index()
m = workload_map(city, tickets, stats, metric="volume")
path = save_map(m, OUT / "workload.html")
print(path, path.stat().st_size // 1024, "KiB")
m""",
        ),
    ],
    "04_map_the_stations.ipynb": [
        (
            "md",
            "# 4 · Map the stations and their life-circle coverage\n\nStations by kind with Chinese popups; "
            "then GB 50180-2018 life circles (5 min ≈ 300 m, 10 min ≈ 500 m, 15 min ≈ 800–1,000 m): "
            "the share of households reached per community, the gaps, and the best new sites.",
        ),
        ("code", SETUP),
        (
            "code",
            """\
from gridgis.io import read_city
from gridgis.layers.station import KINDS

city = read_city(DATA)
city["stations"]["kind"].map(KINDS).value_counts()""",
        ),
        (
            "code",
            """\
from gridgis.maps.folium_maps import overview_map, save_map

m = overview_map(city)
path = save_map(m, OUT / "overview.html")
print(path, path.stat().st_size // 1024, "KiB — opens offline, every asset inline")
m""",
        ),
        (
            "md",
            "Coverage straight-line with a stated detour factor (1.3). With a road layer, pass "
            "`network=build_road_network(read_osm_roads(path))` to walk along the roads instead.",
        ),
        (
            "code",
            """\
from gridgis.maps.coverage import coverage_report, coverage_table_zh

result = coverage_report(city, "10min")
print(result.method)
import matplotlib.pyplot as plt

shares = result.by_community.pivot_table(index="community_code", columns="kind", values="share")
ax = (100 * shares).plot.bar(figsize=(10, 3.5), title="households within a 10-minute walk, % per community")
ax.set_ylabel("%"); ax.legend(fontsize=7, ncol=3)
plt.show()
coverage_table_zh(result).pivot_table(index="社区", columns="站点类型", values="覆盖率%").round(0)""",
        ),
        (
            "code",
            """\
from gridgis.maps.coverage import suggest_sites

kind = result.by_community.groupby("kind")["share"].mean().idxmin()
sites = suggest_sites(result.demand, result.demand[f"covered_{kind}"], city["buildings"].geometry, "10min", k=3)
print(KINDS[kind]); sites""",
        ),
        (
            "code",
            """\
from gridgis.maps.views import coverage_map

m = coverage_map(city, result, kind, sites)
print(save_map(m, OUT / "coverage.html"))
m""",
        ),
    ],
    "05_people_and_organisations.ipynb": [
        (
            "md",
            "# 5 · People and organisations\n\nThe sample city's synthetic population (seeded, not real people): "
            "party members of the four kinds, volunteers, grid workers, wishes, activities and a care register, "
            "placed by building through the routing index. `gridgis sample-city` writes it as `population.json`; "
            "here it is drawn from the city with the same seed (the same rows).",
        ),
        ("code", SETUP),
        (
            "code",
            """\
from gridgis.io import read_city
from gridgis.people.load import load_population
from gridgis.people.store import PeopleStore
from gridgis.sample.population import generate_population
from gridgis.storage import Repository

city = read_city(DATA)
repo = Repository(f"sqlite:///{OUT / 'people.db'}")
repo.create_schema()
repo.write_city({k: v for k, v in city.items() if k != "tickets"}, author="notebook", message="sample city")
store = PeopleStore(repo)
pop = generate_population(city, seed=0)
load_population(store, pop)""",
        ),
        (
            "md",
            "Who answers for each building (包栋, or every unit 包单元), who is over-assigned, which micro-grids "
            "have no worker (一微网格一网格员).",
        ),
        (
            "code",
            """\
from gridgis.people.service import coverage_report

report = coverage_report(store)
report.summary()""",
        ),
        (
            "code",
            """\
import matplotlib.pyplot as plt

from gridgis.people.responsibility import STATE_COLOURS, coverage_layer

layer = coverage_layer(store.placer.city["buildings"], report.states, show_names=False)
ax = layer.plot(color=layer["colour"], figsize=(7, 7), edgecolor="#555", linewidth=0.2)
for state, colour in STATE_COLOURS.items():
    ax.scatter([], [], color=colour, marker="s", label=state)
ax.legend(title="responsibility", loc="lower left")
ax.set_axis_off()
ax.set_title("Buildings by responsibility (building / all units / partial / patch only / none)")
plt.show()""",
        ),
        ("md", "Every member belongs to an organisation of the party tree persisted from the alignment."),
        (
            "code",
            """\
import pandas as pd

orgs = pd.DataFrame(store.orgs())
orgs["kind"].value_counts()""",
        ),
        ("md", "Star points of a quarter (一季一评星) and the emergency roster of one street (平急转换)."),
        (
            "code",
            """\
from gridgis.people.roster import build_roster
from gridgis.people.service import points_ledger

ledger = points_ledger(store, "2026Q3")
print(ledger[["name", "points", "stars"]].head())
street = str(city["streets"]["code"].iloc[0])
build_roster(store, street, "flood").summary()""",
        ),
    ],
}


def build() -> list[Path]:
    written = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(
            cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells],
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
        )
        path = HERE / name
        nbformat.write(nb, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print(p)
