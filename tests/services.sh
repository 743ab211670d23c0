#!/usr/bin/env bash
# Installs what the tests need from Debian's packages: Mosquitto and InfluxDB (tests start their own)
# and a PostgreSQL server on 127.0.0.1:5432 (tests create and drop their own databases in it).
set -euo pipefail

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
updated=no
install() {
    [ "$updated" = yes ] || { sudo_ apt-get update -q; updated=yes; }
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || install mosquitto
command -v mosquitto_pub >/dev/null || install mosquitto-clients
# tests/test_compose.py checks docker-compose.yml with `docker compose config` (no engine needed).
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || install docker-compose
# InfluxDB 1.x: the tests start their own influxd on free ports (the package's own service stays off).
command -v influxd >/dev/null || install influxdb
# tests/api/web/test_browser.py drives Debian's Chromium with Playwright (never `playwright install`).
[ -x /usr/bin/chromium ] || install chromium
# tests/bench/test_api.py loads the API with wrk, the load generator of `make bench`.
command -v wrk >/dev/null || install wrk

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready; then
    command -v pg_lsclusters >/dev/null || install postgresql
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    sudo_ pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
    # A fresh install refuses passwordless TCP logins: give the postgres role the password the
    # tests use (a server configured for trust, as on the CI machines, ignores it).
    sudo_ runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" || true
fi
pg_ready || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
