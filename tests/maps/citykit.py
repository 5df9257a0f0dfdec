"""A tiny, exactly known city at Lujiazui–Weifang (Pudong) for the maps and viewer tests.

One street (2 × 1 km) with two communities side by side; each community has two grids
(north, south), each grid two micro-grids (west, east) and one compound inset in it with
four buildings of 50 households; seven stations, one of each kind, all in the west
community. Everything is EPSG:4326 and valid under the layer specs.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from gridgis.layers import LAYERS, normalize_frame

X0, Y0 = 121.500, 31.228  # south-west corner
DX, DY = 0.0105, 0.009  # ≈ 1 km × 1 km per community
STREET = "310115007000"
COMMUNITIES = ("310115007001", "310115007002")
STATION_KINDS = (
    "party_mass_centre",
    "micro_station",
    "red_station",
    "courier_station",
    "help_desk",
    "canteen",
    "mediation_room",
)
KIND_ZH = {
    "party_mass_centre": "党群服务中心",
    "micro_station": "微站",
    "red_station": "红色驿站",
    "courier_station": "骑手之家",
    "help_desk": "帮办代办点",
    "canteen": "社区食堂",
    "mediation_room": "调解工作室",
}
COMPOUND_KINDS = ("residential", "transitional", "aging", "work_unit")


def _frame(layer: str, rows: list[dict]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326")
    return normalize_frame(LAYERS[layer], frame)


def make_city() -> dict[str, gpd.GeoDataFrame]:
    streets = [
        {
            "code": STREET,
            "name": "潍坊新村街道",
            "district": "浦东新区",
            "households": 1600,
            "geometry": shapely.box(X0, Y0, X0 + 2 * DX, Y0 + DY),
        }
    ]
    comms, grids, micros, compounds, buildings = [], [], [], [], []
    for c, ccode in enumerate(COMMUNITIES):
        cx = X0 + c * DX
        comms.append(
            {
                "code": ccode,
                "name": ["崂山社区", "乳山社区"][c],
                "street_code": STREET,
                "households": 800,
                "geometry": shapely.box(cx, Y0, cx + DX, Y0 + DY),
            }
        )
        for g in range(2):
            gcode = f"{ccode}{g + 1:03d}"
            gy = Y0 + (1 - g) * DY / 2
            grids.append(
                {
                    "code": gcode,
                    "name": f"{comms[-1]['name']}第{g + 1}网格",
                    "community_code": ccode,
                    "households": 400,
                    "population": 1000,
                    "workers": [{"name": f"王{c}{g}", "role": "full_time", "phone": "021-5888000"}],
                    "geometry": shapely.box(cx, gy, cx + DX, gy + DY / 2),
                }
            )
            for m in range(2):
                micros.append(
                    {
                        "code": f"{gcode}{m + 1:02d}",
                        "name": f"{grids[-1]['name']}微网格{m + 1}",
                        "grid_code": gcode,
                        "households": 200,
                        "geometry": shapely.box(cx + m * DX / 2, gy, cx + (m + 1) * DX / 2, gy + DY / 2),
                    }
                )
            qcode = f"{ccode}Q{g + 1:03d}"
            qbox = (cx + DX * 0.1, gy + DY * 0.05, cx + DX * 0.9, gy + DY * 0.45)
            compounds.append(
                {
                    "code": qcode,
                    "name": ["崂山二村", "崂山三村", "乳山二村", "乳山三村"][2 * c + g],
                    "community_code": ccode,
                    "kind": COMPOUND_KINDS[2 * c + g],
                    "households": 200,
                    "geometry": shapely.box(*qbox),
                }
            )
            for b in range(4):
                bx = qbox[0] + (qbox[2] - qbox[0]) * (0.1 + 0.22 * b)
                buildings.append(
                    {
                        "code": f"{qcode}B{b + 1:03d}",
                        "name": f"{b + 1}号楼",
                        "compound_code": qcode,
                        "community_code": ccode,
                        "number": f"{b + 1}号楼",
                        "households": 50,
                        "units": 2,
                        "floors": 6,
                        "geometry": shapely.box(bx, qbox[1] + 0.001, bx + 0.0012, qbox[1] + 0.002),
                    }
                )
    stations = []
    for s, kind in enumerate(STATION_KINDS):
        stations.append(
            {
                "code": f"{COMMUNITIES[0]}S{s + 1:03d}",
                "name": f"崂山{KIND_ZH[kind]}",
                "kind": kind,
                "level": "community",
                "area_code": COMMUNITIES[0],
                "opening_hours": "09:00-17:00",
                "services": ["政策咨询", "代办"],
                "contact": "021-58880000",
                "address": "崂山路1号",
                "geometry": shapely.Point(X0 + DX * (0.2 + 0.1 * s), Y0 + DY * 0.6),
            }
        )
    return {
        "streets": _frame("streets", streets),
        "communities": _frame("communities", comms),
        "compounds": _frame("compounds", compounds),
        "buildings": _frame("buildings", buildings),
        "grids": _frame("grids", grids),
        "micro_grids": _frame("micro_grids", micros),
        "stations": _frame("stations", stations),
    }


def make_tickets(city: dict[str, gpd.GeoDataFrame], n: int = 40) -> gpd.GeoDataFrame:
    """``n`` ticket points spread over the micro-grids (deterministic)."""
    pts, rows = [], []
    micros = city["micro_grids"]
    for i in range(n):
        geom = micros.geometry.iloc[i % len(micros)]
        minx, miny, maxx, maxy = geom.bounds
        f = (i * 0.37) % 1.0
        pts.append(shapely.Point(minx + (maxx - minx) * f, miny + (maxy - miny) * (1 - f)))
        rows.append({"id": f"T{i:04d}", "category": "环境卫生", "status": "closed"})
    return gpd.GeoDataFrame(rows, geometry=pts, crs="EPSG:4326")
