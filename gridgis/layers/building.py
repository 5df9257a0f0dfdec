"""Buildings (楼栋) with units (单元) and households; the atoms of a compound."""

from gridgis.layers.base import Field, LayerSpec

SPEC = LayerSpec(
    name="buildings",
    label_zh="楼栋",
    geometry="polygon",
    parent_layer="compounds",
    parent_field="compound_code",
    fields=(
        Field("compound_code", "str", "所属小区"),  # empty for a building outside every compound
        Field("community_code", "str", "所属社区", required=True),
        Field("number", "str", "楼号"),  # the label residents use: "12号楼", "3栋"
        Field("households", "int", "户数", default=0),
        Field("units", "int", "单元数", default=1),
        Field("floors", "int", "层数", default=1),
    ),
)
