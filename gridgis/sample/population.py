"""A deterministic synthetic population for the sample city (seeded; not real people).

From the city's layer frames (EPSG:4326) and a seed, :func:`generate_population` draws:

- party members of the four kinds (直管/流动/在职/离退休) living in buildings (≈4% of households),
  one member of about a third of the buildings' groups made a party-member central household;
- volunteers (≈1.5% of households), who take units of their own building (包单元);
- the grids' full-time workers (包栋: most buildings of their grid), the micro-grids' workers
  (一微网格一网格员, a few micro-grids left without one), owners' committee members of compounds
  that have a committee (a building each), two community committee members per community (包片)
  and co-building units (共驻共建单位) paired with communities; in-service members take households (包户);
- small wishes (微心愿) with the steps they went through, recorded activities (duty shifts, tickets
  helped, door knocking) over 2026, and a care register (独居老人、困难家庭、行动不便 …).

Everything is keyed by stable ``ref`` strings, so loading twice updates rather than duplicates.
Phone numbers are synthetic (``139`` + 8 digits), names are drawn from common surnames.

``gridgis sample-city`` writes the population next to the city's layers as :data:`POPULATION_FILE`
(:func:`write_population`: the same city and seed give the same bytes); :func:`read_population` reads it
back for ``gridgis people sample --file`` and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np

from gridgis.codes import parent_code
from gridgis.sample import names as N

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEMBER_SHARES = {"retired": 0.40, "in_service": 0.30, "direct": 0.25, "mobile": 0.05}
EMPLOYERS = [
    "区卫健委",
    "陆家嘴集团",
    "浦东新区税务局",
    "上海银行浦东分行",
    "区教育局",
    "东方医院",
    "浦东供电公司",
    "街道城运中心",
]
POSTS = ["楼道长", "治安巡逻", "防汛值守", "核酸采样引导", "物资配送", "邻里调解", "助老服务", "卡口值守"]
WISHES = [
    ("帮忙修理漏水的水龙头", "家里厨房水龙头漏水，老人行动不便"),
    ("陪同老人去医院复诊", "独居老人需要有人陪同去东方医院复诊"),
    ("代买常用药品", "腿脚不便，需要代买降压药"),
    ("辅导孩子功课", "孩子数学跟不上，希望有党员周末辅导"),
    ("更换楼道灯泡", "楼道灯坏了一周，晚上上下楼不安全"),
    ("教老人使用智能手机", "想学会用手机挂号和视频通话"),
    ("搬运旧家具下楼", "家里旧沙发需要搬到楼下回收点"),
    ("理发上门服务", "卧床老人需要上门理发"),
    ("安装扶手", "卫生间需要安装防滑扶手"),
    ("代缴水电费", "不会线上缴费，希望有人帮忙"),
]
CARE_NEEDS = {
    "elderly_alone": ["每日电话问候", "助餐", "定期上门探访"],
    "difficulty": ["临时救助申请", "就业帮扶", "助学"],
    "limited_mobility": ["出行陪护", "代购代办", "紧急撤离需协助"],
    "disabled": ["康复服务", "无障碍改造", "紧急撤离需协助"],
    "left_behind": ["课后看护", "心理关爱"],
}
CARE_SHARES = {"elderly_alone": 0.45, "difficulty": 0.2, "limited_mobility": 0.2, "disabled": 0.1, "left_behind": 0.05}
#: the steps each wish went through, by final state (replayed through the wish state machine)
WISH_PATHS = {
    "posted": [],
    "dispatched": ["dispatch"],
    "claimed": ["dispatch", "claim"],
    "fulfilled": ["dispatch", "claim", "fulfil"],
    "confirmed": ["dispatch", "claim", "fulfil", "confirm"],
}
WISH_SHARES = {"posted": 0.1, "dispatched": 0.15, "claimed": 0.15, "fulfilled": 0.15, "confirmed": 0.45}
OVER_ASSIGNED_UNITS = 12  # units given to the one over-assigned volunteer


@dataclass
class Population:
    """The synthetic population: rows ready for :class:`gridgis.people.store.PeopleStore` (by ``ref``)."""

    persons: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)  # person_ref, level, target
    orgs: list[dict[str, Any]] = field(default_factory=list)  # central households and co-building units
    wishes: list[dict[str, Any]] = field(default_factory=list)  # with "steps" and "claimer_ref"
    activities: list[dict[str, Any]] = field(default_factory=list)  # person_ref, item, at
    care: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("persons", "assignments", "orgs", "wishes", "activities", "care")}


def _name(rng: np.random.Generator) -> str:
    return N.SURNAMES[int(rng.integers(len(N.SURNAMES)))] + N.GIVEN[int(rng.integers(len(N.GIVEN)))]


def _phone(rng: np.random.Generator) -> str:
    return f"139{int(rng.integers(0, 10**8)):08d}"


def _pick(rng: np.random.Generator, shares: dict[str, float]) -> str:
    keys = list(shares)
    return keys[int(rng.choice(len(keys), p=np.array(list(shares.values())) / sum(shares.values())))]


def _workers(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        import json

        value = json.loads(value)
    return list(value) if isinstance(value, list | tuple) else []


def generate_population(
    city: dict[str, gpd.GeoDataFrame], seed: int = 0, year: int = 2026, activity_months: int = 9
) -> Population:
    """Draw the population of ``city`` (see the module docstring); the same city and seed give the same rows.

    ``activity_months`` months of activities are drawn from January (0: none, e.g. for a city-scale benchmark).
    """
    rng = np.random.default_rng([seed, 15])
    pop = Population()
    b = city["buildings"].sort_values("code")
    compounds = city["compounds"].set_index("code") if len(city.get("compounds", [])) else None
    grid_of_building = _grid_of_buildings(city, b)
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    members_by_building: dict[str, list[str]] = {}
    volunteers: list[str] = []
    in_service: list[tuple[str, str, int]] = []

    for code, households, units, comp in zip(
        b["code"].astype(str),
        b["households"].fillna(0).astype(int) if "households" in b.columns else [20] * len(b),
        b["units"].fillna(1).astype(int) if "units" in b.columns else [1] * len(b),
        b["compound_code"].astype(str) if "compound_code" in b.columns else [""] * len(b),
    ):
        units = max(int(units), 1)
        for _ in range(int(rng.poisson(max(households, 1) * 0.04))):
            ref = f"M-{len(pop.persons) + 1:07d}"
            mk = _pick(rng, MEMBER_SHARES)
            unit = int(rng.integers(1, units + 1))
            pop.persons.append(
                {
                    "ref": ref,
                    "name": _name(rng),
                    "kind": "member",
                    "member_kind": mk,
                    "phone": _phone(rng),
                    "building_code": code,
                    "unit": unit,
                    "employer": EMPLOYERS[int(rng.integers(len(EMPLOYERS)))] if mk == "in_service" else None,
                    "post": POSTS[int(rng.integers(len(POSTS)))] if mk in ("in_service", "direct") else None,
                }
            )
            members_by_building.setdefault(code, []).append(ref)
            if mk == "in_service":
                in_service.append((ref, code, unit))
        for _ in range(int(rng.poisson(max(households, 1) * 0.015))):
            ref = f"V-{len(pop.persons) + 1:07d}"
            unit = int(rng.integers(1, units + 1))
            pop.persons.append(
                {
                    "ref": ref,
                    "name": _name(rng),
                    "kind": "volunteer",
                    "phone": _phone(rng),
                    "building_code": code,
                    "unit": unit,
                    "post": POSTS[int(rng.integers(len(POSTS)))],
                }
            )
            volunteers.append(ref)
            # a volunteer takes their own unit, and sometimes the next one (包单元)
            pop.assignments.append({"person_ref": ref, "level": "unit", "target": f"{code}-U{unit}"})
            if units > 1 and rng.random() < 0.5:
                other = unit % units + 1
                pop.assignments.append({"person_ref": ref, "level": "unit", "target": f"{code}-U{other}"})
        for _ in range(int(rng.poisson(max(households, 1) * 0.02))):
            cat = _pick(rng, CARE_SHARES)
            needs = CARE_NEEDS[cat]
            pop.care.append(
                {
                    "resident": _name(rng),
                    "phone": _phone(rng) if rng.random() < 0.8 else None,
                    "category": cat,
                    "needs": "、".join(sorted({needs[int(rng.integers(len(needs)))] for _ in range(2)})),
                    "building_code": code,
                    "unit": int(rng.integers(1, units + 1)),
                }
            )
        if code in members_by_building and rng.random() < 0.35:
            pop.orgs.append(
                {
                    "kind": "central_household",
                    "building_code": code,
                    "member_ref": members_by_building[code][0],
                }
            )

    # in-service members take households (包户): their own unit's households, two each
    for ref, code, unit in in_service:
        for k in range(2):
            pop.assignments.append(
                {
                    "person_ref": ref,
                    "level": "household",
                    "target": f"{code}-U{unit}#{int(rng.integers(1, 30)):02d}{k + 1:02d}",
                }
            )

    # grid workers: full-time workers take most buildings of their grid (包栋)
    grids = city["grids"].sort_values("code")
    for gcode, workers in zip(grids["code"].astype(str), grids["workers"] if "workers" in grids.columns else []):
        full = [w for w in _workers(workers) if w.get("role") == "full_time"]
        for j, w in enumerate(full[:1]):
            ref = f"G-{gcode}-{j + 1}"
            pop.persons.append(
                {"ref": ref, "name": w["name"], "kind": "grid_worker", "phone": w.get("phone"), "work_area": gcode}
            )
            for bcode in grid_of_building.get(gcode, []):
                if rng.random() < 0.85:
                    pop.assignments.append({"person_ref": ref, "level": "building", "target": bcode})
    micro = city["micro_grids"].sort_values("code")
    for mcode, workers in zip(micro["code"].astype(str), micro["workers"] if "workers" in micro.columns else []):
        ws = _workers(workers)
        if not ws:
            continue
        ref = f"W-{mcode}"
        pop.persons.append(
            {
                "ref": ref,
                "name": ws[0]["name"],
                "kind": "micro_grid_worker",
                "phone": ws[0].get("phone"),
                "work_area": mcode,
            }
        )
        if rng.random() < 0.96:  # a few micro-grids are left without their worker, for the check to find
            pop.assignments.append({"person_ref": ref, "level": "micro_grid", "target": mcode})

    # owners' committee members take a building of their compound (包栋)
    if compounds is not None and "has_owners_committee" in compounds.columns:
        by_comp: dict[str, list[str]] = {}
        for code, comp in zip(b["code"].astype(str), b["compound_code"].astype(str)):
            by_comp.setdefault(comp, []).append(code)
        for comp, row in compounds.sort_index().iterrows():
            if not bool(row.get("has_owners_committee")) or comp not in by_comp:
                continue
            home = by_comp[comp][int(rng.integers(len(by_comp[comp])))]
            ref = f"O-{comp}"
            pop.persons.append(
                {
                    "ref": ref,
                    "name": _name(rng),
                    "kind": "owners_committee",
                    "phone": _phone(rng),
                    "building_code": home,
                }
            )
            pop.assignments.append({"person_ref": ref, "level": "building", "target": home})

    # community committee members (两委) take patches: the community's grids, one each
    comms = city["communities"].sort_values("code")
    for ccode, cname in zip(comms["code"].astype(str), comms["name"].astype(str)):
        cgrids = sorted(g for g in grids["code"].astype(str) if g.startswith(ccode))
        for k in range(2):
            ref = f"C-{ccode}-{k + 1}"
            pop.persons.append(
                {"ref": ref, "name": _name(rng), "kind": "committee", "phone": _phone(rng), "work_area": ccode}
            )
            for g in cgrids[k::2][:3]:
                pop.assignments.append({"person_ref": ref, "level": "patch", "target": g})
        # co-building units (共驻共建单位) paired with the community, each with a contact taking the community patch
        for k in range(int(rng.integers(2, 5))):
            unit_name = f"{EMPLOYERS[(k + len(pop.orgs)) % len(EMPLOYERS)]}{cname.removesuffix('居委会')}共建点"
            ref = f"U-{ccode}-{k + 1}"
            pop.orgs.append({"kind": "cobuilding_unit", "name": unit_name, "communities": [ccode], "contact_ref": ref})
            pop.persons.append(
                {
                    "ref": ref,
                    "name": _name(rng),
                    "kind": "cobuilding_contact",
                    "phone": _phone(rng),
                    "work_area": ccode,
                    "employer": unit_name,
                }
            )
            pop.assignments.append({"person_ref": ref, "level": "patch", "target": ccode})

    # one volunteer over-assigned (the check must find them)
    if volunteers:
        ref = volunteers[0]
        home = next(p for p in pop.persons if p["ref"] == ref)["building_code"]
        compound = parent_code("buildings", home)
        near = [c for c in b["code"].astype(str) if parent_code("buildings", c) == compound]
        for c in near[:OVER_ASSIGNED_UNITS]:
            target = f"{c}-U1"
            if not any(a["person_ref"] == ref and a["target"] == target for a in pop.assignments):
                pop.assignments.append({"person_ref": ref, "level": "unit", "target": target})

    # wishes and the activities that follow them
    residents = [p for p in pop.persons if p["kind"] == "member"]
    n_wishes = max(10, len(b) // 25)
    codes = b["code"].astype(str).tolist()
    for i in range(n_wishes):
        code = codes[int(rng.integers(len(codes)))]
        title, desc = WISHES[int(rng.integers(len(WISHES)))]
        final = _pick(rng, WISH_SHARES)
        nearby = members_by_building.get(code) or (
            [residents[int(rng.integers(len(residents)))]["ref"]] if residents else []
        )
        when = start + timedelta(days=int(rng.integers(0, 270)), hours=int(rng.integers(8, 20)))
        pop.wishes.append(
            {
                "ref": f"W{i + 1:05d}",
                "title": title,
                "description": desc,
                "resident": _name(rng),
                "phone": _phone(rng),
                "building_code": code,
                "at": when,
                "steps": WISH_PATHS[final],
                "claimer_ref": nearby[0] if nearby else None,
            }
        )
    members = [p["ref"] for p in pop.persons if p["kind"] in ("member", "volunteer")]
    for ref in members:
        for month in range(1, activity_months + 1):
            base = datetime(year, month, 1, 9, tzinfo=SHANGHAI)
            for _ in range(int(rng.poisson(0.8))):
                pop.activities.append(
                    {"person_ref": ref, "item": "duty_shift", "at": base + timedelta(days=int(rng.integers(0, 27)))}
                )
            if rng.random() < 0.25:
                pop.activities.append(
                    {"person_ref": ref, "item": "ticket_helped", "at": base + timedelta(days=int(rng.integers(0, 27)))}
                )
            if rng.random() < 0.2:
                pop.activities.append(
                    {"person_ref": ref, "item": "door_knock", "at": base + timedelta(days=int(rng.integers(0, 27)))}
                )
    return pop


def _grid_of_buildings(city: dict[str, gpd.GeoDataFrame], b: gpd.GeoDataFrame) -> dict[str, list[str]]:
    """Building codes per grid (the grid holding each building's representative point)."""
    grids = city["grids"]
    pts = gpd.GeoDataFrame(
        {"code": b["code"].astype(str).values}, geometry=b.geometry.representative_point().values, crs=b.crs
    )
    joined = gpd.sjoin(
        pts, grids[["code", "geometry"]].rename(columns={"code": "grid_code"}), predicate="within", how="left"
    )
    joined = joined.drop_duplicates("code")
    out: dict[str, list[str]] = {}
    for code, grid in zip(joined["code"], joined["grid_code"]):
        if isinstance(grid, str):
            out.setdefault(grid, []).append(code)
    return out


#: the file ``gridgis sample-city`` writes the population to, next to the layers' GeoJSON
POPULATION_FILE = "population.json"
_PARTS = ("persons", "assignments", "orgs", "wishes", "activities", "care")


def write_population(pop: Population, path: Any, seed: int = 0) -> Any:
    """Write ``pop`` as JSON (UTF-8, one part per line, times in ISO 8601 with their offset); byte-stable."""
    import json
    from pathlib import Path

    def iso(value: Any) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot write {type(value).__name__} in a population file")

    lines = [json.dumps({"population": "gridgis synthetic (not real people)", "seed": seed}, ensure_ascii=False)]
    for part in _PARTS:
        rows = getattr(pop, part)
        lines.append(json.dumps({part: rows}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=iso))
    out = Path(path)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def read_population(path: Any) -> Population:
    """A population written by :func:`write_population` (times back as aware datetimes)."""
    import json
    from pathlib import Path

    from gridgis.errors import ValidationError

    pop = Population()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0])
        parts = [json.loads(line) for line in lines[1:] if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as err:
        raise ValidationError(f"{path} is not a population file written by gridgis sample-city: {err}") from None
    if not isinstance(head, dict) or "population" not in head:
        raise ValidationError(f"{path} is not a population file written by gridgis sample-city")
    for part in parts:
        for key, rows in part.items():
            if key in _PARTS:
                for row in rows:
                    if isinstance(row.get("at"), str):
                        row["at"] = datetime.fromisoformat(row["at"])
                setattr(pop, key, rows)
    return pop


__all__ = ["POPULATION_FILE", "Population", "generate_population", "read_population", "write_population"]
