#!/bin/sh
# Entry point of the mosquitto service (docker-compose.yml): keeps the password file's service
# accounts in step with .env, then hands over to the image's own entry point.
#
# - The file (/mosquitto/auth/passwd, on the mosquitto-auth volume) is created at first start.
# - User `anxin` (the ingester) always gets ANXIN_MQTT_PASSWORD, so changing it in .env and
#   restarting is enough.
# - User `meters` (optional shared meter account) exists only while ANXIN_MQTT_METERS_PASSWORD is set.
# - Meter users added with `mosquitto_passwd` are left alone.
set -eu

passwd=/mosquitto/auth/passwd
: "${ANXIN_MQTT_PASSWORD:?set ANXIN_MQTT_PASSWORD in .env}"
# Port 1883 faces the meters: never serve it with the placeholders of deploy/env.example.
case "$ANXIN_MQTT_PASSWORD ${ANXIN_MQTT_METERS_PASSWORD:-}" in
    *change-me*)
        echo "mosquitto-entrypoint: replace the change-me MQTT passwords in .env (openssl rand -hex 24)" >&2
        exit 1 ;;
esac

mkdir -p "$(dirname "$passwd")"
if [ ! -s "$passwd" ]; then
    (umask 077 && : >"$passwd")
    mosquitto_passwd -b -c "$passwd" anxin "$ANXIN_MQTT_PASSWORD"
    echo "mosquitto-entrypoint: created $passwd"
else
    mosquitto_passwd -b "$passwd" anxin "$ANXIN_MQTT_PASSWORD"
fi

if [ -n "${ANXIN_MQTT_METERS_PASSWORD:-}" ]; then
    mosquitto_passwd -b "$passwd" meters "$ANXIN_MQTT_METERS_PASSWORD"
elif grep -q '^meters:' "$passwd"; then
    mosquitto_passwd -D "$passwd" meters
    echo "mosquitto-entrypoint: removed the shared user meters (ANXIN_MQTT_METERS_PASSWORD is empty)"
fi

chmod 0600 "$passwd"
chown -R mosquitto:mosquitto "$(dirname "$passwd")"
exec /docker-entrypoint.sh "$@"
