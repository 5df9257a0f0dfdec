"""Fixtures of the people tests: a small synthetic city in a store (SQLite or PostGIS) with a few people.

The city is written once per session into a template SQLite file that each test copies, and one
:class:`~gridgis.people.placement.Placer` (routing index) is shared: both depend only on the city.
"""

from __future__ import annotations

import shutil

import pytest

from gridgis.routing.synthetic import synthetic_city


@pytest.fixture(scope="session")
def small_city():
    """One street, one community, 4 grids, 12 micro-grids, one compound (梅园一村) with 6 buildings of 2 units."""
    return synthetic_city(2, 2, micro=2, per_community=2)


@pytest.fixture(scope="session")
def small_placer(small_city):
    from gridgis.people.placement import Placer

    return Placer(small_city)


@pytest.fixture(scope="session")
def people_template(tmp_path_factory, sqlite_template, small_city, small_placer):
    """A SQLite file with the schema, the small city and its party tree."""
    from gridgis.people.store import PeopleStore
    from gridgis.storage import Repository

    path = tmp_path_factory.mktemp("people") / "template.db"
    shutil.copyfile(sqlite_template, path)
    repo = Repository(f"sqlite:///{path}")
    repo.write_city(small_city, author="test", message="small city")
    PeopleStore(repo, placer=small_placer).sync_orgs()
    repo.dispose()
    import sqlite3

    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def people_store(people_template, small_placer, tmp_path):
    """A fresh SQLite store (a copy of the template) with the small city and its organisations."""
    from gridgis.people.store import PeopleStore
    from gridgis.storage import Repository

    path = tmp_path / "people.db"
    shutil.copyfile(people_template, path)
    repo = Repository(f"sqlite:///{path}")
    yield PeopleStore(repo, placer=small_placer)
    repo.dispose()


def add(store, **person):
    """Add one person through the one rule; return its id."""
    return store.add_persons([store.person_row(**person)])[0]
