"""UrbanPulse api: a FastAPI service over InfluxDB and the MQTT broker.

`api.main.create_app(settings)` builds the app, `api.main.main(settings)` serves it.
"""
