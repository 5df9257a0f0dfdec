"""A short reason in the HTTP status line of a refusal, for clients that show only that line.

QGIS shows a failed request as ``… server replied: <reason phrase>`` (Qt's
``QNetworkReply::errorString()``) and never the body, so a planner saving from QGIS saw only
"Unprocessable Entity". Every problem+json answer therefore carries a one-line ASCII summary in
the ``Gridgis-Reason`` header (:func:`short_reason`), and ``gridgis serve`` runs uvicorn with
:data:`HTTP_PROTOCOL`, which writes that summary as the reason phrase of the status line
(``HTTP/1.1 422 grids 310115005039001: the edit leaves 24.0 m2 … (+8 more)``). The full
problem+json stays in the body. Behind another server the header is still there.

ASGI has no field for a reason phrase, so the protocol rewrites the head of the response as it
is written to the socket: only a head that carries ``Gridgis-Reason`` is touched.
"""

from __future__ import annotations

import re
from typing import Any

REASON_HEADER = "Gridgis-Reason"
MAX_REASON = 200
_SPACES = re.compile(r"\s+")
#: a bracketed aside holding non-ASCII text (a Chinese name after a code): dropped whole
_NAMED_ASIDE = re.compile(r"\s*[(（][^()（）]*[^\x00-\x7f][^()（）]*[)）]")


def ascii_text(text: str) -> str:
    """``text`` reduced to printable ASCII on one line (Chinese names dropped, ``m²`` → ``m2``).

    >>> ascii_text("grids 310115005039001 (崂山二村第1网格): 24.0 m² gap")
    'grids 310115005039001: 24.0 m2 gap'
    """
    text = text.replace("²", "2").replace("…", "...").replace("；", "; ").replace("，", ", ").replace("：", ": ")
    text = _NAMED_ASIDE.sub("", text)
    out = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    out = _SPACES.sub(" ", out).replace(" :", ":").replace(" ,", ",").replace(" ;", ";")
    return out.strip()


def short_reason(
    title: str, detail: str | None, problems: list[dict[str, Any]] | None, subject: str | None = None
) -> str:
    """One ASCII line saying why a request was refused: the first problem (its first clause, where
    it is) and how many more, else the detail, else the title; ``subject`` (the feature written)
    leads when the problems are about a feature.

    >>> short_reason("Precondition failed", "grids 1 changed since you read it; reload it", None)
    'grids 1 changed since you read it; reload it'
    >>> short_reason("Invalid", "2 problem(s) found", [{"layer": "grids", "feature": "1 (一)", "kind": "overlap",
    ...     "message": "overlaps grids 2 by 3.0 m²; siblings must not overlap"}, {"message": "x"}], "grids 1")
    'grids 1 not saved (overlap): overlaps grids 2 by 3.0 m2 (+1 more problem in the body)'
    """
    text = ""
    if problems:
        first = problems[0]
        clause = str(first.get("message", "")).split("; ")[0]
        where = " ".join(str(first[k]) for k in ("layer", "feature") if first.get(k))
        kind = str(first.get("kind") or "").replace("_", " ")
        if subject:
            text = f"{subject} not saved ({kind}): {ascii_text(clause)}" if kind else f"{subject} not saved: {clause}"
            text = ascii_text(text)
        else:
            text = ascii_text(f"{where}: {clause}" if where else clause)
        if len(problems) > 1:
            more = len(problems) - 1
            text += f" (+{more} more problem{'s' if more > 1 else ''} in the body)"
    if not text and detail:
        text = ascii_text(detail)
    if not text:
        text = ascii_text(title) or "Error"
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3].rstrip() + "..."
    return text


def _rewrite_head(data: bytes) -> bytes:
    """The head of a response with its reason phrase replaced by its ``Gridgis-Reason`` header."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    lines = head.split(b"\r\n")
    key = REASON_HEADER.lower().encode() + b":"
    for line in lines[1:]:
        if line.lower().startswith(key):
            reason = line[len(key) :].strip()
            parts = lines[0].split(b" ", 2)
            if len(parts) >= 2 and reason:
                lines[0] = parts[0] + b" " + parts[1] + b" " + reason
                return b"\r\n".join(lines) + data[len(head) :]
    return data


class _ReasonTransport:
    """A transport that rewrites the status line of response heads on their way out."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        if data[:5] == b"HTTP/":
            data = _rewrite_head(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol_class() -> type:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # pragma: no cover - httptools is a dependency; h11 is uvicorn's fallback
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class ReasonPhraseProtocol(Base):  # type: ignore[misc, valid-type]
        """uvicorn's HTTP protocol writing ``Gridgis-Reason`` as the reason phrase."""

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(_ReasonTransport(transport))  # type: ignore[arg-type]

    ReasonPhraseProtocol.__module__ = __name__
    ReasonPhraseProtocol.__qualname__ = "HTTP_PROTOCOL"
    return ReasonPhraseProtocol


#: pass as ``uvicorn.run(..., http="gridgis.api.reason:HTTP_PROTOCOL")`` (a string: with several
#: workers, a class would be unpickled — importing the whole app — before a worker answers uvicorn's
#: health checks, and the worker would be taken for dead)
HTTP_PROTOCOL = _protocol_class()
