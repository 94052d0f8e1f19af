# The firmware version: the one place it lives. The device reports it as "fw" in its birth
# message and heartbeat; a provisioning tool reads it from this line (or imports the module).
VERSION = "0.1.0"
