"""systemd unit files for routing pools (``gridgis deploy nginx --units``): one templated unit per pool
address, its counties and port in an environment file, so ``systemctl start gridgis-pool@8101``
starts the pool listening on 8101 with the counties it holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

POOL_UNIT = """# written by `gridgis deploy nginx` (docs/scaling.md): a routing pool; one instance per port:
#   systemctl enable --now gridgis-pool@8101
[Unit]
Description=gridgis routing pool on port %i (counties in /etc/gridgis/pool-%i.env)
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=exec
User=gridgis
Group=gridgis
EnvironmentFile=/etc/gridgis/gridgis.env
EnvironmentFile=/etc/gridgis/pool-%i.env
ExecStart={gridgis} serve --host ${{GRIDGIS_HOST}} --port %i --workers ${{GRIDGIS_WORKERS}} --counties ${{GRIDGIS_COUNTIES}} --log-level warning
Restart=always
RestartSec=2
# the index of a county is built at start (seconds per city); nginx sends its requests elsewhere meanwhile
TimeoutStartSec=300
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
"""

FRONT_UNIT = """# written by `gridgis deploy nginx`: the front, the Debian nginx with the generated configuration
[Unit]
Description=gridgis front (nginx, routing pools per county)
After=network-online.target

[Service]
Type=exec
User=gridgis
Group=gridgis
ExecStartPre=/usr/sbin/nginx -t -q -p {prefix} -c {prefix}/nginx.conf
ExecStart=/usr/sbin/nginx -p {prefix} -c {prefix}/nginx.conf
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGQUIT
Restart=always

[Install]
WantedBy=multi-user.target
"""


def write_units(
    held: Mapping[str, list[str]], out: str | Path, prefix: str | Path, gridgis: str = "/opt/gridgis/bin/gridgis"
) -> list[Path]:
    """Write ``systemd/gridgis-pool@.service``, ``gridgis-front.service`` and one ``pool-PORT.env`` per
    local address (``held``: address → counties); returns the paths written."""
    folder = Path(out) / "systemd"
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "gridgis-pool@.service", folder / "gridgis-front.service"]
    written[0].write_text(POOL_UNIT.format(gridgis=gridgis), encoding="utf-8")
    written[1].write_text(FRONT_UNIT.format(prefix=Path(prefix)), encoding="utf-8")
    for address, counties in sorted(held.items()):
        host, _, port = address.rpartition(":")
        env = folder / f"pool-{port}.env"
        env.write_text(
            f"# {address}: copy to /etc/gridgis/pool-{port}.env on host {host}\n"
            f"GRIDGIS_HOST={host}\nGRIDGIS_WORKERS=2\nGRIDGIS_COUNTIES={','.join(counties)}\n",
            encoding="utf-8",
        )
        written.append(env)
    return written
