"""Load a synthetic population (:mod:`gridgis.sample.population`) into a store, through the same rules as users.

Persons go through :meth:`PeopleStore.person_row` (placement), assignments through
:meth:`PeopleStore.add_assignments` (targets checked), wishes through :mod:`gridgis.people.wishes`
(every step a recorded transition), care through :func:`gridgis.people.care.care_row`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridgis.people import wishes as W
from gridgis.people.care import add_care, care_row
from gridgis.people.store import PeopleStore, org_code_for


def load_population(store: PeopleStore, pop: Any, step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Persist ``pop`` (organisations first, from the alignment's party tree); returns counts."""
    step = step or (lambda _m: None)
    if store.persons(limit=1):
        from gridgis.errors import ValidationError

        raise ValidationError("the store already has people; load a sample population into a store without any")
    step("organisations (party tree)")
    orgs = store.sync_orgs()
    step("persons")
    rows = [store.person_row(**{k: v for k, v in p.items()}) for p in pop.persons]
    ids = store.add_persons(rows)
    by_ref = {p["ref"]: i for p, i in zip(pop.persons, ids)}
    unplaced = sum(1 for r in rows if not r["placed"])
    step("organisations (central households, co-building units)")
    existing = {o["code"] for o in store.orgs()}
    refs = {p["ref"]: p for p in pop.persons}
    specs = []
    for o in pop.orgs:
        if o["kind"] == "central_household":
            parent = org_code_for("building_group", extra=o["building_code"])
            code = f"ORG-H-{o['member_ref']}"
            if parent in existing and code not in existing:
                name = f"{refs[o['member_ref']]['name']}党员中心户"
                specs.append(
                    {
                        "kind": "central_household",
                        "name": name,
                        "parent_code": parent,
                        "code": code,
                        "building_code": o["building_code"],
                    }
                )
        else:
            code = f"ORG-U-{o['contact_ref']}"
            if code not in existing:
                parent = f"ORG-{o['communities'][0]}"
                specs.append(
                    {
                        "kind": "cobuilding_unit",
                        "name": o["name"],
                        "code": code,
                        "communities": o["communities"],
                        "parent_code": parent if parent in existing else None,
                    }
                )
    store.add_orgs(specs)
    step("assignments")
    n_assign = store.add_assignments(
        [{"person_id": by_ref[a["person_ref"]], "level": a["level"], "target": a["target"]} for a in pop.assignments]
    )
    step("wishes")
    for w in pop.wishes:
        wish = W.post_wish(
            store,
            title=w["title"],
            description=w["description"],
            resident=w["resident"],
            phone=w["phone"],
            building_code=w["building_code"],
            channel="sample",
            posted_by="居民",
            at=w["at"],
        )
        for k, action in enumerate(w["steps"]):
            kwargs: dict[str, Any] = {}
            if action == "claim":
                if w["claimer_ref"] is None:
                    break
                kwargs["person_id"] = by_ref[w["claimer_ref"]]
            from datetime import timedelta

            W.transition_wish(
                store, wish["id"], action, actor="sample", at=w["at"] + timedelta(hours=6 * (k + 1)), **kwargs
            )
    step("activities")
    n_act = store.record_activities(
        [{"person_id": by_ref[a["person_ref"]], "item": a["item"], "at": a["at"]} for a in pop.activities]
    )
    step("care register")
    care_ids = add_care(store, [care_row(store, **c) for c in pop.care])
    return {
        "organisations": orgs,
        "persons": len(ids),
        "unplaced": unplaced,
        "assignments": n_assign,
        "wishes": len(pop.wishes),
        "activities": n_act,
        "care": len(care_ids),
    }


__all__ = ["load_population"]
