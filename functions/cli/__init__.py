"""The ``tenantsync`` command line: onboard tenants, run syncs, read what they stored.

Exit codes: 0 done; 1 a sync did not succeed; 2 bad input or configuration.
"""

from functions.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
