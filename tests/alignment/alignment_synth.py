"""Small synthetic cities for the alignment tests, drawn in metres and stored in EPSG:4326.

A community is a square; grids are vertical strips; compounds are rectangles (often cut by the
strips); buildings are small rectangles inside the compounds with a household count each.
"""

from __future__ import annotations

import geopandas as gpd
import shapely

METRIC = "EPSG:4548"  # CGCS2000 GK zone CM 117°E (Beijing)
X0, Y0 = 500000.0 - 60000.0, 4420000.0  # about 116.3°E, 39.9°N
COMMUNITY = "110105001001"


def _frame(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
    shifted = [shapely.affinity.translate(g, X0, Y0) for g in geoms]
    return gpd.GeoDataFrame(rows, geometry=shifted, crs=METRIC).to_crs("EPSG:4326")


def city(
    size: float = 600.0,
    strips: list[float] | None = None,
    rects: list[tuple[float, float, float, float]] | None = None,
    per_building: int = 20,
    building_step: float = 30.0,
    outside_buildings: bool = False,
) -> dict[str, gpd.GeoDataFrame]:
    """A community ``size`` m square, grids split at x = ``strips``, compounds ``rects`` (x0, y0, x1, y1)."""
    strips = sorted(strips if strips is not None else [size / 3, 2 * size / 3])
    xs = [0.0, *strips, size]
    grids = _frame(
        [
            {"code": f"{COMMUNITY}{k + 1:03d}", "name": f"第{k + 1}网格", "community_code": COMMUNITY}
            for k in range(len(xs) - 1)
        ],
        [shapely.box(xs[k], 0, xs[k + 1], size) for k in range(len(xs) - 1)],
    )
    rects = (
        rects
        if rects is not None
        else [(20, 20, 280, 180), (320, 40, 580, 260), (40, 300, 230, 560), (250, 320, 420, 470), (450, 330, 590, 590)]
    )
    comp_rows, comp_geoms, b_rows, b_geoms = [], [], [], []
    for i, (x0, y0, x1, y1) in enumerate(rects, start=1):
        ccode = f"{COMMUNITY}Q{i:03d}"
        n = 0
        x = x0 + 8
        while x + 14 <= x1 - 4:
            y = y0 + 8
            while y + 10 <= y1 - 4:
                n += 1
                b_rows.append(
                    {
                        "code": f"{ccode}B{n:03d}",
                        "name": f"{n}号楼",
                        "compound_code": ccode,
                        "community_code": COMMUNITY,
                        "households": per_building,
                    }
                )
                b_geoms.append(shapely.box(x, y, x + 14, y + 10))
                y += building_step
            x += building_step
        comp_rows.append(
            {
                "code": ccode,
                "name": f"小区{i}",
                "community_code": COMMUNITY,
                "kind": "residential",
                "households": n * per_building,
            }
        )
        comp_geoms.append(shapely.box(x0, y0, x1, y1))
    if outside_buildings:
        b_rows.append(
            {
                "code": f"{COMMUNITY}Q000B001",
                "name": "散楼",
                "compound_code": None,
                "community_code": COMMUNITY,
                "households": 10,
            }
        )
        b_geoms.append(shapely.box(size - 12, 2, size - 2, 10))
    communities = _frame(
        [{"code": COMMUNITY, "name": "测试社区", "street_code": "110105001000"}], [shapely.box(0, 0, size, size)]
    )
    return {
        "communities": communities,
        "grids": grids,
        "compounds": _frame(comp_rows, comp_geoms),
        "buildings": _frame(b_rows, b_geoms),
    }
