"""UrbanPulse operator commands: the `urbanpulse` command line and what only it runs.

    cli         the `urbanpulse` command: one subcommand per process, and more
    up, stack   the whole pipeline on local mosquitto and influxd (`urbanpulse up`)
    doctor      checks a running stack end to end (`urbanpulse doctor`)
    score       rates alert rules against a run's ground truth (`urbanpulse score`), pure;
                its edges are `score_run` (files, replay) and `score_influx` (InfluxDB)
    score_basis what each rule is scored on: device faults, incidents or the clean signal

This package sits above the others: it may import the contract (`urbanpulse`)
and every service, and nothing imports it but the console script and the tests.
"""
