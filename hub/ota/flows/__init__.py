"""OTA orchestration by trigger: device events and acks (``device_events``), the timer
(``supervision``)."""
