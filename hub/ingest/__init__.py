"""MQTT ingest worker: the hub module that takes the device traffic (paho-mqtt 2)."""
