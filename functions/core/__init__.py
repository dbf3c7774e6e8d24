"""The foundation every layer stands on: errors, settings, validation, the shared records and
telemetry. Nothing here does I/O beyond logging."""
