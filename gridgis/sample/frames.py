"""Turn the metric plan of the sample city into layer frames (EPSG:4326) with names and attributes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgis.crs import STORAGE_CRS
from gridgis.layers import LAYERS, normalize_frame
from gridgis.sample import names as N
from gridgis.sample.people import landline, person_name, worker_for_micro_grid, workers_for_grid

NUMERALS = "一二三四五六七八九十"


def to_lonlat(geoms: np.ndarray, epsg: int) -> np.ndarray:
    """Project metric geometries to EPSG:4326 and round to 7 decimals (about 1 cm).

    Rounding vertex by vertex keeps shared edges shared, so coverages stay valid.
    """
    tr = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    out = shapely.transform(np.asarray(geoms, dtype=object), fn)
    bad = np.flatnonzero(~shapely.is_valid(out))
    for i in bad:  # a pinhole that rounding collapsed: drop the ring (no other unit holds that place)
        out[i] = _without_collapsed_holes(out[i])
        if not out[i].is_valid:  # a zero-width spike: drop it (it holds no area, neighbours keep theirs)
            fixed = shapely.make_valid(out[i], method="structure", keep_collapsed=False)
            parts = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon"]
            out[i] = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return out


def _without_collapsed_holes(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    parts = []
    for part in shapely.get_parts(geom):
        holes = [r for r in part.interiors if len(set(r.coords)) >= 3 and shapely.Polygon(r).area > 0]
        parts.append(shapely.Polygon(part.exterior, holes))
    return parts[0] if geom.geom_type == "Polygon" else shapely.MultiPolygon(parts)


def _short(name: str) -> str:
    return name.removesuffix("居委会").removesuffix("社区")


class _Namer:
    """Unique, realistic compound names by kind, coherent with the community's name."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.stem_count: dict[str, int] = {}
        self.pools = {
            k: list(rng.permutation(v))
            for k, v in (
                ("residential", N.RESIDENTIAL_NAMES),
                ("transitional", N.TRANSITIONAL_NAMES),
                ("work_unit", N.WORK_UNIT_NAMES),
            )
        }
        self.pool_pos = {k: 0 for k in self.pools}

    def stem_for(self, community_name: str, ci: int) -> str:
        for stem in N.AGING_STEMS:
            if community_name.startswith(stem):
                return stem
        return N.AGING_STEMS[(ci * 5) % len(N.AGING_STEMS)]

    def name(self, kind: str, community_name: str, ci: int) -> str:
        if kind == "aging":
            stem = self.stem_for(community_name, ci)
            while True:
                k = self.stem_count.get(stem, 0)
                self.stem_count[stem] = k + 1
                series = "街坊" if stem in ("梅园", "东昌") else "村"
                if k < 10:
                    cand = f"{stem}{NUMERALS[k]}{series}"
                else:
                    cand = f"{stem}{k + 1}{series}"
                if cand not in self.used:
                    break
        else:
            pool = self.pools[kind]
            while True:
                i = self.pool_pos[kind]
                self.pool_pos[kind] = i + 1
                base = pool[i % len(pool)]
                rnd = i // len(pool)
                cand = str(base) if rnd == 0 else f"{base}{rnd + 1}期"
                if cand not in self.used:
                    break
        self.used.add(cand)
        return cand


def compounds_frame(plan: dict, rng: np.random.Generator) -> tuple[gpd.GeoDataFrame, list[str]]:
    comms = plan["communities"]
    kinds = plan["comp_kind"]
    n = len(kinds)
    bld = plan["buildings"]
    hh = np.bincount(bld["compound"], weights=bld["households"], minlength=n).astype(int)
    namer = _Namer(rng)
    r = rng.random((4, n))
    pm = np.select(
        [kinds == "residential", kinds == "transitional", kinds == "work_unit"],
        [r[0] < 0.97, r[0] < 0.6, r[0] < 0.35],
        r[0] < 0.3,
    )
    oc = np.select([kinds == "residential", kinds == "transitional"], [r[1] < 0.7, r[1] < 0.3], r[1] < 0.12)
    clear = np.select(
        [kinds == "aging", kinds == "work_unit", kinds == "transitional"], [r[2] < 0.35, r[2] < 0.6, r[2] < 0.85], True
    )
    codes, names, addresses = [], [], []
    seq: dict[int, int] = {}
    for i in range(n):
        ci = int(plan["comp_comm"][i])
        seq[ci] = seq.get(ci, 0) + 1
        codes.append(f"{comms[ci]['code']}Q{seq[ci]:03d}")
        names.append(namer.name(str(kinds[i]), comms[ci]["name"], ci))
        road = N.ROADS[(ci * 3 + seq[ci]) % len(N.ROADS)]
        addresses.append(f"{road}{int(rng.integers(1, 120)) * 10}弄")
    frame = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": names,
            "community_code": [comms[c]["code"] for c in plan["comp_comm"]],
            "kind": kinds.astype(str),
            "households": hh,
            "has_property_management": pm,
            "has_owners_committee": oc & pm,
            "boundary_clear": clear,
            "address": addresses,
        },
        geometry=to_lonlat(plan["comp_geom"], plan["epsg"]),
        crs=STORAGE_CRS,
    )
    return frame, names


def buildings_frame(plan: dict, comp_codes: list[str], comp_comm_codes: list[str]) -> gpd.GeoDataFrame:
    bld = plan["buildings"]
    owner = bld["compound"]
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    counts = np.diff(np.r_[first, len(owner)])
    seq = np.arange(len(owner)) - np.repeat(first, counts) + 1
    codes = [f"{comp_codes[o]}B{s:03d}" for o, s in zip(owner, seq)]
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f"{s}号楼" for s in seq],
            "compound_code": [comp_codes[o] for o in owner],
            "community_code": [comp_comm_codes[o] for o in owner],
            "number": [f"{s}号楼" for s in seq],
            "households": bld["households"],
            "units": bld["units"],
            "floors": bld["floors"],
        },
        geometry=to_lonlat(bld["geometry"], plan["epsg"]),
        crs=STORAGE_CRS,
    )


def admin_frames(plan: dict, rng: np.random.Generator) -> dict[str, gpd.GeoDataFrame]:
    """Streets, communities, grids and micro-grids with households, population and workers."""
    bld = plan["buildings"]
    hh = bld["households"]
    comms, grids, micros = plan["communities"], plan["grids"], plan["micros"]
    m_hh = np.bincount(plan["bld_micro"], weights=hh, minlength=len(micros)).astype(int)
    g_of_m = np.array([m["grid"] for m in micros])
    g_hh = np.bincount(g_of_m, weights=m_hh, minlength=len(grids)).astype(int)
    c_of_g = np.array([g["community"] for g in grids])
    c_hh = np.bincount(c_of_g, weights=g_hh, minlength=len(comms)).astype(int)
    s_of_c = np.array([c["street"] for c in comms])
    s_hh = np.bincount(s_of_c, weights=c_hh, minlength=len(plan["streets"])).astype(int)
    pop = lambda h: np.round(h * rng.uniform(2.3, 2.9, len(h))).astype(int)
    epsg = plan["epsg"]
    streets = gpd.GeoDataFrame(
        {
            "code": [s["code"] for s in plan["streets"]],
            "name": [s["name"] for s in plan["streets"]],
            "district": N.DISTRICT,
            "households": s_hh,
            "population": pop(s_hh),
        },
        geometry=to_lonlat(plan["street_geom"], epsg),
        crs=STORAGE_CRS,
    )
    communities = gpd.GeoDataFrame(
        {
            "code": [c["code"] for c in comms],
            "name": [c["name"] for c in comms],
            "street_code": [plan["streets"][c["street"]]["code"] for c in comms],
            "households": c_hh,
            "population": pop(c_hh),
        },
        geometry=to_lonlat(plan["comm_geom"], epsg),
        crs=STORAGE_CRS,
    )
    g_codes, g_names, g_kind, g_for, g_workers = [], [], [], [], []
    for g in grids:
        c = comms[g["community"]]
        g_codes.append(f"{c['code']}{g['seq']:03d}")
        if g["institution"] is not None:
            kind, inst = g["institution"]
            g_names.append(f"{inst}专属网格")
            g_kind.append("dedicated")
            g_for.append(kind)
        else:
            g_names.append(f"{_short(c['name'])}第{g['seq']}网格")
            g_kind.append("basic")
            g_for.append(None)
        g_workers.append(workers_for_grid(rng))
    grid_frame = gpd.GeoDataFrame(
        {
            "code": g_codes,
            "name": g_names,
            "community_code": [comms[g["community"]]["code"] for g in grids],
            "kind": g_kind,
            "dedicated_for": g_for,
            "households": g_hh,
            "population": pop(g_hh),
            "workers": g_workers,
        },
        geometry=to_lonlat(plan["grid_geom"], epsg),
        crs=STORAGE_CRS,
    )
    micro_frame = gpd.GeoDataFrame(
        {
            "code": [f"{g_codes[m['grid']]}{m['seq']:02d}" for m in micros],
            "name": [f"{g_names[m['grid']]}{m['seq']}号微网格" for m in micros],
            "grid_code": [g_codes[m["grid"]] for m in micros],
            "households": m_hh,
            "workers": [worker_for_micro_grid(rng) for _ in micros],
        },
        geometry=to_lonlat(plan["micro_geom"], epsg),
        crs=STORAGE_CRS,
    )
    return {"streets": streets, "communities": communities, "grids": grid_frame, "micro_grids": micro_frame}


def stations_frame(plan: dict, city: dict[str, gpd.GeoDataFrame], rng: np.random.Generator) -> gpd.GeoDataFrame:
    """About five stations per community of every kind, placed off the buildings."""
    comms = city["communities"]
    streets = city["streets"]
    compounds = city["compounds"]
    rows: list[dict] = []
    seq: dict[str, int] = {}

    def add(kind: str, level: str, area_code: str, area_name: str, point, place: str) -> None:
        seq[area_code] = seq.get(area_code, 0) + 1
        patterns, services, hours = N.STATION_INFO[kind]
        pattern = patterns[int(rng.integers(len(patterns)))]
        road = N.ROADS[int(rng.integers(len(N.ROADS)))]
        name = pattern.format(area=_short(area_name), place=place, road=road, person=person_name(rng))
        k = int(rng.integers(2, len(services) + 1))
        rows.append(
            {
                "code": f"{area_code}S{seq[area_code]:03d}",
                "name": name,
                "kind": kind,
                "level": level,
                "area_code": area_code,
                "opening_hours": hours,
                "services": [str(s) for s in rng.permutation(services)[:k]],
                "contact": landline(rng),
                "address": f"{road}{int(rng.integers(1, 900))}号",
                "geometry": point,
            }
        )

    comp_by_comm = {c: g for c, g in compounds.groupby("community_code")}
    free_areas: list = []  # rows placed afterwards, all at once, off the compounds

    def add_free(kind: str, level: str, code: str, name: str, area, place: str) -> None:
        add(kind, level, code, name, None, place)
        free_areas.append((len(rows) - 1, area))

    for s in streets.itertuples():
        add_free("party_mass_centre", "street", s.code, s.name, s.geometry, s.name)
    extra = [
        "red_station",
        "courier_station",
        "help_desk",
        "canteen",
        "mediation_room",
        "micro_station",
        "help_desk",
        "micro_station",
    ]
    for i, c in enumerate(comms.itertuples()):
        add_free("party_mass_centre", "community", c.code, c.name, c.geometry, c.name)
        mine = comp_by_comm.get(c.code)
        for j in range(4):
            kind = extra[(i * 4 + j) % len(extra)]
            if kind == "micro_station" and mine is not None and len(mine):
                comp = mine.iloc[int(rng.integers(len(mine)))]
                pt = comp.geometry.representative_point()
                add(kind, "compound", c.code, c.name, pt, comp["name"])
            else:
                add_free(kind, "community", c.code, c.name, c.geometry, _short(c.name))
    points = _free_points(np.array([a for _, a in free_areas], dtype=object), compounds, rng)
    for (row, _), pt in zip(free_areas, points):
        rows[row]["geometry"] = pt
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)


def _free_points(
    areas: np.ndarray, compounds: gpd.GeoDataFrame, rng: np.random.Generator, tries: int = 60
) -> np.ndarray:
    """One point per area, inside it but outside every compound (a road or a square) when possible."""
    b = shapely.bounds(areas)
    u = rng.random((len(areas), tries, 2))
    xs = np.round(b[:, 0, None] + u[..., 0] * (b[:, 2] - b[:, 0])[:, None], 7)
    ys = np.round(b[:, 1, None] + u[..., 1] * (b[:, 3] - b[:, 1])[:, None], 7)
    inside = shapely.contains_xy(areas[:, None], xs, ys)
    pts = shapely.points(xs.ravel(), ys.ravel())
    hit = np.zeros(pts.shape, bool)
    idx, _ = compounds.sindex.query(pts, predicate="intersects")
    hit[idx] = True
    good = inside & ~hit.reshape(inside.shape)
    out = np.empty(len(areas), dtype=object)
    for i in range(len(areas)):
        k = np.flatnonzero(good[i])
        if not len(k):
            k = np.flatnonzero(inside[i])
        out[i] = pts[i * tries + k[0]] if len(k) else shapely.point_on_surface(areas[i])
    return out


def finish(city: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """Normalise every layer frame to its spec (columns, dtypes), in layer order."""
    return {
        layer: normalize_frame(LAYERS[layer], city[layer].reset_index(drop=True)) for layer in LAYERS if layer in city
    }


__all__ = ["admin_frames", "buildings_frame", "compounds_frame", "finish", "stations_frame", "to_lonlat"]
