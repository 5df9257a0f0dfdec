"""Small FastAPI dependencies shared by routers (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gridgis.settings import Settings
from gridgis.storage.protocol import Repository


async def get_repository(request: Request) -> Repository:
    """The store the app was built with (typed by the :class:`~gridgis.storage.protocol.Repository` protocol)."""
    return request.app.state.repository


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RepositoryDep = Annotated[Repository, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
