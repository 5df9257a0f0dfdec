"""The spatial model: one module per layer, a registry, and the hierarchy checks.

>>> from gridgis.layers import LAYERS, get_spec
>>> list(LAYERS)
['streets', 'communities', 'compounds', 'buildings', 'grids', 'micro_grids', 'stations']
>>> get_spec("grids").label_zh
'网格'
"""

from __future__ import annotations

from gridgis.errors import NotFoundError
from gridgis.layers import building, community, compound, grid, micro_grid, station, street
from gridgis.layers.base import Field, LayerSpec, check_frame, empty_frame, normalize_frame, validate_frame

LAYERS: dict[str, LayerSpec] = {
    "streets": street.SPEC,
    "communities": community.SPEC,
    "compounds": compound.SPEC,
    "buildings": building.SPEC,
    "grids": grid.SPEC,
    "micro_grids": micro_grid.SPEC,
    "stations": station.SPEC,
}

#: parents first: the order to write, check and import layers in
LAYER_ORDER: tuple[str, ...] = tuple(LAYERS)


def get_spec(layer: str) -> LayerSpec:
    """The spec of ``layer``; :class:`NotFoundError` naming the known layers otherwise."""
    try:
        return LAYERS[layer]
    except KeyError:
        raise NotFoundError(f"unknown layer {layer!r}; known layers: {', '.join(LAYERS)}") from None


__all__ = [
    "LAYERS",
    "LAYER_ORDER",
    "Field",
    "LayerSpec",
    "check_frame",
    "empty_frame",
    "get_spec",
    "normalize_frame",
    "validate_frame",
]
