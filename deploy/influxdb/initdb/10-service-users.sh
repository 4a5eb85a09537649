#!/bin/sh
# Create the services' InfluxDB users, each allowed only what its service needs.
#
# The influxdb:2 image runs this once, right after its first-start set-up, with
# the `influx` CLI already logged in with the operator token; nothing else ever
# gets that token. The users are v1 users (user name and password), which the
# v1-compatible /write and /query endpoints accept as HTTP Basic auth:
#   ingest  writes bucket city (its start-up check is a write, too), and reads
#           it to restore its active alerts from its own `alerts` record
#   api     reads bucket city
#   grafana reads bucket city (the provisioned data source)
set -eu

fail() {
    echo "influxdb service users: $*" >&2
    exit 1
}

bucket="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?the image did not export the city bucket id}"
org="${DOCKER_INFLUXDB_INIT_ORG:?the image did not export the organisation}"

create_user() {
    user="$1"
    variable="$2"
    shift 2
    rights="$*"
    for right in "$@"; do  # each right takes the bucket id: --write-bucket ID --read-bucket ID
        set -- "$@" "$right" "$bucket"
        shift
    done
    eval "password=\${$variable:-}"
    [ -n "$password" ] || fail "$variable is empty: set the password of InfluxDB user '$user' in .env."
    influx v1 auth create --org "$org" --username "$user" --password "$password" \
        "$@" --description "UrbanPulse $user" > /dev/null \
        || fail "could not create InfluxDB user '$user'."
    echo "influxdb service users: created '$user' ($rights city)"
}

create_user ingest INFLUX_INGEST_PASSWORD --write-bucket --read-bucket
create_user api INFLUX_API_PASSWORD --read-bucket
create_user grafana INFLUX_GRAFANA_PASSWORD --read-bucket
