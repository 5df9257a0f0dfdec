"""Small FastAPI dependencies shared by routers (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from gridgis.settings import Settings


def get_repository(request: Request) -> Any:
    return request.app.state.repository


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RepositoryDep = Annotated[Any, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
