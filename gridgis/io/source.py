"""What every reader returns: the raw features of a file and what the file says about itself.

A reader never guesses. It returns a :class:`RawSource`: the features with their geometry in
the *source* coordinates, the CRS the file declares (or ``None``), and the problems it found
while parsing (unclosed or degenerate rings). :func:`resolve_crs` then decides the source CRS
from the declared one and the one the user gave, and :func:`to_storage_frame` converts the
features to EPSG:4326 with :func:`gridgis.crs.to_storage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyproj

from gridgis.crs import SourceCRS, china_from_proj, parse_crs, to_storage
from gridgis.errors import CRSError, MalformedInputError, Problem

#: the column every raw frame carries: the feature's position in the source (0-based)
FEATURE_COLUMN = "_feature"


@dataclass
class RawSource:
    """Features read from one file, before any CRS conversion or cleaning.

    ``frame`` holds the attributes as read, a ``_feature`` column (the position of the
    feature in the file, used to name it in problems) and the geometry in the source
    coordinates (no CRS set). ``declared`` is the CRS the file declares, ``None`` when it
    declares none. ``notes`` are the problems found while parsing (``unclosed_ring``,
    ``degenerate``), each naming the feature.
    """

    path: str
    frame: gpd.GeoDataFrame
    declared: SourceCRS | None = None
    notes: list[Problem] = field(default_factory=list)
    #: the CRS the format implies when the file declares none (GeoJSON: WGS84, RFC 7946); a given CRS overrides it
    implied: SourceCRS | None = None


def feature_label(index: int, code: object = None, name: object = None) -> str:
    """How import problems name a feature: ``#12`` plus its code and name when known.

    >>> feature_label(12, "110105001000", "建外街道")
    '#12 110105001000 (建外街道)'
    >>> feature_label(3)
    '#3'
    """
    out = f"#{index}"
    if code is not None and str(code).strip() and str(code) != "nan":
        out += f" {code}"
    if name is not None and str(name).strip() and str(name) != "nan":
        out += f" ({name})"
    return out


def declared_from_proj(crs: object, path: str) -> SourceCRS | None:
    """The :class:`SourceCRS` a PROJ CRS declared by a file stands for (``None`` when none is declared)."""
    if crs is None:
        return None
    china = china_from_proj(crs)  # GCJ-02/BD-09 as gridgis labels them (before EPSG: they look like 4326)
    if china is not None:
        return parse_crs(china)
    try:
        proj = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"{path}: the file declares a CRS that PROJ cannot read ({crs!r}); fix the file's CRS or re-export it"
        ) from exc
    epsg = proj.to_epsg(min_confidence=70)
    if epsg is None and proj.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        epsg = 4326  # OGC:CRS84, lon/lat WGS84
    if epsg is None:
        raise CRSError(
            f"{path}: the file declares a CRS without an EPSG code ({proj.name}); "
            "re-export it in an EPSG CRS or in lon/lat"
        )
    return parse_crs(f"EPSG:{epsg}")


def resolve_crs(
    declared: SourceCRS | None,
    given: str | int | SourceCRS | None,
    path: str,
    implied: SourceCRS | None = None,
) -> SourceCRS:
    """The source CRS to convert from, never guessed.

    - nothing given: the declared CRS, else the one the format implies (GeoJSON: WGS84, RFC 7946);
    - nothing given, declared or implied: :class:`CRSError`;
    - nothing given: the declared CRS;
    - given and declared: they must agree. GCJ-02 and BD-09 are lon/lat systems that no file
      format can declare, so a file declaring WGS84/CGCS2000 lon/lat may hold them when the
      user says so; any other disagreement is a :class:`CRSError`.

    >>> resolve_crs(None, "gcj02", "a.csv").label
    'gcj02'
    >>> resolve_crs(parse_crs("EPSG:4549"), None, "a.shp").label
    'EPSG:4549'
    """
    if given is None or (isinstance(given, str) and not given.strip()):
        if declared is None and implied is not None:
            return implied
        if declared is None:
            raise CRSError(
                f"{path}: the file does not say which CRS its coordinates are in and none was given; "
                "pass crs= / --crs (wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn)"
            )
        return declared
    src = given if isinstance(given, SourceCRS) else parse_crs(given)
    if declared is None or declared == src:
        return src
    if declared.china == "wgs84" and src.china in ("gcj02", "bd09"):
        return src
    raise CRSError(
        f"{path}: the file declares {declared.label} but {src.label} was given; "
        "check which one the coordinates really are in"
    )


def to_storage_frame(raw: RawSource, given: str | int | SourceCRS | None) -> tuple[gpd.GeoDataFrame, SourceCRS]:
    """Convert the raw features to EPSG:4326 lon/lat; return the frame and the source CRS used."""
    src = resolve_crs(raw.declared, given, raw.path, raw.implied)
    frame = raw.frame.set_crs(None, allow_override=True) if raw.frame.crs is not None else raw.frame
    return to_storage(frame, src), src


def read_text(path: str | Path, encoding: str | None = None) -> str:
    """The text of ``path``: UTF-8 (a BOM is allowed) unless ``encoding`` is given.

    Text that is not valid in the encoding is a :class:`MalformedInputError` saying where
    and what to do, never a silent replacement.
    """
    data = Path(path).read_bytes()
    return decode_text(data, str(path), encoding)


def decode_text(data: bytes, what: str, encoding: str | None = None) -> str:
    """Decode ``data`` strictly (see :func:`read_text`)."""
    enc = encoding or "utf-8-sig"
    try:
        return data.decode(enc)
    except LookupError:
        raise MalformedInputError(f"{what}: unknown text encoding {encoding!r}; use e.g. utf-8 or gbk") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = (
            "give the right encoding (e.g. encoding='gbk' / --encoding gbk for Chinese text from older Windows tools)"
            if encoding is None
            else "check the encoding you gave"
        )
        raise MalformedInputError(
            f"{what}: text is not valid {enc.replace('-sig', '')} at byte {exc.start} (line {line}); {hint}",
            [
                Problem(
                    f"byte {data[exc.start : exc.start + 1]!r} cannot be decoded as {enc.replace('-sig', '')}",
                    feature=f"line {line}",
                    kind="bad_encoding",
                )
            ],
        ) from None
