"""Gridlink simulator: real firmware processes on the MicroPython unix port, simulated
peripherals, scenario scripts and fault injection (see docs/simulator.md)."""

from simulator.fleet import Fleet, SimDevice  # noqa: F401
from simulator.netproxy import NetProxy  # noqa: F401

VERSION = "0.1.0"
