"""Service stations (服务阵地/站点): points with a kind, level, hours, services and contact.

The kinds are extensible: :func:`register_kind` adds one (with its Chinese label) at run time.
"""

from gridgis.layers.base import Field, LayerSpec

KINDS: dict[str, str] = {
    "party_mass_centre": "党群服务中心",
    "micro_station": "小区(网格)微站",
    "red_station": "红色驿站",
    "courier_station": "小蜜蜂驿站/骑手之家",
    "help_desk": "帮办代办点",
    "canteen": "社区食堂",
    "mediation_room": "调解工作室",
}
LEVELS = {"street": "街道级", "community": "社区级", "compound": "小区级", "grid": "网格级"}


def _spec() -> LayerSpec:
    return LayerSpec(
        name="stations",
        label_zh="服务站点",
        geometry="point",
        parent_layer=None,
        parent_field="area_code",
        fields=(
            Field("kind", "str", "站点类型", required=True, choices=tuple(KINDS)),
            Field("level", "str", "层级", default="community", choices=tuple(LEVELS)),
            Field("area_code", "str", "所属街道/社区", required=True),
            Field("opening_hours", "str", "开放时间"),
            Field("services", "json", "服务内容"),
            Field("contact", "str", "联系方式"),
            Field("address", "str", "地址"),
        ),
    )


SPEC = _spec()


def register_kind(key: str, label_zh: str) -> None:
    """Add a station kind (e.g. ``"library": "社区书屋"``); later frames may use it."""
    global SPEC
    KINDS[key] = label_zh
    SPEC = _spec()
    from gridgis import layers

    layers.LAYERS["stations"] = SPEC
