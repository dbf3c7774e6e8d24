"""Intune request budgets: a sliding window per (app, tenant, category).

Categories: "devices" (managedDevices and detectedApps) and "apps" (mobileApps). Only
requests the limiter admits are recorded: a throttled request does not extend the wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .model import ThrottleConfig
from .validate import boolean, integer, mapping, number

CATEGORIES = ("devices", "apps")
_KEYS = ("enabled", "window_seconds", "intune_devices_per_window", "intune_apps_per_window")


class Limiter:
    """Thread-safe sliding-window limiter. `admit` records an admitted request."""

    def __init__(self, config: ThrottleConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self.rejected: dict[str, int] = dict.fromkeys(CATEGORIES, 0)

    @property
    def config(self) -> ThrottleConfig:
        return self._config

    def configure(self, config: ThrottleConfig) -> None:
        """New budgets; the windows start empty."""
        with self._lock:
            self._config = config
            self._windows.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.rejected = dict.fromkeys(CATEGORIES, 0)

    def admit(
        self, client_id: str, tenant_id: str, category: str, now: float | None = None
    ) -> float | None:
        """None if the request is within budget (it is recorded), else the seconds until
        the oldest request of the window expires: rounded up to 0.1 s, at least 0.1 s."""
        config = self._config
        if not config.enabled:
            return None
        budget = config.devices_per_window if category == "devices" else config.apps_per_window
        window = config.window_seconds
        moment = time.monotonic() if now is None else now
        with self._lock:
            times = self._windows.setdefault((client_id, tenant_id, category), deque())
            cutoff = moment - window
            while times and times[0] <= cutoff:
                times.popleft()
            if len(times) < budget:
                times.append(moment)
                return None
            self.rejected[category] = self.rejected.get(category, 0) + 1
            wait = times[0] + window - moment
        return max(0.1, math.ceil(round(wait * 10, 6)) / 10)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` for a wait in tenths of a second: "0.4", "1.5", "20"."""
    return f"{seconds:g}"


def parse_throttling(raw: object, path: str = "throttling") -> ThrottleConfig:
    """Budgets; a key left out keeps its default (2000 / 1000 requests per 20 s)."""
    entry = mapping(raw, path, _KEYS)
    base = ThrottleConfig()
    return ThrottleConfig(
        enabled=boolean(entry.get("enabled", base.enabled), f"{path}.enabled"),
        window_seconds=number(
            entry.get("window_seconds", base.window_seconds), f"{path}.window_seconds", 0.1, 3600
        ),
        devices_per_window=integer(
            entry.get("intune_devices_per_window", base.devices_per_window),
            f"{path}.intune_devices_per_window",
            1,
        ),
        apps_per_window=integer(
            entry.get("intune_apps_per_window", base.apps_per_window),
            f"{path}.intune_apps_per_window",
            1,
        ),
    )
