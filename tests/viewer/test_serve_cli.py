"""``gridgis serve`` starts uvicorn with the API and the viewer on the given store."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from conftest import free_port


def test_serve_answers_the_viewer_and_its_tiles(store, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridgis.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            store.url,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "gridgis serve did not start within 60 s"
            time.sleep(0.3)
        page = httpx.get(f"{base}/map")
        assert page.status_code == 200 and "/static/viewer.js" in page.text
        meta = httpx.get(f"{base}/viewer/meta").json()
        assert {m["name"]: m["count"] for m in meta["layers"]}["micro_grids"] == 8
    finally:
        proc.terminate()
        proc.wait(timeout=20)
