"""Tile benchmark: screens of tiles at zoom 15 right after a start of ``gridgis serve``, cold vs cached, GeoJSON
vs MVT, on a SQLite and a PostGIS store, over real HTTP; and tipg's MVT on the same PostGIS data.

Scale ``small`` is the committed sample city (data/geojson), ``city`` the seed-city size (the SQLite store is
built once in out/bench/, shared with the viewer benchmark; the PostGIS store is the OGC benchmark's database,
``GRIDGIS_BENCH_OGC_URL``, with its plain copy ``peer.micro_grids`` for tipg). A screen is 1280×800 px: the
6×4 tiles of zoom 15 that cover it; three screens are used, centred on the micro-grids (S0) and 5 tiles north
(S1) and south (S2) of it, so that each measurement finds its tiles cold. Each pass starts its own
``gridgis serve`` (one worker) and waits until its routing index is in service (its log says
``routing_index_swapped``), then asks:

* *after a start* (the defaults: every layer is read and z ≤ 12 rendered in the background from the start):
  S0's micro-grids one after the other, S1's micro-grids 6 at a time (as a browser asks), S2's six layers
  one after the other; then S0 and S2 again (*cached*), S2 gzipped (bytes);
* *nothing loaded* (``GRIDGIS_TILE_PRERENDER_ZOOM=-1``: no start-up work; the first tiles are cut from the
  store's rows in their own box while the layer loads): S0's micro-grids, then S2's six layers.

Beside each wall time the serving process's CPU seconds (user + sys, from /proc) and the load average.
Peers: the GeoJSON tiles of the same screens in the same run (ratio = MVT / GeoJSON); tipg (``bench`` extra,
one uvicorn worker, started fresh) on ``peer.micro_grids``: S0 cold and again, gzipped bytes (ratio =
gridgis / tipg, > 1: gridgis slower or bigger).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from bench.viewer import SHOWN, _store

ZOOM = 15
SCREEN_PX = (1280, 800)
#: the screens' centres, in tiles from the micro-grids' centre: S0, S1 (north), S2 (south)
SCREENS = {"S0": (0, 0), "S1": (0, -5), "S2": (0, 5)}


def screen_tiles(
    repo,
    z: int = ZOOM,
    shift: tuple[int, int] = (0, 0),
    bounds: tuple[float, float, float, float] | None = None,
) -> list[tuple[int, int]]:
    """The ``(x, y)`` tiles of zoom ``z`` covering a 1280×800 screen centred on the micro-grids (or on
    ``bounds``, lon/lat), moved by ``shift`` tiles."""
    from gridgis.maps.tiles import tile_for

    minx, miny, maxx, maxy = bounds if bounds is not None else repo.read_layer("micro_grids").total_bounds
    cx, cy = tile_for((minx + maxx) / 2, (miny + maxy) / 2, z)
    cx, cy = cx + shift[0], cy + shift[1]
    nx, ny = SCREEN_PX[0] // 256 + 1, SCREEN_PX[1] // 256 + 1
    return [(cx + dx, cy + dy) for dx in range(-(nx // 2), nx - nx // 2) for dy in range(-(ny // 2), ny - ny // 2)]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _get(client, path: str, encoding: str) -> int:
    with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{r.url} answered {r.status_code}")
        return sum(len(c) for c in r.iter_raw())


def _pass(client, paths: list[str], encoding: str = "identity", connections: int = 1) -> tuple[float, int]:
    """Seconds and bytes on the wire for ``paths``, one after the other or ``connections`` at a time."""
    start = time.perf_counter()
    if connections == 1:
        sent = sum(_get(client, p, encoding) for p in paths)
    else:
        with ThreadPoolExecutor(connections) as pool:
            sent = sum(pool.map(lambda p: _get(client, p, encoding), paths))
    return time.perf_counter() - start, sent


def _paths(tiles: list[tuple[int, int]], ext: str, layers=("micro_grids",)) -> list[str]:
    return [f"/tiles/{layer}/{ZOOM}/{x}/{y}.{ext}" for layer in layers for x, y in tiles]


class _Server:
    """``gridgis serve`` (one worker) on a free port over ``url``, its log in a file."""

    def __init__(self, url: str, prerender: int, env: dict[str, str] | None = None) -> None:
        from bench.viewer import OUT
        from gridgis.api.app import create_app  # noqa: F401 - fail here, not in the child, when broken

        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        OUT.mkdir(parents=True, exist_ok=True)
        self.log = OUT / f"tiles-serve-{self.port}.log"
        env = dict(os.environ, GRIDGIS_TILE_PRERENDER_ZOOM=str(prerender), GRIDGIS_LOG_LEVEL="INFO", **(env or {}))
        gridgis = Path(sys.executable).with_name("gridgis")
        cmd = [str(gridgis), "serve", "--port", str(self.port), "--database-url", url]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gridgis serve did not start; see {self.log}")

    def seen(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 900) -> float:
        """Seconds from the process's start until ``text`` is in its log."""
        while not self.seen(text):
            if time.monotonic() - self.started > timeout:
                raise RuntimeError(f"{text!r} never appeared in {self.log}")
            time.sleep(0.1)
        return time.monotonic() - self.started

    def event_seconds(self, text: str) -> float:
        """The ``seconds`` of the log line holding ``text`` (how long that work took)."""
        import json

        for line in self.log.read_text(errors="replace").splitlines():
            if text in line:
                return float(json.loads(line)["seconds"])
        return float("nan")

    def measure(self, client, paths: list[str], encoding: str = "identity", connections: int = 1) -> dict:
        cpu = _cpu_s(self.proc.pid)
        seconds, sent = _pass(client, paths, encoding, connections)
        return {"s": seconds, "cpu": _cpu_s(self.proc.pid) - cpu, "bytes": sent, "load": _load()}

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _gridgis(url: str, screens: dict[str, list], ext: str) -> dict[str, dict]:
    import httpx

    out: dict[str, dict] = {}
    with _Server(url, prerender=12) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        out["routing_s"] = {"s": server.wait_for('"routing_index_swapped"')}
        out["warm_before"] = {"s": float(server.seen('"tiles_prerendered"'))}
        out["start_micro"] = server.measure(client, _paths(screens["S0"], ext))
        out["start_micro_6"] = server.measure(client, _paths(screens["S1"], ext), connections=6)
        out["start_six"] = server.measure(client, _paths(screens["S2"], ext, SHOWN))
        out["cached_micro"] = server.measure(client, _paths(screens["S0"], ext))
        out["cached_six"] = server.measure(client, _paths(screens["S2"], ext, SHOWN))
        out["cached_six_gz"] = server.measure(client, _paths(screens["S2"], ext, SHOWN), "gzip")
        out["cached_micro_gz"] = server.measure(client, _paths(screens["S0"], ext), "gzip")
        server.wait_for('"tiles_prerendered"')
        out["warmup_s"] = {"s": server.event_seconds('"tiles_prerendered"')}
        out["rss_mb"] = {"s": _rss_mb(server.proc.pid)}
    out.update(nothing_loaded(url, screens, ext))
    return out


def nothing_loaded(url: str, screens: dict[str, list], ext: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    """From a fresh ``gridgis serve`` with pre-rendering off, once its routing index is in service: S0's
    micro-grids (``bare_micro``), then S2's six layers (``bare_six``)."""
    import httpx

    out: dict[str, dict] = {}
    with _Server(url, prerender=-1, env=env) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        server.wait_for('"routing_index_swapped"')
        out["bare_micro"] = server.measure(client, _paths(screens["S0"], ext))
        out["bare_six"] = server.measure(client, _paths(screens["S2"], ext, SHOWN))
    return out


def _tipg(url: str, tiles: list[tuple[int, int]]) -> dict[str, dict]:
    """tipg (one uvicorn worker, fresh) on ``peer.micro_grids``: the screen cold, again, and gzipped."""
    import httpx

    from bench.ogc import Peer, _free_port, _wait

    port = _free_port()
    log = Path(__file__).resolve().parents[1] / "out" / "bench" / f"tiles-tipg-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
        "TIPG_DB_SCHEMAS": '["peer"]',
    }
    cmd = [sys.executable, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    peer = Peer("tipg", f"http://127.0.0.1:{port}", "peer.micro_grids", proc)
    paths = [f"/collections/peer.micro_grids/tiles/WebMercatorQuad/{ZOOM}/{x}/{y}" for x, y in tiles]
    out: dict[str, dict] = {}
    try:
        _wait(peer.base, "/collections", proc, log)  # started: its catalogue is read, no tile asked
        with httpx.Client(base_url=peer.base, timeout=600) as client:
            for key, encoding in (("cold", "identity"), ("again", "identity"), ("gz", "gzip")):
                cpu = _cpu_s(proc.pid)
                seconds, sent = _pass(client, paths, encoding)
                out[key] = {"s": seconds, "cpu": _cpu_s(proc.pid) - cpu, "bytes": sent, "load": _load()}
    finally:
        peer.stop()
    return out


def _postgis_url() -> str | None:
    """The OGC benchmark's PostGIS database (city sample and ``peer.micro_grids``), or None when unreachable."""
    from sqlalchemy.exc import SQLAlchemyError

    from bench.ogc import DEFAULT_URL, _ensure_database, _peer_table

    url = os.environ.get("GRIDGIS_BENCH_OGC_URL", DEFAULT_URL)
    try:
        _ensure_database(url)
        _peer_table(url)
    except (
        SQLAlchemyError,
        OSError,
        subprocess.CalledProcessError,
    ) as exc:  # no PostGIS here: the SQLite half still runs
        print(f"tiles bench: no PostGIS store ({exc.__class__.__name__}: {exc})", file=sys.stderr)
        return None
    return url


LABELS = {
    "start_micro": "micro-grids S0 (24 tiles, one after the other), cold, after a start",
    "start_micro_6": "micro-grids S1 (24 tiles, 6 at a time), cold, after a start",
    "start_six": "six layers S2 (144 tiles), cold, after a start",
    "bare_micro": "micro-grids S0, cold, nothing loaded (pre-rendering off)",
    "bare_six": "six layers S2, cold, only micro-grids loaded (pre-rendering off)",
    "cached_micro": "micro-grids S0, cached",
    "cached_six": "six layers S2, cached",
}


def cold_and_cached(url: str, tiles: list[tuple[int, int]], ext: str, env: dict[str, str] | None = None) -> dict:
    """One screen of every shown layer from a fresh ``gridgis serve`` (pre-rendering off) once its routing
    index is in service: cold, cached, cached gzipped (seconds), its bytes plain and gzipped, the
    requests, the process's RSS (MB)."""
    import httpx

    paths = _paths(tiles, ext, SHOWN)
    res: dict[str, float] = {"requests": len(paths)}
    with _Server(url, prerender=-1, env=env) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        server.wait_for('"routing_index_swapped"')
        res["cold_s"], res["bytes"] = _pass(client, paths, "identity")
        res["cached_s"], _ = _pass(client, paths, "identity")
        res["cached_gz_s"], res["gz"] = _pass(client, paths, "gzip")
        res["rss_mb"] = _rss_mb(server.proc.pid)
    return res


def run(scale: str = "small") -> list[dict]:
    sqlite_repo, _ = _store(scale)
    stores: dict[str, str] = {"SQLite": sqlite_repo.url}
    pg = _postgis_url() if scale == "city" else None
    if pg is not None:
        stores["PostGIS"] = pg
    screens = {name: screen_tiles(sqlite_repo, shift=shift) for name, shift in SCREENS.items()}
    rows: list[dict] = [
        {"metric": "micro-grids in the store", "value": f"{sqlite_repo.counts()['micro_grids']:,}", "unit": ""}
    ]
    results: dict[tuple[str, str], dict] = {}
    for store, url in stores.items():
        for ext in ("geojson", "mvt"):
            results[(store, ext)] = _gridgis(url, screens, ext)
    tipg = _tipg(pg, screens["S0"]) if pg is not None else None
    for store in stores:
        g, m = results[(store, "geojson")], results[(store, "mvt")]
        prefix = f"{store}: "
        for key, label in LABELS.items():
            rows.append(_row(f"{prefix}GeoJSON {label}", g[key]))
            rows.append(_row(f"{prefix}MVT {label}", m[key], peer=g[key]))
        for key, label in (("cached_six", "six layers S2"), ("cached_micro", "micro-grids S0")):
            for ext, res in (("GeoJSON", g), ("MVT", m)):
                rows.append(
                    {
                        "metric": f"{prefix}{ext} {label} bytes, not gzipped / gzipped",
                        "value": f"{res[key]['bytes']:,} / {res[key + '_gz']['bytes']:,}",
                        "unit": "B",
                    }
                )
        for ext, res in (("GeoJSON", g), ("MVT", m)):
            rows.append(
                {
                    "metric": f"{prefix}{ext} start: routing index in service (s after start) / warm-up took",
                    "value": f"{res['routing_s']['s']:.1f} / {res['warmup_s']['s']:.1f}"
                    + (" (warm-up done first)" if res["warm_before"]["s"] else ""),
                    "unit": "s",
                }
            )
            rows.append(
                {"metric": f"{prefix}{ext} serving process RSS", "value": round(res["rss_mb"]["s"]), "unit": "MB"}
            )
    if tipg is not None:
        m = results[("PostGIS", "mvt")]
        rows.append(_row("tipg MVT micro-grids S0 (24 tiles), cold, fresh start", tipg["cold"]))
        rows.append(
            _row("gridgis MVT micro-grids S0, cold, after a start", m["start_micro"], peer=tipg["cold"], name="tipg")
        )
        rows.append(
            _row("gridgis MVT micro-grids S0, cold, nothing loaded", m["bare_micro"], peer=tipg["cold"], name="tipg")
        )
        rows.append(_row("tipg MVT micro-grids S0, again (warm)", tipg["again"]))
        rows.append(_row("gridgis MVT micro-grids S0, cached", m["cached_micro"], peer=tipg["again"], name="tipg"))
        gz, tgz = m["cached_micro_gz"]["bytes"], tipg["gz"]["bytes"]
        rows.append({"metric": "tipg MVT micro-grids S0 bytes gzipped", "value": tgz, "unit": "B"})
        rows.append(
            {
                "metric": "gridgis MVT micro-grids S0 bytes gzipped",
                "value": gz,
                "unit": "B",
                "peer": f"tipg {tgz:,}",
                "ratio": round(gz / tgz, 3) if tgz else "",
            }
        )
        rows.append(
            {
                "metric": "bytes not gzipped: gridgis / tipg",
                "value": f"{m['cached_micro']['bytes']:,} / {tipg['again']['bytes']:,}",
                "unit": "B",
            }
        )
    for r in rows:
        r["benchmark"] = f"tiles/{scale}"
        r.setdefault("peer", "")
        r.setdefault("ratio", "")
    return rows


def _row(metric: str, res: dict, peer: dict | None = None, name: str = "GeoJSON") -> dict:
    """A timed row: wall seconds, with the process's CPU seconds and the load average; against ``peer``."""
    row = {"metric": f"{metric} (cpu {res['cpu']:.2f} s, load {res['load']})", "value": round(res["s"], 3), "unit": "s"}
    if peer is not None:
        row["peer"] = f"{name} {peer['s']:.3f} s (cpu {peer['cpu']:.2f} s)"
        row["ratio"] = round(res["s"] / peer["s"], 3) if peer["s"] else ""
    return row


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.tiles --scale city --nothing-loaded [--rounds N]``: only the *nothing loaded* passes
    (S0's micro-grids, S2's six layers; GeoJSON and MVT, a fresh server each) on the SQLite store, ``N`` times."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.tiles")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--nothing-loaded", action="store_true", required=True)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    repo, _ = _store(args.scale)
    screens = {name: screen_tiles(repo, shift=shift) for name, shift in SCREENS.items()}
    for i in range(args.rounds):
        for ext in ("geojson", "mvt"):
            for key, res in nothing_loaded(repo.url, screens, ext).items():
                print(
                    f"round {i + 1} SQLite {ext} {LABELS[key]}: {res['s']:.2f} s wall, {res['cpu']:.2f} s CPU, "
                    f"load {res['load']}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
