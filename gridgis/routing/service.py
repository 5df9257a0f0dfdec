"""Time-aware routing over a repository: one index per boundary generation.

:class:`RoutingService` keeps the index of the current generation plus a small LRU of older
ones, so a report is routed against the boundaries valid at its time
(``repository.generation_at(at)``). When a new generation appears (pushed by ``repository.listen_generations``:
PostgreSQL NOTIFY, or a timer on SQLite and read replicas, which is how ``gridgis serve`` runs;
without a listener, found by a check of ``repository.current_generation()`` at most every
``check_interval_s`` when a request comes) the new index is built completely first and then swapped in with one
reference assignment: a request in flight keeps the index it started with and never sees a
half-built one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridgis.errors import MisdirectedError, NotFoundError
from gridgis.routing.address import AddressMatch
from gridgis.routing.county import CountyLocator, filter_counties
from gridgis.routing.index import DEFAULT_SNAP_TOLERANCE_M, RouteResult, RoutingIndex
from gridgis.routing.shared import SharedIndexes, build_elsewhere

log = logging.getLogger(__name__)

#: the layers an index is built from
ROUTING_LAYERS = ("streets", "communities", "grids", "micro_grids", "compounds", "buildings")


def load_city(
    repository: Any, generation: int, counties: frozenset[str] | None = None, whole: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The routing layers of ``generation`` as layer frames (only ``counties``' features when given).

    The store filters by county in its query (``read_layer(code_prefixes=counties)``), so a pool
    of one county in a province reads that county's rows only. Layers in ``whole`` are read in full
    (a pool's :class:`CountyLocator` needs every county's grids; filter them with
    :func:`filter_counties`, the same rule).
    """
    return {
        layer: repository.read_layer(layer, generation=generation, code_prefixes=None if layer in whole else counties)
        for layer in ROUTING_LAYERS
    }


class RoutingService:
    """Routing against a repository's boundary generations (see the module docstring).

    Parameters
    ----------
    repository
        a :class:`gridgis.storage.Repository` (anything with ``read_layer``,
        ``current_generation`` and ``generation_at``).
    snap_tolerance_m
        passed to every :class:`RoutingIndex` (default 30 m, ``settings.snap_tolerance_m``).
    cache_size
        how many generations' indexes stay in memory (the current one always does).
    check_interval_s
        how often a request may ask the repository whether a new generation exists.
    counties
        a routing pool's counties (6-digit codes, ``gridgis serve --counties``): only their features
        are indexed, and a point whose county (:mod:`gridgis.routing.county`) is another one raises
        :class:`~gridgis.errors.MisdirectedError` (HTTP 421) instead of a wrong answer.
    """

    def __init__(
        self,
        repository: Any,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
        cache_size: int = 3,
        check_interval_s: float = 1.0,
        counties: frozenset[str] | None = None,
        shared_dir: str | None = None,
        build_in_child: bool = True,
    ) -> None:
        self.repository = repository
        self.counties = counties
        self.snap_tolerance_m = snap_tolerance_m
        self.cache_size = max(1, cache_size)
        self.check_interval_s = check_interval_s
        self._current: RoutingIndex | None = None
        self._cache: OrderedDict[int, RoutingIndex] = OrderedDict()
        self._lock = threading.Lock()  # guards the cache dict
        self._build_lock = threading.Lock()  # one build at a time
        self._checked = 0.0
        self._listener: Any = None
        self._pending: threading.Thread | None = None
        self.builds = 0
        #: index files shared by the workers of one ``gridgis serve`` (:mod:`gridgis.routing.shared`)
        self.shared: SharedIndexes | None = None
        if shared_dir:
            family = f"counties={','.join(sorted(counties or ()))};snap={float(snap_tolerance_m)!r}"
            store = str(getattr(repository, "url", "")) + "|" + str(getattr(repository, "read_url", "") or "")
            self.shared = SharedIndexes(shared_dir, store=store, family=family, keep=self.cache_size)
        # with a shared directory and a store named by URL, the builder is a child process (its heap goes with it)
        self.build_in_child = build_in_child and isinstance(getattr(repository, "url", None), str)

    # ------------------------------------------------------------------ indexes
    def _build_index(self, generation: int, previous: RoutingIndex | None) -> RoutingIndex:
        """Read the generation's layers and build its index (a pool: its counties', with the county rule)."""
        city = load_city(self.repository, generation, self.counties, whole=("grids",))
        locator = CountyLocator.build(city["grids"]) if self.counties is not None else None
        city["grids"] = filter_counties(city["grids"], self.counties)
        index = RoutingIndex.build(
            city,
            generation=generation,
            snap_tolerance_m=self.snap_tolerance_m,
            previous=previous,  # outlines unchanged (a rename): its rasters and trees are reused
        )
        index.county_locator = locator
        return index

    def _builder(self, generation: int, previous: RoutingIndex | None) -> Callable[[Path], RoutingIndex | None]:
        """How :class:`SharedIndexes` builds a missing file: in a child process writing it, or here."""
        if not self.build_in_child:
            return lambda _path: self._build_index(generation, previous)
        spec = {
            "url": self.repository.url,
            "read_url": getattr(self.repository, "read_url", None),
            "generation": generation,
            "counties": sorted(self.counties) if self.counties is not None else None,
            "snap_tolerance_m": self.snap_tolerance_m,
            "previous": str(getattr(previous, "shared_path", "") or "") or None,
        }

        def build(path: Path) -> None:
            build_elsewhere(spec, path)

        return build

    def _build(self, generation: int) -> RoutingIndex:
        with self._build_lock:
            with self._lock:
                if generation in self._cache:
                    return self._cache[generation]
            started = time.perf_counter()
            with self._lock:
                previous = self._current
            if self.shared is None:
                index = self._build_index(generation, previous)
            else:  # one worker builds and writes the file, every worker maps it
                stamp = self.repository.generation(generation).created_at.isoformat()
                index = self.shared.get(generation, self._builder(generation, previous), stamp)
                index.shared_path = self.shared.path(generation, stamp)
                index.warm_up()
            index.counties = self.counties
            if self.counties is not None and index.county_locator is None:
                index.county_locator = CountyLocator.build(self.repository.read_layer("grids", generation=generation))
            self.builds += 1
            log.info("routing index for generation %s built in %.2f s", generation, time.perf_counter() - started)
            with self._lock:
                self._cache[generation] = index
                self._cache.move_to_end(generation)
                current = self._current.generation if self._current is not None else None
                while len(self._cache) > self.cache_size:  # evict the least recently used, never the current
                    victim = next((g for g in self._cache if g not in (current, generation)), None)
                    if victim is None:
                        break
                    del self._cache[victim]
            return index

    def index(self, generation: int | None = None) -> RoutingIndex:
        """The index of ``generation`` (default: the current generation), built on first use."""
        if generation is None:
            return self.current()
        with self._lock:
            found = self._cache.get(generation)
            if found is not None:
                self._cache.move_to_end(generation)
                return found
        self.repository.generation(generation)  # NotFoundError for an unknown generation
        return self._build(generation)

    def index_at(self, at: datetime) -> RoutingIndex:
        """The index of the generation that was current at ``at``."""
        gen = self.repository.generation_at(at)
        return self.index(gen.id)

    def current(self) -> RoutingIndex:
        """The current generation's index; checks for a newer generation at most every ``check_interval_s``.

        The first index is built in the calling thread. Later ones are built in the background
        while requests keep getting the previous index, until the new one is swapped in.
        """
        now = time.monotonic()
        if self._current is None:
            self._checked = now
            self.refresh()
        elif self._listener is not None:
            pass  # a listener (NOTIFY or a timer) swaps new generations in; requests never ask
        elif now - self._checked >= self.check_interval_s:
            self._checked = now
            self._refresh_in_background()
        if self._current is None:
            raise NotFoundError(
                "no boundaries are loaded yet, so nothing can be routed; import a city first "
                "(gridgis import … or gridgis sample-city)"
            )
        return self._current

    def _refresh_in_background(self) -> None:
        gen = self.repository.current_generation()
        current = self._current
        if gen is None or (current is not None and gen.id <= (current.generation or 0)):
            return
        with self._lock:
            if self._pending is not None and self._pending.is_alive():
                return  # a build is already running; keep answering with the current index

            def _build() -> None:
                try:
                    self.refresh(gen.id)
                except Exception:  # keep serving the old index; the next check retries
                    log.exception("building the routing index of generation %s failed", gen.id)

            self._pending = threading.Thread(target=_build, name=f"routing-index-{gen.id}", daemon=True)
            self._pending.start()

    def prewarm(self) -> threading.Thread:
        """Build the current generation's index in a background thread (the service's start-up), so the
        first request does not wait for it; a store with no boundaries yet is fine (nothing is built)."""

        def _warm() -> None:
            try:
                self._checked = time.monotonic()
                self.refresh()
            except Exception:  # the first request will build (and report) instead
                log.exception("pre-building the routing index failed")

        with self._lock:
            self._pending = threading.Thread(target=_warm, name="routing-index-prewarm", daemon=True)
            self._pending.start()
            return self._pending

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background build to finish (tests, graceful shutdown)."""
        pending = self._pending
        if pending is not None:
            pending.join(timeout)

    def refresh(self, generation_id: int | None = None) -> RoutingIndex | None:
        """Build the index of the newest generation if it is new, then swap it in atomically."""
        if generation_id is None:
            gen = self.repository.current_generation()
            if gen is None:
                return None
            generation_id = gen.id
        current = self._current
        if current is not None and current.generation == generation_id:
            return current
        if current is not None and generation_id < (current.generation or 0):
            return current
        index = self.index(generation_id)
        with self._lock:
            if self._current is None or (index.generation or 0) > (self._current.generation or 0):
                self._current = index  # one reference assignment: readers see the old or the new index
        return self._current

    # ------------------------------------------------------------------ listening
    def listen(self, poll_interval: float = 1.0, mode: str | None = None) -> Any:
        """Swap in each new generation's index as soon as the repository reports it, idle or not.

        PostGIS: LISTEN/NOTIFY on a dedicated connection and thread; SQLite, or ``mode="poll"``
        (a read replica): a timer every ``poll_interval`` seconds. The latest generation is also
        reported once the listener is ready, so a commit made during start-up is not missed.
        While listening, requests never check for new generations themselves.
        """
        if self._listener is None and hasattr(self.repository, "listen_generations"):

            def _on_generation(generation_id: int) -> None:
                started = time.perf_counter()
                try:
                    self.refresh(int(generation_id))
                except Exception:  # keep serving the old index; the next report retries
                    log.exception("rebuilding the routing index for generation %s failed", generation_id)
                else:
                    current = self._current
                    log.info(
                        json.dumps(
                            {
                                "event": "routing_index_swapped",
                                "message": f"routing index of generation {generation_id} in service",
                                "generation": current.generation if current is not None else None,
                                "reported": int(generation_id),
                                "seconds": round(time.perf_counter() - started, 3),
                            }
                        )
                    )

            self._listener = self.repository.listen_generations(
                _on_generation, poll_interval=poll_interval, mode=mode, report_current=True
            )
        return self._listener

    def stop(self) -> None:
        if self._listener is not None:
            stop = getattr(self._listener, "stop", None)
            if stop is not None:
                stop()
            self._listener = None

    # ------------------------------------------------------------------ counties
    def county_locator(self, index: RoutingIndex | None = None) -> CountyLocator:
        """The county rule of ``index``'s generation (default: the current one) over every county's grids;
        built once per index (a pool builds it with the index)."""
        index = index or self.current()
        if index.county_locator is None:
            grids = self.repository.read_layer("grids", generation=index.generation)
            index.county_locator = CountyLocator.build(grids)
        return index.county_locator

    def check_held(self, index: RoutingIndex, lon, lat, crs: str = "wgs84") -> None:
        """Raise :class:`MisdirectedError` (421) when a point's county is not one this pool holds; a whole
        store's index holds every county. Invalid coordinates pass (the index refuses them itself)."""
        if index.counties is None:
            return
        try:
            x, y = np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float))
        except (TypeError, ValueError):
            return  # not numbers: the index refuses them with its own message
        found = self.county_locator(index).locate_many(x, y, crs)
        foreign = sorted({c for c in found if c is not None and c not in index.counties})
        if foreign:
            held = ", ".join(sorted(index.counties))
            raise MisdirectedError(
                f"this routing pool holds counties {held}; the point(s) lie in county {', '.join(foreign)}: "
                "send them to the pool of that county (through the front, or with ?county=)",
                foreign,
            )

    # ------------------------------------------------------------------ routing
    def _for(self, at: datetime | None) -> RoutingIndex:
        return self.current() if at is None else self.index_at(at)

    def route(self, lon: float, lat: float, crs: str = "wgs84", at: datetime | None = None) -> RouteResult:
        """Route one point against the boundaries valid at ``at`` (default: now)."""
        index = self._for(at)
        self.check_held(index, [lon], [lat], crs)
        return index.route(lon, lat, crs)

    def route_many(self, lon, lat, crs: str = "wgs84", at: datetime | None = None) -> pd.DataFrame:
        """Route arrays of points against the boundaries valid at ``at`` (default: now)."""
        index = self._for(at)
        self.check_held(index, lon, lat, crs)
        return index.route_many(lon, lat, crs)

    def resolve_address(self, text: str, at: datetime | None = None) -> AddressMatch:
        """Resolve an address text against the compounds and buildings valid at ``at``."""
        return self._for(at).address_resolver.resolve(text)

    @property
    def cached_generations(self) -> list[int]:
        with self._lock:
            return list(self._cache)
