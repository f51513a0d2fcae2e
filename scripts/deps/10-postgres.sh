#!/usr/bin/env bash
# PostgreSQL server binaries (initdb, pg_ctl, postgres) for the bus tests: internal/pgtest starts a
# throwaway cluster on 127.0.0.1 from them. Debian's package; the cluster it creates is not used.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends postgresql >/dev/null; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends postgresql >/dev/null
fi
# The package starts its own cluster on 5432 where services run; the tests need none of it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for c in /etc/postgresql/*/main; do
    [ -d "$c" ] || continue
    v=$(basename "$(dirname "$c")")
    pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true
  done
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
