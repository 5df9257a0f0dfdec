"""Grids (网格): management cells inside a community, commonly 300–500 households.

``kind`` is ``basic`` (基础网格) or ``dedicated`` (专属网格, for one institution: school,
hospital, industrial park, market). ``workers`` is a list of
``{"name", "role", "phone"}`` with role ``full_time`` 专职, ``part_time`` 兼职 or
``auxiliary`` 辅助.
"""

from gridgis.layers.base import Field, LayerSpec

KINDS = {"basic": "基础网格", "dedicated": "专属网格"}
DEDICATED_FOR = {
    "school": "学校",
    "hospital": "医院",
    "industrial_park": "产业园区",
    "market": "市场",
    "government": "机关单位",
    "other": "其他",
}
WORKER_ROLES = {"full_time": "专职", "part_time": "兼职", "auxiliary": "辅助"}
#: default household range for a grid (configurable in checks and alignment)
HOUSEHOLD_RANGE = (300, 500)

SPEC = LayerSpec(
    name="grids",
    label_zh="网格",
    geometry="polygon",
    parent_layer="communities",
    parent_field="community_code",
    fields=(
        Field("community_code", "str", "所属社区", required=True),
        Field("kind", "str", "网格类型", default="basic", choices=tuple(KINDS)),
        Field("dedicated_for", "str", "专属对象", choices=tuple(DEDICATED_FOR)),
        Field("households", "int", "户数", default=0),
        Field("population", "int", "人口", default=0),
        Field("workers", "json", "网格员"),
    ),
)
