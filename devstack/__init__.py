"""Local stand-ins for Azure, for the demo, the tests and the benchmarks.

Azurite (npm) for tables and queues and the Microsoft simulator (``simulator/``) for the
token endpoint, Graph and Key Vault, each started as a child process on free loopback ports.
:func:`local_settings` gives the environment that points tenantsync at them: the same
settings names as in Azure, only other values. Never deployed (see .funcignore).
"""

from .stack import (
    AzuriteProcess,
    LocalStack,
    SimulatorProcess,
    deployment_settings,
    local_settings,
    with_callback,
)

__all__ = ["AzuriteProcess", "LocalStack", "SimulatorProcess", "deployment_settings",
           "local_settings", "with_callback"]
