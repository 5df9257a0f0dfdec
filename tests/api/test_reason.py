"""The short reason of a refusal: its text, and the status line gridgis serve writes from it."""

from __future__ import annotations

import httpx

from gridgis.api.reason import REASON_HEADER, _rewrite_head, ascii_text, short_reason


def test_the_reason_is_one_ascii_line_whatever_the_problem_says():
    nasty = "grids 1 (崂山二村第1网格)\r\nSet-Cookie: x=1\t名字 24 m² …"
    text = ascii_text(nasty)
    assert text.isascii() and "\r" not in text and "\n" not in text
    assert text == "grids 1 Set-Cookie: x=1 24 m2 ..."


def test_the_reason_names_the_feature_the_first_problem_and_how_many_more_within_200_characters():
    problems = [{"kind": "gap", "layer": "grids", "feature": "310115005039", "message": "x" * 300}] * 3
    text = short_reason("Invalid input", "3 problem(s) found", problems, "grids 310115005039001")
    assert text.startswith("grids 310115005039001 not saved (gap): xxx") and len(text) == 200
    assert short_reason("Not found", None, None) == "Not found"


def test_only_a_response_head_carrying_the_header_gets_a_new_reason_phrase():
    head = b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: x\r\ngridgis-reason: grids 1 not saved\r\n\r\n"
    assert _rewrite_head(head + b"{}").startswith(b"HTTP/1.1 422 grids 1 not saved\r\ncontent-type: x\r\n")
    assert _rewrite_head(head + b"{}").endswith(b"\r\n\r\n{}")
    plain = b"HTTP/1.1 200 OK\r\ncontent-type: x\r\n\r\nHTTP/1.1 gridgis-reason: no"
    assert _rewrite_head(plain) == plain


def test_a_live_server_sends_the_reason_in_the_status_line_and_the_header(tmp_path):
    from gridgis.editing.testing import editing_server

    with editing_server(str(tmp_path / "g.db")) as (base, _tokens, _repo):
        r = httpx.get(f"{base}/collections/nowhere/items")
        assert r.status_code == 404 and r.reason_phrase == r.headers[REASON_HEADER]
        assert "unknown layer 'nowhere'" in r.reason_phrase
        assert httpx.get(f"{base}/collections").reason_phrase == "OK"
