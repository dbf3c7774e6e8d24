"""The ``tenantsync`` command line: what the HTTP API does, from a shell (docs/cli.md).

Exit codes: 0 done; 1 work failed (a sync did not succeed); 2 bad input or configuration.
"""

from functions.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
