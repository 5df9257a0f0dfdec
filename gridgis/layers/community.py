"""Communities (社区): residents' committee areas, ~1,000–3,000 households, under a street."""

from gridgis.layers.base import Field, LayerSpec

#: the practice's size standard for a community, in households (Pingcheng adjusts outside it)
HOUSEHOLD_RANGE = (1000, 3000)

SPEC = LayerSpec(
    name="communities",
    label_zh="社区",
    geometry="polygon",
    parent_layer="streets",
    parent_field="street_code",
    fields=(
        Field("street_code", "str", "所属街道", required=True),
        Field("households", "int", "户数", default=0),
        Field("population", "int", "人口", default=0),
    ),
)
