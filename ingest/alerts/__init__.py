"""The alert engine: rules from YAML files, evaluated on every reading as it is accepted.

    rules.py       rules files: the generic rule types as pydantic models, the union with
                   every kind's own types, validated with line numbers
    conditions.py  what each generic rule type checks on a reading (pure, no clock)
    engine.py      the lifecycle pending → firing → acknowledged → resolved per (rule, sensor)
    silence.py     which sensors of a kind have gone silent, for the staleness sweep
    notify.py      what pages people: the alert changes as notifications, downstream of the
                   states (grouping per district and rule, inhibition, flapping)
    groups.py      a notification group and the page it sends
    inhibit.py     inhibit rules (shipped in inhibit.yaml, or a rules file's `inhibit_rules`)
    flapping.py    which alerts change state too often to page

A kind's own rule types, their checks and its default rules live in its folder
(`urbanpulse/kinds/<kind>/rules.py`, `checks.py`, `rules.yaml`). The engine
never reads the clock or the network: the ingester passes the time and
publishes what the engine returns, so tests drive time.
"""
