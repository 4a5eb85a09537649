#!/bin/sh
# Start mosquitto with a password file built from the environment.
#
# Hashes MQTT_SIMULATOR_PASSWORD, MQTT_INGEST_PASSWORD, MQTT_API_PASSWORD and
# MQTT_OBSERVER_PASSWORD into a fresh password file on every start, so no secret
# is committed and none outlives the container (RUN_DIR is a tmpfs in compose).
# An empty or placeholder password stops the container with a message.
#
# The paths can be moved for the offline test that runs this script against a
# local mosquitto: MOSQUITTO_RUN_DIR, MOSQUITTO_CONFIG_DIR, MOSQUITTO_CONF, MOSQUITTO_BIN.
set -eu

run_dir="${MOSQUITTO_RUN_DIR:-/run/mosquitto}"
config_dir="${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}"
conf="${MOSQUITTO_CONF:-$config_dir/mosquitto.conf}"
broker="${MOSQUITTO_BIN:-/usr/sbin/mosquitto}"

fail() {
    echo "mosquitto entrypoint: $*" >&2
    exit 1
}

umask 077
mkdir -p "$run_dir"
passwd_file="$run_dir/passwd"
rm -f "$passwd_file"
: > "$passwd_file"

add_account() {
    user="$1"
    variable="$2"
    eval "password=\${$variable:-}"
    lowered=$(printf '%s' "$password" | tr '[:upper:]' '[:lower:]')
    case "$lowered" in
        "") fail "$variable is empty: set a password for MQTT account '$user' in .env." ;;
        change-me|changeme|secret|password|admin)
            fail "$variable is a placeholder: set a real password for MQTT account '$user' in .env." ;;
    esac
    mosquitto_passwd -b "$passwd_file" "$user" "$password" \
        || fail "mosquitto_passwd could not add account '$user'."
}

add_account simulator MQTT_SIMULATOR_PASSWORD
add_account ingest MQTT_INGEST_PASSWORD
add_account api MQTT_API_PASSWORD
add_account observer MQTT_OBSERVER_PASSWORD

cp "$config_dir/acl" "$run_dir/acl"
chmod 0600 "$passwd_file" "$run_dir/acl"

# The broker drops root for the `mosquitto` user before it reads these files.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$run_dir" "$passwd_file" "$run_dir/acl"
    if [ -d /mosquitto/data ]; then
        chown mosquitto:mosquitto /mosquitto/data
    fi
fi

exec "$broker" -c "$conf"
