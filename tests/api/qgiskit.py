"""Shared by the QGIS tests: a store holding the committed sample city, and QGIS ≥ 3.32's save.

The sample city's coordinates have 7 decimals, like real surveyed outlines, so rounding them to
QGIS's 6 decimals moves shared vertices by a few centimetres (the tiny example city's round
coordinates would hide that).
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "geojson"
#: planners as (role, scopes): one for the whole sample street, one for another street
PLANNERS = {"陈规划": ("planner", ["310115005000"]), "周规划": ("planner", ["310115007000"])}
_TEMPLATE: dict[str, Path] = {}


def sample_store(path: Path, tokens: dict[str, tuple[str, list[str]]] | None = None) -> dict[str, str]:
    """Write the sample city (no tickets) to a SQLite store at ``path``; issue tokens; return them."""
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.io import read_city
    from gridgis.storage import Repository

    if "db" not in _TEMPLATE:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="gridgis_qgis_")) / "sample.db"
        repo = Repository(f"sqlite:///{tmp}")
        repo.create_schema()
        repo.write_city({k: v for k, v in read_city(SAMPLE).items() if k != "tickets"}, author="seed", message="sample")
        repo.dispose()
        with sqlite3.connect(tmp, isolation_level=None) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATE["db"] = tmp
    shutil.copyfile(_TEMPLATE["db"], path)
    repo = Repository(f"sqlite:///{path}")
    ensure_tables(repo.engine)
    store = TokenStore(repo.engine)
    issued = {name: store.create(name, role, scopes)[0] for name, (role, scopes) in (tokens or PLANNERS).items()}
    repo.dispose()
    return issued


def round6(coords: Any) -> Any:
    """Coordinates as QGIS's JSON exporter writes them: 6 decimals."""
    if isinstance(coords[0], int | float):
        return [round(float(c), 6) for c in coords]
    return [round6(c) for c in coords]


class Qgis332:
    """What QGIS ≥ 3.32's OAPIF provider does for one layer (qgsoapifputfeaturerequest.cpp and the
    provider's changeAttributeValues/changeGeometryValues): it keeps every feature as downloaded
    (a field it could not read is NULL), and a save PUTs the whole feature — ``id`` at top level,
    every property echoed with the new values set, coordinates with 6 decimals, no ``bbox``, no
    ``If-Match``, ``Content-Type: application/geo+json``."""

    def __init__(self, base: str, layer: str, token: str, auth: str = "bearer") -> None:
        headers = {"Accept": "application/geo+json, application/json"}
        self.auth: Any = None
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        else:
            self.auth = httpx.BasicAuth("qgis", token)
        self.http = httpx.Client(timeout=30, headers=headers, auth=self.auth)
        self.items = f"{base}/collections/{layer}/items"
        self.cache: dict[str, dict] = {}
        url: str | None = f"{self.items}?limit=1000"
        while url:
            page = self.http.get(url).json()
            for f in page["features"]:
                self.cache[f["id"]] = self._as_read(f)
            url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)

    @staticmethod
    def _as_read(feature: dict) -> dict:
        """A feature as QGIS holds it: a property whose value is a JSON array or object of objects
        is NULL (the OGR-backed reader of QGIS 3.22 gives NULL for them)."""
        f = copy.deepcopy(feature)
        for k, v in f["properties"].items():
            if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v)):
                f["properties"][k] = None
        return f

    def save(self, fid: str, geometry: dict | None = None, **values: Any) -> httpx.Response:
        f = copy.deepcopy(self.cache[fid])
        f["properties"].update(values)
        if geometry is not None:
            f["geometry"] = geometry
        body = {
            "type": "Feature",
            "id": fid,
            "geometry": {"type": f["geometry"]["type"], "coordinates": round6(f["geometry"]["coordinates"])},
            "properties": f["properties"],
        }
        r = self.http.put(
            f"{self.items}/{fid}",
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/geo+json"},
        )
        if r.status_code < 300:
            self.cache[fid] = f  # QGIS keeps its copy (the old version included) and does not re-read
        return r
