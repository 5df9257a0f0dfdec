"""The real QGIS (Debian's, with PyQGIS) against a real ``gridgis serve`` with private reads.

One QGIS process (``qgis_driver.py`` under ``/usr/bin/python3``, offscreen) does everything a
district GIS planner does, and the tests check what it saw against the API and the store:

- every layer read through QGIS's OAPIF provider, with a Basic auth config (any user name, the
  token as password) made by QGIS's auth manager in a temporary profile: the same features
  with every field equal to the API's (structured fields as JSON text);
- without auth, or with a wrong token, QGIS gets a 401 whose status line says why;
- QGIS ≥ 3.32's save rebuilt with QGIS's own classes (whole feature, 6-decimal coordinates,
  every property echoed): an attribute change of a grid is stored without moving a vertex; a
  geometry change that opens a gap is refused, and the message QGIS raises names the gap;
- the GeoPackage round trip: a community exported, edited with QGIS's editing API, then
  ``gridgis edit import`` as a dry run and with ``--commit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gridgis.editing.testing import free_port
from tests.api.qgiskit import sample_store

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

DEBIAN_PYTHON = "/usr/bin/python3"
DRIVER = Path(__file__).with_name("qgis_driver.py")
GRIDGIS = str(Path(sys.executable).with_name("gridgis"))  # this checkout's gridgis
LAYERS = ["streets", "communities", "compounds", "buildings", "grids", "micro_grids", "stations"]
SG = "310115005039001"  # saved through the QGIS ≥ 3.32 sequence
GPKG_COMMUNITY, GPKG_GRID = "310115005045", "310115005045002"  # edited through the GeoPackage
TOKENS = {"planner": ("planner", ["310115005000"])}


def _qgis_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp), XDG_RUNTIME_DIR=str(tmp))
    return env


def _require_qgis(tmp: Path) -> None:
    if not Path(DEBIAN_PYTHON).exists():
        pytest.skip("no Debian python3 (QGIS's PyQGIS runs under it)")
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import qgis.core"], env=_qgis_env(tmp), capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("QGIS is not installed (apt-get install qgis python3-qgis): " + probe.stderr[-200:])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``gridgis serve`` (this checkout) on a free port over the sample city, reads private."""
    tmp = tmp_path_factory.mktemp("qgis")
    _require_qgis(tmp)
    db = tmp / "store.db"
    tokens = sample_store(db, TOKENS)
    url, port = f"sqlite:///{db}", free_port()
    env = {**os.environ, "GRIDGIS_PUBLIC_READS": "false", "GRIDGIS_PREWARM_ROUTING": "0"}
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen(
        [GRIDGIS, "serve", "--port", str(port), "--database-url", url, "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/conformance", timeout=2).status_code == 401:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gridgis serve did not start: " + (tmp / "serve.log").read_text()[-2000:])
        time.sleep(0.3)
    try:
        yield {"base": base, "tokens": tokens, "url": url, "tmp": tmp}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def api(served):
    token = served["tokens"]["planner"]
    with httpx.Client(base_url=served["base"], auth=httpx.BasicAuth("anyone", token), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def qgis(served, api):
    """Run every QGIS step once; ``{"qgis_version", "steps": {name: {"result", "log"}}}``."""
    tmp = served["tmp"]
    gpkg = tmp / "community.gpkg"
    export = _gridgis("edit", "export-community", GPKG_COMMUNITY, "--out", str(gpkg), "--database-url", served["url"])
    assert export.returncode == 0, export.stdout + export.stderr
    grid = api.get(f"/collections/grids/items/{GPKG_GRID}").json()["properties"]
    before = {layer: _api_features(api, layer) for layer in LAYERS}  # what the API said when QGIS read
    steps = {
        "anonymous": {"op": "read", "layers": ["grids"], "auth": None},
        "wrong_token": {"op": "read", "layers": ["grids"], "auth": "wrong"},
        "read": {"op": "read", "layers": LAYERS, "auth": "planner"},
        "save_attributes": {
            "op": "put332",
            "layer": "grids",
            "fid": SG,
            "set": {"name": "崂山二村第1网格（QGIS）", "households": 399},
            "auth": "planner",
        },
        "save_gap": {"op": "put332", "layer": "grids", "fid": SG, "move_vertex": [2, 25.0], "auth": "planner"},
        "gpkg": {
            "op": "gpkg_edit",
            "path": str(gpkg),
            "layer": "grids",
            "code": GPKG_GRID,
            "set": {"households": grid["households"] + 7, "name": "乳山二村第2网格（QGIS）"},
        },
    }
    job = {
        "base": served["base"],
        "profile": str(tmp / "profile"),
        "out": str(tmp / "qgis.json"),
        "auth": {"planner": served["tokens"]["planner"], "wrong": "ggt_000000000000.wrong"},
        "steps": list(steps.values()),
    }
    (tmp / "profile").mkdir()
    (tmp / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run(
        [DEBIAN_PYTHON, str(DRIVER), str(tmp / "job.json")],
        env=_qgis_env(tmp),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out = json.loads((tmp / "qgis.json").read_text(encoding="utf-8"))
    return {"version": out["qgis_version"], "steps": dict(zip(steps, out["steps"])), "gpkg": gpkg, "api": before}


def _gridgis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRIDGIS, *args], capture_output=True, text=True, timeout=300, check=False)


def _api_features(api, layer):
    out, url = {}, f"/collections/{layer}/items?limit=10000"
    while url:
        page = api.get(url).json()
        out.update({f["id"]: f for f in page["features"]})
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
    return out


def _rounded(coords, nd=7):
    if isinstance(coords[0], int | float):
        return [round(c, nd) for c in coords]
    return [_rounded(c, nd) for c in coords]


def test_without_auth_or_with_a_wrong_token_qgis_cannot_open_a_private_layer(qgis):
    for step in ("anonymous", "wrong_token"):
        assert qgis["steps"][step]["result"]["grids"]["valid"] is False, step
        # Qt answers any 401 with its own words, whatever the status line says (docs/qgis.md)
        assert "Host requires authentication" in " ".join(qgis["steps"][step]["log"]), qgis["steps"][step]


def test_every_layer_reads_in_qgis_with_basic_auth_and_every_field_equal_to_the_api(qgis):
    read = qgis["steps"]["read"]["result"]
    for layer in LAYERS:
        seen = read[layer]
        assert seen["valid"], (layer, seen)
        expected = qgis["api"][layer]
        assert set(seen["features"]) == set(expected), layer
        props = next(iter(expected.values()))["properties"]
        assert set(seen["fields"]) == {"id", *props}, (layer, seen["fields"])
        for fid, feature in expected.items():
            got = seen["features"][fid]
            want = {"id": fid, **feature["properties"]}
            assert got["attributes"] == want, (layer, fid)
            assert got["geometry"]["type"] == feature["geometry"]["type"]
            assert _rounded(got["geometry"]["coordinates"]) == _rounded(feature["geometry"]["coordinates"])
    workers = read["grids"]["features"][SG]["attributes"]
    assert json.loads(workers["workers"]) and workers["worker_count"] == len(json.loads(workers["workers"]))


def test_the_qgis_332_save_of_a_grid_attribute_change_is_stored_without_moving_a_vertex(qgis, served, api):
    step = qgis["steps"]["save_attributes"]["result"]
    assert step["status"] == 200, step
    sent = step["sent"]["geometry"]["coordinates"][0]
    assert all(len(repr(c).split(".")[1]) <= 6 for p in sent for c in p)  # QGIS wrote 6 decimals
    before = qgis["steps"]["read"]["result"]["grids"]["features"][SG]
    now = api.get(f"/collections/grids/items/{SG}").json()
    assert now["properties"]["name"] == "崂山二村第1网格（QGIS）" and now["properties"]["households"] == 399
    assert now["properties"]["workers"] == before["attributes"]["workers"]
    assert _rounded(now["geometry"]["coordinates"]) == _rounded(before["geometry"]["coordinates"])


def test_the_qgis_332_save_of_a_geometry_that_opens_a_gap_is_refused_with_a_message_qgis_shows(qgis, api):
    step = qgis["steps"]["save_gap"]["result"]
    assert step["status"] == 422, step
    message = step["qgis_message"]
    assert message.startswith("Put Feature request failed: Error transferring ")
    assert f"server replied: grids {SG} not saved (gap)" in message, message
    problems = json.loads(step["body"])["problems"]
    assert any(p["kind"] == "gap" for p in problems)
    assert api.get(f"/collections/grids/items/{SG}").json()["properties"]["version"] == 2


def test_a_geopackage_edited_with_qgis_imports_as_a_dry_run_then_with_commit(qgis, served, api):
    edit = qgis["steps"]["gpkg"]["result"]
    assert edit["ok"], edit
    before = api.get(f"/collections/grids/items/{GPKG_GRID}").json()["properties"]
    dry = _gridgis("edit", "import", str(qgis["gpkg"]), "--message", "QGIS 编辑", "--database-url", served["url"])
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert GPKG_GRID in dry.stdout and "dry run" in dry.stdout
    assert api.get(f"/collections/grids/items/{GPKG_GRID}").json()["properties"]["version"] == before["version"]
    done = _gridgis(
        "edit", "import", str(qgis["gpkg"]), "--message", "QGIS 编辑", "--commit", "--database-url", served["url"]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    after = api.get(f"/collections/grids/items/{GPKG_GRID}").json()["properties"]
    assert (after["name"], after["households"]) == ("乳山二村第2网格（QGIS）", before["households"] + 7)
    assert after["workers"] == before["workers"] and after["version"] == before["version"] + 1
