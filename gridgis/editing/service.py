"""Edits against the store: load what validation needs, validate, store as one generation.

The thin layer between the pure editing functions and :class:`gridgis.storage.Repository`;
the API and the CLI both call it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, ClassVar

import geopandas as gpd
import shapely

from gridgis.editing.changes import Edit
from gridgis.editing.validate import CHILDREN_OF, COVERAGE_OF, ValidationOptions, parent_of, validate_edits
from gridgis.errors import Problem, ValidationError


class GenerationReads:
    """The store seen by dry runs: ``read_layer`` answers are kept per generation and shared.

    A planner dragging a vertex sends dry run after dry run on the same generation; they read the
    same features (the pair's community, the micro-grids and buildings around it), so only the
    first reads the store. A key holds the generation current *before* the read, so an entry is
    never older than its key, and once a commit makes a new generation the old entries are never
    hit again. Only for answers that store nothing: a commit validates against the locked state.
    Everything but ``read_layer`` goes to the repository.
    """

    SIZE = 256  #: entries kept (least recently used first out)
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _cache: ClassVar[OrderedDict[tuple, gpd.GeoDataFrame]] = OrderedDict()

    def __init__(self, repository: Any) -> None:
        self.store = repository  #: the repository read
        self._generation: Any = ...  # read at the first read_layer (not on the event loop)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read_layer(self, layer: str, **kwargs: Any) -> gpd.GeoDataFrame:
        if kwargs.get("generation") is not None or kwargs.get("at") is not None:
            return self.store.read_layer(layer, **kwargs)
        if self._generation is ...:
            gen = self.store.current_generation()
            self._generation = None if gen is None else gen.id
        key = (id(self.store), self._generation, layer, _frozen(kwargs))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit = self.store.read_layer(layer, **kwargs)
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > self.SIZE:
                    self._cache.popitem(last=False)
        return hit.copy()  # callers may change their frame


def _frozen(value: Any) -> Any:
    """A hashable form of read_layer's keyword arguments."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        items = [_frozen(v) for v in value]
        return tuple(sorted(items, key=repr) if isinstance(value, set | frozenset) else items)
    return value


def _bounds(geoms: list[shapely.Geometry]) -> tuple[float, float, float, float] | None:
    geoms = [g for g in geoms if g is not None and not shapely.is_empty(g)]
    if not geoms:
        return None
    b = shapely.total_bounds(geoms)
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _grow(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def context_frames(repo: Any, edits: list[Edit]) -> dict[str, gpd.GeoDataFrame]:
    """The current features validation of ``edits`` needs: around the edits, their parents, siblings, children."""
    layers = {e.layer for e in edits}
    old: list[shapely.Geometry] = []
    for layer in sorted(layers):  # one read per layer, not one per feature
        wanted_codes = sorted({e.code for e in edits if e.layer == layer and e.op != "create"})
        if wanted_codes:
            old += list(repo.read_layer(layer, codes=wanted_codes).geometry.values)
    box = _bounds([e.geometry for e in edits] + old)
    parent_layers = {p[0] for e in edits if (p := parent_of(e.layer, e.code)) is not None}
    parent_codes = [p[1] for e in edits if (p := parent_of(e.layer, e.code)) is not None]
    frames: dict[str, gpd.GeoDataFrame] = {}
    for layer in parent_layers:
        frames[layer] = repo.read_layer(layer, codes=sorted(set(parent_codes)))
        box = _grow(box, _bounds(list(frames[layer].geometry.values)))
    wanted = set(layers)
    for e in edits:
        if e.op == "delete":
            wanted |= set(CHILDREN_OF.get(e.layer, ()))
        if e.op == "replace":
            wanted |= {child for child, parent in COVERAGE_OF.items() if parent == e.layer}
            wanted |= set(CHILDREN_OF.get(e.layer, ()))
    for layer in wanted - parent_layers:
        frames[layer] = repo.read_layer(layer, bbox=box) if box is not None else repo.read_layer(layer)
    for layer in layers & parent_layers:  # an edit of a layer that is also a parent layer: read around it too
        frames[layer] = repo.read_layer(layer, bbox=box) if box is not None else repo.read_layer(layer)
    return frames


def check(repo: Any, edits: list[Edit], options: ValidationOptions | None = None) -> list[Problem]:
    """Every problem ``edits`` would cause in the current state of ``repo`` (nothing is stored)."""
    return validate_edits(context_frames(repo, edits), edits, options)


def to_changes(edits: list[Edit]) -> list[Any]:
    """Storage changes for ``edits`` (one vocabulary: an edit's ``op`` is the change's ``op``)."""
    from gridgis.storage.model import FeatureChange

    return [
        FeatureChange(
            e.layer,
            e.op,
            e.code,
            dict(e.properties) if e.op != "delete" else None,
            e.geometry if e.op != "delete" else None,
            e.expected_version,
        )
        for e in edits
    ]


def commit(repo: Any, edits: list[Edit], author: str, message: str, options: ValidationOptions | None = None) -> Any:
    """Validate ``edits`` and store them as one generation; :class:`ValidationError` (all problems) otherwise.

    The validation runs inside the serialised write transaction (the ``check`` hook of
    :meth:`gridgis.storage.Repository.apply_changes`), against the very state the edits land
    on: a neighbour changed by a concurrent planner is seen, so an accepted edit can never
    leave an overlap or a gap. Stale ``expected_version`` values are refused there too (412).
    Once stored, :func:`after_commit` runs (people follow moved buildings).
    """
    if not edits:
        raise ValidationError("nothing to change")

    def validate_locked(state: Any) -> None:
        refuse_stale(state, edits)  # a concurrent change is a 412 (reload), not a 422 about its effects
        problems = check(state, edits, options)
        if problems:
            raise ValidationError(f"{len(problems)} problem(s) found; nothing was stored", problems)

    generation = repo.apply_changes(to_changes(edits), author=author, message=message, check=validate_locked)
    after_commit(repo, edits, generation, author)
    return generation


def after_commit(repo: Any, edits: list[Edit], generation: Any, author: str) -> None:
    """What follows every stored boundary write, each in its own audited transaction: people and their
    assignments follow moved buildings (:func:`gridgis.people.follow.follow_commit`; it logs, never
    raises, a fault of its own: the boundary write is stored)."""
    from gridgis.people.follow import follow_commit

    follow_commit(repo, edits, generation, author)


def refuse_stale(state: Any, edits: list[Edit]) -> None:
    """Raise :class:`PreconditionFailedError` (412) listing every edit whose ``expected_version`` is
    no longer the stored one."""
    from gridgis.errors import PreconditionFailedError

    stale: list[Problem] = []
    for layer in sorted({e.layer for e in edits}):
        pinned = {e.code: int(e.expected_version) for e in edits if e.layer == layer and e.expected_version is not None}
        if not pinned:
            continue
        frame = state.read_layer(layer, codes=sorted(pinned))
        stored = {str(c): (int(v), n) for c, v, n in zip(frame["code"], frame["version"], frame["name"])}
        for code, expected in pinned.items():
            if code in stored and stored[code][0] != expected:
                version, name = stored[code]
                stale.append(
                    Problem(
                        f"expected version {expected} but the stored version is {version}: someone "
                        "changed it since; reload and redo the edit",
                        feature=f"{code} ({name})",
                        layer=layer,
                        kind="stale_version",
                        details={"expected": expected, "current": version},
                    )
                )
    if stale:
        raise PreconditionFailedError(
            f"{stale[0].layer} {stale[0].feature} was changed by someone else; nothing was stored", stale
        )
