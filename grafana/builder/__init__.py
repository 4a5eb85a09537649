"""Build the provisioned Grafana dashboards of grafana/dashboards/ from Python.

    frame.py        the tag, links, annotations and panel numbering every dashboard shares
    variables.py    the city, district and sensor variables (cities from the shipped profiles)
    kinds.py        one dashboard per registered kind, from its `dashboard` module
    overview.py     the city overview (Grafana's home dashboard), with each kind's panels
    systems.py      one dashboard per city system (flood, water supply…), from its kinds' panels
    fleet.py        the device-fleet dashboard: every sensor's silence, battery and signal
    operations.py   the alerts and the pipeline-health dashboards
    __main__.py     `python -m grafana.builder [--check]` writes (or checks) the JSON files

The panels themselves are written in `urbanpulse.kinds.panels`, the contract a
kind's `urbanpulse/kinds/<kind>/dashboard.py` uses too, so a kind's dashboard
lives with its kind, and its colours and limits come from `urbanpulse.standards`.
The JSON files are what Grafana loads; this package is how they are made, so a
change to a panel is reviewed as code. `--check` fails when a JSON file differs
from what the builder produces, and the dashboard tests run it.
"""
