"""Helpers shared by CLI modules: opening the store, progress bars, console output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


@contextmanager
def progress() -> Iterator[Progress]:
    """A progress bar for long steps (hidden when output is not a terminal)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        yield bar


def open_repository(database_url: str | None = None):
    """The repository for ``database_url`` or ``GRIDGIS_DATABASE_URL`` (default: local file), reading
    from ``GRIDGIS_DATABASE_READ_URL`` when that is set for this database."""
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    settings = get_settings()
    url = database_url or settings.database_url
    # the configured replica belongs to the configured primary only (not to another --database-url)
    return Repository(url, read_url=settings.database_read_url if url == settings.database_url else None)
