"""MQTT ingest worker: the only hub module that talks to the broker (paho-mqtt 2)."""
