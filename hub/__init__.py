"""Gridlink hub: verified ingest of device events into case records and the case workflow."""

__version__ = "0.1.0"
