"""Diffs as changed pieces, with the households and tickets they affect."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from shapely.geometry import Point, box

from gridgis.editing import service
from gridgis.editing.history import changed_piece, diff_geojson, tickets_frame
from gridgis.editing.operations import move_boundary
from gridgis.sample.tiny import COMMUNITY_A
from tests.support.editing import seeded_repository

G1, G2 = COMMUNITY_A + "001", COMMUNITY_A + "002"


def test_the_changed_piece_of_a_moved_boundary_is_the_strip_between_old_and_new():
    piece = changed_piece("changed", box(0, 0, 2, 1), box(0, 0, 3, 1))
    assert piece.equals(box(2, 0, 3, 1))
    assert changed_piece("changed", box(0, 0, 1, 1), box(0, 0, 1, 1)) is None
    assert changed_piece("added", None, box(0, 0, 1, 1)).equals(box(0, 0, 1, 1))


def test_a_diff_names_households_and_tickets_in_the_strip_that_changed_hands(tmp_path):
    repo = seeded_repository(f"sqlite:///{tmp_path / 'g.db'}")
    now = datetime.now(UTC)
    with repo.engine.begin() as conn:
        for lon in (116.4065, 116.4095):  # one ticket in the strip, one outside
            conn.execute(
                sa.text(
                    "INSERT INTO tickets (status, matter_code, channel, lon, lat, geometry, level, received_at, "
                    "updated_at) VALUES ('received', 'A01', 'hotline', :lon, 39.905, :g, 'small', :t, :t)"
                ),
                {"lon": lon, "g": Point(lon, 39.905).wkb, "t": now.replace(tzinfo=None)},
            )
    grids = repo.read_layer("grids", codes=[G1, G2])
    gen = service.commit(repo, move_boundary(grids, G1, G2, box(116.400, 39.900, 116.4075, 39.910)), "规划", "m")
    diff = repo.diff(1, gen.id)
    pieces = diff_geojson(diff, repo.read_layer("buildings"), tickets_frame(repo.engine, (116.4, 39.9, 116.41, 39.91)))
    by_code = {f["properties"]["code"]: f["properties"] for f in pieces["features"]}
    assert by_code[G1]["households_affected"] == 150 and by_code[G1]["tickets_affected"] == 1
    assert by_code[G1]["changed_properties"] == ["households"] and by_code[G1]["geometry_changed"] is True
    repo.dispose()
