"""Build the provisioned Grafana dashboards of grafana/dashboards/ from Python.

    panels.py       panel, target, variable, annotation and link builders
    standards.py    colours and mappings taken from urbanpulse.standards (HJ 633, GB 3838, GB 3096)
    overview.py     the city overview (Grafana's home dashboard)
    kinds.py        one dashboard per sensor kind (parking, air, water, energy, noise)
    operations.py   the alerts and the pipeline-health dashboards
    __main__.py     `python -m grafana.builder [--check]` writes (or checks) the JSON files

The JSON files are what Grafana loads; this package is how they are made, so a
colour or a threshold is written once, from the standards module, and a change
to a panel is reviewed as code. `--check` fails when a JSON file differs from
what the builder produces, and the dashboard tests run it.
"""
