"""Fixtures for the viewer: a real uvicorn on a free localhost port over a SQLite store holding the
test city, and headless Debian chromium (never a downloaded browser) that records every request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "maps"))

from citykit import make_city

from tests.live import LiveServer, free_port  # noqa: F401 - one live-server helper for the suite

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def city():
    return make_city()


@pytest.fixture(scope="session")
def store(tmp_path_factory, city):
    from gridgis.storage import Repository

    url = f"sqlite:///{tmp_path_factory.mktemp('viewer') / 'viewer.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="test city")
    return repo


@pytest.fixture(scope="session")
def live_server(store):
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    app = create_app(get_settings(database_url=store.url), store)
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Recorder:
    """Every request URL and every console error/page error of one page."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []

    def outside(self) -> list[str]:
        from urllib.parse import urlsplit

        return [
            u
            for u in self.requests
            if not (
                u.startswith(("file://", "data:", "blob:", "about:"))
                or urlsplit(u).hostname in ("127.0.0.1", "localhost")
            )
        ]


@pytest.fixture
def page(browser):
    """A page whose requests are all recorded; any request to a non-local host is aborted."""
    from urllib.parse import urlsplit

    context = browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN")
    pg = context.new_page()
    rec = Recorder()

    def route(r):
        url = r.request.url
        host = urlsplit(url).hostname
        if url.startswith(("file://", "data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    pg.on("request", lambda req: rec.requests.append(req.url))
    pg.on("console", lambda m: rec.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: rec.errors.append(str(e)))
    pg.recorder = rec
    yield pg
    context.close()
