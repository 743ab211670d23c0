#!/bin/bash
# Runs once, at the first start of the influxdb service (mounted in /docker-entrypoint-initdb.d/),
# after DOCKER_INFLUXDB_INIT_MODE=setup has created the org, the admin token and the bucket `anxin`.
# The image's entry point has already configured the `influx` CLI with that token, and exported
# DOCKER_INFLUXDB_INIT_ORG_ID and DOCKER_INFLUXDB_INIT_BUCKET_ID.
#
# anxin's readings store speaks the InfluxDB 1.x API (ANXIN_READINGS_URL=influxdb://TOKEN@influxdb:8086/anxin)
# and uses three retention policies of database `anxin` (store/influx_readings.py). On 2.x each
# is a bucket with a v1 DBRP mapping:
#   anxin/raw    -> bucket anxin         raw readings (default)   ANXIN_INFLUX_RETENTION, 400d
#   anxin/hourly -> bucket anxin_hourly  the hourly series        ANXIN_INFLUX_HOURLY_RETENTION, 5 years
#   anxin/recent -> bucket anxin_recent  the arrival log that the detector follows, 2 days
set -euo pipefail

org_id="$DOCKER_INFLUXDB_INIT_ORG_ID"

bucket() {  # bucket NAME RETENTION: create it, print its id
    influx bucket create --org-id "$org_id" --name "$1" --retention "$2" >/dev/null
    influx bucket list --org-id "$org_id" --name "$1" --hide-headers | cut -f 1
}

hourly_id="$(bucket anxin_hourly "${ANXIN_INFLUX_HOURLY_RETENTION:-1826d}")"
recent_id="$(bucket anxin_recent 2d)"

influx v1 dbrp create --org-id "$org_id" --db anxin --rp raw --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" --default
influx v1 dbrp create --org-id "$org_id" --db anxin --rp hourly --bucket-id "$hourly_id"
influx v1 dbrp create --org-id "$org_id" --db anxin --rp recent --bucket-id "$recent_id"
