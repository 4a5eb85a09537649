"""The UrbanPulse simulator: a seeded city of sensors publishing readings over MQTT.

`city` lays out the sensors (each kind's `layout.py` draws its attributes),
`parts` finds each registered kind's layout and value model, `fleet` schedules
the models and encodes the messages, `faults` and `scenarios` inject episodes,
`sinks` carries the messages (MQTT, JSON lines, memory) and `run` paces it all.
"""
