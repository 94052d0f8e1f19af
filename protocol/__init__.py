"""Gridlink wire protocol: canonical JSON, Ed25519 sealing, envelopes, commands, media chunks.

Pure code (bytes in, bytes out) that runs unchanged on CPython and MicroPython.
"""

VERSION = "0.1.0"
