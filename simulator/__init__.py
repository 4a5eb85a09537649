"""The UrbanPulse simulator: a seeded city of sensors publishing readings over MQTT.

`city` lays out the sensors, `models` generates their values (one vectorised
model per kind, registered in one registry), `fleet` schedules and encodes the
messages, `sinks` carries them (MQTT, JSON lines, memory) and `run` paces it all.
"""
