"""A Mapbox Vector Tile (version 2.1) encoder for points and polygons, vectorised with numpy.

Tiles are encoded here rather than with a per-vertex Python encoder because the cold path of a screen
of tiles is dominated by encoding: every coordinate of a tile goes through a handful of numpy calls
(projection, clipping, rounding, winding, zig-zag deltas, varints) and only the per-feature framing is
Python. The output decodes with any MVT reader (``mapbox-vector-tile``, Leaflet.VectorGrid).

Geometry arrives in lon/lat (EPSG:4326); it is projected to web-mercator, clipped to the tile plus a
buffer, and quantised to :data:`EXTENT` units per tile side, y pointing down (the specification's grid).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely

#: grid units per tile side
EXTENT = 4096
_R = 6378137.0
_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


def mercator(coords: np.ndarray) -> np.ndarray:
    """``(n, 2)`` lon/lat → web-mercator metres (latitude clamped to the mercator square)."""
    lon = np.radians(coords[:, 0])
    lat = np.radians(np.clip(coords[:, 1], -85.05112878, 85.05112878))
    return np.column_stack([_R * lon, _R * np.log(np.tan(np.pi / 4 + lat / 2))])


def varints(values: np.ndarray) -> bytes:
    """Protocol-buffer varints of non-negative integers below 2^35, concatenated."""
    a = np.asarray(values, dtype=np.uint64)
    if a.size == 0:
        return b""
    n = np.ones(a.shape, dtype=np.int64)
    for k in range(1, 5):
        n += a >= np.uint64(1 << (7 * k))
    out = np.empty(int(n.sum()), dtype=np.uint8)
    starts = np.cumsum(n) - n
    for k in range(5):
        has = n > k
        if not has.any():
            break
        byte = (a[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (n[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[has] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


@lru_cache(maxsize=4096)
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _zigzag(a: np.ndarray) -> np.ndarray:
    return ((a << 1) ^ (a >> 63)).astype(np.uint64)


def _value(value: object) -> bytes:
    """One ``Tile.Value`` message: text, boolean, whole number or double."""
    if isinstance(value, bool):
        return _varint(7 << 3) + _varint(int(value))
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return _varint(6 << 3) + _varint(((value << 1) ^ (value >> 63)) & (2**64 - 1))
    if isinstance(value, float):
        return _varint(3 << 3 | 1) + struct.pack("<d", value)
    return _field(1, str(value).encode("utf-8"))


def _polygon_commands(coords: np.ndarray, ring_offsets: np.ndarray, ring_feature: np.ndarray, exterior: np.ndarray):
    """Command integers of every ring (closing point dropped, repeats removed, wound as MVT wants),
    and the feature each integer belongs to."""
    pts = np.rint(coords).astype(np.int64)
    ring_of_point = np.repeat(np.arange(len(ring_offsets) - 1), np.diff(ring_offsets))
    last = np.zeros(len(pts), dtype=bool)
    last[ring_offsets[1:] - 1] = True  # the closing point repeats the first
    same = np.zeros(len(pts), dtype=bool)
    same[1:] = (pts[1:] == pts[:-1]).all(axis=1) & (ring_of_point[1:] == ring_of_point[:-1])
    keep = ~last & ~same
    pts, ring_of_point = pts[keep], ring_of_point[keep]
    k = np.bincount(ring_of_point, minlength=len(ring_offsets) - 1)
    good = k >= 3
    pts, ring_of_point = pts[good[ring_of_point]], ring_of_point[good[ring_of_point]]
    rings = np.flatnonzero(good)
    if len(rings) == 0:  # every ring collapsed at the grid's resolution
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    k = k[rings]
    exterior, ring_feature = exterior[rings], ring_feature[rings]
    starts = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    local = np.repeat(np.arange(len(rings)), k)  # ring (of the kept ones) of each point
    # surveyor's formula per ring, y down: exterior rings positive, interior negative
    nxt = np.arange(len(pts)) + 1
    nxt[starts + k - 1] = starts
    cross = pts[:, 0] * pts[nxt, 1] - pts[nxt, 0] * pts[:, 1]
    area = np.bincount(local, weights=cross, minlength=len(rings))
    flip = np.where(exterior, area < 0, area > 0)
    pos = np.arange(len(pts)) - starts[local]
    order = starts[local] + np.where(flip[local], k[local] - 1 - pos, pos)
    pts = pts[order]
    # deltas: the cursor runs on through a feature's rings and starts at 0 for each feature
    feature_of_point = ring_feature[local]
    delta = np.diff(pts, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    first = np.ones(len(pts), dtype=bool)
    first[1:] = feature_of_point[1:] != feature_of_point[:-1]
    delta[first] = pts[first]
    zz = _zigzag(delta)
    # each ring: MoveTo(1) x y, LineTo(k-1) pairs…, ClosePath
    length = 2 * k + 3
    block = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    out = np.empty(int(length.sum()), dtype=np.uint64)
    out[block] = _MOVE_TO | 1 << 3
    out[block + 3] = (_LINE_TO | (k - 1) << 3).astype(np.uint64)
    out[block + length - 1] = _CLOSE | 1 << 3
    slot = np.where(pos == 0, block[local] + 1, block[local] + 4 + 2 * (pos - 1))
    out[slot] = zz[:, 0]
    out[slot + 1] = zz[:, 1]
    return out, np.repeat(ring_feature, length)


def _point_commands(coords: np.ndarray, feature_of_point: np.ndarray):
    pts = np.rint(coords).astype(np.int64)
    delta = np.diff(pts, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    first = np.ones(len(pts), dtype=bool)
    first[1:] = feature_of_point[1:] != feature_of_point[:-1]
    delta[first] = pts[first]
    zz = _zigzag(delta)
    counts = np.bincount(feature_of_point)
    features = np.flatnonzero(counts)
    length = 1 + 2 * counts[features]
    block = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    out = np.empty(int(length.sum()), dtype=np.uint64)
    out[block] = (_MOVE_TO | counts[features] << 3).astype(np.uint64)
    start_of = np.zeros(len(counts), dtype=np.int64)
    start_of[features] = block
    first_point = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(pts)) - first_point[feature_of_point]
    slot = start_of[feature_of_point] + 1 + 2 * pos
    out[slot] = zz[:, 0]
    out[slot + 1] = zz[:, 1]
    return out, np.repeat(features, length)


def encode(
    layer: str,
    geoms: Sequence[shapely.Geometry] | np.ndarray,
    properties: Sequence[dict],
    bounds: tuple[float, float, float, float],
    buffer_px: int = 8,
) -> tuple[bytes, int]:
    """One MVT holding one layer named ``layer``: ``geoms`` (lon/lat) with their ``properties``, and how many
    features it holds.

    ``bounds`` is the tile's lon/lat box. Polygons are clipped to the tile plus ``buffer_px``
    (of 256); a polygon whose clip vanishes at the grid's resolution keeps its whole outline, so the
    tile holds every feature it was given, except those smaller than a grid unit everywhere (nothing to draw). Properties that are ``None`` are left out; lists and
    objects are sent as JSON text.
    """
    geoms = np.asarray(geoms, dtype=object)
    (x0, y0), (x1, y1) = mercator(np.array([bounds[:2], bounds[2:]], dtype=float))
    sx, sy = EXTENT / (x1 - x0), EXTENT / (y1 - y0)

    def to_grid(coords: np.ndarray) -> np.ndarray:
        m = mercator(coords)
        return np.column_stack([(m[:, 0] - x0) * sx, (y1 - m[:, 1]) * sy])

    keys: dict[str, int] = {}
    values: dict[tuple[type, object], int] = {}
    tag_ints: list[int] = []
    tag_owner: list[int] = []
    for i, props in enumerate(properties):
        for key, value in props.items():
            if value is None:
                continue
            if not isinstance(value, str | int | float | bool):  # lists and objects travel as JSON text
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            tag_ints += (keys.setdefault(key, len(keys)), values.setdefault((type(value), value), len(values)))
            tag_owner += (i, i)
    tags = [b""] * len(properties)
    _split(np.array(tag_ints, dtype=np.uint64), np.array(tag_owner, dtype=np.int64), tags)
    n = len(geoms)
    commands = [b""] * n
    kinds = np.zeros(n, dtype=np.int64)
    if n:
        grid = shapely.transform(geoms, to_grid)
        kind_names = shapely.get_type_id(grid)
        points = np.isin(kind_names, (0, 4))
        polygons = np.isin(kind_names, (3, 6))
        if not (points | polygons).all():
            raise ValueError(f"MVT tiles of {layer} hold points and polygons only")
        kinds[points], kinds[polygons] = 1, 3
        pad = EXTENT * buffer_px / 256.0
        if points.any():
            idx = np.flatnonzero(points)
            coords, owner = shapely.get_coordinates(grid[idx], return_index=True)
            ints, feature = _point_commands(coords, idx[owner])
            _split(ints, feature, commands)
        if polygons.any():
            idx = np.flatnonzero(polygons)
            clipped = shapely.clip_by_rect(grid[idx], -pad, -pad, EXTENT + pad, EXTENT + pad)
            usable = np.isin(shapely.get_type_id(clipped), (3, 6)) & ~shapely.is_empty(clipped)
            chosen = np.where(usable, clipped, grid[idx])
            ints, feature = _polygons(chosen, idx)
            _split(ints, feature, commands)
            empty = [i for i in idx if not commands[i]]
            if empty:  # clipped below a grid unit: the whole outline, so the feature is still there
                ints, feature = _polygons(grid[empty], np.asarray(empty))
                _split(ints, feature, commands)
    kept = [i for i in range(n) if commands[i]]  # a feature smaller than a grid unit is not drawn: left out
    features = b"".join(
        _field(2, _field(2, tags[i]) + _varint(3 << 3) + _varint(int(kinds[i])) + _field(4, commands[i])) for i in kept
    )
    body = (
        _varint(15 << 3)
        + _varint(2)
        + _field(1, layer.encode("utf-8"))
        + features
        + b"".join(_field(3, k.encode("utf-8")) for k in keys)
        + b"".join(_field(4, _value(v)) for _, v in values)
        + _varint(5 << 3)
        + _varint(EXTENT)
    )
    return _field(3, body), len(kept)


def _polygons(geoms: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Command integers of polygons (and multipolygons) ``geoms`` belonging to features ``owners``."""
    _, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 2:  # polygons only: one polygon per feature
        ring_offsets, polygon_offsets = offsets
        polygon_feature = np.arange(len(polygon_offsets) - 1)
    else:
        ring_offsets, polygon_offsets, multi_offsets = offsets
        polygon_feature = np.repeat(np.arange(len(multi_offsets) - 1), np.diff(multi_offsets))
    ring_polygon = np.repeat(np.arange(len(polygon_offsets) - 1), np.diff(polygon_offsets))
    exterior = np.zeros(len(ring_offsets) - 1, dtype=bool)
    exterior[polygon_offsets[:-1][np.diff(polygon_offsets) > 0]] = True
    ring_feature = np.asarray(owners)[polygon_feature[ring_polygon]]
    return _polygon_commands(coords, ring_offsets, ring_feature, exterior)


def _split(ints: np.ndarray, feature: np.ndarray, commands: list[bytes]) -> None:
    """Varint-encode ``ints`` once and hand each feature its run of bytes."""
    if len(ints) == 0:
        return
    data = varints(ints)
    size = np.ones(len(ints), dtype=np.int64)
    for k in range(1, 5):
        size += ints >= np.uint64(1 << (7 * k))
    ends = np.cumsum(size)
    change = np.flatnonzero(np.diff(feature)) + 1
    starts_i = np.concatenate([[0], change])
    ends_i = np.concatenate([change, [len(ints)]])
    byte_start = np.concatenate([[0], ends])[starts_i]
    byte_end = ends[ends_i - 1]
    for f, a, b in zip(feature[starts_i].tolist(), byte_start.tolist(), byte_end.tolist(), strict=True):
        commands[f] = data[a:b]
