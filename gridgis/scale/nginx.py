"""The nginx front of routing pools per county (``gridgis deploy nginx``).

How a request finds its pool (see docs/scaling.md, "Deployment recipe"):

- ``GET /route?lon=…&lat=…`` — nginx asks any node for the point's county with an
  ``auth_request`` sub-request to ``GET /route/county`` (the county rule of
  :mod:`gridgis.routing.county`, held by every pool), takes its ``Gridgis-County`` header and
  passes the request to that county's upstream (an nginx ``map`` from county to upstream; a
  county without a pool, or no county, goes to any node, which answers 421 or the 422 itself).
- ``GET|POST /route?county=310115…`` — the client names the county (or a code: its first six
  digits): a ``map`` on the parameter picks the upstream without the look-up. A batch ``POST``
  must name its county (points of other counties get 421 from the pool).
- ``/tiles/`` — any node, cached by nginx as the answer's ``Cache-Control``/``ETag`` say.
- ticket intake, ``POST /tickets`` and Open311's ``POST /open311/v2/requests.{json,xml}`` — the point is
  in the body, out of nginx's reach, so: with ``?county=``/``?code=`` to that county's pools, and a
  pool that finds the point in another county answers 421 (nothing stored) which the front turns
  into the same request to the whole-store nodes (``error_page 421``); without them, and for a county
  without a pool, straight to the whole-store nodes. A whole-store node is a ``--node`` that is no
  ``--pool``/``--backup`` address (a ``gridgis serve`` without ``--counties``): it routes any point,
  so a ticket is never lost to a pool's refusal nor stored with another county's index.
  ``gridgis deploy nginx`` refuses a configuration without one (:func:`check_intake`).
- everything else — any node (``--node``, default every pool address).

Each county's upstream lists the pools holding it; ``--backup`` adds pools that also hold it and
take over only when the primaries fail. ``proxy_next_upstream error timeout http_502 http_503``
retries a dead pool's requests on the next server (``/route`` also retries ``POST``: a batch only
reads). nginx cannot retry on a 421 (``http_421`` is not a ``proxy_next_upstream`` value), which
is why the front resolves the county before it picks the upstream rather than after a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gridgis.codes import check_county
from gridgis.errors import ValidationError

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$|^unix:/\S+$")


@dataclass
class Front:
    """What the front needs: per county its primary and backup addresses, and the general nodes."""

    pools: dict[str, list[str]] = field(default_factory=dict)
    backups: dict[str, list[str]] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)

    @property
    def counties(self) -> list[str]:
        return sorted(self.pools)

    def every_node(self) -> list[str]:
        """The general nodes: ``nodes`` when given, else every pool and backup address (first-seen order)."""
        if self.nodes:
            return list(dict.fromkeys(self.nodes))
        found = [a for c in self.counties for a in self.pools[c]] + [a for c in self.backups for a in self.backups[c]]
        return list(dict.fromkeys(found))

    def pool_addresses(self) -> set[str]:
        """Every address serving a county pool (``--pool`` or ``--backup``)."""
        return {a for c in self.pools for a in self.pools[c]} | {a for c in self.backups for a in self.backups[c]}

    def whole_store_nodes(self) -> list[str]:
        """The ``--node`` addresses that are no county pool: they route any point (ticket intake)."""
        pooled = self.pool_addresses()
        return [a for a in dict.fromkeys(self.nodes) if a not in pooled]

    def intake_nodes(self) -> list[str]:
        """Where a ticket without a county goes: the whole-store nodes (else every node, whose pools answer
        421 for other counties' points; :func:`check_intake` refuses that for a deployment)."""
        return self.whole_store_nodes() or self.every_node()


def check_intake(front: Front) -> None:
    """Refuse a front whose ticket intake has no whole-store node (every ``--node`` a county pool)."""
    if not front.whole_store_nodes():
        given = ", ".join(front.nodes) if front.nodes else "none"
        raise ValidationError(
            f"ticket intake needs a whole-store node: every --node ({given}) is a county pool; add --node "
            "HOST:PORT of a `gridgis serve` without --counties (see docs/scaling.md, Deployment recipe)"
        )


def _address(value: str, where: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValidationError(f"{where}: {value!r} is not an address: expected HOST:PORT (127.0.0.1:8101)")
    return value


def parse_pool(spec: str) -> tuple[list[str], list[str]]:
    """``"310115,310104=127.0.0.1:8101,127.0.0.1:8102"`` → (counties, addresses)."""
    if "=" not in spec:
        raise ValidationError(f"pool {spec!r}: expected COUNTY[,COUNTY…]=HOST:PORT[,HOST:PORT…]")
    left, right = spec.split("=", 1)
    counties = [check_county(c.strip()) for c in left.split(",") if c.strip()]
    addresses = [_address(a, f"pool {spec!r}") for a in right.split(",") if a.strip()]
    if not counties or not addresses:
        raise ValidationError(f"pool {spec!r}: name at least one county and one address")
    return counties, addresses


def plan_front(pools: Iterable[str], backups: Iterable[str] = (), nodes: Iterable[str] = ()) -> Front:
    """A :class:`Front` from ``--pool``, ``--backup`` and ``--node`` values."""
    front = Front()
    for spec in pools:
        counties, addresses = parse_pool(spec)
        for c in counties:
            front.pools.setdefault(c, [])
            front.pools[c] += [a for a in addresses if a not in front.pools[c]]
    for spec in backups:
        counties, addresses = parse_pool(spec)
        for c in counties:
            if c not in front.pools:
                raise ValidationError(f"backup {spec!r}: county {c} has no --pool; a backup only stands in for one")
            front.backups.setdefault(c, [])
            front.backups[c] += [a for a in addresses if a not in front.backups[c] and a not in front.pools[c]]
    front.nodes = [_address(a, "node") for a in nodes]
    if not front.pools:
        raise ValidationError("give at least one --pool COUNTY=HOST:PORT")
    return front


def _upstream(name: str, primaries: list[str], backups: Iterable[str] = ()) -> str:
    lines = [f"upstream {name} {{"]
    # a failed server is left out for fail_timeout, then tried again; keep-alive connections to the pools
    lines += [f"    server {a} max_fails=1 fail_timeout=10s;" for a in primaries]
    lines += [f"    server {a} max_fails=1 fail_timeout=10s backup;" for a in backups]
    lines += ["    keepalive 32;", "}"]
    return "\n".join(lines)


_PROXY = """        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Request-Id $request_id;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout {connect}ms;
        proxy_read_timeout {read}ms;
        proxy_next_upstream_tries {tries};"""


def render(
    front: Front,
    listen: str = "127.0.0.1:8080",
    prefix: str | Path | None = None,
    standalone: bool = True,
    connect_timeout_s: float = 1.0,
    read_timeout_s: float = 60.0,
    worker_processes: int | str = "auto",
) -> str:
    """The nginx configuration text.

    ``standalone`` writes a whole ``nginx.conf`` (``events``, ``http``, its own pid, logs and temp
    paths under ``prefix``, ``daemon off``: runs as any user with ``nginx -p PREFIX -c nginx.conf``);
    otherwise only the ``http``-level part, to include from a system nginx's ``conf.d``.
    """
    every = front.every_node()
    tries = max(2, len(every))
    proxy = _PROXY.format(connect=round(connect_timeout_s * 1000), read=round(read_timeout_s * 1000), tries=tries)
    parts = [
        "# written by `gridgis deploy nginx` — routing pools per county (docs/scaling.md); regenerate, do not edit",
        _upstream("gridgis_any", every),
        _upstream("gridgis_intake", front.intake_nodes()),
    ]
    for c in front.counties:
        parts.append(_upstream(f"gridgis_county_{c}", front.pools[c], front.backups.get(c, ())))
    county_map = "\n".join(f"    {c} gridgis_county_{c};" for c in front.counties)
    intake_map = "\n".join(f"    POST:{c} gridgis_county_{c};" for c in front.counties)
    cache_dir = f"{Path(prefix)}/cache/tiles" if prefix is not None else "/var/cache/nginx/gridgis_tiles"
    parts.append(
        f"""# the county a client names: ?county=310115, or ?code=… (its first six digits)
map $arg_county $gridgis_arg_county {{
    "~^(?<c>[0-9]{{6}})$" $c;
    default "";
}}
map $arg_code $gridgis_code_county {{
    "~^(?<c>[0-9]{{6}})[0-9]{{6}}" $c;
    default "";
}}
map "$gridgis_arg_county:$gridgis_code_county" $gridgis_named_county {{
    "~^(?<c>[0-9]{{6}}):" $c;
    "~^:(?<c>[0-9]{{6}})$" $c;
    default "";
}}
# the county's upstream (a county without a pool, or "any": any node answers)
map $gridgis_county $gridgis_route_upstream {{
{county_map}
    default gridgis_any;
}}
map $gridgis_named_county $gridgis_named_upstream {{
{county_map}
    default gridgis_any;
}}
# ticket intake: a POST naming a county with a pool goes to that pool, any other POST to the whole store
map "$request_method:$gridgis_named_county" $gridgis_ticket_upstream {{
{intake_map}
    "~^POST:" gridgis_intake;
    default gridgis_any;
}}

proxy_cache_path {cache_dir} levels=1:2 keys_zone=gridgis_tiles:16m max_size=2g inactive=7d use_temp_path=off;

server {{
    listen {listen};
    client_max_body_size 8m;

    location = /route {{
        # a county named by the client skips the look-up
        if ($gridgis_named_county != "") {{
            rewrite ^ /_gridgis/route_named last;
        }}
        # the point's county from any node (GET /route/county), then that county's pools
        set $gridgis_query $args;
        auth_request /_gridgis/county;
        auth_request_set $gridgis_county $upstream_http_gridgis_county;
        proxy_pass http://$gridgis_route_upstream;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
{proxy}
    }}
    location = /_gridgis/route_named {{
        internal;
        rewrite ^ /route break;
        proxy_pass http://$gridgis_named_upstream;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
{proxy}
    }}
    location = /_gridgis/county {{
        internal;
        proxy_pass http://gridgis_any/route/county?$gridgis_query;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_next_upstream error timeout http_502 http_503;
{proxy}
    }}
    location /tiles/ {{
        proxy_pass http://gridgis_any;
        proxy_cache gridgis_tiles;
        proxy_cache_revalidate on;  # If-None-Match with the tile's ETag (one per generation)
        proxy_cache_lock on;
        proxy_cache_use_stale error timeout updating http_502 http_503;
        add_header X-Cache-Status $upstream_cache_status always;
        proxy_next_upstream error timeout http_502 http_503;
{proxy}
    }}
    # ticket intake (POST): a pool refuses a point of another county with 421 before storing anything;
    # the front then sends the same request to the whole store (nginx cannot retry on 421 itself)
    location = /tickets {{
        proxy_pass http://$gridgis_ticket_upstream;
        proxy_intercept_errors on;
        error_page 421 = @gridgis_intake;
        proxy_next_upstream error timeout http_502 http_503;  # a POST is re-sent only if never sent
{proxy}
    }}
    location ~ ^/open311/v2/requests\\.(json|xml)$ {{
        proxy_pass http://$gridgis_ticket_upstream;
        proxy_intercept_errors on;
        error_page 421 = @gridgis_intake;
        proxy_next_upstream error timeout http_502 http_503;
{proxy}
    }}
    location @gridgis_intake {{
        proxy_pass http://gridgis_intake;
        proxy_next_upstream error timeout http_502 http_503;
{proxy}
    }}
    location / {{
        proxy_pass http://gridgis_any;
        proxy_next_upstream error timeout http_502 http_503;  # never re-sends a POST (a ticket)
{proxy}
    }}
}}"""
    )
    http = "\n\n".join(parts)
    if not standalone:
        return http + "\n"
    base = Path(prefix) if prefix is not None else Path("/var/lib/gridgis/nginx")
    indented = "\n".join(("    " + line) if line else line for line in http.splitlines())
    return f"""# nginx -p {base} -c {base}/nginx.conf  (any user; stop with SIGQUIT to the master's pid)
daemon off;
worker_processes {worker_processes};
pid {base}/nginx.pid;
error_log {base}/logs/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log {base}/logs/access.log;
    client_body_temp_path {base}/temp/body;
    proxy_temp_path {base}/temp/proxy;
    fastcgi_temp_path {base}/temp/fastcgi;
    uwsgi_temp_path {base}/temp/uwsgi;
    scgi_temp_path {base}/temp/scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;

{indented}
}}
"""


def write_front(front: Front, out: str | Path, **options: object) -> dict[str, Path]:
    """Write ``nginx.conf`` (standalone, prefix ``out``) and ``gridgis.conf`` (the http part for a system
    nginx) into ``out``, with the log, temp and cache folders; returns the paths written."""
    out = Path(out).resolve()
    for sub in ("logs", "temp", "cache/tiles"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    paths = {"nginx.conf": out / "nginx.conf", "gridgis.conf": out / "gridgis.conf"}
    paths["nginx.conf"].write_text(render(front, prefix=out, standalone=True, **options), encoding="utf-8")  # type: ignore[arg-type]
    system = {k: v for k, v in options.items() if k != "worker_processes"}
    paths["gridgis.conf"].write_text(render(front, prefix=None, standalone=False, **system), encoding="utf-8")  # type: ignore[arg-type]
    return paths


def pools_by_address(front: Front) -> Mapping[str, list[str]]:
    """Each address with the counties it must serve (its ``gridgis serve --counties``)."""
    held: dict[str, list[str]] = {}
    for c in front.counties:
        for a in front.pools[c] + front.backups.get(c, []):
            held.setdefault(a, [])
            if c not in held[a]:
                held[a].append(c)
    return held
