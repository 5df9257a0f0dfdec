"""Emergency roster (平急转换): "平时报到服务、急时就地转化；平时定岗定责、急时对号入座".

For an area (street, community, grid or micro-grid code) and an emergency kind, per micro-grid:

- its worker (一微网格一网格员), the in-service party members and volunteers living there with their
  posts (the others' members are listed as reserves when ``all_members``);
- the vulnerable residents to check (care register) with their needs;
- the nearest stations (straight-line metres in the CGCS2000 Gauss-Krüger zone of the area; the
  station kinds that matter for the emergency first, :data:`KIND_STATIONS`).

Outputs: a JSON-ready dict (:meth:`Roster.to_dict`), an XLSX workbook (:func:`write_xlsx`, openpyxl),
a printable HTML page with an inline SVG map (:func:`write_html`; no tiles, nothing downloaded) and the
viewer's roster map (:func:`roster_geojson`: per micro-grid its counts, worker, nearest stations and its
readiness, :data:`READINESS`).
Names and phones are personal data: API and CLI require the ``export`` permission, audit every roster
and can pseudonymise it (:func:`pseudonymise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridgis.codes import area_prefix, grid_of, micro_grid_seq
from gridgis.errors import NotFoundError, ValidationError
from gridgis.people.access import pseudonym
from gridgis.people.model import CARE_CATEGORIES, MEMBER_KINDS

EMERGENCY_KINDS: dict[str, str] = {
    "flood": "防汛防台",
    "fire": "消防火灾",
    "epidemic": "疫情防控",
    "earthquake": "地震",
    "power": "停水停电",
    "general": "综合应急",
}
#: station kinds that matter for each emergency, nearest of these first
KIND_STATIONS: dict[str, tuple[str, ...]] = {
    "flood": ("party_mass_centre", "micro_station", "red_station"),
    "fire": ("micro_station", "party_mass_centre"),
    "epidemic": ("party_mass_centre", "micro_station", "help_desk", "canteen"),
    "earthquake": ("party_mass_centre", "micro_station", "red_station"),
    "power": ("help_desk", "micro_station", "party_mass_centre"),
    "general": ("party_mass_centre", "micro_station", "red_station", "help_desk"),
}
STATIONS_PER_MICRO_GRID = 3
SUMMARY_LABELS = {
    "micro_grids": "微网格",
    "without_worker": "无网格员微网格",
    "members": "在职党员",
    "volunteers": "志愿者",
    "vulnerable": "关爱对象",
}


@dataclass
class Roster:
    area: str
    kind: str
    micro_grids: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "kind": self.kind,
            "kind_label": EMERGENCY_KINDS[self.kind],
            "summary": self.summary(),
            "micro_grids": self.micro_grids,
        }

    def summary(self) -> dict[str, int]:
        mg = self.micro_grids
        return {
            "micro_grids": len(mg),
            "without_worker": sum(1 for m in mg if not m["worker"]),
            "members": sum(len(m["members"]) for m in mg),
            "volunteers": sum(len(m["volunteers"]) for m in mg),
            "vulnerable": sum(len(m["vulnerable"]) for m in mg),
        }


def _in_area(codes: pd.Series, area: str) -> pd.Series:
    return codes.str.startswith(area_prefix(area), na=False)


def build_roster(store: Any, area: str, kind: str, all_members: bool = False) -> Roster:
    """The roster of ``area`` for an emergency ``kind`` (see the module docstring)."""
    from gridgis.people.care import care_records

    if kind not in EMERGENCY_KINDS:
        raise ValidationError(f"unknown emergency kind {kind!r}; use one of {', '.join(EMERGENCY_KINDS)}")
    area = (area or "").strip()
    placer = store.placer
    micro = placer.city["micro_grids"]
    sel = micro[_in_area(micro["code"].astype(str), area)] if area else micro
    if len(sel) == 0:
        raise NotFoundError(f"area {area!r} has no micro-grids (give a street, community, grid or micro-grid code)")
    sel = sel.sort_values("code")
    people = store.persons_frame(area)
    assigned = store.assignments_frame(area)
    workers = assigned[assigned["level"] == "micro_grid"].drop_duplicates("target").set_index("target")
    # residents: placed persons with a home building
    residents = people[people["building_code"].notna() & people["micro_grid_code"].notna()]
    members = residents[(residents["kind"] == "member") & (all_members | (residents["member_kind"] == "in_service"))]
    vols = residents[residents["kind"] == "volunteer"]
    care = pd.DataFrame(care_records(store, area=area))
    stations = _nearest_stations(placer.city.get("stations"), sel, kind)

    def people_of(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in frame.sort_values(["building_code", "id"]).itertuples(index=False):
            out.setdefault(r.micro_grid_code, []).append(
                {
                    "id": int(r.id),
                    "name": r.name,
                    "phone": _v(r.phone),
                    "kind": MEMBER_KINDS.get(_v(r.member_kind) or "", "志愿者"),
                    "post": _v(r.post) or "",
                    "building_code": r.building_code,
                    "unit": None if r.unit is None or pd.isna(r.unit) else int(r.unit),
                }
            )
        return out

    mem, vol = people_of(members), people_of(vols)
    vul: dict[str, list[dict[str, Any]]] = {}
    if len(care):
        for r in care.sort_values(["building_code", "id"]).itertuples(index=False):
            vul.setdefault(r.micro_grid_code, []).append(
                {
                    "id": int(r.id),
                    "resident": r.resident,
                    "phone": _v(r.phone),
                    "category": CARE_CATEGORIES.get(r.category, r.category),
                    "needs": _v(r.needs) or "",
                    "building_code": r.building_code,
                    "unit": None if r.unit is None or pd.isna(r.unit) else int(r.unit),
                }
            )
    roster = Roster(area, kind)
    for code, name, grid in zip(
        sel["code"].astype(str),
        sel["name"].astype(str),
        sel["grid_code"].astype(str) if "grid_code" in sel.columns else sel["code"].astype(str).map(grid_of),
    ):
        w = workers.loc[code] if code in workers.index else None
        roster.micro_grids.append(
            {
                "micro_grid_code": code,
                "micro_grid_name": name,
                "grid_code": grid,
                "worker": None if w is None else {"id": int(w["person_id"]), "name": w["name"]},
                "members": mem.get(code, []),
                "volunteers": vol.get(code, []),
                "vulnerable": vul.get(code, []),
                "stations": stations.get(code, []),
            }
        )
    return roster


def _v(x: Any) -> Any:
    """``None`` for a missing cell (pandas gives NaN)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _nearest_stations(stations: Any, micro: Any, kind: str) -> dict[str, list[dict[str, Any]]]:
    """The nearest stations of each micro-grid (relevant kinds first), in chunks so a city fits in memory."""
    from pyproj import Transformer

    from gridgis.crs import gauss_kruger_epsg

    if stations is None or len(stations) == 0:
        return {}
    wanted = set(KIND_STATIONS[kind])
    st = stations[stations["kind"].isin(wanted)] if stations["kind"].isin(wanted).any() else stations
    spts = shapely.point_on_surface(st.geometry.values)
    mpts = shapely.point_on_surface(micro.geometry.values)
    tr = Transformer.from_crs(4326, gauss_kruger_epsg(float(shapely.get_x(mpts[0]))), always_xy=True)
    sx, sy = tr.transform(shapely.get_x(spts), shapely.get_y(spts))
    mx, my = tr.transform(shapely.get_x(mpts), shapely.get_y(mpts))
    sx, sy, mx, my = map(np.asarray, (sx, sy, mx, my))
    k = min(STATIONS_PER_MICRO_GRID, len(st))
    codes, names, kinds = st["code"].astype(str).values, st["name"].astype(str).values, st["kind"].astype(str).values
    out: dict[str, list[dict[str, Any]]] = {}
    mcodes = micro["code"].astype(str).values
    for start in range(0, len(mx), 2000):
        d = np.hypot(mx[start : start + 2000, None] - sx[None, :], my[start : start + 2000, None] - sy[None, :])
        near = (
            np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
        )
        for i, row in enumerate(near):
            row = row[np.argsort(d[i, row], kind="stable")]
            out[mcodes[start + i]] = [
                {"code": codes[j], "name": names[j], "kind": kinds[j], "distance_m": round(float(d[i, j]), 0)}
                for j in row
            ]
    return out


def pseudonymise(roster: dict[str, Any], salt: str) -> dict[str, Any]:
    """A copy with names replaced by stable pseudonyms and phones removed (for sharing outside the responsible)."""
    import copy

    out = copy.deepcopy(roster)
    for mg in out["micro_grids"]:
        if mg["worker"]:
            mg["worker"]["name"] = pseudonym(mg["worker"]["name"], salt)
        for key, name_key in (("members", "name"), ("volunteers", "name"), ("vulnerable", "resident")):
            for p in mg[key]:
                p[name_key] = pseudonym(p[name_key], salt)
                p["phone"] = None
    out["pseudonymised"] = True
    return out


def roster_rows(roster: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """(people rows, vulnerable rows, station rows) for spreadsheets."""
    people, vulnerable, stations = [], [], []
    for mg in roster["micro_grids"]:
        base = [mg["micro_grid_code"], mg["micro_grid_name"]]
        if mg["worker"]:
            people.append(base + ["微网格员", mg["worker"]["name"], "", "网格员", "", ""])
        for role, key in (("党员", "members"), ("志愿者", "volunteers")):
            for p in mg[key]:
                people.append(
                    base
                    + [role, p["name"], p["phone"] or "", p["post"] or p["kind"], p["building_code"], p["unit"] or ""]
                )
        for v in mg["vulnerable"]:
            vulnerable.append(
                base + [v["resident"], v["phone"] or "", v["category"], v["needs"], v["building_code"], v["unit"] or ""]
            )
        for s in mg["stations"]:
            stations.append(base + [s["name"], s["kind"], s["distance_m"]])
    return people, vulnerable, stations


def write_xlsx(roster: dict[str, Any], path: str | Path) -> Path:
    """The roster as a workbook: 汇总, 人员名册, 关爱对象, 就近站点."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    people, vulnerable, stations = roster_rows(roster)
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    ws.append(["区域", roster["area"]])
    ws.append(["应急类型", roster["kind_label"]])
    for k, v in roster["summary"].items():
        ws.append([SUMMARY_LABELS.get(k, k), v])
    if roster.get("pseudonymised"):
        ws.append(["说明", "姓名已化名，电话已隐去"])
    for title, header, rows in (
        ("人员名册", ["微网格编码", "微网格", "身份", "姓名", "电话", "岗位", "楼栋", "单元"], people),
        ("关爱对象", ["微网格编码", "微网格", "姓名", "电话", "类别", "需求", "楼栋", "单元"], vulnerable),
        ("就近站点", ["微网格编码", "微网格", "站点", "类型", "距离(米)"], stations),
    ):
        sheet = wb.create_sheet(title)
        sheet.append(header)
        for c in sheet[1]:
            c.font = Font(bold=True)
        for r in rows:
            sheet.append(r)
        sheet.freeze_panes = "A2"
    path = Path(path)
    wb.save(path)
    return path


def write_html(roster: dict[str, Any], micro_grids: Any, path: str | Path) -> Path:
    """A printable page: an SVG map of the area's micro-grids (shaded by people on the roster) and a table per micro-grid."""
    sel = micro_grids[micro_grids["code"].isin([m["micro_grid_code"] for m in roster["micro_grids"]])]
    svg = _svg_map(sel, {m["micro_grid_code"]: len(m["members"]) + len(m["volunteers"]) for m in roster["micro_grids"]})
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>应急名册 {escape(roster['area'])} {escape(roster['kind_label'])}</title>",
        (
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%;margin-bottom:1em;font-size:12px}"
            "td,th{border:1px solid #999;padding:2px 4px}h2{page-break-before:auto;font-size:15px}section{page-break-inside:avoid}"
            "@media print{.noprint{display:none}}</style></head><body>"
        ),
        f"<h1>平急转换应急名册 · {escape(roster['kind_label'])} · {escape(roster['area'])}</h1>",
        "<p>" + "，".join(f"{SUMMARY_LABELS.get(k, k)}：{v}" for k, v in roster["summary"].items()) + "</p>",
        svg,
    ]
    for mg in roster["micro_grids"]:
        parts.append(f"<section><h2>{escape(mg['micro_grid_name'])} ({escape(mg['micro_grid_code'])})</h2>")
        worker = escape(mg["worker"]["name"]) if mg["worker"] else "<b style='color:#c00'>无网格员</b>"
        parts.append(
            f"<p>微网格员：{worker}；就近站点："
            + "、".join(f"{escape(s['name'])} {s['distance_m']:.0f}米" for s in mg["stations"])
            + "</p>"
        )
        parts.append("<table><tr><th>身份</th><th>姓名</th><th>电话</th><th>岗位</th><th>楼栋</th><th>单元</th></tr>")
        for role, key in (("党员", "members"), ("志愿者", "volunteers")):
            for p in mg[key]:
                parts.append(
                    f"<tr><td>{role}</td><td>{escape(str(p['name']))}</td><td>{escape(p['phone'] or '')}</td>"
                    f"<td>{escape(p['post'] or p['kind'])}</td><td>{escape(p['building_code'])}</td><td>{p['unit'] or ''}</td></tr>"
                )
        parts.append("</table>")
        if mg["vulnerable"]:
            parts.append(
                "<table><tr><th>关爱对象</th><th>电话</th><th>类别</th><th>需求</th><th>楼栋</th><th>单元</th></tr>"
            )
            for v in mg["vulnerable"]:
                parts.append(
                    f"<tr><td>{escape(str(v['resident']))}</td><td>{escape(v['phone'] or '')}</td><td>{escape(v['category'])}</td>"
                    f"<td>{escape(v['needs'])}</td><td>{escape(v['building_code'])}</td><td>{v['unit'] or ''}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = Path(path)
    path.write_text("".join(parts), encoding="utf-8")
    return path


#: readiness of a micro-grid on the roster map (the one rule, :func:`readiness`): label and colour
READINESS: dict[str, tuple[str, str]] = {
    "no_worker": ("无网格员", "#d73027"),
    "short": ("人手少于关爱对象", "#fdae61"),
    "ready": ("人员到位", "#1a9850"),
}


def readiness(has_worker: bool, responders: int, vulnerable: int) -> str:
    """``no_worker`` without its worker; ``short`` when fewer members and volunteers live there than
    vulnerable residents to check (or nobody at all); else ``ready``.

    >>> readiness(False, 5, 0), readiness(True, 1, 2), readiness(True, 0, 0), readiness(True, 3, 2)
    ('no_worker', 'short', 'short', 'ready')
    """
    if not has_worker:
        return "no_worker"
    if responders == 0 or responders < vulnerable:
        return "short"
    return "ready"


def roster_geojson(roster: dict[str, Any], micro_grids: Any) -> str:
    """The roster as a map layer (GeoJSON, EPSG:4326): one micro-grid per feature with its counts, its
    worker's name, nearest stations and :func:`readiness` (colour and label); no other names."""
    import json

    by_code = {m["micro_grid_code"]: m for m in roster["micro_grids"]}
    sel = micro_grids[micro_grids["code"].astype(str).isin(by_code)][["code", "name", "geometry"]].copy()
    rows = [by_code[c] for c in sel["code"].astype(str)]
    sel["grid_code"] = [m["grid_code"] for m in rows]
    sel["worker"] = [m["worker"]["name"] if m["worker"] else None for m in rows]
    sel["members"] = [len(m["members"]) for m in rows]
    sel["volunteers"] = [len(m["volunteers"]) for m in rows]
    sel["vulnerable"] = [len(m["vulnerable"]) for m in rows]
    sel["responders"] = sel["members"] + sel["volunteers"]
    sel["stations"] = ["、".join(f"{st['name']} {st['distance_m']:.0f}米" for st in m["stations"]) for m in rows]
    state = [readiness(m["worker"] is not None, r, v) for m, r, v in zip(rows, sel["responders"], sel["vulnerable"])]
    sel["readiness"] = state
    sel["readiness_label"] = [READINESS[s][0] for s in state]
    sel["colour"] = [READINESS[s][1] for s in state]
    data = json.loads(sel.to_json(drop_id=True, ensure_ascii=False))
    data["roster"] = {k: roster[k] for k in ("area", "kind", "kind_label", "summary")}
    return json.dumps(data, ensure_ascii=False)


def _svg_map(frame: Any, counts: dict[str, int], width: int = 720) -> str:
    if len(frame) == 0:
        return ""
    minx, miny, maxx, maxy = frame.total_bounds
    kx = np.cos(np.radians((miny + maxy) / 2))  # equirectangular at the area's latitude, for a printout
    w, h = (maxx - minx) * kx, maxy - miny
    scale = width / max(w, 1e-9)
    height = int(h * scale) + 2
    top = max(counts.values()) if counts else 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for code, name, geom in zip(frame["code"].astype(str), frame["name"].astype(str), frame.geometry.values):
        n = counts.get(code, 0)
        shade = int(235 - 150 * n / max(top, 1))
        for poly in getattr(geom, "geoms", [geom]):
            xy = np.asarray(poly.exterior.coords)
            pts = " ".join(f"{(x - minx) * kx * scale:.1f},{(maxy - y) * scale:.1f}" for x, y in xy)
            parts.append(
                f'<polygon points="{pts}" fill="rgb({shade},{shade},255)" stroke="#333" stroke-width="0.6"><title>{escape(name)}: {n}</title></polygon>'
            )
        c = geom.representative_point()
        parts.append(
            f'<text x="{(c.x - minx) * kx * scale:.1f}" y="{(maxy - c.y) * scale:.1f}" font-size="8" text-anchor="middle">{micro_grid_seq(code):02d}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


__all__ = [
    "EMERGENCY_KINDS",
    "KIND_STATIONS",
    "READINESS",
    "Roster",
    "build_roster",
    "pseudonymise",
    "readiness",
    "roster_geojson",
    "roster_rows",
    "write_html",
    "write_xlsx",
]
