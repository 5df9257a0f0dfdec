"""Residential compounds (小区) of four kinds, inside a community.

Kinds: ``residential`` 居住型 (complete facilities), ``transitional`` 过渡型 (urban villages,
resettlement), ``aging`` 老旧型 (old, often no clear boundary, no property management),
``work_unit`` 单位型 (handed over by state enterprises).
"""

from gridgis.layers.base import Field, LayerSpec

KINDS = {"residential": "居住型", "transitional": "过渡型", "aging": "老旧型", "work_unit": "单位型"}

SPEC = LayerSpec(
    name="compounds",
    label_zh="小区",
    geometry="polygon",
    parent_layer="communities",
    parent_field="community_code",
    fields=(
        Field("community_code", "str", "所属社区", required=True),
        Field("kind", "str", "类型", required=True, choices=tuple(KINDS)),
        Field("households", "int", "户数", default=0),
        Field("has_property_management", "bool", "物业管理", default=False),
        Field("has_owners_committee", "bool", "业主委员会", default=False),
        Field("boundary_clear", "bool", "边界清晰", default=True),
        Field("address", "str", "地址"),
    ),
)
