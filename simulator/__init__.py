"""Offline simulator of Entra ID tokens, Microsoft Graph and Key Vault, for tests and demos.

Production code never imports this package: it reaches the simulator through ordinary
configuration (base URLs and a CA bundle). See docs/simulator.md.
"""

from __future__ import annotations

from .fixture import FixtureError, load_fixture
from .sim import Simulator

__all__ = ["FixtureError", "Simulator", "load_fixture"]
