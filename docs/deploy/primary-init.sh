#!/bin/bash
# /docker-entrypoint-initdb.d/ of the primary in compose.yaml (first start only): let the replica
# container connect for replication (the image's pg_hba.conf covers ordinary connections only).
echo "host replication gridgis all scram-sha-256" >> "$PGDATA/pg_hba.conf"
