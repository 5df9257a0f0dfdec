"""GDAL/OGR reads every layer through its OAPIF driver, page by page (pyogrio's bundled GDAL).

GDAL runs in a child process: pyogrio holds the GIL while GDAL fetches pages, so a reader in the
server's own process would wait on itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyogrio
import pytest

from gridgis.editing.examples import tiny_city
from gridgis.editing.testing import editing_server

READER = r"""
import json, sys, pyogrio
base, page = sys.argv[1], sys.argv[2]
out = {}
for layer in pyogrio.list_layers(f"OAPIF:{base}/")[:, 0]:
    df = pyogrio.read_dataframe(f"OAPIF:{base}/", layer=str(layer), PAGE_SIZE=page)
    out[str(layer)] = {"codes": sorted(df["code"]), "crs": df.crs.to_string(), "bounds": list(df.total_bounds),
                       "version": int(df["version"].min())}
print(json.dumps(out))
"""


@pytest.mark.skipif("OAPIF" not in pyogrio.list_drivers(), reason="this GDAL has no OAPIF driver")
def test_gdal_reads_every_layer_through_oapif_with_paging(tmp_path):
    city = tiny_city()
    with editing_server(str(tmp_path / "g.db")) as (base, _, _):
        done = subprocess.run(
            [sys.executable, "-c", READER, base, "1"],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "CPL_DEBUG": "ON"},
        )
    assert done.returncode == 0, done.stderr[-2000:]
    layers = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(layers) == set(city)
    for name, frame in city.items():
        assert layers[name]["codes"] == sorted(frame["code"]), name
        assert layers[name]["crs"] in ("OGC:CRS84", "EPSG:4326") and layers[name]["version"] == 1
    # with one feature per page, the four grids took four requests, following the next links
    pages = [
        line
        for line in done.stderr.splitlines()
        if "Fetch(" in line and "/collections/grids/items" in line and "offset=" in line
    ]
    assert len(pages) == 3
