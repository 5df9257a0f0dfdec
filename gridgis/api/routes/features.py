"""API routes: features. Thin: parse, call the library, answer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
