"""The pieces of a routing deployment as real processes, for tests and the bench: a multi-county store,
``gridgis serve --counties`` pools and the generated nginx front (``nginx -p DIR -c nginx.conf``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Self

import httpx

from gridgis.routing.county import CountyLocator
from gridgis.sample.lattice import synthetic_city
from gridgis.scale.nginx import plan_front, write_front
from gridgis.scale.province import county_codes, replicate
from gridgis.storage import Repository
from tests.live import free_port
from tests.ops.server import ServerProcess

NGINX = "/usr/sbin/nginx"


def province_store(path: Path, counties: int = 3, grids: int = 8) -> tuple[str, dict]:
    """A SQLite store holding ``counties`` copies of a small lattice city; returns (url, frames)."""
    frames = replicate(synthetic_city(grids, grids), county_codes(counties))
    url = f"sqlite:///{path}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(frames, author="tests", message="province sample")
    repo.dispose()
    return url, frames


def start_pool(url: str, counties: list[str], log: Path) -> ServerProcess:
    """``gridgis serve --counties …`` (GRIDGIS_COUNTIES) on a free port, not started yet."""
    return ServerProcess(url, env={"GRIDGIS_COUNTIES": ",".join(counties)}, log_path=log)


def start_pools(url: str, holds: list[list[str]], folder: Path, index_timeout: float = 300) -> list[ServerProcess]:
    """Start one pool per entry of ``holds`` (its counties) in parallel; returns them started, their
    routing index built (waiting up to ``index_timeout`` s for it)."""
    from concurrent.futures import ThreadPoolExecutor

    pools = [start_pool(url, h, folder / f"pool{i}.log") for i, h in enumerate(holds)]
    try:
        with ThreadPoolExecutor(len(pools)) as ex:
            list(ex.map(lambda p: p.start(timeout=120), pools))
        for p in pools:  # the index is built in the background after /health answers: wait for it
            httpx.get(f"{p.url}/route/county", params={"lon": 0, "lat": 0}, timeout=index_timeout).raise_for_status()
    except Exception:
        for p in pools:
            p.kill()
        raise
    return pools


class NginxFront:
    """The generated nginx front in a subprocess (``daemon off``, its own prefix: no root needed)."""

    def __init__(
        self, folder: Path, pools: list[str], backups: list[str] = (), workers: int = 1, nodes: list[str] = ()
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        front = plan_front(pools, backups, nodes)
        write_front(front, folder, listen=f"127.0.0.1:{self.port}", worker_processes=workers)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        subprocess.run([NGINX, "-t", "-q", "-p", str(self.folder), "-c", "nginx.conf"], check=True)
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", "nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/health", timeout=1.0)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}; see {self.folder}/logs/error.log")
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("nginx did not answer in time")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def county_points(frames: dict, per_county: int = 40, seed: int = 3) -> list[tuple[float, float, str]]:
    """Points of every county (random in its extent, some in the gaps and just outside), with their county."""
    import numpy as np

    locator = CountyLocator.build(frames["grids"])
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    lon = rng.uniform(minx - 0.002, maxx + 0.002, per_county * 20)
    lat = rng.uniform(miny - 0.002, maxy + 0.002, per_county * 20)
    county = locator.locate_many(lon, lat)
    out: list[tuple[float, float, str]] = []
    for c in sorted(set(county)):
        rows = [i for i in range(len(lon)) if county[i] == c][:per_county]
        out += [(float(lon[i]), float(lat[i]), c) for i in rows]
    return out
