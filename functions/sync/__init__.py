"""The sync engine: how a run starts, is claimed, runs, is recorded and closes."""
