"""People follow every committed boundary write (:func:`gridgis.editing.service.commit` calls
:func:`follow_commit` after storing a generation).

A building that lands in another grid or micro-grid keeps its residents and their roles: persons living in
it are re-placed, residents' assignments (volunteers, members, owners' committee) follow it, and grid-bound
ones (its grid and micro-grid workers) are flagged, as are assignments to micro-grids and grids the edit
deleted; a moved building nobody answers for any more is reported (and the coverage check shows it). The
rule is :func:`gridgis.people.responsibility.follow_plan`, the write
:meth:`gridgis.people.store.PeopleStore.follow_boundaries`; here only what the edit touched is looked at:
the buildings whose representative point lies in the bounding box of the edited outlines (every point whose
grid or micro-grid can have changed lies in one of them), routed by an index of the layers around it.

The follow-up runs right after the boundary transaction, in its own transaction with its audit entry
(action ``people-follow``, by the boundary write's author). It cannot undo the boundary write: when it fails
the error is logged, and ``gridgis people follow`` (``POST /people/follow``) repeats it over the whole city.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from gridgis.codes import area_of

log = logging.getLogger("gridgis.people")

#: the layers whose changes can move a building to another place
PLACING_LAYERS = ("streets", "communities", "grids", "micro_grids", "compounds", "buildings")


def has_people(engine: sa.Engine) -> bool:
    """Whether the store holds any person (the follow-up has nothing to do otherwise)."""
    from gridgis.people import tables as T

    if not sa.inspect(engine).has_table(T.persons.name):
        return False
    with engine.connect() as conn:
        return conn.execute(sa.select(T.persons.c.id).limit(1)).first() is not None


def follow_commit(repo: Any, edits: list[Any], generation: Any, author: str) -> dict[str, Any] | None:
    """Follow the boundary write ``edits`` (stored as ``generation``); the report, or None when no
    person can be concerned. Never raises for a fault of its own: the boundary write is stored already."""
    try:
        return _follow(repo, edits, generation, author)
    except Exception:  # the boundary write stands; the follow-up can be repeated (docstring above)
        log.exception(
            "people did not follow generation %s; run `gridgis people follow`", getattr(generation, "id", "?")
        )
        return None


def _follow(repo: Any, edits: list[Any], generation: Any, author: str) -> dict[str, Any] | None:
    import shapely

    from gridgis.people.placement import Placer
    from gridgis.people.store import PeopleStore

    edits = [e for e in edits if e.layer in PLACING_LAYERS]
    if not edits or not isinstance(getattr(repo, "engine", None), sa.Engine) or not has_people(repo.engine):
        return None
    removed_buildings = {e.code for e in edits if e.layer == "buildings" and e.op == "delete"}
    removed_areas = {e.code for e in edits if e.layer in ("grids", "micro_grids", "communities") and e.op == "delete"}
    outlines = [e.geometry for e in edits if e.op != "delete" and e.geometry is not None]
    outlines = [g for g in outlines if not shapely.is_empty(g)]
    placer = None
    buildings = None
    if outlines:
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(outlines))
        city = {layer: repo.read_layer(layer, bbox=(x0, y0, x1, y1)) for layer in PLACING_LAYERS}
        if len(city["grids"]) and len(city["buildings"]):
            placer = Placer(city)
            b = placer.buildings
            inside = (b["lon"] >= x0) & (b["lon"] <= x1) & (b["lat"] >= y0) & (b["lat"] <= y1)
            buildings = b[inside.to_numpy()]
    if buildings is None:
        import pandas as pd

        buildings = pd.DataFrame(columns=["micro_grid_code", "grid_code", "community_code", "street_code", "units"])
    if not len(buildings) and not removed_buildings and not removed_areas:
        return None
    store = PeopleStore(repo, placer=placer)
    gen = getattr(generation, "id", None)
    with store.audited(
        author, "people-follow", method="COMMIT", path=f"generation {gen}", message=f"after generation {gen}"
    ) as entry:
        # assignments record their target's community: only the edited communities and those of the
        # buildings looked at can be concerned (a city has thousands of others)
        communities = {area_of(e.code) for e in edits} | set(buildings["community_code"].dropna().astype(str))
        report = store.follow_boundaries(
            buildings=buildings,
            removed_buildings=removed_buildings,
            removed_areas=removed_areas,
            communities=communities,
        )
        entry.skip = not (report["moved_buildings"] or report["assignments_flagged"])
        entry.codes = report["moved_buildings"] + [str(f["target"]) for f in report["assignments_flagged"]]
        entry.message = (
            f"after generation {gen}: {report['persons_replaced']} persons re-placed, "
            f"{len(report['assignments_kept'])} assignments kept, {len(report['assignments_flagged'])} flagged, "
            f"{len(report['uncovered_buildings'])} moved buildings without anyone responsible"
        )
    report["generation"] = gen
    return report


__all__ = ["PLACING_LAYERS", "follow_commit", "has_people"]
