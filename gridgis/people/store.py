"""Persistence of the people area: :class:`PeopleStore` over the repository's database (SQLite or PostGIS).

Every write is one transaction and returns what it wrote. A caller that records the write in the audit
log does it inside that transaction with :meth:`PeopleStore.audited` (the writes of the block and their
audit entry commit or roll back together); :meth:`PeopleStore.audit` records what writes nothing else (a
care read, an export). Reads return plain dicts; what a principal may see of them is decided by
:mod:`gridgis.people.access`, never here.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from gridgis.codes import area_of, area_prefix, grid_of, is_street_code, street_of
from gridgis.errors import NotFoundError, ValidationError
from gridgis.people import model as M
from gridgis.people import tables as T
from gridgis.people.placement import Place, Placer, check_phone
from gridgis.storage.engine import READONLY, storage_errors

PLACE_FIELDS = (
    "building_code",
    "unit",
    "compound_code",
    "micro_grid_code",
    "grid_code",
    "community_code",
    "street_code",
    "lon",
    "lat",
)


@dataclass
class AuditEntry:
    """The audit entry of an :meth:`PeopleStore.audited` block; the block may fill in codes and message
    once it knows them (e.g. the id of what it created)."""

    codes: list[Any] = field(default_factory=list)
    message: str = ""
    skip: bool = False  #: the block wrote nothing worth an entry (e.g. a follow-up with nothing to follow)


def now() -> datetime:
    return datetime.now(UTC)


def _engine_of(repository: Any) -> sa.Engine:
    engine = getattr(repository, "engine", repository)
    if not isinstance(engine, sa.Engine):
        raise TypeError("PeopleStore needs a Repository or an Engine")
    return engine


def org_code_for(kind: str, compounds: Iterable[str] = (), grids: Iterable[str] = (), extra: str = "") -> str:
    """A stable organisation code from what it covers (re-syncing the party tree keeps codes and edits).

    >>> org_code_for("building_group", extra="310115005039Q001B001")
    'ORG-B-310115005039Q001B001'
    """
    if kind == "building_group" and extra:
        return f"ORG-B-{extra}"
    if kind in ("community_committee", "street_committee") and extra:
        return f"ORG-{extra}"
    key = "|".join([kind, ",".join(sorted(compounds)), ",".join(sorted(grids)), extra])
    return "ORG-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


class PeopleStore:
    """Organisations, persons, assignments, wishes, activities, care records and 12345 orders.

    ``placer`` (a :class:`~gridgis.people.placement.Placer`) is built from the repository's current
    boundaries on first use; pass one to share it (e.g. between a store and a roster build).
    """

    _placed_generation: int | None = None  # the generation the API's placer was built for

    def __init__(self, repository: Any, placer: Placer | None = None, create_tables: bool = False) -> None:
        self.repository = repository
        self.engine = _engine_of(repository)
        self.url = str(self.engine.url)
        self._placer = placer
        if create_tables:
            T.ensure_tables(self.engine)

    @property
    def placer(self) -> Placer:
        if self._placer is None:
            self._placer = Placer.from_repository(self.repository)
        return self._placer

    def refresh_placer(self) -> Placer:
        """Rebuild the placer over the current boundaries (after an edit)."""
        self._placer = Placer.from_repository(self.repository)
        return self._placer

    def _shared(self) -> sa.Connection | None:
        """The transaction of the :meth:`audited` block running in this thread, if any."""
        local = self.__dict__.get("_local")
        return getattr(local, "conn", None) if local is not None else None

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A read connection; inside an :meth:`audited` block its transaction (which sees its own writes)."""
        shared = self._shared()
        if shared is not None:
            yield shared
            return
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            yield conn

    @contextmanager
    def _write(self, doing: str) -> Iterator[sa.Connection]:
        """One transaction (the enclosing :meth:`audited` block's, when there is one); storage errors made clear."""
        shared = self._shared()
        if shared is not None:
            yield shared
            return
        with storage_errors(self.url, doing), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def audited(
        self,
        principal: Any,
        action: str,
        codes: Iterable[str | None] = (),
        message: str = "",
        method: str = "CLI",
        path: str = "gridgis people",
        status: int = 200,
    ) -> Iterator[AuditEntry]:
        """One transaction holding every store write of the block and its audit entry.

        >>> # with store.audited(principal, "person-add", method="POST", path="/people") as entry:
        >>> #     pid = store.add_persons([row])[0]; entry.message = f"person {pid}"

        The entry is written last, inside the same transaction: when the block or the audit write fails,
        nothing of the block is stored. Blocks do not nest (an inner one joins the outer transaction).
        """
        from gridgis.auth.store import AuditLog, ensure_tables

        entry = AuditEntry(list(codes), message)
        if self._shared() is not None:  # already inside a block: its transaction, one more entry
            yield entry
            self._record(self._shared(), principal, action, entry, method, path, status, AuditLog)
            return
        ensure_tables(self.engine)  # DDL outside the write (SQLite allows one writer)
        local = self.__dict__.setdefault("_local", threading.local())
        with storage_errors(self.url, f"recording {action}"), self.engine.begin() as conn:
            local.conn = conn
            try:
                yield entry
                self._record(conn, principal, action, entry, method, path, status, AuditLog)
            finally:
                local.conn = None

    def _record(
        self, conn: Any, principal: Any, action: str, entry: AuditEntry, method: str, path: str, status: int, log: Any
    ) -> None:
        if entry.skip:
            return
        codes = sorted({str(c) for c in entry.codes if c})
        log(self.engine).record(
            principal, method, path, action, status, "people", codes[:200], None, entry.message, conn=conn
        )

    # ---------------------------------------------------------------- audit
    def audit(
        self,
        principal: Any,
        action: str,
        codes: Iterable[str | None] = (),
        message: str = "",
        method: str = "CLI",
        path: str = "gridgis people",
        status: int = 200,
    ) -> None:
        """Record an action (a write, a care read, an export) in the shared audit log."""
        from gridgis.auth.store import AuditLog, ensure_tables

        ensure_tables(self.engine)
        codes = sorted({c for c in codes if c})
        AuditLog(self.engine).record(principal, method, path, action, status, "people", codes[:200], None, message)

    # ---------------------------------------------------------------- organisations
    def sync_orgs(self, structure: dict[str, Any] | None = None, commit: bool = True) -> dict[str, int]:
        """Persist the alignment's party tree (:func:`gridgis.alignment.party.party_structure`) as organisations.

        Codes are stable (:func:`org_code_for`), so a re-sync updates the tree's organisations in place;
        organisations edited by hand keep their names, and organisations the tree no longer has are marked
        ``stale`` (never deleted: people may belong to them). Street working committees are added above
        the community committees. Without ``commit``, a dry run: the same counts, nothing stored.
        """
        if structure is None:
            from gridgis.alignment.party import party_structure

            city = self.repository.read_city()
            structure = party_structure(
                city["compounds"], city["grids"], city.get("buildings"), city.get("communities")
            ).to_dict()
            street_names = dict(zip(city["streets"]["code"], city["streets"]["name"]))
        else:
            street_names = {}
        rows: list[dict[str, Any]] = []

        def walk(node: dict[str, Any], parent: str | None, community: str) -> None:
            kind = node["type"]
            extra = node.get("code") or ""
            code = org_code_for(kind, node.get("compounds", ()), node.get("grids", ()), extra)
            rows.append(
                {
                    "code": code,
                    "kind": kind,
                    "name": node["name"],
                    "parent_code": parent,
                    "community_code": community,
                    "street_code": street_of(community),
                    "compounds": list(node.get("compounds", ())),
                    "grids": list(node.get("grids", ())),
                    "building_code": extra if kind == "building_group" else None,
                    "households": int(node.get("households", 0)),
                }
            )
            for child in node.get("children", ()):
                walk(child, code, community)

        streets: dict[str, str] = {}
        for tree in structure.get("communities", []):
            community = str(tree.get("code") or "")
            street = street_of(community)
            streets[street] = street_names.get(street, street)
            walk(tree, f"ORG-{street}", community)
        for street, name in streets.items():
            rows.append(
                {
                    "code": f"ORG-{street}",
                    "kind": "street_committee",
                    "name": f"{name}党工委" if not name.endswith("党工委") else name,
                    "parent_code": None,
                    "community_code": None,
                    "street_code": street,
                    "compounds": [],
                    "grids": [],
                    "building_code": None,
                    "households": 0,
                }
            )
        counts = {"created": 0, "updated": 0, "stale": 0}
        at = now()
        with self._write("persisting the party tree") if commit else self._read() as conn:
            existing = {r.code: r for r in conn.execute(sa.select(T.orgs.c.code, T.orgs.c.source)).all()}
            seen = set()
            new_rows: list[dict[str, Any]] = []
            tree_rows: list[dict[str, Any]] = []
            edited_rows: list[dict[str, Any]] = []
            for r in rows:
                seen.add(r["code"])
                old = existing.get(r["code"])
                if old is None:
                    new_rows.append({**r, "source": "party_tree", "updated_at": at, "version": 1})
                    counts["created"] += 1
                else:  # a person's edit (name, parent) wins over the tree
                    (edited_rows if old.source == "edited" else tree_rows).append({f"b_{k}": v for k, v in r.items()})
                    counts["updated"] += 1
            if new_rows and commit:
                conn.execute(T.orgs.insert(), new_rows)
            keep = ("name", "parent_code")
            for batch, source, fields in ((tree_rows, "party_tree", None), (edited_rows, "edited", keep)):
                if not batch or not commit:
                    continue
                cols = [k for k in rows[0] if k != "code" and (fields is None or k not in fields)]
                stmt = (
                    T.orgs.update()
                    .where(T.orgs.c.code == sa.bindparam("b_code"))
                    .values(
                        **{k: sa.bindparam(f"b_{k}") for k in cols},
                        source=source,
                        updated_at=at,
                        version=T.orgs.c.version + 1,
                    )
                )
                conn.execute(stmt, [{k: v for k, v in b.items() if k[2:] in cols or k == "b_code"} for b in batch])
            stale = [c for c, r in existing.items() if c not in seen and r.source == "party_tree"]
            if stale and commit:
                conn.execute(T.orgs.update().where(T.orgs.c.code.in_(stale)).values(source="stale", updated_at=at))
            counts["stale"] = len(stale)
        return counts

    def add_org(
        self,
        kind: str,
        name: str,
        parent_code: str | None,
        *,
        code: str | None = None,
        communities: list[str] | None = None,
        building_code: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add an organisation by hand (a central household, a co-building unit paired with communities)."""
        spec = {
            "kind": kind,
            "name": name,
            "parent_code": parent_code,
            "code": code,
            "communities": communities,
            "building_code": building_code,
            "properties": properties,
        }
        return self.org(self.add_orgs([spec])[0])

    def add_orgs(self, specs: list[dict[str, Any]]) -> list[str]:
        """Add organisations (keyword dicts of :meth:`add_org`) in one transaction; their codes."""
        at = now()
        out, rows = [], []
        with self._write("adding organisations") as conn:
            known = {r.code: r.community_code for r in conn.execute(sa.select(T.orgs.c.code, T.orgs.c.community_code))}
            for spec in specs:
                kind, name, parent_code = spec["kind"], (spec.get("name") or "").strip(), spec.get("parent_code")
                if kind not in M.ORG_KINDS:
                    raise ValidationError(f"unknown organisation kind {kind!r}; use one of {', '.join(M.ORG_KINDS)}")
                if not name:
                    raise ValidationError("an organisation needs a name")
                if parent_code and parent_code not in known:
                    raise NotFoundError(f"parent organisation {parent_code} of {name} does not exist")
                paired = [c for c in (spec.get("communities") or []) if c]
                community = known.get(parent_code) if parent_code else None
                community = community or (paired[0] if paired else None)
                building = spec.get("building_code")
                code = spec.get("code") or org_code_for(
                    kind, (), paired, f"{name}|{parent_code or ''}|{building or ''}"
                )
                if code in known:
                    raise ValidationError(f"organisation {code} ({name}) already exists")
                props = dict(spec.get("properties") or {})
                if paired:
                    props["paired_communities"] = paired
                rows.append(
                    {
                        "code": code,
                        "kind": kind,
                        "name": name,
                        "parent_code": parent_code,
                        "community_code": community,
                        "street_code": street_of(community) if community else None,
                        "compounds": [],
                        "grids": [],
                        "building_code": building,
                        "households": 0,
                        "source": "manual",
                        "properties": props or None,
                        "updated_at": at,
                        "version": 1,
                    }
                )
                known[code] = community
                out.append(code)
            if rows:
                conn.execute(T.orgs.insert(), rows)
        return out

    def edit_org(self, code: str, **changes: Any) -> dict[str, Any]:
        """Rename or re-parent an organisation (``name``, ``parent_code``, ``properties``); marks it edited."""
        allowed = {k: v for k, v in changes.items() if k in ("name", "parent_code", "properties") and v is not None}
        if not allowed:
            raise ValidationError("nothing to change: give name, parent_code or properties")
        with self._write(f"editing organisation {code}") as conn:
            if conn.execute(sa.select(T.orgs.c.id).where(T.orgs.c.code == code)).first() is None:
                raise NotFoundError(f"organisation {code} does not exist")
            if "parent_code" in allowed:
                p = allowed["parent_code"]
                if p == code:
                    raise ValidationError(f"organisation {code} cannot be its own parent")
                if conn.execute(sa.select(T.orgs.c.id).where(T.orgs.c.code == p)).first() is None:
                    raise NotFoundError(f"parent organisation {p} does not exist")
            conn.execute(
                T.orgs.update()
                .where(T.orgs.c.code == code)
                .values(**allowed, source="edited", updated_at=now(), version=T.orgs.c.version + 1)
            )
        return self.org(code)

    def org(self, code: str) -> dict[str, Any]:
        with storage_errors(self.url, "reading an organisation"), self._read() as conn:
            row = conn.execute(sa.select(T.orgs).where(T.orgs.c.code == code)).mappings().first()
        if row is None:
            raise NotFoundError(f"organisation {code} does not exist")
        return _plain(row)

    def orgs(self, community: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(T.orgs).order_by(T.orgs.c.id)
        if community:
            q = q.where(sa.or_(T.orgs.c.community_code.startswith(community), T.orgs.c.street_code == community))
        if kind:
            q = q.where(T.orgs.c.kind == kind)
        with storage_errors(self.url, "reading organisations"), self._read() as conn:
            return [_plain(r) for r in conn.execute(q).mappings().all()]

    # ---------------------------------------------------------------- persons
    def person_row(
        self,
        *,
        name: str,
        category: str | None = None,
        kind: str | None = None,
        member_kind: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        building_code: str | None = None,
        unit: int | None = None,
        employer: str | None = None,
        post: str | None = None,
        org_code: str | None = None,
        account: str | None = None,
        ref: str | None = None,
        work_area: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate and place one person (the one rule for API, import and sample); raises on bad fields only.

        An address or building that cannot be placed is *not* an error: the row is kept unplaced with the reason.
        """
        name = (name or "").strip()
        if not name:
            raise ValidationError("a person needs a name (姓名)")
        if len(name) > 100:
            raise ValidationError(f"name {name[:20]!r}… is longer than 100 characters")
        if kind is None:
            kind, mk = M.person_kind_of(category or "党员")
            member_kind = member_kind or mk
        if kind not in M.PERSON_KINDS:
            raise ValidationError(f"unknown kind of person {kind!r}; use one of {', '.join(M.PERSON_KINDS)}")
        if kind == "member":
            member_kind = member_kind or "direct"
            if member_kind not in M.MEMBER_KINDS:
                raise ValidationError(f"unknown member kind {member_kind!r}; use one of {', '.join(M.MEMBER_KINDS)}")
        else:
            member_kind = None
        place = self.placer.place(building_code=building_code, address=address, unit=unit, work_area=work_area)
        if work_area:
            extra = {**(extra or {}), "work_area": work_area}
        at = now()
        return {
            "ref": (str(ref).strip() or None) if ref is not None else None,
            "name": name,
            "kind": kind,
            "member_kind": member_kind,
            "phone": check_phone(phone),
            "address": (address or "").strip() or None,
            "employer": (employer or "").strip() or None,
            "post": (post or "").strip() or None,
            "org_code": org_code or None,
            "account": account or None,
            **{k: getattr(place, k) for k in PLACE_FIELDS},
            "placed": place.placed,
            "confidence": place.confidence,
            "unplaced_reason": place.reason,
            "available": True,
            "extra": extra or None,
            "created_at": at,
            "updated_at": at,
        }

    def add_persons(self, rows: list[dict[str, Any]], chunk: int = 2000) -> list[int]:
        """Store prepared rows (:meth:`person_row`) in one transaction; a row whose ``ref`` exists is updated.

        Members without an organisation join their building's party group (every member sits in one).
        Returns the ids in input order.
        """
        ids: list[int] = []
        with self._write("storing persons") as conn:
            groups = {
                r.building_code: r.code
                for r in conn.execute(
                    sa.select(T.orgs.c.building_code, T.orgs.c.code).where(T.orgs.c.kind == "building_group")
                ).all()
            }
            refs = [r["ref"] for r in rows if r.get("ref")]
            known: dict[str, int] = {}
            for start in range(0, len(refs), 5000):
                part = refs[start : start + 5000]
                known.update(
                    {
                        r.ref: int(r.id)
                        for r in conn.execute(
                            sa.select(T.persons.c.ref, T.persons.c.id).where(T.persons.c.ref.in_(part))
                        ).all()
                    }
                )
            fresh: list[dict[str, Any]] = []
            slots: list[int] = []
            updates: list[dict[str, Any]] = []
            for i, row in enumerate(rows):
                row = dict(row)
                if row["kind"] == "member" and not row.get("org_code"):
                    row["org_code"] = groups.get(row.get("building_code"))
                ref = row.get("ref")
                if ref and ref in known:
                    row.pop("created_at", None)
                    updates.append({"b_id": known[ref], **{f"b_{k}": v for k, v in row.items()}})
                    ids.append(known[ref])
                else:
                    fresh.append(row)
                    slots.append(i)
                    ids.append(-1)
            if updates:
                by_cols: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for u in updates:  # rows with the same fields share one executemany
                    by_cols.setdefault(tuple(sorted(u)), []).append(u)
                for keys, part in by_cols.items():
                    names = [k[2:] for k in keys if k != "b_id"]
                    stmt = (
                        T.persons.update()
                        .where(T.persons.c.id == sa.bindparam("b_id"))
                        .values(**{k: sa.bindparam(f"b_{k}") for k in names})
                    )
                    conn.execute(stmt, part)
            for start in range(0, len(fresh), chunk):
                part = fresh[start : start + chunk]
                new = (
                    conn.execute(T.persons.insert().returning(T.persons.c.id, sort_by_parameter_order=True), part)
                    .scalars()
                    .all()
                )
                for slot, new_id in zip(slots[start : start + chunk], new, strict=True):
                    ids[slot] = int(new_id)
        return ids

    def person(self, person_id: int) -> dict[str, Any]:
        with storage_errors(self.url, "reading a person"), self._read() as conn:
            row = conn.execute(sa.select(T.persons).where(T.persons.c.id == int(person_id))).mappings().first()
        if row is None:
            raise NotFoundError(f"person {person_id} does not exist")
        return _plain(row)

    def persons(
        self,
        area: str | None = None,
        kind: str | None = None,
        member_kind: str | None = None,
        placed: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Persons, optionally under an area code (street, community, grid or micro-grid), of a kind."""
        q = sa.select(T.persons).order_by(T.persons.c.id)
        q = _area_filter(q, T.persons, area)
        if kind:
            q = q.where(T.persons.c.kind == kind)
        if member_kind:
            q = q.where(T.persons.c.member_kind == member_kind)
        if placed is not None:
            q = q.where(T.persons.c.placed == placed)
        if limit:
            q = q.limit(limit).offset(offset)
        with storage_errors(self.url, "reading persons"), self._read() as conn:
            return [_plain(r) for r in conn.execute(q).mappings().all()]

    def persons_frame(self, area: str | None = None, building_codes: list[str] | None = None) -> pd.DataFrame:
        """Persons (placement and roles) under ``area``, or living in ``building_codes``."""
        cols = [T.persons.c[k] for k in ("id", "name", "kind", "member_kind", "phone", "post", "account", "available")]
        cols += [T.persons.c[k] for k in PLACE_FIELDS]
        q = _area_filter(sa.select(*cols), T.persons, area)
        with storage_errors(self.url, "reading persons"), self._read() as conn:
            if building_codes is None:
                rows = conn.execute(q).mappings().all()
            else:
                rows = []
                for start in range(0, len(building_codes), 1000):
                    part = building_codes[start : start + 1000]
                    rows += conn.execute(q.where(T.persons.c.building_code.in_(part))).mappings().all()
            return pd.DataFrame(rows, columns=[c.name for c in cols])

    # ---------------------------------------------------------------- assignments
    def target_place(self, level: str, target: str) -> tuple[str | None, str | None]:
        """``(grid_code, community_code)`` of an assignment target; ``ValidationError`` when it does not exist."""
        M.check_level(level)
        placer = self.placer
        if level in ("building", "unit", "household"):
            code, unit = M.split_unit_target(target.split("#", 1)[0])
            if code not in placer.buildings.index:
                raise ValidationError(
                    f"{M.LEVELS[level]} target {target!r}: building {code} is not in the buildings layer"
                )
            if level == "unit":
                units = placer.units_of(code)
                if unit is None or not 1 <= unit <= max(units, 1):
                    raise ValidationError(f"{M.LEVELS[level]} target {target!r}: building {code} has units 1..{units}")
            row = placer.buildings.loc[code]
            return _str(row["grid_code"]), _str(row["community_code"])
        idx = placer.index
        if level == "micro_grid":
            if target not in placer.micro_codes:
                raise ValidationError(f"micro-grid {target!r} is not in the micro-grids layer")
            grid = grid_of(target)
            return grid, area_of(grid)
        # patch: a grid or a community
        if target in placer.grid_codes:
            return target, area_of(target)
        if target in idx.community_names:
            return None, target
        raise ValidationError(f"patch target {target!r} is neither a grid nor a community code")

    def assign(self, person_id: int, level: str, target: str) -> dict[str, Any]:
        """Make a person responsible for a target (one transaction); the same assignment twice is refused."""
        grid, community = self.target_place(level, target)
        with self._write(f"assigning person {person_id}") as conn:
            if conn.execute(sa.select(T.persons.c.id).where(T.persons.c.id == int(person_id))).first() is None:
                raise NotFoundError(f"person {person_id} does not exist")
            dup = conn.execute(
                sa.select(T.assignments.c.id).where(
                    T.assignments.c.person_id == int(person_id),
                    T.assignments.c.level == level,
                    T.assignments.c.target == target,
                )
            ).first()
            if dup:
                raise ValidationError(f"person {person_id} already answers for {target} ({M.LEVELS[level]})")
            new_id = conn.execute(
                T.assignments.insert()
                .values(
                    person_id=int(person_id),
                    level=level,
                    target=target,
                    grid_code=grid,
                    community_code=community,
                    created_at=now(),
                )
                .returning(T.assignments.c.id)
            ).scalar_one()
        return {"id": int(new_id), "person_id": int(person_id), "level": level, "target": target, "grid_code": grid}

    def add_assignments(self, rows: list[dict[str, Any]]) -> int:
        """Bulk assignments ``{"person_id", "level", "target"}`` (sample population, imports), validated."""
        at = now()
        values = []
        for r in rows:
            grid, community = self.target_place(r["level"], r["target"])
            values.append({**r, "grid_code": grid, "community_code": community, "created_at": at})
        with self._write("storing assignments") as conn:
            for start in range(0, len(values), 5000):
                conn.execute(T.assignments.insert(), values[start : start + 5000])
        return len(values)

    def unassign(self, assignment_id: int) -> None:
        with self._write(f"removing assignment {assignment_id}") as conn:
            done = conn.execute(T.assignments.delete().where(T.assignments.c.id == int(assignment_id))).rowcount
        if not done:
            raise NotFoundError(f"assignment {assignment_id} does not exist")

    def assignments_frame(self, area: str | None = None, communities: Iterable[str] | None = None) -> pd.DataFrame:
        """Assignments with their person's kind and name, under ``area`` or in ``communities`` (and those
        without a community)."""
        q = sa.select(
            T.assignments.c.id,
            T.assignments.c.person_id,
            T.assignments.c.level,
            T.assignments.c.target,
            T.assignments.c.grid_code,
            T.assignments.c.community_code,
            T.assignments.c.flag,
            T.persons.c.kind,
            T.persons.c.name,
            T.persons.c.account,
        ).join(T.persons, T.persons.c.id == T.assignments.c.person_id)
        if area:
            area = area.strip()
            if is_street_code(area):  # a street: its communities
                q = q.where(T.assignments.c.community_code.startswith(area_prefix(area)))
            elif len(area) == 12:
                q = q.where(T.assignments.c.community_code == area)
            else:  # a grid, or a micro-grid's grid
                q = q.where(T.assignments.c.grid_code == grid_of(area))
        if communities is not None:
            c = T.assignments.c.community_code
            q = q.where(sa.or_(c.in_(sorted(set(communities))), c.is_(None)))
        with storage_errors(self.url, "reading assignments"), self._read() as conn:
            rows = conn.execute(q).mappings().all()
        cols = ["id", "person_id", "level", "target", "grid_code", "community_code", "flag", "kind", "name", "account"]
        return pd.DataFrame(rows, columns=cols)

    def responsible_accounts(self, building_code: str, unit: int | None = None) -> set[str]:
        """Accounts (token names) of the persons answering for a building or one of its units."""
        targets = [building_code] + ([M.unit_target(building_code, unit)] if unit else [])
        q = (
            sa.select(T.persons.c.account)
            .join(T.assignments, T.persons.c.id == T.assignments.c.person_id)
            .where(T.assignments.c.target.in_(targets), T.persons.c.account.is_not(None))
        )
        with storage_errors(self.url, "reading responsibilities"), self._read() as conn:
            return {str(a) for a in conn.execute(q).scalars()}

    def follow_boundaries(
        self,
        placer: Placer | None = None,
        buildings: pd.DataFrame | None = None,
        removed_buildings: Iterable[str] = (),
        removed_areas: Iterable[str] = (),
        communities: Iterable[str] | None = None,
        commit: bool = True,
    ) -> dict[str, Any]:
        """After a boundary change: re-place persons and assignments by building (the one rule,
        :func:`gridgis.people.responsibility.follow_plan`), in one transaction.

        ``buildings`` (rows of :attr:`Placer.buildings`) limits the follow-up to those buildings (and the
        ``removed_buildings`` and ``removed_areas`` an edit deleted): what
        :func:`gridgis.people.follow.follow_commit` passes after each boundary commit, with the
        ``communities`` whose assignments can be concerned (a building keeps its community code). Without
        it, every building of ``placer`` (by default a fresh one over the current boundaries) is followed.
        Without ``commit``, a dry run: the same report, nothing stored.
        """
        from gridgis.people.model import split_unit_target
        from gridgis.people.responsibility import follow_plan

        removed_b, removed_a = set(removed_buildings), set(removed_areas)
        if buildings is None:
            placer = placer or self.refresh_placer()
            buildings = placer.buildings
            people = self.persons_frame()
            assigned = self.assignments_frame()
        else:
            codes = set(buildings.index.astype(str)) | removed_b
            people = self.persons_frame(building_codes=sorted(codes))
            assigned = self.assignments_frame(communities=communities)
            on_building = assigned["level"].isin(["building", "unit", "household"])
            target_building = [split_unit_target(str(t).split("#", 1)[0])[0] for t in assigned["target"]]
            keep = (on_building & pd.Series([b in codes for b in target_building], index=assigned.index)) | (
                ~on_building & assigned["target"].isin(removed_a)
            )
            assigned = assigned[keep]
        plan = follow_plan(buildings, people, assigned, removed_a)
        if commit and (plan["persons"] or plan["assignments"]):
            with self._write("following boundary changes") as conn:
                for pid, place in plan["persons"].items():
                    conn.execute(T.persons.update().where(T.persons.c.id == int(pid)).values(**place, updated_at=now()))
                for aid, values in plan["assignments"].items():
                    conn.execute(T.assignments.update().where(T.assignments.c.id == int(aid)).values(**values))
        return dict(plan["report"])

    # ---------------------------------------------------------------- activities
    def record_activities(self, rows: list[dict[str, Any]]) -> int:
        """Record activities ``{"person_id", "item", "at", "quantity"?, "ref"?, "note"?}`` in one transaction."""
        from gridgis.people.points import check_item

        values = []
        for r in rows:
            check_item(r["item"])
            at = r.get("at") or now()
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            if at.tzinfo is None:
                raise ValidationError(f"activity time {at.isoformat()} has no time zone (give +08:00)")
            values.append(
                {
                    "person_id": int(r["person_id"]),
                    "item": r["item"],
                    "at": at,
                    "quantity": float(r.get("quantity", 1)),
                    "ref": r.get("ref"),
                    "note": r.get("note") or "",
                }
            )
        with self._write("recording activities") as conn:
            ids = {int(v["person_id"]) for v in values}
            found = set()
            for start in range(0, len(ids), 5000):
                part = sorted(ids)[start : start + 5000]
                found |= set(conn.execute(sa.select(T.persons.c.id).where(T.persons.c.id.in_(part))).scalars())
            missing = ids - found
            if missing:
                raise NotFoundError(f"person {min(missing)} does not exist ({len(missing)} unknown persons)")
            for start in range(0, len(values), 5000):
                conn.execute(T.activities.insert(), values[start : start + 5000])
        return len(values)

    def activities_frame(self, area: str | None = None) -> pd.DataFrame:
        q = sa.select(
            T.activities.c.person_id,
            T.activities.c.item,
            T.activities.c.at,
            T.activities.c.quantity,
            T.persons.c.name,
            T.persons.c.org_code,
            T.persons.c.community_code,
        ).join(T.persons, T.persons.c.id == T.activities.c.person_id)
        q = _area_filter(q, T.persons, area)
        with storage_errors(self.url, "reading activities"), self._read() as conn:
            rows = conn.execute(q).mappings().all()
        return pd.DataFrame(rows, columns=["person_id", "item", "at", "quantity", "name", "org_code", "community_code"])


def _area_filter(q: Any, table: sa.Table, area: str | None) -> Any:
    if not area:
        return q
    area = area.strip()
    if is_street_code(area):
        return q.where(table.c.street_code == area)
    if len(area) == 12:
        return q.where(table.c.community_code == area)
    if len(area) == 15:
        return q.where(table.c.grid_code == area)
    return q.where(table.c.micro_grid_code == area)


def _plain(row: Any) -> dict[str, Any]:
    out = dict(row)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
    return out


def _str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


__all__ = ["PLACE_FIELDS", "PeopleStore", "Place", "org_code_for"]


def import_members(store: PeopleStore, path: Any, commit: bool = True) -> dict[str, Any]:
    """``gridgis members import FILE``: every row stored (placed or not); bad rows reported with their line.
    Without ``commit``, a dry run: every row is checked and placed the same way, nothing is stored
    (``ids`` are None).

    Returns ``{"imported", "placed", "unplaced": [{"row", "name", "reason"}], "rejected": [...], "unknown_headers"}``.
    A row is *rejected* only for a field that breaks a rule (no name, unknown category, bad phone); an
    address that cannot be resolved is stored unplaced and reported, never dropped.
    """
    from gridgis.errors import GridGISError
    from gridgis.people.importer import person_records

    records, unknown = person_records(path)
    rows, rejected, lines = [], [], []
    for i, rec in enumerate(records):
        line = i + 2  # the header is line 1
        try:
            rows.append(store.person_row(**rec))
            lines.append(line)
        except GridGISError as err:
            rejected.append({"row": line, "name": rec.get("name"), "reason": err.message})
        except TypeError as err:
            rejected.append({"row": line, "name": rec.get("name"), "reason": str(err)})
    ids: list[Any] = (store.add_persons(rows) if rows else []) if commit else [None] * len(rows)
    unplaced = [
        {"row": line, "id": pid, "name": r["name"], "reason": r["unplaced_reason"]}
        for line, pid, r in zip(lines, ids, rows)
        if not r["placed"]
    ]
    return {
        "imported": len(ids),
        "placed": len(ids) - len(unplaced),
        "unplaced": unplaced,
        "rejected": rejected,
        "unknown_headers": unknown,
        "ids": ids,
    }
