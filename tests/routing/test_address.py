"""Address routing: parsing building/unit/room with Chinese numerals, fuzzy compound matching."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from gridgis.errors import NotFoundError, ValidationError
from gridgis.routing.address import cn_to_int, name_score, parse_address, resolve_address
from tests.routing.conftest import GRID_A, two_grid_city


@pytest.mark.parametrize(
    "text,compound,building,unit,room",
    [
        ("梅园三街坊12号楼", "梅园三街坊", 12, None, None),
        ("XX小区3栋2单元", "XX小区", 3, 2, None),
        ("浦东新区潍坊八村5号", "浦东新区潍坊八村", 5, None, None),
        ("锦绣花园十二幢三单元501室", "锦绣花园", 12, 3, "501"),
        ("崂山五村二十三号楼", "崂山五村", 23, None, None),
        ("乳山二村 7 号 楼", "乳山二村", 7, None, None),
        ("招远小区７座", "招远小区", 7, None, None),
        ("崂山四村2单元", "崂山四村", None, 2, None),
        ("梅园三街坊", "梅园三街坊", None, None, None),
    ],
)
def test_parse_address_splits_compound_building_unit_room(text, compound, building, unit, room):
    p = parse_address(text)
    assert (p.compound, p.building, p.unit, p.room) == (compound, building, unit, room)


@pytest.mark.parametrize(
    "text,value",
    [
        ("三", 3),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("一百零五", 105),
        ("两", 2),
        ("一二零一", 1201),
        ("３", 3),
    ],
)
def test_chinese_numerals(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize("text", ["", "   ", "梅" * 300])
def test_empty_or_overlong_address_is_refused(text):
    with pytest.raises(ValidationError):
        parse_address(text)


def test_resolve_to_compound_and_building_with_the_building_point():
    city = two_grid_city()
    m = resolve_address("浦东新区梅园三街坊12号楼", city["compounds"], city["buildings"])
    assert m.compound_code == GRID_A[:12] + "Q001" and m.building_code == GRID_A[:12] + "Q001B012"
    assert m.confidence == 1.0 and not m.ambiguous
    assert city["buildings"].geometry.iloc[0].covers(shapely.Point(m.lon, m.lat))


def test_numerals_written_differently_still_match():
    city = two_grid_city()
    m = resolve_address("梅园3街坊十二号楼", city["compounds"], city["buildings"])
    assert m.building_code == GRID_A[:12] + "Q001B012"


def test_unknown_building_number_keeps_the_compound_point():
    city = two_grid_city()
    m = resolve_address("梅园三街坊99号楼", city["compounds"], city["buildings"])
    assert m.building_code is None and m.building == 99
    assert city["compounds"].geometry.iloc[0].covers(shapely.Point(m.lon, m.lat))


def test_nothing_similar_is_not_found_with_the_closest_names():
    city = two_grid_city()
    with pytest.raises(NotFoundError, match="梅园三街坊"):
        resolve_address("东方明珠塔", city["compounds"], city["buildings"])


# The real residential compounds of Weifang/Lujiazui (OSM, ../shared/data): series of near-identical names
# (崂山二/三/四/五村, 乳山二/三/四村) are exactly where a fuzzy matcher must say "ambiguous".
@pytest.fixture(scope="module")
def weifang_compounds(shared_data):
    with warnings.catch_warnings():  # duplicate OSM ids across tiles
        warnings.simplefilter("ignore", RuntimeWarning)
        land = gpd.read_file(shared_data / "shanghai-lujiazui-osm-tiles" / "landuse.geojson")
    res = land[(land["kind"] == "residential") & land["name"].notna()].drop_duplicates("id")
    res = res.dissolve(by="name", as_index=False)
    res["code"] = [f"310115001001Q{i + 1:03d}" for i in range(len(res))]
    return res[["code", "name", "geometry"]]


def test_real_weifang_names_resolve_with_prefixes_and_numerals(weifang_compounds):
    m = resolve_address("上海市浦东新区崂山5村12号楼", weifang_compounds)
    assert m.compound_name == "崂山五村" and not m.ambiguous and m.building == 12
    assert resolve_address("乳山四村3栋2单元", weifang_compounds).compound_name == "乳山四村"
    assert resolve_address("梅园3街坊", weifang_compounds).compound_name == "梅园三街坊"


def test_real_weifang_series_without_number_is_ambiguous_with_ranked_candidates(weifang_compounds):
    m = resolve_address("崂山村8号", weifang_compounds)
    assert m.ambiguous
    names = [c["name"] for c in m.candidates]
    assert len(names) >= 2 and all(n.startswith("崂山") for n in names[:4])
    scores = [c["score"] for c in m.candidates]
    assert scores == sorted(scores, reverse=True)


def test_longer_name_wins_over_a_shorter_name_it_contains():
    comps = gpd.GeoDataFrame(
        {"code": ["310115001001Q001", "310115001001Q002"], "name": ["潍坊", "潍坊八村"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)],
        crs="EPSG:4326",
    )
    m = resolve_address("浦东新区潍坊八村5号", comps)
    assert m.compound_name == "潍坊八村" and not m.ambiguous


def test_name_score_prefers_the_closer_name():
    assert name_score("梅园三街坊", "梅园街坊") > name_score("乳山二村", "梅园街坊")
    assert name_score("潍坊八村", "浦东新区潍坊八村") == 1.0


def test_road_address_naming_no_compound_is_refused_with_advice():
    city = two_grid_city()
    with pytest.raises(NotFoundError, match="road address"):
        resolve_address("梅园路888号", city["compounds"], city["buildings"])


def test_resolver_answers_like_the_function_and_the_index_caches_one(two_grid_index):
    resolver = two_grid_index.address_resolver
    assert resolver is two_grid_index.address_resolver
    city = two_grid_city()
    want = resolve_address("梅园三街坊12号楼", city["compounds"], city["buildings"])
    got = resolver.resolve("梅园三街坊12号楼")
    assert (got.compound_code, got.building_code, got.lon, got.lat) == (
        want.compound_code,
        want.building_code,
        want.lon,
        want.lat,
    )


def _chinese(n: int) -> str:
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    if tens == 0:
        return digits[ones]
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


@given(
    building=st.integers(1, 99),
    unit=st.integers(1, 9),
    room=st.integers(101, 2999),
    word=st.sampled_from(["号楼", "栋", "幢", "座", "号"]),
    chinese=st.booleans(),
)
def test_any_building_unit_room_written_either_way_parses_back(building, unit, room, word, chinese):
    b = _chinese(building) if chinese else str(building)
    u = _chinese(unit) if chinese else str(unit)
    p = parse_address(f"浦东新区梅园三街坊{b}{word}{u}单元{room}室")
    assert (p.compound, p.building, p.unit, p.room) == ("浦东新区梅园三街坊", building, unit, str(room))


@pytest.fixture(scope="module")
def sample_resolver():
    from gridgis.io import read_city
    from gridgis.routing.address import AddressResolver
    from tests.conftest import SAMPLE_DIR

    city = read_city(SAMPLE_DIR)
    return AddressResolver(city["compounds"], city["buildings"])


def test_tied_candidates_are_answered_as_candidates_not_as_the_first(sample_resolver):
    """Seen: "乳山村" tied five compounds at 0.51 and was routed to the first."""
    m = sample_resolver.resolve("乳山村")
    assert m.ambiguous and not m.routable and len(m.candidates) == 5
    assert {c["name"] for c in m.candidates} == {"乳山一村", "乳山二村", "乳山三村", "乳山四村", "乳山五村"}
    assert m.to_dict()["point"] is None and "give the full name" in m.notes[-1]


def test_a_building_number_the_compound_lacks_is_said(sample_resolver):
    """Seen: "梅园三街坊12号楼" (the compound has 11 buildings) answered the compound as if that were the building."""
    m = sample_resolver.resolve("梅园三街坊12号楼")
    assert m.building_code is None and m.building == 12
    assert m.notes == [
        "梅园三街坊 has no building 12 (its buildings are numbered 1–11); routed to the compound, not a building"
    ]
    assert sample_resolver.resolve("梅园三街坊11号楼").notes == []


def test_the_route_api_answers_a_tie_with_candidates_and_no_route(sample_dir, tmp_path):
    import httpx

    from gridgis.io import read_city
    from gridgis.storage import Repository
    from tests.routing.conftest import live_api

    repo = Repository(f"sqlite:///{tmp_path / 'g.db'}")
    repo.create_schema()
    repo.write_city({k: v for k, v in read_city(sample_dir).items() if k != "tickets"}, author="测试")
    with live_api(repo) as base, httpx.Client(base_url=base, timeout=60) as client:
        tie = client.get("/route", params={"address": "乳山村"})
        assert tie.status_code == 200, tie.text
        body = tie.json()
        assert body["grid"] is None and body["micro_grid"] is None and body["point"] is None
        assert len(body["address"]["candidates"]) == 5 and "5 compounds match" in body["reason"]
        lacks = client.get("/route", params={"address": "梅园三街坊12号楼"}).json()
        assert lacks["grid"] is not None and "has no building 12" in lacks["address"]["notes"][0]
    repo.dispose()
