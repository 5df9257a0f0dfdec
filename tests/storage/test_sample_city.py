"""The committed sample city (data/geojson/) goes into the store and comes back unchanged."""

from __future__ import annotations

import pytest
import shapely

from gridgis.io import read_city


def test_sample_city_round_trips_through_the_store(repository, sample_dir):
    if not (sample_dir / "grids.geojson").exists():
        pytest.skip("the sample city has not been generated (gridgis sample-city)")
    city = read_city(sample_dir)
    city.pop("tickets", None)
    generation = repository.write_city(city, author="sample", message="样例城市")
    assert repository.counts() == {layer: len(city.get(layer, ())) for layer in repository.counts()}
    for layer, frame in city.items():
        back = repository.read_layer(layer)
        original = frame.sort_values("code").reset_index(drop=True)
        assert back["code"].tolist() == original["code"].tolist(), layer
        assert back["name"].tolist() == original["name"].tolist(), layer
        assert shapely.equals_exact(back.geometry.values, original.geometry.values, tolerance=0).all(), layer
    assert repository.write_city(city, author="sample") == generation  # nothing changed: no new generation
