"""The matter catalogue: the shipped default and planners' own files."""

from __future__ import annotations

import json

import pytest
import yaml

from gridgis.errors import MalformedInputError, NotFoundError, ValidationError
from gridgis.tickets.catalogue import DEFAULT_CATALOGUE_PATH, Duration, default_catalogue, load_catalogue


def test_default_catalogue_has_six_domains_and_28_items_m01_to_m28():
    cat = default_catalogue()
    assert [d.code for d in cat.domains] == ["D1", "D2", "D3", "D4", "D5", "D6"]
    assert [i.code for i in cat.items] == [f"M{n:02d}" for n in range(1, 29)]
    assert {i.tier for i in cat.items} == {"small", "big", "hard"}
    assert all(i.department and i.name for i in cat.items)


def test_default_items_follow_2341_and_emergencies_are_tighter():
    cat = default_catalogue()
    assert cat.deadlines("M11").as_dict() == {"respond": "20min", "reply": "30min", "coordinate": "4h", "solve": "1wd"}
    gas = cat.deadlines("M18")  # 燃气泄漏: emergency standard
    assert cat.item("M18").emergency and gas.respond == Duration(5, "min") and gas.solve == Duration(4, "h")
    assert cat.deadlines("M10").solve == Duration(3, "wd")  # 违法建设 overrides only its solution limit
    assert cat.deadlines("M10").respond == Duration(20, "min")


def test_unknown_item_code_names_the_code():
    with pytest.raises(NotFoundError, match="M99"):
        default_catalogue().item("M99")


def test_guess_picks_the_matter_from_keywords():
    cat = default_catalogue()
    assert cat.guess("3号楼楼道里有人飞线充电").code == "M21"
    assert cat.guess("hello") is None


def _minimal(**item_overrides):
    item = {"code": "M01", "domain": "D1", "name": "测试事项", "department": "城管执法中队", "tier": "small"}
    item.update(item_overrides)
    return {
        "name": "测试清单",
        "service_standard": {"respond": "20min", "reply": "30min", "coordinate": "4h", "solve": "1wd"},
        "domains": [{"code": "D1", "name": "综合执法"}],
        "items": [item],
    }


def test_planner_catalogue_loads_from_yaml_and_json(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text(yaml.safe_dump(_minimal(), allow_unicode=True), encoding="utf-8")
    j = tmp_path / "c.json"
    j.write_text(json.dumps(_minimal(deadlines={"solve": "2wd"}), ensure_ascii=False), encoding="utf-8")
    assert load_catalogue(y).item("M01").name == "测试事项"
    assert load_catalogue(j).deadlines("M01").solve == Duration(2, "wd")


def test_invalid_catalogue_reports_every_problem_naming_the_item(tmp_path):
    bad = _minimal(tier="tiny", deadlines={"respond": "soon"})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_catalogue(path)
    problems = info.value.problems
    assert len(problems) == 2
    assert all(p.feature == "M01 测试事项" for p in problems)
    assert {p.message.split(":")[0] for p in problems} == {"tier", "deadlines.respond"}


def test_catalogue_with_unknown_domain_is_refused_naming_item(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_minimal(domain="D9"), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationError, match="M01.*unknown domain 'D9'"):
        load_catalogue(path)


def test_unparseable_and_missing_catalogue_files_are_clear_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(MalformedInputError, match="broken.json"):
        load_catalogue(broken)
    with pytest.raises(NotFoundError, match="nope.yaml"):
        load_catalogue(tmp_path / "nope.yaml")


def test_shipped_file_is_the_default():
    assert load_catalogue(DEFAULT_CATALOGUE_PATH) == default_catalogue()


def test_a_bad_field_and_a_bad_reference_are_reported_in_one_pass(tmp_path):
    """Seen: the catalogue reported its field errors, and only after they were fixed its unknown domains."""
    bad = _minimal(tier="tiny", domain="D9")
    bad["items"].append({**bad["items"][0], "tier": "small", "domain": "D1"})  # M01 again
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_catalogue(path)
    messages = [p.message for p in info.value.problems]
    assert any(m.startswith("tier") for m in messages)
    assert "item M01 测试事项: unknown domain 'D9'" in messages and "item M01 测试事项: code defined twice" in messages


def test_the_service_refuses_to_start_on_a_bad_catalogue(tmp_path):
    """Seen: a bad GRIDGIS_TICKET_CATALOGUE started healthy and every ticket call answered 422."""
    from gridgis.api import create_app
    from gridgis.settings import get_settings

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_minimal(domain="D9"), allow_unicode=True), encoding="utf-8")
    settings = get_settings(database_url=f"sqlite:///{tmp_path / 'g.db'}", ticket_catalogue=str(path))
    with pytest.raises(ValidationError, match="matter catalogue is invalid"):
        create_app(settings)
    hours = get_settings(database_url=f"sqlite:///{tmp_path / 'g.db'}", working_hours="9-5")
    with pytest.raises(ValidationError, match="GRIDGIS_WORKING_HOURS"):
        create_app(hours)
