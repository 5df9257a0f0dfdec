"""Import a file as a layer: read, convert to EPSG:4326, clean, normalise and validate — or refuse.

:func:`import_layer` is what ``gridgis import`` and the API call. It returns a layer frame
that :func:`gridgis.layers.check_frame` accepts (so it can be stored) and an
:class:`ImportReport`. Without ``repair`` any problem refuses the whole import with a
:class:`~gridgis.errors.ValidationError` listing every problem (and carrying the report);
nothing is returned, so nothing can be half-stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.crs import SourceCRS
from gridgis.errors import Problem, ValidationError
from gridgis.io.clean import clean_features
from gridgis.io.readers import gpkg_layers, read_features, source_format
from gridgis.io.shapefile import from_shapefile_names, join_continued
from gridgis.io.source import FEATURE_COLUMN
from gridgis.layers import get_spec, normalize_frame, validate_frame

#: problem kinds :func:`clean_features` already reports (with the feature's index) for every layer
_CLEAN_KINDS = {"duplicate_code", "invalid_geometry", "out_of_area", "wrong_geometry_type"}


@dataclass
class ImportReport:
    """What an import found and did.

    ``problems`` are the problems that refuse the import (empty on success); ``repairs`` what
    ``repair=True`` fixed or dropped; ``read``/``kept`` count features in and out.
    """

    path: str
    layer: str
    source_crs: str
    read: int = 0
    kept: int = 0
    problems: list[Problem] = field(default_factory=list)
    repairs: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __iter__(self):
        return iter([*self.problems, *self.repairs])

    def __len__(self) -> int:
        return len(self.problems) + len(self.repairs)

    def counts(self) -> dict[str, int]:
        """How many problems (found or repaired) of each kind."""
        out: dict[str, int] = {}
        for p in self:
            out[p.kind] = out.get(p.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "layer": self.layer,
            "source_crs": self.source_crs,
            "read": self.read,
            "kept": self.kept,
            "problems": [p.to_dict() for p in self.problems],
            "repairs": [p.to_dict() for p in self.repairs],
        }


def code_text(value: object) -> object:
    """A code as text: integer-valued numbers lose their ``.0``; missing stays ``None``.

    >>> code_text(110105001000.0), code_text("011"), code_text(None)
    ('110105001000', '011', None)
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value).strip()


def apply_mapping(
    frame: gpd.GeoDataFrame, mapping: dict[str, str] | None, *, shapefile: bool = False
) -> gpd.GeoDataFrame:
    """Rename source columns to layer fields; ``mapping`` is ``{source column: field}``.

    Shapefile column names shortened by gridgis's writer are restored first (see
    :mod:`gridgis.io.shapefile`). A mapping naming a column that is absent is an error.
    """
    if mapping:
        missing = [c for c in mapping if c not in frame.columns]
        if missing:
            raise ValidationError(
                f"mapping names column(s) {missing} that the file does not have; "
                f"its columns are {[c for c in frame.columns if c != frame.geometry.name]}"
            )
        frame = frame.rename(columns=dict(mapping))
    if shapefile:
        restore = {k: v for k, v in from_shapefile_names(list(frame.columns)).items() if v not in frame.columns}
        frame = frame.rename(columns=restore)
    return frame


def _require_columns(frame: gpd.GeoDataFrame, spec, path: object) -> None:
    """``code`` and ``name`` must be there (after the mapping): say how to map them if not."""
    missing = [c for c in ("code", "name") if c not in frame.columns]
    if missing:
        columns = [c for c in frame.columns if c not in (frame.geometry.name, FEATURE_COLUMN)]
        raise ValidationError(
            f"{path}: no {' or '.join(repr(m) for m in missing)} column for {spec.name} "
            f"({spec.label_zh}); the file has {columns} — map one with "
            "mapping={'源列': 'code'} / --map 源列=code"
        )


def unknown_parents(spec, frame: gpd.GeoDataFrame, known: set[str] | frozenset[str]) -> list[Problem]:
    """Features whose parent code (``spec.parent_field``) is not among ``known`` codes.

    An empty parent (a building outside every compound) is not checked.

    >>> import geopandas as gpd, shapely
    >>> from gridgis.layers import get_spec
    >>> f = gpd.GeoDataFrame({"code": ["110105001001"], "name": ["甲"], "street_code": ["110105009000"]},
    ...                      geometry=[shapely.box(116.4, 39.9, 116.41, 39.91)], crs=4326)
    >>> [p.kind for p in unknown_parents(get_spec("communities"), f, {"110105001000"})]
    ['unknown_parent']
    """
    field_name = spec.parent_field
    if not field_name or field_name not in frame.columns:
        return []
    out = []
    for code, name, parent in zip(frame["code"], frame["name"], frame[field_name], strict=True):
        if parent is None or (isinstance(parent, float) and np.isnan(parent)) or str(parent) in known:
            continue
        label = f"{code} ({name})" if name else str(code)
        out.append(
            Problem(
                f"{field_name}={parent} is not a known {spec.parent_layer or 'street or community'} "
                "code; import the parent layer first or fix the code",
                feature=label,
                layer=spec.name,
                kind="unknown_parent",
            )
        )
    return out


def import_layer(
    path: str | Path,
    layer: str,
    crs: str | int | SourceCRS | None,
    repair: bool = False,
    encoding: str | None = None,
    mapping: dict[str, str] | None = None,
    *,
    table: str | None = None,
    parent_codes: set[str] | frozenset[str] | None = None,
    **options,
) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """Read ``path`` as ``layer``, in the source ``crs``, into a normalised layer frame (EPSG:4326).

    Parameters
    ----------
    path
        A ``.geojson``/``.json``, ``.gpkg``, ``.shp`` or ``.csv`` (points, lon/lat columns).
    layer
        The layer name (``streets``, ``communities``, ``compounds`` …).
    crs
        The CRS of the coordinates: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``.
        ``None`` only when the file declares its CRS; a disagreement is a :class:`~gridgis.errors.CRSError`.
    repair
        Close rings, make self-intersecting polygons valid, drop degenerate, empty and duplicate
        features, each reported in ``report.repairs``.
    encoding
        Text encoding of the file (``utf-8``, ``gbk`` …) when it is not UTF-8 / its ``.cpg``.
    mapping
        ``{source column: layer field}`` renames.
    table
        The GeoPackage table (default: the one named like ``layer``, or the only one).
    parent_codes
        The codes the parents may have (e.g. the stored streets when importing communities);
        a parent code outside them is an ``unknown_parent`` problem. ``None``: not checked.

    Returns
    -------
    (frame, report)
        The layer frame, ready for :func:`gridgis.layers.check_frame` and storage, and the report.

    Raises
    ------
    ValidationError
        Listing every problem (``exc.report`` is the :class:`ImportReport`); nothing is returned.
    MalformedInputError, CRSError
        For a file that cannot be read, or a missing/mismatched CRS.
    """
    spec = get_spec(layer)
    fmt = source_format(path)
    if fmt == "gpkg" and table is None and Path(path).exists() and layer in gpkg_layers(path):
        table = layer
    frame, src, raw = read_features(path, crs, encoding=encoding, table=table, **options)
    if fmt == "shp":
        frame = join_continued(frame, [f.name for f in spec.fields if f.type == "json"])
    frame = apply_mapping(frame, mapping, shapefile=fmt == "shp")
    _require_columns(frame, spec, path)
    for col in frame.columns:
        if col == "code" or str(col).endswith("_code"):
            frame[col] = frame[col].map(code_text).astype(object)
    report = ImportReport(path=str(path), layer=layer, source_crs=src.label, read=len(frame))
    cleaned = clean_features(frame, geometry=spec.geometry, notes=raw.notes, repair=repair, layer=layer, key="code")
    report.repairs = cleaned.repairs
    problems = list(cleaned.problems)
    out = cleaned.frame.drop(columns=[FEATURE_COLUMN]).reset_index(drop=True)
    try:
        out = normalize_frame(spec, out)
    except ValidationError as exc:
        exc.problems = problems + exc.problems
        report.problems = exc.problems
        exc.report = report  # type: ignore[attr-defined]
        raise
    problems += [p for p in validate_frame(spec, out) if p.kind not in _CLEAN_KINDS]
    if parent_codes is not None:
        problems += unknown_parents(spec, out, parent_codes)
    report.problems = problems
    report.kept = len(out) if not problems else 0
    if problems:
        error = ValidationError(
            f"{path}: {len(problems)} problem(s) in {spec.name} ({spec.label_zh}); nothing was "
            f"imported{'' if repair else ' — fix them, or pass repair=True / --repair for those that can be repaired'}",
            problems,
        )
        error.report = report  # type: ignore[attr-defined]
        raise error
    return out, report
