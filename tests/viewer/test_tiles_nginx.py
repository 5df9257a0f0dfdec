"""The nginx cache of docs/scaling.md in front of a real uvicorn: a tile asked for by its generation is
served from nginx's cache the second time; one without it always reaches gridgis."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from gridgis.maps.tiles import tile_for

NGINX = "/usr/sbin/nginx"
DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def _location_block() -> str:
    """The ``location /tiles/`` block of the nginx snippet in docs/scaling.md, as documented."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"(location /tiles/ \{.*?\n\})", text, re.DOTALL)
    assert found, "docs/scaling.md has no nginx `location /tiles/` block"
    return found.group(1)


@pytest.fixture
def nginx(tmp_path, live_server):
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed (Debian package nginx)")
    port = free_port()
    upstream = live_server.url.removeprefix("http://")
    for d in ("cache", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir()
    conf = tmp_path / "nginx.conf"
    # as root nginx's workers would run as nobody, who cannot enter pytest's private temporary folder
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""{user}worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    upstream gridgis {{ server {upstream}; }}
    proxy_cache_path {tmp_path}/cache levels=1:2 keys_zone=gridgis_tiles:10m max_size=50m inactive=7d
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://gridgis; }}
        {_location_block()}
    }}
}}
"""
    )
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "nginx exited"
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_nginx_caches_tiles_asked_for_by_their_generation_and_passes_the_others(nginx):
    with httpx.Client(base_url=nginx, timeout=20) as client:
        gen = client.get("/viewer/meta").json()["generation"]
        x, y = tile_for(121.505, 31.232, 15)
        path = f"/tiles/micro_grids/15/{x}/{y}.mvt?g={gen}"
        first, second = client.get(path), client.get(path)
        assert first.status_code == second.status_code == 200
        assert first.headers["x-cache-status"] == "MISS" and second.headers["x-cache-status"] == "HIT"
        assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
        plain = f"/tiles/micro_grids/15/{x}/{y}.mvt"
        assert {client.get(plain).headers.get("x-cache-status") for _ in range(2)} <= {"MISS", "BYPASS", "EXPIRED"}
