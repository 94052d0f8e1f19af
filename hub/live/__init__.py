"""Live updates: the server-sent events feed of the console (``GET /api/live``)."""
