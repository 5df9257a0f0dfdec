"""OGC API – Features reads against the peers: gridgis, tipg and pygeoapi on the same PostGIS data.

``python -m bench --only ogc``. The city sample (38,323 micro-grids, ``gridgis sample-city --scale
city``) is stored once in a PostGIS database of its own (``GRIDGIS_BENCH_OGC_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/gridgis_ogcbench``, created when missing); the peers
read the current micro-grids from a plain table ``peer.micro_grids`` copied from gridgis's store in
the same database (code as primary key, a GiST index: the way they are deployed). Every server runs
under uvicorn with the same number of worker processes; requests come from ``wrk`` (C, keep-alive,
``Accept-Encoding: gzip``) and each read is measured for the three servers one after the other,
round after round, so a load change on the shared machine hits all of them alike.

Reads: the first page (``limit=100``), a page in a bounding box (cycling 200 boxes of ~300 m),
a single item by code (cycling 500 codes) — requests/s — and a full read of the layer by ``next``
links (``limit=1000``) — seconds. Ratios are gridgis/peer (>1: gridgis faster; for the full read,
peer time / gridgis time). Each server's CPU time per request (user+system of its processes, from
/proc, the least of the rounds; the database's CPU not included) is printed too, as peer/gridgis
(>1: gridgis uses less): on a shared machine it moves less with the load than requests/s. tipg comes with the ``bench`` extra; pygeoapi runs from a virtualenv of
its own (its wheel ships a top-level ``tests`` package that would shadow gridgis's):
``python3 -m venv .venv-peers && .venv-peers/bin/pip install pygeoapi psycopg2-binary geoalchemy2 starlette uvicorn``, or
``GRIDGIS_BENCH_PYGEOAPI_PYTHON=/path/to/python``. gridgis never imports either. ``GRIDGIS_BENCH_OGC_BEFORE=<source tree>`` adds an older gridgis (e.g. ``git archive
<commit> | tar -x -C dir``) as a fourth server, to measure a change in the same run.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gridgis_ogcbench"
LAYER = "micro_grids"


@dataclass
class Peer:
    name: str
    base: str
    collection: str
    proc: subprocess.Popen

    def items(self) -> str:
        return f"/collections/{self.collection}/items"

    def cpu_seconds(self) -> float:
        """user+system CPU seconds used so far by the server's processes (its session: the
        supervisor and every worker, with the workers it has reaped: a restarted worker's CPU is
        not lost), from /proc; the database's own CPU is not included."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.proc.pid:  # the process group: start_new_session made the server its leader
                total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_database(url: str) -> None:
    """Create the bench database with PostGIS and the city sample when it is not there yet."""
    import sqlalchemy as sa

    from gridgis.storage import Repository

    server = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with server.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    repo = Repository(url)
    try:
        repo.create_schema()
        if repo.counts()[LAYER] == 0:
            from gridgis.io import read_city

            out = Path(tempfile.mkdtemp(prefix="gridgis_ogcbench_"))
            subprocess.run(
                [sys.executable, "-m", "gridgis.cli", "sample-city", "--scale", "city", "--out", str(out)],
                check=True,
                cwd=ROOT,
                capture_output=True,
            )
            city = {k: v for k, v in read_city(out).items() if k != "tickets"}
            repo.write_city(city, author="bench", message="city sample for the OGC peers")
            shutil.rmtree(out, ignore_errors=True)
    finally:
        repo.dispose()


def _peer_table(url: str) -> None:
    """``peer.micro_grids``: the current micro-grids as a plain table for tipg and pygeoapi."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS peer CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA peer"))
        conn.execute(
            sa.text(
                "CREATE TABLE peer.micro_grids AS SELECT code, name, properties->>'grid_code' AS grid_code, "
                "(properties->>'households')::integer AS households, properties->'workers' AS workers, "
                "geometry::geometry(Geometry, 4326) AS geometry FROM features "
                "WHERE layer = 'micro_grids' AND generation_high IS NULL ORDER BY code"
            )
        )
        conn.execute(sa.text("ALTER TABLE peer.micro_grids ADD PRIMARY KEY (code)"))
        conn.execute(sa.text("CREATE INDEX ON peer.micro_grids USING gist (geometry)"))
        conn.execute(sa.text("ANALYZE peer.micro_grids"))
        conn.execute(sa.text("ANALYZE features"))
    engine.dispose()


def _wait(base: str, path: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base} exited with {proc.returncode}: {log.read_text()[-800:]}")
        try:
            if httpx.get(base + path, timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base}{path} did not answer in time: {log.read_text()[-800:]}")


def _start(name: str, cmd: list[str], env: dict[str, str], collection: str, work: Path) -> Peer:
    port = _free_port()
    log = Path(tempfile.gettempdir()) / f"gridgis_ogcbench_{name}.log"
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=work,
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    peer = Peer(name, f"http://127.0.0.1:{port}", collection, proc)
    try:
        _wait(peer.base, f"{peer.items()}?limit=1", proc, log)
    except Exception:
        peer.stop()
        raise
    return peer


def _pygeoapi_config(work: Path, url: str, bbox: list[float], python: str) -> tuple[Path, Path]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    import json

    x = "bench"
    contact = {
        k: x
        for k in ("name", "position", "address", "city", "stateorprovince", "postalcode", "country", "phone", "fax")
    }
    settings = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 5000},
            "url": "http://127.0.0.1:5000",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": True,
            "languages": ["en-US"],
            "pretty_print": False,
            "limits": {"default_items": 100, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "gridgis peer bench",
                "description": "micro-grids of the city sample",
                "keywords": ["grids"],
                "keywords_type": "theme",
                "terms_of_service": "https://example.org",
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": x, "url": "https://example.org"},
            "contact": {**contact, "email": "x@example.org", "url": "https://example.org", "role": "pointOfContact"},
        },
        "resources": {
            LAYER: {
                "type": "collection",
                "title": "micro-grids",
                "description": "micro-grids",
                "keywords": ["grids"],
                "links": [],
                "extents": {"spatial": {"bbox": bbox, "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "providers": [
                    {
                        "type": "feature",
                        "name": "PostgreSQL",
                        "data": {
                            "host": u.host,
                            "port": u.port or 5432,
                            "dbname": u.database,
                            "user": u.username,
                            "password": u.password or "",
                            "search_path": ["peer", "public"],
                        },
                        "id_field": "code",
                        "table": LAYER,
                        "geom_field": "geometry",
                    }
                ],
            }
        },
    }
    config = work / "pygeoapi.yml"
    config.write_text(json.dumps(settings, ensure_ascii=False))  # JSON is YAML
    openapi = work / "pygeoapi-openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(Path(python).with_name("pygeoapi")), "openapi", "generate", str(config), "-of", str(openapi)],
        check=True,
        env=env,
        capture_output=True,
        cwd=work,
    )
    return config, openapi


def _wrk(base: str, paths: list[str], seconds: int, connections: int) -> tuple[float, int]:
    """requests/s of ``wrk`` cycling through ``paths`` and how many it made (non-2xx answers make
    the run fail)."""
    lua = ",".join(f'"{p}"' for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f"local paths = {{{lua}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n"
            "  return wrk.format('GET', paths[i], {['Accept-Encoding'] = 'gzip'})\nend\n"
        )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, base],
        check=False,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(script.name)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad:
        raise RuntimeError(f"{base}: {bad.group(1)} failed requests in {paths[0]}…")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    made = re.search(r"(\d+) requests in", out)
    if not rate or not made:
        raise RuntimeError(f"wrk gave no rate for {base}: {out[-400:]}")
    return float(rate.group(1)), int(made.group(1))


def _full_read(peer: Peer, limit: int = 1000) -> tuple[float, int]:
    """Seconds to read every feature by following ``next`` links; and how many were read."""
    url: str | None = f"{peer.base}{peer.items()}?limit={limit}"
    n = 0
    started = time.perf_counter()
    with httpx.Client(timeout=120.0, headers={"Accept-Encoding": "gzip"}) as client:
        while url:
            r = client.get(url)
            r.raise_for_status()
            body = r.json()
            n += len(body["features"])
            found = next((lk["href"] for lk in body.get("links", []) if lk.get("rel") == "next"), None)
            # pygeoapi writes its configured public URL into links: follow them on this server
            url = None if found is None else peer.base + re.sub(r"^https?://[^/]+", "", found)
            if not body["features"]:
                break
    return time.perf_counter() - started, n


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def run(scale: str = "city", seconds: int = 5, rounds: int = 2, workers: int = 2, connections: int = 8) -> list[dict]:
    """Start gridgis, tipg and pygeoapi on the same data; rows of requests/s, seconds and ratios."""
    if shutil.which("wrk") is None:
        return [{"benchmark": "ogc", "metric": "skipped", "value": "wrk is not installed", "unit": "", "peer": ""}]
    url = os.environ.get("GRIDGIS_BENCH_OGC_URL", DEFAULT_URL)
    _ensure_database(url)
    _peer_table(url)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(sa.text("SELECT code FROM peer.micro_grids ORDER BY code"))]
        box = conn.execute(
            sa.text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geometry) AS e FROM peer.micro_grids) s"
            )
        ).one()
    engine.dispose()
    bbox = [float(v) for v in box]
    rng = random.Random(16)
    sample = rng.sample(codes, min(500, len(codes)))
    boxes = []
    for _ in range(200):
        x, y = rng.uniform(bbox[0], bbox[2] - 0.003), rng.uniform(bbox[1], bbox[3] - 0.003)
        boxes.append(f"{x:.5f},{y:.5f},{x + 0.003:.5f},{y + 0.003:.5f}")

    work = Path(tempfile.mkdtemp(prefix="gridgis_ogcbench_"))
    pg = url.replace("postgresql+psycopg://", "postgresql://")
    uvicorn = [sys.executable, "-m", "uvicorn", "--workers", str(workers)]
    peers: list[Peer] = []
    try:
        peers.append(
            _start(
                "gridgis",
                [sys.executable, "-m", "gridgis.cli", "serve", "--workers", str(workers), "--database-url", url],
                {"GRIDGIS_DATABASE_URL": url},
                LAYER,
                work,
            )
        )
        before = os.environ.get("GRIDGIS_BENCH_OGC_BEFORE")  # a source tree of an older gridgis, to compare
        if before:
            peers.append(
                _start(
                    "gridgis-before",
                    [sys.executable, "-m", "gridgis.cli", "serve", "--workers", str(workers), "--database-url", url],
                    {"GRIDGIS_DATABASE_URL": url, "PYTHONPATH": before},
                    LAYER,
                    Path(before),
                )
            )
        peers.append(
            _start(
                "tipg",
                [*uvicorn, "tipg.main:app"],
                {"DATABASE_URL": pg, "TIPG_DB_SCHEMAS": '["peer"]', "TIPG_DEFAULT_FEATURES_LIMIT": "100"},
                "peer.micro_grids",
                work,
            )
        )
        peer_python = os.environ.get("GRIDGIS_BENCH_PYGEOAPI_PYTHON", str(ROOT / ".venv-peers" / "bin" / "python"))
        if Path(peer_python).exists():
            config, openapi = _pygeoapi_config(work, url, bbox, peer_python)
            peers.append(
                _start(
                    "pygeoapi",
                    [peer_python, "-m", "uvicorn", "--workers", str(workers), "pygeoapi.starlette_app:APP"],
                    {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)},
                    LAYER,
                    work,
                )
            )
        reads = {
            "first page": lambda p: [f"{p.items()}?limit=100"],
            "bbox page": lambda p: [f"{p.items()}?limit=100&bbox={b}" for b in boxes],
            "single item": lambda p: [f"{p.items()}/{c}" for c in sample],
        }
        for p in peers:  # warm every worker (catalogues, connection pools)
            for paths in reads.values():
                _wrk(p.base, paths(p), 1, connections)
        load_before = _load()
        rates: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}  # server CPU ms per request
        full: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        for _ in range(rounds):
            for read, paths in reads.items():
                for p in peers:
                    used = p.cpu_seconds()
                    rate, made = _wrk(p.base, paths(p), seconds, connections)
                    rates.setdefault((read, p.name), []).append(rate)
                    cpu.setdefault((read, p.name), []).append(1000 * (p.cpu_seconds() - used) / max(made, 1))
            for p in peers:
                took, n = _full_read(p)
                full.setdefault(p.name, []).append(took)
                counts[p.name] = n
        load_after = _load()
    finally:
        for p in peers:
            p.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows: list[dict] = []
    if "pygeoapi" not in {p.name for p in peers}:
        rows.append({"benchmark": "ogc", "metric": "pygeoapi skipped", "value": f"no {peer_python}", "unit": ""})
    setup = f"{workers} workers each, wrk -t2 -c{connections} {seconds}s x{rounds} rounds (best), load {load_before}→{load_after}"
    for read in reads:
        least = {p.name: min(cpu[(read, p.name)]) for p in peers}
        for name, value in least.items():
            rows.append(
                {
                    "benchmark": f"ogc {read}",
                    "metric": f"{name} server CPU ms/request",
                    "value": round(value, 2),
                    "unit": "ms",
                    "peer": name,
                    "ratio": None if name == "gridgis" else round(value / max(least["gridgis"], 1e-9), 2),
                }
            )
    for read in reads:
        best = {p.name: max(rates[(read, p.name)]) for p in peers}
        for name, value in best.items():
            rows.append(
                {
                    "benchmark": f"ogc {read}",
                    "metric": f"{name} requests/s",
                    "value": round(value, 1),
                    "unit": "req/s",
                    "peer": setup if name == "gridgis" else name,
                    "ratio": None if name == "gridgis" else round(best["gridgis"] / value, 2),
                }
            )
    best_full = {name: min(times) for name, times in full.items()}
    for name, value in best_full.items():
        rows.append(
            {
                "benchmark": "ogc full read (next links, limit=1000)",
                "metric": f"{name} seconds ({counts[name]} features)",
                "value": round(value, 2),
                "unit": "s",
                "peer": name,
                "ratio": None if name == "gridgis" else round(value / best_full["gridgis"], 2),
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
