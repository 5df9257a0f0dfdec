"""API routes: editing operations, versions, history and auth. Thin: parse, call the library, answer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
