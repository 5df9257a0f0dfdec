"""Streets (街道): sub-districts under a district; parents of communities."""

from gridgis.layers.base import Field, LayerSpec

SPEC = LayerSpec(
    name="streets",
    label_zh="街道",
    geometry="polygon",
    parent_layer=None,
    parent_field=None,
    fields=(
        Field("district", "str", "所属区县"),
        Field("households", "int", "户数", default=0),
        Field("population", "int", "人口", default=0),
    ),
)
