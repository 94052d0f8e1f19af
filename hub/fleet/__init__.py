"""The fleet overview (devices with their heartbeat figures and pending commands) and the
grid workers' patrol tracks, for the console's fleet page."""
