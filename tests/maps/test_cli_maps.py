"""The maps step of ``gridgis demo``: four offline maps and the coverage figures."""

from __future__ import annotations

from citykit import make_city, make_tickets

from gridgis.cli.demo import DemoContext
from gridgis.cli.maps import VIEWS, demo
from gridgis.io import write_city
from gridgis.maps.assets import external_urls


def test_demo_writes_every_view_offline_and_prints_coverage(tmp_path, capsys):
    city = make_city()
    write_city({**city, "tickets": make_tickets(city)}, tmp_path / "city")
    ctx = DemoContext(repository=None, data_dir=tmp_path / "city", out_dir=tmp_path / "out")
    demo(ctx)
    written = sorted(p.name for p in (tmp_path / "out").glob("map-*.html"))
    assert written == sorted(f"map-{v}.html" for v in VIEWS)
    for name in written:
        assert external_urls((tmp_path / "out" / name).read_text(encoding="utf-8")) == []
    out = capsys.readouterr().out
    assert "覆盖率" in out and "建议新" in out
    assert len(ctx.facts["maps"]) == len(VIEWS)
