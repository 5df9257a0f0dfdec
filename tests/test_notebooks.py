"""The walkthrough notebooks run top to bottom (nbclient, the venv's python3 kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_walkthroughs_for_each_topic():
    names = " ".join(p.stem for p in NOTEBOOKS)
    for topic in ("load_and_check", "align", "route", "map_the_stations", "people"):
        assert topic in names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # seen: the notebooks printed file paths only; each now shows a map (folium, inline) or a chart (matplotlib)
    shown = [o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    maps = [d for d in shown if "leaflet" in str(d.get("text/html", "")).lower()]
    charts = [d for d in shown if "image/png" in d]
    assert maps or charts, f"{path.name} shows no map and no chart"
