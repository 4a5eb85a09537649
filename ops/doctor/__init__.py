"""`urbanpulse doctor`: checks a running stack end to end and says how to fix what is wrong.

    checks    runs every check in order and prints the report (`main`)
    mqtt      the broker: anonymous refusal, each account's login and publish rights
    mqtt_probe  the doctor's own MQTT 5 connection, which sees the reason codes
    influx    InfluxDB: a write and a read-back, anonymous queries refused
    ingest    the ingester: its retained status and the age of its metrics
    grafana   the data source's health and the provisioned dashboards
    api       the api's `/health`
    report    a check's `Finding` and how findings print
    secrets   the compose stack's secrets (`python -m ops.doctor.secrets`)
"""
