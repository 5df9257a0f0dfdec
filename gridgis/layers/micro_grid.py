"""Micro-grids (微网格): subdivisions of a grid, one (often part-time) worker each, 30–100 households."""

from gridgis.layers.base import Field, LayerSpec

HOUSEHOLD_RANGE = (30, 100)

SPEC = LayerSpec(
    name="micro_grids",
    label_zh="微网格",
    geometry="polygon",
    parent_layer="grids",
    parent_field="grid_code",
    fields=(
        Field("grid_code", "str", "所属网格", required=True),
        Field("households", "int", "户数", default=0),
        Field("workers", "json", "微网格员"),
    ),
)
