"""The HTTP API for portals (FastAPI): see docs/api.md."""

from functions.api.app import API_FUNCTION_NAME, create_app

__all__ = ["API_FUNCTION_NAME", "create_app"]
