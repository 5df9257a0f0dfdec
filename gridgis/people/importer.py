"""Read people and 12345 work-order tables (CSV or XLSX) with Chinese headers.

Headers are matched by :data:`PERSON_HEADERS` / :data:`ORDER_HEADERS` (Chinese or English, spaces
ignored); an unknown header is ignored and named in the report. CSV is read as UTF-8 (with or
without BOM) or GB18030 (what Excel in China writes); XLSX needs ``openpyxl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gridgis.errors import MalformedInputError, ValidationError

PERSON_HEADERS: dict[str, str] = {
    "姓名": "name",
    "name": "name",
    "类别": "category",
    "身份": "category",
    "人员类别": "category",
    "category": "category",
    "kind": "category",
    "住址": "address",
    "地址": "address",
    "家庭住址": "address",
    "居住地址": "address",
    "address": "address",
    "楼栋": "building_code",
    "楼栋编码": "building_code",
    "楼栋编号": "building_code",
    "building": "building_code",
    "building_code": "building_code",
    "单元": "unit",
    "unit": "unit",
    "单位": "employer",
    "工作单位": "employer",
    "employer": "employer",
    "电话": "phone",
    "联系电话": "phone",
    "手机": "phone",
    "手机号": "phone",
    "phone": "phone",
    "岗位": "post",
    "职务": "post",
    "post": "post",
    "所在组织": "org_code",
    "党组织": "org_code",
    "org": "org_code",
    "org_code": "org_code",
    "编号": "ref",
    "ref": "ref",
    "账号": "account",
    "account": "account",
    "工作网格": "work_area",
    "work_area": "work_area",
}

ORDER_HEADERS: dict[str, str] = {
    "工单编号": "order_no",
    "工单号": "order_no",
    "order_no": "order_no",
    "来电时间": "called_at",
    "受理时间": "called_at",
    "called_at": "called_at",
    "诉求内容": "content",
    "内容": "content",
    "content": "content",
    "诉求地址": "address",
    "事发地址": "address",
    "地址": "address",
    "address": "address",
    "联系电话": "phone",
    "来电号码": "phone",
    "phone": "phone",
    "类别": "category",
    "诉求类别": "category",
    "问题分类": "category",
    "category": "category",
    "经度": "lon",
    "lon": "lon",
    "纬度": "lat",
    "lat": "lat",
}


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or XLSX file as a frame of strings (empty cells as ``None``)."""
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"{p} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            try:
                import openpyxl  # noqa: F401
            except ImportError:  # pragma: no cover - openpyxl is a dependency
                raise ValidationError("reading .xlsx needs openpyxl (pip install openpyxl)") from None
            frame = pd.read_excel(p, dtype=str, engine="openpyxl")
        elif suffix in (".csv", ".txt"):
            raw = p.read_bytes()
            for enc in ("utf-8-sig", "gb18030"):
                try:
                    text = raw.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                raise MalformedInputError(f"{p.name} is neither UTF-8 nor GB18030 text")
            import io

            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
        else:
            raise ValidationError(f"{p.name}: use a .csv or .xlsx file")
    except (ValueError, pd.errors.ParserError) as err:
        raise MalformedInputError(f"{p.name} cannot be read as a table: {err}") from None
    return frame.astype(object)


def clean(value: Any) -> Any:
    """A cell as a stripped string or ``None`` (empty strings and NaN alike)."""
    if value is None or (isinstance(value, float) and value != value):  # noqa: PLR0124 - NaN
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts of cleaned cells."""
    return [{str(k): clean(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def normalise_headers(
    frame: pd.DataFrame, headers: dict[str, str], required: tuple[str, ...], what: str
) -> tuple[pd.DataFrame, list[str]]:
    """Rename known headers to field names; the unknown ones are dropped and returned."""
    mapping: dict[Any, str] = {}
    unknown: list[str] = []
    for col in frame.columns:
        key = str(col).strip().replace(" ", "")
        field = headers.get(key) or headers.get(key.lower())
        if field and field not in mapping.values():
            mapping[col] = field
        else:
            unknown.append(str(col))
    out = frame.rename(columns=mapping)[list(mapping.values())]
    missing = [r for r in required if r not in out.columns]
    if missing:
        wanted = {v: k for k, v in headers.items() if not k.isascii()}
        raise ValidationError(
            f"the {what} table has no column for {', '.join(wanted.get(m, m) for m in missing)}; "
            f"found {', '.join(map(str, frame.columns))}"
        )
    return out, unknown


def person_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of a members file as keyword dicts for :meth:`PeopleStore.person_row`, and unknown headers."""
    frame, unknown = normalise_headers(read_table(path), PERSON_HEADERS, ("name",), "members")
    if "address" not in frame.columns and "building_code" not in frame.columns and "work_area" not in frame.columns:
        raise ValidationError("the members table needs 住址 (address) or 楼栋 (building code) to place each person")
    rows = []
    for rec in records(frame):
        if rec.get("unit") is not None:
            try:
                rec["unit"] = int(float(rec["unit"]))
            except ValueError:
                rec["unit"] = None
        rows.append({k: v for k, v in rec.items() if v is not None})
    return rows, unknown


__all__ = ["ORDER_HEADERS", "PERSON_HEADERS", "clean", "normalise_headers", "person_records", "read_table", "records"]
