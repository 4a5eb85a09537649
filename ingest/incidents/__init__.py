"""Incidents (事件): related alerts grouped into one unit of work, with its lifecycle.

    routing.py  which department an alert rule's alerts go to (from its `detects`)
    desk.py     the incidents themselves: correlation, stages, time limits (pure)
    changes.py  what the desk is given and hands back: limits, changes, audit entries
    record.py   the InfluxDB record: `incidents` and `incident_audit` points, restore
    office.py   the desk at work in the ingester: commands, clock, broker and record

docs/incidents.md says why each rule is the way it is. The desk never reads the
clock or the network: the office passes the time and carries out what it returns.
"""
