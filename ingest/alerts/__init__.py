"""The alert engine: rules from a YAML file, evaluated on every reading as it is accepted.

    rules.py       the rules file: one pydantic model per rule type, validated with line numbers
    conditions.py  what each rule type checks on a reading (pure, no clock)
    engine.py      the lifecycle pending → firing → acknowledged → resolved per (rule, sensor)

The engine never reads the clock or the network: the ingester passes the time
and publishes what the engine returns, so tests drive time.
"""
