"""A small deterministic synthetic city for routing tests and benchmarks.

Micro-grids are the quads of a jittered lattice (shared edges are exact, as in a real
coverage); a grid is a block of ``micro x micro`` quads, a community a block of
``per_community x per_community`` grids, a street a block of communities. Compounds straddle
grid edges (so compound ownership matters) and hold a few buildings each. Codes follow
:mod:`gridgis.codes`. Used until (and alongside) the sample city of :mod:`gridgis.sample`.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridgis import codes
from gridgis.crs import STORAGE_CRS

COUNTY = "310115"
_NAMES = ("梅园", "潍坊", "崂山", "乳山", "锦绣", "阳光", "东昌", "浦明", "竹园", "松林", "福山", "源深")
_NUMERALS = "一二三四五六七八九十"


def _chain(lattice: np.ndarray, i0: int, j0: int, i1: int, j1: int) -> shapely.Polygon:
    """The polygon along the lattice vertices of the block [i0, i1] x [j0, j1] (counter-clockwise)."""
    ring = [lattice[j0, i] for i in range(i0, i1 + 1)]
    ring += [lattice[j, i1] for j in range(j0 + 1, j1 + 1)]
    ring += [lattice[j1, i] for i in range(i1 - 1, i0 - 1, -1)]
    ring += [lattice[j, i0] for j in range(j1 - 1, j0, -1)]
    return shapely.Polygon(ring)


def synthetic_city(
    grids_x: int = 6,
    grids_y: int = 6,
    micro: int = 2,
    per_community: int = 3,
    communities_per_street: int = 2,
    spacing_m: float = 60.0,
    jitter: float = 0.25,
    origin: tuple[float, float] = (121.50, 31.22),
    grids_without_micro: int = 1,
    seed: int = 0,
) -> dict[str, gpd.GeoDataFrame]:
    """Generate the layer frames of a synthetic city (EPSG:4326).

    Parameters
    ----------
    grids_x, grids_y
        number of grids west→east and south→north.
    micro
        micro-grids per grid side (``micro**2`` micro-grids per grid).
    grids_without_micro
        the last this many grids get no micro-grids (routing then falls back to the grid).

    Examples
    --------
    >>> city = synthetic_city(2, 2, micro=2, per_community=2)
    >>> len(city["grids"]), len(city["micro_grids"])
    (4, 12)
    """
    rng = np.random.default_rng(seed)
    nxv, nyv = grids_x * micro + 1, grids_y * micro + 1
    lon0, lat0 = origin
    mx = spacing_m / (111_320.0 * math.cos(math.radians(lat0)))
    my = spacing_m / 110_574.0
    jj, ii = np.mgrid[0:nyv, 0:nxv].astype(float)
    jit = rng.uniform(-jitter, jitter, size=(2, nyv, nxv))
    jit[:, [0, -1], :] = 0.0
    jit[:, :, [0, -1]] = 0.0
    lattice = np.stack([lon0 + (ii + jit[0]) * mx, lat0 + (jj + jit[1]) * my], axis=-1)

    cx, cy = math.ceil(grids_x / per_community), math.ceil(grids_y / per_community)
    comm_seq = {}
    for cj in range(cy):
        for ci in range(cx):
            flat = cj * cx + ci
            comm_seq[(ci, cj)] = (flat // communities_per_street + 1, flat % communities_per_street + 1)
    streets: list[dict[str, Any]] = []
    communities: list[dict[str, Any]] = []
    grids: list[dict[str, Any]] = []
    micro_rows: list[dict[str, Any]] = []
    compounds: list[dict[str, Any]] = []
    buildings: list[dict[str, Any]] = []
    grid_counter: dict[str, int] = {}
    comm_cells: dict[str, list[tuple[int, int]]] = {}
    total = grids_x * grids_y
    for gj in range(grids_y - 1, -1, -1):  # numbered north→south, west→east
        for gi in range(grids_x):
            s_seq, c_seq = comm_seq[(gi // per_community, gj // per_community)]
            comm = f"{COUNTY}{s_seq:03d}{c_seq:03d}"
            grid_counter[comm] = grid_counter.get(comm, 0) + 1
            gcode = f"{comm}{grid_counter[comm]:03d}"
            comm_cells.setdefault(comm, []).append((gi, gj))
            geom = _chain(lattice, gi * micro, gj * micro, (gi + 1) * micro, (gj + 1) * micro)
            seq = len(grids) + 1
            grids.append(
                {
                    "code": gcode,
                    "name": f"第{seq}网格",
                    "community_code": comm,
                    "kind": "basic",
                    "households": 400,
                    "population": 1000,
                    "workers": [{"name": f"网格员{seq}", "role": "full_time", "phone": f"1390000{seq:04d}"}],
                    "geometry": geom,
                }
            )
            if seq > total - grids_without_micro:
                continue
            m = 0
            for mj in range(micro - 1, -1, -1):
                for mi in range(micro):
                    m += 1
                    i0, j0 = gi * micro + mi, gj * micro + mj
                    micro_rows.append(
                        {
                            "code": f"{gcode}{m:02d}",
                            "name": f"第{seq}网格{m}号微网格",
                            "grid_code": gcode,
                            "households": 50,
                            "workers": [
                                {"name": f"微网格员{seq}-{m}", "role": "part_time", "phone": f"1380000{seq:03d}{m}"}
                            ],
                            "geometry": _chain(lattice, i0, j0, i0 + 1, j0 + 1),
                        }
                    )
            # a compound straddling this grid's east edge (inside the lattice)
            if gi + 1 < grids_x and (gi + gj) % 2 == 0:
                qn = sum(1 for c in compounds if c["community_code"] == comm) + 1
                qcode = f"{comm}Q{qn:03d}"
                name = f"{_NAMES[(len(compounds)) % len(_NAMES)]}{_NUMERALS[len(compounds) // len(_NAMES) % 10]}村"
                x_a = lon0 + ((gi + 0.55) * micro) * mx
                x_b = lon0 + ((gi + 1.2) * micro) * mx
                y_a = lat0 + ((gj + 0.25) * micro) * my
                y_b = lat0 + ((gj + 0.75) * micro) * my
                compounds.append(
                    {
                        "code": qcode,
                        "name": name,
                        "community_code": comm,
                        "kind": "residential",
                        "households": 300,
                        "address": f"{name}",
                        "geometry": shapely.box(x_a, y_a, x_b, y_b),
                    }
                )
                w, h = (x_b - x_a) / 3, (y_b - y_a) / 2
                b = 0
                for bj in range(2):
                    for bi in range(3):
                        b += 1
                        bx0, by0 = x_a + bi * w + 0.2 * w, y_a + bj * h + 0.2 * h
                        buildings.append(
                            {
                                "code": f"{qcode}B{b:03d}",
                                "name": f"{name}{b}号楼",
                                "compound_code": qcode,
                                "community_code": comm,
                                "number": f"{b}号楼",
                                "households": 40,
                                "units": 2,
                                "floors": 6,
                                "geometry": shapely.box(bx0, by0, bx0 + 0.6 * w, by0 + 0.6 * h),
                            }
                        )
    for comm, cells in comm_cells.items():
        gis = [c[0] for c in cells]
        gjs = [c[1] for c in cells]
        geom = _chain(lattice, min(gis) * micro, min(gjs) * micro, (max(gis) + 1) * micro, (max(gjs) + 1) * micro)
        communities.append(
            {
                "code": comm,
                "name": f"第{int(codes.community_part(comm))}社区{codes.street_part(comm)}",
                "street_code": codes.street_of(comm),
                "households": 2000,
                "population": 5000,
                "geometry": geom,
            }
        )
    comm_frame = gpd.GeoDataFrame(communities, crs=STORAGE_CRS)
    for scode, part in comm_frame.groupby(comm_frame["street_code"]):
        streets.append(
            {
                "code": scode,
                "name": f"第{int(codes.street_part(scode))}街道",
                "district": "浦东新区",
                "households": int(part["households"].sum()),
                "population": int(part["population"].sum()),
                "geometry": shapely.coverage_union_all(part.geometry.values),
            }
        )
    return {
        "streets": gpd.GeoDataFrame(streets, crs=STORAGE_CRS),
        "communities": comm_frame,
        "grids": gpd.GeoDataFrame(grids, crs=STORAGE_CRS),
        "micro_grids": gpd.GeoDataFrame(micro_rows, crs=STORAGE_CRS),
        "compounds": gpd.GeoDataFrame(compounds, crs=STORAGE_CRS),
        "buildings": gpd.GeoDataFrame(buildings, crs=STORAGE_CRS),
    }
