"""Batch jobs of a province on Dask (``gridgis batch route|align|stats``), partitioned by county.

Each job calls the same library function a single process calls, once per county (and per chunk of
points), on Dask workers: a ``LocalCluster`` on one machine (``--local N``) or a running scheduler
(``--scheduler tcp://host:8786``). Workers read their county's data from the store themselves (the
URL travels, not the data), so the client holds only the inputs and the merged answers.

- **route**: points → county (:class:`gridgis.routing.county.CountyLocator`, the rule the routing
  pools share) → :meth:`RoutingIndex.route_many` of that county's index, built once per worker and
  generation; the rows come back in input order, equal to one index of the whole store.
- **align**: :func:`gridgis.alignment.propose.propose_alignment` on each county's layers.
- **stats**: :func:`gridgis.tickets.stats.summarise` (monthly figures per grid) and
  :func:`gridgis.people.assessment.monthly_indices` (the indices) on each county's tickets.

Needs the ``scale`` extra (``pip install 'gridgis[scale]'``: ``dask[distributed]``).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from gridgis.errors import GridGISError, ValidationError

#: points per routing task (a county with more is cut in chunks of this many)
ROUTE_CHUNK = 500_000


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise GridGISError("batch jobs need Dask: pip install 'gridgis[scale]' (dask[distributed])") from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, local: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` of a running scheduler (``scheduler``), or of a ``LocalCluster`` of
    ``local`` single-threaded worker processes, closed on exit."""
    distributed = _distributed()
    if bool(scheduler) == bool(local):
        raise ValidationError("give either a scheduler address (--scheduler tcp://host:8786) or --local N workers")
    if scheduler:
        with distributed.Client(scheduler) as client:
            yield client
        return
    with (
        distributed.LocalCluster(
            n_workers=int(local or 1), threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


# ----------------------------------------------------------------------------------- workers
_INDEXES: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
_INDEX_LOCK = threading.Lock()
_KEEP = 4  # county indexes kept per worker


def _repository(url: str) -> Any:
    from gridgis.storage import Repository

    return Repository(url)


def county_index(url: str, generation: int, county: str, snap_tolerance_m: float | None = None) -> Any:
    """The routing index of one county of ``generation`` (built once per worker process, a few kept)."""
    from gridgis.routing.index import DEFAULT_SNAP_TOLERANCE_M, RoutingIndex
    from gridgis.routing.service import load_city

    key = (url, generation, county)
    with _INDEX_LOCK:
        if key in _INDEXES:
            _INDEXES.move_to_end(key)
            return _INDEXES[key]
        repo = _repository(url)
        try:
            city = load_city(repo, generation, frozenset([county]))
        finally:
            repo.dispose()
        index = RoutingIndex.build(
            city, generation=generation, snap_tolerance_m=snap_tolerance_m or DEFAULT_SNAP_TOLERANCE_M
        )
        _INDEXES[key] = index
        while len(_INDEXES) > _KEEP:
            _INDEXES.popitem(last=False)
        return index


def route_task(url: str, generation: int, county: str, lon: np.ndarray, lat: np.ndarray, crs: str) -> dict[str, Any]:
    """One routing task: ``route_many`` of a county's index over a chunk of that county's points, packed
    for the trip back (:func:`pack_frame`)."""
    return pack_frame(county_index(url, generation, county).route_many(lon, lat, crs))


def pack_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """A routed frame as arrays cheap to send between processes: each text column as (int32 codes, the
    distinct values), the others as they are; :func:`unpack_into` writes it back."""
    columns: dict[str, Any] = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            columns[name] = ("text", codes.astype(np.int32), np.asarray(uniques, dtype=object))
        else:
            columns[name] = ("plain", col.to_numpy(), None)
    return {"rows": len(frame), "columns": columns}


def unpack_into(out: dict[str, np.ndarray], n: int, rows: np.ndarray, packed: dict[str, Any]) -> None:
    """Write a packed frame's rows to positions ``rows`` of the ``n``-row output columns ``out`` (each
    created on first use)."""
    for name, (kind, values, uniques) in packed["columns"].items():
        if kind == "text":
            target = out.setdefault(name, np.full(n, None, dtype=object))
            found = values >= 0
            target[rows[found]] = uniques[values[found]]
        else:
            target = out.setdefault(name, np.zeros(n, dtype=values.dtype))
            target[rows] = values


def align_task(url: str, generation: int, county: str, config: Any = None) -> Any:
    """One county's alignment proposal (``propose_alignment`` over its communities, one process, along
    the store's roads when it holds them)."""
    from gridgis.alignment.propose import propose_alignment
    from gridgis.alignment.roads import stored_roads

    repo = _repository(url)
    try:
        layers = {
            layer: repo.read_layer(layer, generation=generation, code_prefixes=[county])
            for layer in ("communities", "grids", "compounds", "buildings")
        }
        roads = stored_roads(repo, layers["communities"])  # the store's roads, as the API and the CLI use them
    finally:
        repo.dispose()
    return propose_alignment(
        layers["compounds"],
        layers["grids"],
        layers["buildings"],
        layers["communities"],
        config=config,
        workers=1,
        roads=roads,
    )


def stats_task(
    url: str, county: str | None, months: list[str], level: str, households: dict[str, int]
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """One county's tickets (``None``: the tickets routed to no grid): monthly figures and indices."""
    from gridgis.people.assessment import TZ, monthly_indices
    from gridgis.tickets.stats import LEVEL_COLUMNS, summarise

    rows = county_ticket_rows(url, county, LEVEL_COLUMNS[level])
    figures = summarise(rows, tz=TZ, level=level)
    if county is None or level not in ("grid", "micro_grid"):
        return figures, pd.DataFrame()
    frame = pd.DataFrame(rows, columns=list(_TICKET_COLUMNS))
    indices = monthly_indices(frame, households, level=level, months=months) if households else pd.DataFrame()
    return figures, indices


_TICKET_COLUMNS = (
    "id",
    "status",
    "matter_code",
    "grid_code",
    "micro_grid_code",
    "community_code",
    "street_code",
    "received_at",
    "resolved_at",
    "solve_due",
    "close_reason",
    "rating",
    "overdue",
    "escalations",
)


def county_ticket_rows(url: str, county: str | None, column: str = "grid_code") -> list[dict[str, Any]]:
    """The ticket rows (statistics columns) of one county, by the county of their area code in ``column``
    (the statistics level's); ``None``: the tickets with no such code."""
    import sqlalchemy as sa

    from gridgis.storage.engine import storage_errors
    from gridgis.tickets.tables import tickets

    q = sa.select(*[tickets.c[k] for k in _TICKET_COLUMNS])
    if county is None:
        q = q.where(tickets.c[column].is_(None))
    else:  # the county is the first six digits of every code (gridgis.codes.county_of)
        q = q.where(tickets.c[column].startswith(county, autoescape=True))
    repo = _repository(url)
    try:
        with storage_errors(url, f"reading the tickets of county {county}"), repo.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q.order_by(tickets.c.id)).all()]
    finally:
        repo.dispose()
    return rows


# ----------------------------------------------------------------------------------- client side
def _generation(repo: Any, generation: int | None) -> int:
    if generation is not None:
        return int(repo.generation(generation).id)
    gen = repo.current_generation()
    if gen is None:
        raise ValidationError("the store holds no boundaries yet: import a city first")
    return int(gen.id)


def store_counties(url: str, generation: int | None = None) -> tuple[int, list[str], Any]:
    """(generation, the counties of its grids, its grids frame)."""
    from gridgis.codes import county_of

    repo = _repository(url)
    try:
        gen = _generation(repo, generation)
        grids = repo.read_layer("grids", generation=gen)
    finally:
        repo.dispose()
    return gen, sorted({county_of(c) for c in grids["code"]}), grids


def route_batch(
    client: Any, url: str, lon, lat, crs: str = "wgs84", generation: int | None = None, chunk: int = ROUTE_CHUNK
) -> pd.DataFrame:
    """Route points on the cluster: one row per point, in input order, as ``route_many`` of one index of
    the whole store answers. Invalid points go with any county (every index refuses them alike)."""
    from gridgis.crs import parse_crs
    from gridgis.routing.county import CountyLocator

    parse_crs(crs)  # an unknown CRS fails before any work
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    gen, counties, grids = store_counties(url, generation)
    county = CountyLocator.build(grids).locate_many(lon, lat, crs)
    county[pd.isna(county)] = counties[0]
    tasks = []
    for c in counties:
        rows = np.flatnonzero(county == c)
        for start in range(0, len(rows), max(1, chunk)):
            part = rows[start : start + chunk]
            tasks.append((part, client.submit(route_task, url, gen, c, lon[part], lat[part], crs, pure=False)))
    if not tasks:
        return county_index(url, gen, counties[0]).route_many(lon, lat, crs)
    out: dict[str, np.ndarray] = {}
    names: list[str] = []
    for (part, _), packed in zip(tasks, client.gather([f for _, f in tasks])):
        unpack_into(out, len(lon), part, packed)
        names = names or list(packed["columns"])
    return pd.DataFrame({name: pd.Series(out[name], dtype=out[name].dtype) for name in names})


def align_batch(
    client: Any, url: str, config: Any = None, generation: int | None = None, counties: list[str] | None = None
) -> dict[str, Any]:
    """Each county's alignment proposal, aligned on the cluster: ``{county: Proposal}``."""
    gen, found, _ = store_counties(url, generation)
    wanted = counties or found
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValidationError(
            f"the store has no grids in county {', '.join(missing)}; its counties: {', '.join(found)}"
        )
    futures = {c: client.submit(align_task, url, gen, c, config, pure=False) for c in wanted}
    return dict(zip(futures, client.gather(list(futures.values()))))


def stats_batch(
    client: Any, url: str, months: list[str], level: str = "grid", generation: int | None = None
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Monthly figures (:func:`~gridgis.tickets.stats.summarise`, every month) and the indices of
    ``months`` (:func:`~gridgis.people.assessment.monthly_indices`) for every area of ``level``, one task
    per county: (figures sorted by code and month as ``summarise`` sorts them, indices)."""
    from gridgis.codes import county_of
    from gridgis.tickets.stats import LEVEL_COLUMNS

    if level not in LEVEL_COLUMNS:
        raise ValidationError(f"unknown statistics level {level!r}; use one of {', '.join(LEVEL_COLUMNS)}")
    gen, counties, _ = store_counties(url, generation)
    households: dict[str, dict[str, int]] = {c: {} for c in counties}
    if level in ("grid", "micro_grid"):
        repo = _repository(url)
        try:
            areas = repo.read_layer(f"{level}s", generation=gen)
        finally:
            repo.dispose()
        for code, hh in zip(areas["code"], areas["households"].fillna(0)):
            households.setdefault(county_of(code), {})[code] = int(hh)
    parts: list[str | None] = [None, *sorted(households)]
    futures = [client.submit(stats_task, url, c, months, level, households.get(c or "", {}), pure=False) for c in parts]
    results = client.gather(futures)
    figures = sorted((f for part, _ in results for f in part), key=lambda r: (r[f"{level}_code"], r["month"]))
    frames = [ix for _, ix in results if len(ix)]
    key = f"{level}_code"
    indices = pd.concat(frames).sort_values([key, "month"]).reset_index(drop=True) if frames else pd.DataFrame()
    return figures, indices


# ----------------------------------------------------------------------------------- files in partitions
_LOCATORS: OrderedDict[tuple[str, int], Any] = OrderedDict()


def county_locator(url: str, generation: int) -> Any:
    """The county rule of ``generation`` (built once per worker process)."""
    from gridgis.routing.county import CountyLocator

    key = (url, generation)
    with _INDEX_LOCK:
        if key not in _LOCATORS:
            repo = _repository(url)
            try:
                _LOCATORS[key] = CountyLocator.build(repo.read_layer("grids", generation=generation))
            finally:
                repo.dispose()
            while len(_LOCATORS) > 2:
                _LOCATORS.popitem(last=False)
        return _LOCATORS[key]


def split_file_task(
    url: str, generation: int, path: str, number: int, work: str, options: dict[str, Any], fallback: str
) -> tuple[str, dict[str, int]]:
    """Phase 1, one input file on a worker: its points split by county into ``work/<county>/<number>.npz``.
    Returns (the CRS of the file's coordinates, points per county)."""
    from pathlib import Path

    from gridgis.routing.files import read_points

    _, x, y, crs = read_points(path, **options)
    county = county_locator(url, generation).locate_many(x, y, crs)
    county[pd.isna(county)] = fallback  # refused rows: any county's index gives the same reason
    counts: dict[str, int] = {}
    for c in sorted(set(county)):
        rows = np.flatnonzero(county == c)
        folder = Path(work) / c
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / f"{number}.npz", x=x[rows], y=y[rows], row=rows)
        counts[c] = len(rows)
    return crs, counts


def route_county_files_task(url: str, generation: int, county: str, work: str, parts: list[tuple[int, str]]) -> int:
    """Phase 2, one county on a worker: route its points of every file with the county's index, the answers
    packed into ``work/<county>/<number>.routed.pkl``; returns the points routed."""
    import pickle
    from pathlib import Path

    index = county_index(url, generation, county)
    done = 0
    for number, crs in parts:
        folder = Path(work) / county
        with np.load(folder / f"{number}.npz") as piece:
            x, y, row = piece["x"], piece["y"], piece["row"]
        packed = pack_frame(index.route_many(x, y, crs, with_compounds=False))
        with open(folder / f"{number}.routed.pkl", "wb") as f:
            pickle.dump({"row": row, "packed": packed}, f, protocol=pickle.HIGHEST_PROTOCOL)
        done += len(row)
    return done


def join_file_task(path: str, number: int, work: str, counties: list[str], out: str, options: dict[str, Any]) -> str:
    """Phase 3, one input file on a worker: its rows with their answers, written as `gridgis route` writes."""
    import pickle
    from pathlib import Path

    from gridgis.routing.files import OUTPUT_COLUMNS, read_points, write_points

    frame, x, y, crs = read_points(path, **options)
    columns: dict[str, np.ndarray] = {}
    for c in counties:
        piece = Path(work) / c / f"{number}.routed.pkl"
        if piece.exists():
            with open(piece, "rb") as f:
                found = pickle.load(f)
            unpack_into(columns, len(x), found["row"], found["packed"])
    for name in OUTPUT_COLUMNS:  # a file without points
        columns.setdefault(name, np.full(len(x), None, dtype=object))
    routed = pd.DataFrame({name: pd.Series(columns[name], dtype=columns[name].dtype) for name in OUTPUT_COLUMNS})
    return str(write_points(frame, routed, out, x, y, crs))


def route_files(
    client: Any,
    url: str,
    paths: list[str],
    out_dir: str,
    work: str,
    crs: str | None = None,
    lon_col: str = "lon",
    lat_col: str = "lat",
    generation: int | None = None,
) -> list[str]:
    """Route point files too large for one process, in three phases of tasks: each file split by county
    (its rows never leave the workers), each county routed by its own index, each file joined back and
    written as `gridgis route` would write it (``out_dir/<name>``). ``work`` is a scratch folder every
    worker can read and write (a shared file system when workers are on several machines)."""
    from pathlib import Path

    gen, counties, _ = store_counties(url, generation)
    options = {"lon_col": lon_col, "lat_col": lat_col, "crs": crs}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    split = client.gather(
        [
            client.submit(split_file_task, url, gen, str(p), k, work, options, counties[0], pure=False)
            for k, p in enumerate(paths)
        ]
    )
    by_county: dict[str, list[tuple[int, str]]] = {}
    for k, (file_crs, counts) in enumerate(split):
        for c in counts:
            by_county.setdefault(c, []).append((k, file_crs))
    client.gather(
        [
            client.submit(route_county_files_task, url, gen, c, work, parts, pure=False)
            for c, parts in sorted(by_county.items())
        ]
    )
    names = [str(Path(out_dir) / Path(p).name) for p in paths]
    return client.gather(
        [
            client.submit(join_file_task, str(p), k, work, sorted(by_county), name, options, pure=False)
            for k, (p, name) in enumerate(zip(paths, names))
        ]
    )
