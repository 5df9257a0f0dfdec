"""The planner's operations: atomic edits that keep a coverage valid by construction.

Each function takes current layer frames (EPSG:4326, with a ``version`` column when read from
storage) and returns the list of :class:`~gridgis.editing.changes.Edit` that carries it out;
the caller validates and stores the list in one call, so an operation is one generation.
Area shares are computed in the metric CRS of the data.

- :func:`move_boundary` — give grid A a new outline; B takes or gives the difference.
- :func:`transfer_compound` / :func:`transfer_buildings` — hand an area to another grid.
- :func:`split_grid` — cut a grid in two with a line.
- :func:`merge_grids` — merge neighbouring grids of one community.
- :func:`apply_proposal` — replace a community's grids with a proposal (e.g. from alignment).

Micro-grids follow through :func:`gridgis.editing.follow.with_micro_grids`, which every caller
(API, CLI, alignment) applies to an operation's grid edits.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import split as split_geometry

from gridgis.codes import area_of, child_code, parent_code
from gridgis.crs import STORAGE_CRS, STORAGE_DECIMALS, metric_crs_for
from gridgis.editing.changes import Edit, plain, row_properties
from gridgis.errors import NotFoundError, Problem, ValidationError

#: slivers smaller than this (m²) produced by an operation are dropped
SLIVER_M2 = 0.5


def _row(frame: gpd.GeoDataFrame, layer: str, code: str) -> Any:
    hits = frame[frame["code"] == code]
    if not len(hits):
        raise NotFoundError(f"{layer} {code} does not exist; check the code")
    return hits.iloc[0]


def _version(row: Any) -> int | None:
    v = row.get("version") if hasattr(row, "get") else None
    return None if v is None or bool(np.isnan(v)) else int(v)


def _update(layer: str, row: Any, geometry: shapely.Geometry, **changes: Any) -> Edit:
    props = row_properties(layer, row)
    props.update(changes)
    return Edit(layer, "replace", str(row["code"]), props, geometry, _version(row))


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygon parts of ``geom`` (an intersection may add lines or points)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _areas(geoms: list[shapely.Geometry]) -> list[float]:
    from gridgis.editing.validate import _area

    nonempty = [g for g in geoms if g is not None and not g.is_empty]
    if not nonempty:
        return [0.0] * len(geoms)
    metric = metric_crs_for(gpd.GeoSeries(nonempty, crs=STORAGE_CRS))
    return [_area(g, metric) for g in geoms]


def _clean(geom: shapely.Geometry) -> shapely.Geometry:
    """Drop sliver parts below :data:`SLIVER_M2`; return a Polygon when one part remains."""
    geom = _polygonal(shapely.make_valid(geom))
    parts = list(getattr(geom, "geoms", [geom])) if not geom.is_empty else []
    keep = [p for p, a in zip(parts, _areas(parts)) if a >= SLIVER_M2] if parts else []
    if not keep:
        return shapely.Polygon()
    return keep[0] if len(keep) == 1 else shapely.MultiPolygon(keep)


def _households(row: Any) -> int:
    v = plain(row.get("households"))
    return int(v or 0)


def move_boundary(
    grids: gpd.GeoDataFrame, code_a: str, code_b: str, new_geometry_a: shapely.Geometry, layer: str = "grids"
) -> list[Edit]:
    """Give ``code_a`` the outline ``new_geometry_a``; its neighbour ``code_b`` takes the rest of both.

    Only the union of the two features is redistributed, so the coverage stays exactly as it
    was outside them. Households move with the area (by area share).

    >>> from gridgis.sample.tiny import tiny_city
    >>> from shapely.geometry import box
    >>> g = tiny_city()["grids"]
    >>> edits = move_boundary(g, "110105001001001", "110105001001002", box(116.400, 39.900, 116.406, 39.910))
    >>> [(e.code, e.properties["households"]) for e in edits]
    [('110105001001001', 480), ('110105001001002', 320)]
    """
    a = _row(grids, layer, code_a)
    b = _row(grids, layer, code_b)
    if code_a == code_b or parent_code(layer, code_a) != parent_code(layer, code_b):
        raise ValidationError(f"{layer} {code_a} and {code_b} must be two different features of one parent")
    pool = shapely.union(a.geometry, b.geometry)
    grabbed = shapely.difference(new_geometry_a, pool)
    (outside,) = _areas([grabbed])
    if outside > SLIVER_M2 * 10:
        raise ValidationError(
            f"the new outline of {code_a} takes {outside:.0f} m² outside {code_a} and {code_b}",
            [
                Problem(
                    "move only the boundary the two features share",
                    feature=code_a,
                    layer=layer,
                    kind="outside_pair",
                    where=_where(grabbed),
                )
            ],
        )
    new_a = _clean(shapely.intersection(new_geometry_a, pool))
    new_b = _clean(shapely.difference(pool, new_a))
    if new_a.is_empty or new_b.is_empty:
        raise ValidationError(
            f"the move would leave {code_b if new_b.is_empty else code_a} empty; use merge-grids to merge two grids"
        )
    total = _households(a) + _households(b)
    area_a, area_b = _areas([new_a, new_b])
    hh_a = round(total * area_a / (area_a + area_b)) if "households" in grids.columns else None
    extra_a = {"households": hh_a} if hh_a is not None else {}
    extra_b = {"households": total - hh_a} if hh_a is not None else {}
    return node_coverage(grids, [_update(layer, a, new_a, **extra_a), _update(layer, b, new_b, **extra_b)], layer)


def node_coverage(frame: gpd.GeoDataFrame, edits: list[Edit], layer: str = "grids") -> list[Edit]:
    """Give the edited features and their neighbours in ``frame`` the same vertices on shared edges.

    An operation that moves a boundary ends it on an edge shared with an untouched neighbour;
    that end point must be a vertex of the neighbour too, or the coverage is no longer edge to
    edge (:func:`shapely.coverage_is_valid`). The edited features and their siblings are re-drawn
    from their noded linework (:func:`gridgis.editing.follow.node_family`: shared vertices, no
    spike or sliver below :data:`gridgis.editing.follow.SLIVER_M2`); an untouched sibling whose
    outline gains a vertex gets an update edit (it carries the sibling's version, so a concurrent
    change of the sibling refuses the whole operation).
    """
    from gridgis.editing.follow import node_edits

    return node_edits(frame, edits, layer)


def _where(geom: shapely.Geometry) -> tuple[float, float] | None:
    if geom is None or geom.is_empty:
        return None
    p = shapely.point_on_surface(geom)
    return (round(p.x, STORAGE_DECIMALS), round(p.y, STORAGE_DECIMALS))


def transfer_area(
    grids: gpd.GeoDataFrame, piece: shapely.Geometry, to_code: str, households: int = 0, what: str = "area"
) -> list[Edit]:
    """Move ``piece`` (and ``households``) from whichever grids hold it to grid ``to_code``.

    The piece is clipped to the receiving grid's community; the receiving grid must touch it
    so that it stays in one part.
    """
    to = _row(grids, "grids", to_code)
    same = grids[np.array([area_of(str(c)) == area_of(to_code) for c in grids["code"]], dtype=bool)]
    donors = same[(same["code"] != to_code) & same.intersects(piece)]
    shares = {str(r.code): shapely.intersection(r.geometry, piece) for r in donors.itertuples()}
    areas = dict(zip(shares, _areas(list(shares.values()))))
    shares = {c: g for c, g in shares.items() if areas[c] >= SLIVER_M2}
    if not shares:
        raise ValidationError(
            f"{what} lies in no other grid of community {area_of(to_code)}; nothing to transfer",
            [
                Problem(
                    "already in the receiving grid or outside its community",
                    feature=to_code,
                    layer="grids",
                    kind="nothing_to_do",
                    where=_where(piece),
                )
            ],
        )
    moved = shapely.union_all(list(shares.values()))
    new_to = _clean(shapely.union(to.geometry, moved))
    if new_to.geom_type != "Polygon":
        raise ValidationError(
            f"grid {to_code} does not border {what}; it would be split in parts",
            [
                Problem(
                    "transfer only to a neighbouring grid",
                    feature=to_code,
                    layer="grids",
                    kind="not_adjacent",
                    where=_where(moved),
                )
            ],
        )
    total = sum(areas[c] for c in shares) or 1.0
    edits: list[Edit] = []
    given = 0
    for code, share in shares.items():
        row = _row(grids, "grids", code)
        n = round(households * areas[code] / total)
        given += n
        new = _clean(shapely.difference(row.geometry, share))
        if new.is_empty:
            raise ValidationError(f"the transfer would leave grid {code} empty; merge the grids instead")
        edits.append(_update("grids", row, new, households=max(_households(row) - n, 0)))
    edits.append(_update("grids", to, new_to, households=_households(to) + given))
    return node_coverage(grids, edits)


def transfer_compound(
    grids: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, compound_code: str, to_grid: str
) -> list[Edit]:
    """Hand compound ``compound_code`` (its area and households) to grid ``to_grid``.

    >>> from gridgis.sample.tiny import tiny_city
    >>> c = tiny_city()
    >>> [e.code for e in transfer_compound(c["grids"], c["compounds"], "110105001001Q002", "110105001001001")]
    ['110105001001002', '110105001001001']
    """
    compound = _row(compounds, "compounds", compound_code)
    if area_of(compound_code) != area_of(to_grid):
        raise ValidationError(
            f"compound {compound_code} is in community {area_of(compound_code)}, grid {to_grid} is not; "
            "a grid takes compounds of its own community only"
        )
    return transfer_area(grids, compound.geometry, to_grid, _households(compound), f"compound {compound_code}")


def transfer_buildings(
    grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, building_codes: list[str], to_grid: str
) -> list[Edit]:
    """Hand the footprints (and households) of ``building_codes`` to grid ``to_grid``."""
    rows = [_row(buildings, "buildings", c) for c in building_codes]
    piece = shapely.union_all([r.geometry for r in rows])
    return transfer_area(
        grids, piece, to_grid, sum(_households(r) for r in rows), f"buildings {', '.join(building_codes)}"
    )


def next_free_code(grids: gpd.GeoDataFrame, community: str, taken: set[str] | None = None) -> str:
    """The first unused grid code of ``community``.

    >>> from gridgis.sample.tiny import tiny_city
    >>> next_free_code(tiny_city()["grids"], "110105001001")
    '110105001001003'
    """
    used = set(map(str, grids["code"])) | (taken or set())
    for seq in range(1, 1000):
        code = child_code(community, "grids", seq)
        if code not in used:
            return code
    raise ValidationError(f"community {community} has no free grid code left")


def split_grid(
    grids: gpd.GeoDataFrame, code: str, line: shapely.Geometry, new_code: str | None = None, new_name: str | None = None
) -> list[Edit]:
    """Cut grid ``code`` in two along ``line``; the larger part keeps the code.

    >>> from gridgis.sample.tiny import tiny_city
    >>> from shapely.geometry import LineString
    >>> edits = split_grid(tiny_city()["grids"], "110105001001001", LineString([(116.399, 39.904), (116.406, 39.904)]))
    >>> [(e.op, e.code, e.properties["households"]) for e in edits]  # the neighbour gains the cut's end vertex
    [('replace', '110105001001001', 240), ('create', '110105001001003', 160), ('replace', '110105001001002', 400)]
    """
    row = _row(grids, "grids", code)
    if line is None or line.geom_type not in ("LineString", "MultiLineString"):
        raise ValidationError(f"split grid {code}: give a LineString that crosses the grid from edge to edge")
    parts = [p for p in split_geometry(row.geometry, line).geoms if p.geom_type == "Polygon"]
    areas = _areas(parts)
    parts = [p for p, a in sorted(zip(parts, areas), key=lambda t: -t[1]) if a >= SLIVER_M2]
    if len(parts) != 2:
        raise ValidationError(
            f"the line cuts grid {code} into {len(parts)} part(s), not 2",
            [
                Problem(
                    "draw one line across the grid, from edge to edge",
                    feature=code,
                    layer="grids",
                    kind="bad_split",
                    where=_where(row.geometry),
                )
            ],
        )
    big, small = parts
    a_big, a_small = _areas([big, small])
    total = _households(row)
    hh_big = round(total * a_big / (a_big + a_small))
    new_code = new_code or next_free_code(grids, area_of(code))
    props = row_properties("grids", row)
    props.update(households=total - hh_big, name=new_name or f"{props.get('name') or code}（分）", workers=[])
    if "population" in props and props["population"] is not None:
        pop = int(props["population"])
        props["population"] = pop - round(pop * a_big / (a_big + a_small))
    keep = _update("grids", row, big, households=hh_big)
    if keep.properties.get("population") is not None and props.get("population") is not None:
        keep.properties["population"] = int(row_properties("grids", row)["population"]) - props["population"]
    return node_coverage(grids, [keep, Edit("grids", "create", new_code, props, small, None)])


def merge_grids(grids: gpd.GeoDataFrame, codes: list[str], name: str | None = None) -> list[Edit]:
    """Merge neighbouring grids of one community into the first of ``codes``; the others are deleted.

    >>> from gridgis.sample.tiny import tiny_city
    >>> edits = merge_grids(tiny_city()["grids"], ["110105001001001", "110105001001002"])
    >>> [(e.op, e.code) for e in edits]
    [('replace', '110105001001001'), ('delete', '110105001001002')]
    """
    if len(codes) < 2 or len(set(codes)) != len(codes):
        raise ValidationError("merge needs two or more different grid codes")
    rows = [_row(grids, "grids", c) for c in codes]
    if len({area_of(c) for c in codes}) != 1:
        raise ValidationError(f"grids {', '.join(codes)} are in different communities; merge within one community")
    merged = _clean(shapely.union_all([r.geometry for r in rows]))
    if merged.geom_type != "Polygon":
        raise ValidationError(
            f"grids {', '.join(codes)} do not form one area; merge neighbouring grids only",
            [Problem("not adjacent", feature=codes[0], layer="grids", kind="not_adjacent", where=_where(merged))],
        )
    keep = rows[0]
    workers: list[Any] = []
    for r in rows:
        workers += list(plain(r.get("workers")) or [])
    extra: dict[str, Any] = {"households": sum(_households(r) for r in rows), "workers": workers}
    if name:
        extra["name"] = name
    if "population" in grids.columns:
        extra["population"] = sum(int(plain(r.get("population")) or 0) for r in rows)
    edits = [_update("grids", keep, merged, **extra)]
    edits += [Edit("grids", "delete", str(r["code"]), {}, None, _version(r)) for r in rows[1:]]
    return node_coverage(grids, edits)


def apply_proposal(grids: gpd.GeoDataFrame, proposal: gpd.GeoDataFrame, community: str) -> list[Edit]:
    """Replace the grids of ``community`` with ``proposal`` (a grids frame, EPSG:4326).

    Grids whose outline or attributes differ are updated, new codes inserted, missing ones
    deleted; validation of the result (coverage of the community) is the caller's next step.
    """
    from gridgis.crs import ensure_storage_crs
    from gridgis.layers import get_spec, normalize_frame

    proposal = normalize_frame(get_spec("grids"), ensure_storage_crs(proposal, "proposal"))
    stray = [str(c) for c in proposal["code"] if area_of(str(c)) != community]
    if stray:
        raise ValidationError(f"the proposal holds grids outside community {community}: {', '.join(stray[:5])}")
    current = grids[np.array([area_of(str(c)) == community for c in grids["code"]], dtype=bool)]
    by_code = {str(r["code"]): r for _, r in current.iterrows()}
    edits: list[Edit] = []
    for _, new in proposal.iterrows():
        code = str(new["code"])
        props = row_properties("grids", new)
        old = by_code.pop(code, None)
        if old is None:
            edits.append(Edit("grids", "create", code, props, new.geometry, None))
        elif props != row_properties("grids", old) or not shapely.equals_exact(old.geometry, new.geometry, 1e-9):
            edits.append(Edit("grids", "replace", code, props, new.geometry, _version(old)))
    edits += [Edit("grids", "delete", code, {}, None, _version(old)) for code, old in by_code.items()]
    return node_coverage(grids, edits)
