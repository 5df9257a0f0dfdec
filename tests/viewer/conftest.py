"""Fixtures for the viewer: a real uvicorn on a free localhost port over a SQLite store holding the
test city, and headless Debian chromium (never a downloaded browser) that records every request."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "maps"))

from citykit import make_city  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``create_app`` in a thread; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


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

        return [u for u in self.requests if not (u.startswith(("file://", "data:", "blob:", "about:"))
                                                 or urlsplit(u).hostname in ("127.0.0.1", "localhost"))]


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
