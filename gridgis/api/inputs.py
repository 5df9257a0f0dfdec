"""Parameter limits checked once for every route (an app-wide FastAPI dependency).

Runs after routing, before the route's own parameters are validated, so it knows each
parameter's name and declared type:

- a path or query parameter declared as an integer must fit the storage range (a signed
  64-bit integer): ``/tickets/11767895621491297676689408`` is a 400 naming ``ticket_id``,
  not an overflow deep in the database driver;
- a ``limit`` must be at least 1;
- a NUL byte in a path parameter is a 400 naming it (the middleware refuses NUL bytes in the
  query string and raw path before routing; this names the parameter of a decoded path).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from fastapi import Request

from gridgis.errors import GridGISError

#: the storage range of integers (PostgreSQL bigint, SQLite INTEGER)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INTEGER = re.compile(r"[+-]?\d+")


class BadParameterError(GridGISError):
    """A path or query parameter out of its range (HTTP 400, naming the parameter)."""

    status = 400
    title = "Bad request"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"parameter {parameter!r}: {message}")
        self.parameter = parameter


def _is_int_type(annotation: Any) -> bool:
    if annotation is int:
        return True
    if annotation is bool or annotation is None:
        return False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_int_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        return any(_is_int_type(a) for a in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, int) and not issubclass(annotation, bool)


_CACHE: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


def _int_parameters(route: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(path, query) names declared as integers by ``route`` and its dependencies."""
    key = id(route)
    found = _CACHE.get(key)
    if found is None:
        path: set[str] = set()
        query: set[str] = set()
        todo = [getattr(route, "dependant", None)]
        while todo:
            dependant = todo.pop()
            if dependant is None:
                continue
            for field in dependant.path_params:
                if _is_int_type(field.field_info.annotation):
                    path.add(field.alias)
            for field in dependant.query_params:
                if _is_int_type(field.field_info.annotation):
                    query.add(field.alias)
            todo.extend(dependant.dependencies)
        found = _CACHE[key] = (frozenset(path), frozenset(query))
    return found


def check_integer(name: str, raw: object) -> None:
    """:class:`BadParameterError` when ``raw`` is an integer outside the storage range."""
    if isinstance(raw, bool):
        return
    if isinstance(raw, str):
        text = raw.strip()
        if not _INTEGER.fullmatch(text):
            return  # not an integer: FastAPI's validation names it
        if len(text.lstrip("+-")) > 25:
            raise BadParameterError(name, f"{text[:30]}… is outside the range of stored integers")
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    else:
        return
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadParameterError(name, f"{value} is outside the range of stored integers ({INT64_MIN}..{INT64_MAX})")
    if name == "limit" and value < 1:
        raise BadParameterError(name, f"{value} is not a positive number of items")


async def guard_parameters(request: Request) -> None:
    """The app-wide dependency: see the module docstring."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadParameterError(name, "contains a NUL byte")
    route = request.scope.get("route")
    if route is None:
        return
    path_ints, query_ints = _int_parameters(route)
    for name in path_ints:
        if name in request.path_params:
            check_integer(name, request.path_params[name])
    for name in query_ints:
        for value in request.query_params.getlist(name):
            check_integer(name, value)
