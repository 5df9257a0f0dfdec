"""Request bodies: the one place where a body's size and JSON nesting are limited and JSON is parsed.

Two layers call the same rules:

- :class:`gridgis.api.middleware.InputLimitMiddleware` reads every request body (up to
  ``settings.max_body_bytes``; beyond that 413, chunked or not) and refuses a JSON body nested
  deeper than ``settings.max_json_depth`` with 400, before any route sees it; so FastAPI's own
  body models are covered too.
- :func:`read_json_body` is what every router that parses a body by hand calls: media type (415),
  size (413), depth (400) and syntax (400), in that order.

The depth is measured without parsing (strings removed, brackets counted), so a 100,000-deep
array costs a few milliseconds instead of a ``RecursionError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from fastapi import Request

from gridgis.errors import MalformedInputError, PayloadTooLargeError

#: default nesting limit of JSON bodies (a GeoJSON MultiPolygon in a FeatureCollection is 7 deep)
DEFAULT_MAX_JSON_DEPTH = 64
#: JSON media types (and ``+json`` suffixes) whose bodies are depth-checked
JSON_KINDS = ("application/json", "application/geo+json", "application/merge-patch+json")

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def is_json_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` names JSON (``application/json``, ``…+json``)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind in JSON_KINDS or kind.endswith("+json")


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar).

    Brackets inside strings do not count. Malformed text gives some number; the parser then
    reports the syntax error.

    >>> json_depth(b'{"a": [[1, "]]"], {"b": 2}]}')
    3
    >>> json_depth(b"[" * 5 + b"]" * 5)
    5
    """
    stripped = _STRING.sub(b'""', raw) if b'"' in raw else raw
    arr = np.frombuffer(stripped, dtype=np.uint8)
    if arr.size == 0:
        return 0
    step = np.isin(arr, _OPEN).astype(np.int32) - np.isin(arr, _CLOSE).astype(np.int32)
    return int(max(0, np.cumsum(step).max()))


def check_json_depth(raw: bytes, max_depth: int) -> None:
    """:class:`MalformedInputError` (400) when ``raw`` nests deeper than ``max_depth``."""
    depth = json_depth(raw)
    if depth > max_depth:
        raise MalformedInputError(f"the JSON body is nested {depth} levels deep; the limit is {max_depth}")


def parse_json(raw: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body: depth first (400), then UTF-8 and syntax (400)."""
    check_json_depth(raw, max_depth)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInputError(f"the body is not valid UTF-8 JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise MalformedInputError(f"the JSON body holds a value that cannot be read: {str(exc)[:200]}") from None
    except RecursionError:  # a lower interpreter limit than max_depth
        raise MalformedInputError("the JSON body is nested too deeply") from None


async def read_body(request: Request) -> bytes:
    """The raw body, refusing more than ``settings.max_body_bytes`` (413) as it streams in."""
    limit = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body has {declared} bytes; the limit is {limit}")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
    return bytes(raw)


async def read_json_body(
    request: Request, kinds: tuple[str, ...] = ("application/json",), optional: bool = False
) -> Any:
    """The JSON body of ``request``: wrong media type 415, oversize 413, too deep or malformed 400;
    with ``optional``, ``None`` for a body left out (empty or blank, whatever its media type).

    Every router that reads a JSON body by hand calls this (never ``json.loads`` or
    ``request.json()`` directly).
    """
    raw = await read_body(request) if optional else None
    if raw is not None and not raw.strip():
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in kinds:
        from starlette.exceptions import HTTPException

        raise HTTPException(415, f"send the body as {' or '.join(kinds)}, not {ctype or 'no content type'}")
    if raw is None:
        raw = await read_body(request)
    return parse_json(raw, max_json_depth(request))


def max_json_depth(request: Request) -> int:
    """The app's JSON nesting limit (``settings.max_json_depth``), for :func:`parse_json` of a
    body that had to be read raw first (e.g. to check a signature over its bytes)."""
    return int(getattr(request.app.state.settings, "max_json_depth", DEFAULT_MAX_JSON_DEPTH))
