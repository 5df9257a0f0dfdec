"""A new user's first hour: ``pip install`` the package, then ``gridgis demo`` in an empty folder."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pip_install_then_demo_works_in_an_empty_folder(tmp_path):
    """Seen: outside the checkout the demo printed an empty table, "No problems found", then failed with
    "grids: no layer given" (the sample city was not part of the package)."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("gridgis-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the dependencies come from this environment (a plain path: its editable gridgis is not picked up)
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    empty = tmp_path / "somewhere"
    empty.mkdir()
    where = subprocess.run(
        [str(py), "-c", "import gridgis; print(gridgis.__file__)"],
        cwd=empty,
        capture_output=True,
        text=True,
        check=False,
    )
    assert str(venv) in where.stdout, where  # the installed package, not the checkout
    run = subprocess.run(
        [str(venv / "bin" / "gridgis"), "demo"], cwd=empty, capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "generating the sample city" in run.stdout and "no layer given" not in run.stdout + run.stderr
    assert "gridgis serve --database-url" in run.stdout  # the demo says how to see it
    assert (empty / "demo" / "gridgis-demo.db").exists() and (empty / "demo" / "map-overview.html").exists()
