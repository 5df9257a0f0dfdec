"""The deterministic sample city: a district of Pudong around Lujiazui–Weifang.

The plan is drawn in a metric plane (CGCS2000 Gauss-Krüger, metres) and converted to
EPSG:4326 at the end. Order of work:

1. the district is cut into streets and each street into communities (wiggly boundary roads);
2. a lattice of blocks separated by roads gives the compounds, each clipped to its community;
3. rows of slab buildings fill each compound; households depend on kind and floors;
4. grids cut each community with straight lines by household count, ignoring compound walls,
   and micro-grids cut each grid the same way; an institution strip becomes a dedicated grid;
5. all cut lines are noded and polygonised once, so every layer shares its edges exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from gridgis.codes import child_code
from gridgis.crs import gauss_kruger_epsg
from gridgis.sample import names as N
from gridgis.sample import partition as P

#: south-west corner of the small district (lon, lat): west of Lujiazui, by the Huangpu
ORIGIN = (121.5075, 31.2180)


@dataclass(frozen=True)
class Scale:
    """Size parameters of one generator scale."""

    streets: int
    communities_per_street: int
    community_side: float  # metres (square community of this side, on average)
    block: tuple[float, float]  # compound block side range (m)
    open_share: float  # share of blocks left as open space (parks, offices, schools)
    grid_households: float  # target households per grid
    micro: tuple[int, int]  # micro-grids per grid
    community_households: tuple[float, float]


SCALES: dict[str, Scale] = {
    "small": Scale(4, 3, 720.0, (165.0, 235.0), 0.12, 400.0, (4, 10), (1700.0, 2950.0)),
    "city": Scale(56, 15, 560.0, (190.0, 250.0), 0.08, 440.0, (6, 8), (2200.0, 2900.0)),
}

#: building parameters by compound kind: unit length, depth, row spacing, floors range, units range
KIND_BUILDINGS = {
    "aging": (13.0, 11.0, 30.0, (3, 6), (1, 3)),
    "work_unit": (13.0, 11.0, 30.0, (4, 6), (2, 3)),
    "transitional": (15.0, 12.0, 32.0, (6, 12), (2, 3)),
    "residential": (22.0, 15.0, 50.0, (11, 33), (1, 2)),
}
KIND_SHARES = {"aging": 0.45, "residential": 0.30, "transitional": 0.12, "work_unit": 0.13}
NUMERALS = "一二三四五六七八九十"


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def district_polygon(seed: int, scale: str) -> tuple[shapely.Geometry, int]:
    """The district outline in metres (Gauss-Krüger EPSG code returned alongside)."""
    sc = SCALES[scale]
    rng = _rng(seed, 0)
    n_comm = sc.streets * sc.communities_per_street
    area = n_comm * sc.community_side**2
    w = np.sqrt(area * 0.9)
    h = area / w
    epsg = gauss_kruger_epsg(ORIGIN[0])
    tr = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    x0, y0 = tr.transform(*ORIGIN)
    xs = np.array([0, w / 3, 2 * w / 3, w, w, w, w, 2 * w / 3, w / 3, 0, 0, 0])
    ys = np.array([0, 0, 0, 0, h / 3, 2 * h / 3, h, h, h, h, 2 * h / 3, h / 3])
    jitter = rng.uniform(-0.012, 0.012, (2, 12)) * min(w, h)
    ring = np.column_stack([x0 + xs + jitter[0], y0 + ys + jitter[1]])
    return shapely.Polygon(ring), epsg


def _uniform_points(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    pts = np.column_stack([rng.uniform(minx, maxx, n * 2), rng.uniform(miny, maxy, n * 2)])
    return pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])][:n]


def _split_area(poly, n, rng, wiggle, samples=600) -> list[P.Piece]:
    pts = _uniform_points(poly, samples * n, rng)
    return P.kd_split(poly, pts, np.ones(len(pts)), n, rng, wiggle=wiggle)


def _admin_units(district, sc: Scale, scale: str, rng) -> tuple[list[dict], list[dict], list]:
    """Streets and communities (codes, names, intermediate polygons) and their cut lines."""
    lines: list = []
    pieces = _split_area(district, sc.streets, rng, wiggle=35.0, samples=300)
    lines += pieces[0].lines
    street_polys = np.array([p.polygon for p in pieces], dtype=object)
    order = P.reading_order(street_polys, band=np.sqrt(district.area / sc.streets) * 0.9)
    small_names = list(N.STREETS.items())
    streets, comms = [], []
    for k, i in enumerate(order):
        if scale == "small":
            s_code, (s_name, comm_list) = small_names[k]
        else:
            s_code = f"{N.COUNTY}{101 + k:03d}000"
            stem = N.AGING_STEMS[k % len(N.AGING_STEMS)]
            s_name = f"{stem}{'' if k < len(N.AGING_STEMS) else NUMERALS[k // len(N.AGING_STEMS) - 1]}街道"
            comm_list = []
        streets.append({"code": s_code, "name": s_name, "poly": street_polys[i]})
        cpieces = _split_area(street_polys[i], sc.communities_per_street, rng, wiggle=20.0, samples=200)
        lines += cpieces[0].lines
        cpolys = np.array([p.polygon for p in cpieces], dtype=object)
        corder = P.reading_order(cpolys, band=sc.community_side * 0.8)
        for j, ci in enumerate(corder):
            if j < len(comm_list):
                c_code, c_name = comm_list[j]
            else:
                c_code = child_code(s_code, "communities", j + 1)
                c_name = f"{N.AGING_STEMS[(k * 7 + j) % len(N.AGING_STEMS)]}{j + 1}居委会"
            comms.append({"code": c_code, "name": c_name, "street": len(streets) - 1, "poly": cpolys[ci]})
    return streets, comms, lines


def _blocks(district, comms, sc: Scale, rng) -> tuple[np.ndarray, np.ndarray]:
    """Compound outlines (metres) on a lattice of blocks, and the community index of each."""
    minx, miny, maxx, maxy = district.bounds
    xs = np.cumsum(np.r_[minx, rng.uniform(*sc.block, int((maxx - minx) / sc.block[0]) + 2)])
    ys = np.cumsum(np.r_[miny, rng.uniform(*sc.block, int((maxy - miny) / sc.block[0]) + 2)])
    mx, my = np.meshgrid(np.arange(len(xs) - 1), np.arange(len(ys) - 1))
    gx, gy = mx.ravel(), my.ravel()
    road = rng.uniform(6.0, 11.0, len(gx))
    cells = shapely.box(xs[gx] + road, ys[gy] + road, xs[gx + 1] - road, ys[gy + 1] - road)
    # some blocks hold two compounds side by side
    split = rng.random(len(cells)) < 0.35
    mid = (xs[gx] + xs[gx + 1]) / 2 + rng.uniform(-20, 20, len(gx))
    west = shapely.box(xs[gx] + road, ys[gy] + road, mid - 5, ys[gy + 1] - road)
    east = shapely.box(mid + 5, ys[gy] + road, xs[gx + 1] - road, ys[gy + 1] - road)
    cells = np.concatenate([cells[~split], west[split], east[split]])
    cells = cells[rng.random(len(cells)) >= sc.open_share]
    areas = np.array([c["place"] for c in comms], dtype=object)
    centres = shapely.centroid(cells)
    tree = shapely.STRtree(areas)
    ci, ai = tree.query(centres, predicate="within")
    cells, owner = cells[ci], ai
    clipped = shapely.intersection(cells, shapely.buffer(areas[owner], -8.0, join_style="mitre"))
    clipped = np.array([_largest(g) for g in clipped], dtype=object)
    keep = shapely.area(clipped) > 0.55 * shapely.area(cells)
    clipped, owner = clipped[keep], owner[keep]
    clipped = shapely.simplify(clipped, 0.5)
    order = np.lexsort((shapely.get_x(shapely.centroid(clipped)), -shapely.get_y(shapely.centroid(clipped)), owner))
    return clipped[order], owner[order]


def _largest(g: shapely.Geometry) -> shapely.Geometry:
    if g.geom_type == "Polygon" or g.is_empty:
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    if not parts:
        return shapely.Polygon()
    return max(parts, key=lambda p: p.area)


def _kinds(comp_comm: np.ndarray, comms: list[dict], rng) -> np.ndarray:
    """Compound kinds: old 村/街坊 communities are mostly aging estates, newer ones mostly residential."""
    names = list(KIND_SHARES)
    base = np.array(list(KIND_SHARES.values()))
    old_area = np.array([any(c["name"].startswith(s) for s in N.AGING_STEMS) or "村" in c["name"] for c in comms])
    old_p = np.array([0.62, 0.14, 0.09, 0.15])  # aging, residential, transitional, work_unit
    new_p = np.array([0.22, 0.50, 0.16, 0.12])
    probs = np.where(old_area[comp_comm, None], old_p, new_p) if len(comms) else base[None, :]
    cum = np.cumsum(probs, axis=1)
    pick = (rng.random(len(comp_comm))[:, None] > cum).sum(axis=1)
    return np.array(names, dtype=object)[np.minimum(pick, len(names) - 1)].astype(str)


def _irregular(compounds: np.ndarray, kinds: np.ndarray, rng) -> np.ndarray:
    """Old estates grew piece by piece: cut a corner off about half of the aging and work-unit compounds."""
    n = len(compounds)
    b = shapely.bounds(compounds)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    fx, fy = rng.uniform(0.25, 0.45, n), rng.uniform(0.25, 0.45, n)
    east, north = rng.random(n) < 0.5, rng.random(n) < 0.5
    x0 = np.where(east, b[:, 2] - fx * w, b[:, 0] - 1.0)
    x1 = np.where(east, b[:, 2] + 1.0, b[:, 0] + fx * w)
    y0 = np.where(north, b[:, 3] - fy * h, b[:, 1] - 1.0)
    y1 = np.where(north, b[:, 3] + 1.0, b[:, 1] + fy * h)
    old = np.isin(kinds, ["aging", "work_unit"]) & (rng.random(n) < 0.5)
    out = compounds.copy()
    out[old] = shapely.difference(compounds[old], shapely.box(x0[old], y0[old], x1[old], y1[old]))
    return np.array([_largest(g) for g in out], dtype=object)


def _buildings(compounds: np.ndarray, kinds: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Rows of slab buildings inside each compound (vectorised over all compounds)."""
    n = len(compounds)
    unit_len = np.array([KIND_BUILDINGS[k][0] for k in kinds])
    depth = np.array([KIND_BUILDINGS[k][1] for k in kinds])
    spacing = np.array([KIND_BUILDINGS[k][2] for k in kinds]) * rng.uniform(0.95, 1.15, n)
    u_lo = np.array([KIND_BUILDINGS[k][4][0] for k in kinds])
    u_hi = np.array([KIND_BUILDINGS[k][4][1] for k in kinds])
    units = rng.integers(u_lo, u_hi + 1)
    length = units * unit_len
    gap = rng.uniform(10.0, 20.0, n)
    b = shapely.bounds(compounds)
    margin = 6.0
    w = b[:, 2] - b[:, 0] - 2 * margin
    h = b[:, 3] - b[:, 1] - 2 * margin
    rows = np.maximum(np.floor((h - depth) / spacing) + 1, 0).astype(int)
    cols = np.maximum(np.floor((w + gap) / (length + gap)), 0).astype(int)
    per = rows * cols
    owner = np.repeat(np.arange(n), per)
    k = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    r, c = k // np.repeat(cols, per), k % np.repeat(cols, per)
    shift = rng.uniform(-4.0, 4.0, len(owner))
    x0 = b[owner, 0] + margin + c * (length[owner] + gap[owner]) + shift
    y0 = b[owner, 1] + margin + r * spacing[owner]
    slabs = shapely.box(x0, y0, x0 + length[owner], y0 + depth[owner])
    inside = shapely.contains_properly(compounds[owner], slabs)
    # towers in residential compounds stand apart: thin a third of them
    thin = rng.random(len(owner)) < np.where(kinds[owner] == "residential", 0.35, 0.04)
    keep = inside & ~thin
    owner, slabs = owner[keep], slabs[keep]
    f_lo = np.array([KIND_BUILDINGS[k][3][0] for k in kinds])[owner]
    f_hi = np.array([KIND_BUILDINGS[k][3][1] for k in kinds])[owner]
    floors = rng.integers(f_lo, f_hi + 1)
    cy = shapely.get_y(shapely.centroid(slabs))
    cx = shapely.get_x(shapely.centroid(slabs))
    order = np.lexsort((cx, -cy, owner))
    return {"geometry": slabs[order], "compound": owner[order], "units": units[owner][order], "floors": floors[order]}


def _households(bld: dict, comp_comm: np.ndarray, comms: list[dict], sc: Scale, rng) -> None:
    """Households per building, scaled so each community lands on its target size."""
    natural = bld["floors"] * bld["units"] * 2
    comm_of_bld = comp_comm[bld["compound"]]
    nat_comm = np.bincount(comm_of_bld, weights=natural, minlength=len(comms))
    target = rng.uniform(*sc.community_households, len(comms))
    occupied = np.flatnonzero(nat_comm > 0)
    if len(occupied) >= 6:  # two communities deliberately outside 1,000–3,000 households
        small_i, big_i = occupied[np.argmin(nat_comm[occupied])], occupied[np.argmax(nat_comm[occupied])]
        target[small_i] = rng.uniform(780, 930)
        target[big_i] = rng.uniform(3150, 3450)
    factor = np.divide(target, nat_comm, out=np.zeros(len(comms)), where=nat_comm > 0)
    hh = np.clip(np.round(natural * factor[comm_of_bld]), 12, 200).astype(int)
    # where the 12-household floor overshoots the target, leave some blocks of a compound unbuilt
    keep = np.ones(len(hh), bool)
    sums = np.bincount(comm_of_bld, weights=hh, minlength=len(comms))
    for ci in np.flatnonzero(sums > target * 1.05):
        idx = np.flatnonzero(comm_of_bld == ci)
        first_of_compound = np.r_[True, np.diff(bld["compound"][idx]) != 0]
        droppable = idx[~first_of_compound]
        excess = sums[ci] - target[ci]
        for i in rng.permutation(droppable):
            if excess <= 0:
                break
            keep[i] = False
            excess -= hh[i]
    bld["households"] = hh
    for key in list(bld):
        bld[key] = bld[key][keep]


def _institutions(comms: list[dict], rng, share: float) -> None:
    """Give some communities an institution (school/hospital) strip that becomes a dedicated grid."""
    n = len(comms)
    count = max(3, int(round(n * share)))
    chosen = set(rng.choice(n, size=min(count, n), replace=False).tolist())
    kinds = ["school", "hospital", "school"]
    used: dict[str, int] = {}
    for i, c in enumerate(comms):
        c["place"], c["strip"], c["strip_line"], c["institution"] = c["poly"], None, None, None
        if i in chosen:
            kind = kinds[sum(used.values()) % 3]
            pool = N.INSTITUTIONS[kind]
            name = pool[used.get(kind, 0) % len(pool)]
            if used.get(kind, 0) >= len(pool):
                name = f"{name}{c['name'][:2]}分部"
            used[kind] = used.get(kind, 0) + 1
            rest, strip, line = P.strip(c["poly"], float(rng.uniform(0.16, 0.22)))
            c.update(place=rest, strip=strip, strip_line=line, institution=(kind, name))


def _grid_cuts(comms, bld_xy, bld_hh, bld_comm, sc: Scale, rng) -> tuple[list[dict], list]:
    """Grids of every community: straight k-d cuts by households, plus dedicated strips."""
    grids: list[dict] = []
    lines: list = []
    odd = set(rng.choice(len(comms), size=min(2, len(comms)), replace=False).tolist())
    members = _groups(bld_comm, len(comms))
    weights = bld_hh.astype(float)
    for ci, c in enumerate(comms):
        idx = members[ci]
        hh = bld_hh[idx].sum()
        per = sc.grid_households * (1.4 if ci in sorted(odd)[:1] else 1.0)  # one community drawn coarsely
        n = max(1, int(round(hh / per)))
        pieces = P.kd_split(c["place"], bld_xy, weights, n, rng, wiggle=0.0, index=idx)
        lines += pieces[0].lines
        polys = [p.polygon for p in pieces]
        kinds = [None] * len(polys)
        if c["strip"] is not None:
            lines.append(c["strip_line"])
            polys.append(c["strip"])
            kinds.append(c["institution"])
        polys_a = np.array(polys, dtype=object)
        order = P.reading_order(polys_a, band=120.0)
        for seq, gi in enumerate(order, start=1):
            grids.append({"community": ci, "seq": seq, "poly": polys_a[gi], "institution": kinds[gi]})
    return grids, lines


def _micro_cuts(grids, bld_xy, bld_hh, bld_grid, sc: Scale, rng) -> tuple[np.ndarray, np.ndarray, list]:
    """Micro-grid cells of every grid: 4–10 straight k-d cuts by households (by area when empty).

    Returns the cells as boxes (to be intersected with their grid by the polygonisation),
    the grid of each box, and the cut lines.
    """
    boxes: list = []
    owner: list[int] = []
    segments: list = []
    members = _groups(bld_grid, len(grids))
    weights = bld_hh.astype(float)
    lo, hi = sc.micro
    for gi, g in enumerate(grids):
        idx = members[gi]
        hh = bld_hh[idx].sum()
        if hh > 0:
            k = int(np.clip(round(hh / 55.0), lo, hi))
            xy, w = bld_xy[idx], weights[idx]
        else:
            k = lo
            xy = _uniform_points(g["poly"], 60 * k, rng)
            w = np.ones(len(xy))
        before = len(boxes)
        P.kd_boxes(g["poly"].bounds, xy, w, k, boxes, segments)
        owner += [gi] * (len(boxes) - before)
    b = np.asarray(boxes, dtype=float)
    return shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]), np.asarray(owner), P.segments_to_lines(segments)


def _micro_numbering(micro_geom: np.ndarray, micro_grid: np.ndarray) -> np.ndarray:
    """Order of micro-grids: by grid, then north→south in 60 m bands, west→east."""
    pts = shapely.point_on_surface(micro_geom)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    top = np.full(micro_grid.max() + 1 if len(micro_grid) else 0, -np.inf)
    np.maximum.at(top, micro_grid, y)
    rows = np.floor((top[micro_grid] - y) / 60.0)
    return np.lexsort((x, rows, micro_grid))


def _groups(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """Indices of each label 0..n-1, in increasing order."""
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.searchsorted(labels[order], np.arange(1, n)))


def _assign(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (nearest when on no polygon)."""
    tree = shapely.STRtree(polys)
    p_idx, g_idx = tree.query(points, predicate="intersects")
    out = np.full(len(points), -1, dtype=np.int64)
    out[p_idx[::-1]] = g_idx[::-1]  # first hit wins
    miss = np.flatnonzero(out < 0)
    if len(miss):
        out[miss] = tree.nearest(points[miss])
    return out


def build_plan(seed: int = 0, scale: str = "small", step: Callable[[str], None] | None = None) -> dict:
    """Draw the whole city in metres: every layer as arrays of geometries and attributes."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}")
    sc = SCALES[scale]
    step = step or (lambda _msg: None)
    district, epsg = district_polygon(seed, scale)
    rng = _rng(seed, 1)
    step("streets and communities")
    streets, comms, admin_lines = _admin_units(district, sc, scale, rng)
    _institutions(comms, rng, share=0.08 if scale == "city" else 0.25)
    step("compounds")
    comp_geom, comp_comm = _blocks(district, comms, sc, rng)
    kinds = _kinds(comp_comm, comms, rng)
    comp_geom = _irregular(comp_geom, kinds, rng)
    step("buildings")
    bld = _buildings(comp_geom, kinds, rng)
    _households(bld, comp_comm, comms, sc, rng)
    bld_xy = shapely.get_coordinates(shapely.centroid(bld["geometry"]))
    bld_comm = comp_comm[bld["compound"]]
    step("grids")
    grids, grid_lines = _grid_cuts(comms, bld_xy, bld["households"], bld_comm, sc, rng)
    bld_grid = _assign(shapely.points(bld_xy), np.array([g["poly"] for g in grids], dtype=object))
    step("micro-grids")
    cells, cell_grid, micro_lines = _micro_cuts(grids, bld_xy, bld["households"], bld_grid, sc, rng)
    step("noding the hierarchy")
    faces = P.faces_of(district, admin_lines + grid_lines + micro_lines)
    g_label = P.label_faces(faces, np.array([g["poly"] for g in grids], dtype=object))
    m_cell = P.label_within_group(faces, g_label, cells, cell_grid)
    lost = np.flatnonzero(m_cell < 0)  # numerically on a cell edge: take the grid's nearest cell
    for f in lost:
        mine = np.flatnonzero(cell_grid == g_label[f])
        m_cell[f] = mine[np.argmin(shapely.distance(cells[mine], shapely.point_on_surface(faces[f])))]
    used, m_label = np.unique(m_cell, return_inverse=True)  # cells outside their grid are dropped
    micro_grid = cell_grid[used]
    micro_geom = P.dissolve(faces, m_label, len(used))
    order = _micro_numbering(micro_geom, micro_grid)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    micro_geom, micro_grid, m_label = micro_geom[order], micro_grid[order], rank[m_label]
    first = np.searchsorted(micro_grid, micro_grid)  # micro_grid is sorted now
    micros = [{"grid": int(g), "seq": int(i - f + 1)} for i, (g, f) in enumerate(zip(micro_grid, first))]
    c_label = np.array([g["community"] for g in grids])[g_label]
    s_label = np.array([c["street"] for c in comms])[c_label]
    grid_geom = P.dissolve(faces, g_label, len(grids))
    comm_geom = P.dissolve(faces, c_label, len(comms))
    street_geom = P.dissolve(faces, s_label, len(streets))
    bld_micro = _assign(shapely.points(bld_xy), micro_geom)
    return {
        "epsg": epsg,
        "district": district,
        "streets": streets,
        "communities": comms,
        "grids": grids,
        "micros": micros,
        "street_geom": street_geom,
        "comm_geom": comm_geom,
        "grid_geom": grid_geom,
        "micro_geom": micro_geom,
        "comp_geom": comp_geom,
        "comp_comm": comp_comm,
        "comp_kind": kinds,
        "buildings": bld,
        "bld_micro": bld_micro,
        "bld_grid": np.array([m["grid"] for m in micros])[bld_micro],
        "rng": rng,
    }
