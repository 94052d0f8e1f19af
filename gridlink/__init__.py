"""Gridlink command-line entry point (``gridlink``)."""
