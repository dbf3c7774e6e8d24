"""Request budgets: a sliding window per (app, tenant, category) for Intune, and one per app
across every tenant for the directory (groups and users).

Categories: "devices" (managedDevices and detectedApps) and "apps" (mobileApps), per app and
tenant; "directory", per app. Only requests the limiter admits are recorded: a throttled
request does not extend the wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .model import ThrottleConfig
from .validate import boolean, integer, mapping, number

CATEGORIES = ("devices", "apps", "directory")
_KEYS = ("enabled", "window_seconds", "intune_devices_per_window", "intune_apps_per_window",
         "directory_app_requests_per_window")
ACROSS_TENANTS = "*"  # the tenant part of a budget that is the app's in every tenant


class Limiter:
    """Thread-safe sliding-window limiter. `admit` records an admitted request."""

    def __init__(self, config: ThrottleConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self.rejected: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        # Per app: the most directory requests it had in one window (what a test or a
        # benchmark compares with the budget).
        self.peak: dict[str, int] = {}

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
            self.peak = {}

    def admit(
        self, client_id: str, tenant_id: str, category: str, now: float | None = None
    ) -> float | None:
        """None if the request is within budget (it is recorded), else the seconds until
        the oldest request of the window expires: rounded up to 0.1 s, at least 0.1 s."""
        config = self._config
        if not config.enabled:
            return None
        budget = {"devices": config.devices_per_window, "apps": config.apps_per_window,
                  "directory": config.directory_app_per_window}[category]
        window = config.window_seconds
        moment = time.monotonic() if now is None else now
        with self._lock:
            times = self._windows.setdefault((client_id, tenant_id, category), deque())
            cutoff = moment - window
            while times and times[0] <= cutoff:
                times.popleft()
            if len(times) < budget:
                times.append(moment)
                if tenant_id == ACROSS_TENANTS:
                    self.peak[client_id] = max(self.peak.get(client_id, 0), len(times))
                return None
            self.rejected[category] = self.rejected.get(category, 0) + 1
            wait = times[0] + window - moment
        return max(0.1, math.ceil(round(wait * 10, 6)) / 10)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` for a wait in tenths of a second: "0.4", "1.5", "20"."""
    return f"{seconds:g}"


def parse_throttling(raw: object, path: str = "throttling") -> ThrottleConfig:
    """Budgets; a key left out keeps its default (2000 / 1000 / 50,000 requests per 20 s)."""
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
        directory_app_per_window=integer(
            entry.get("directory_app_requests_per_window", base.directory_app_per_window),
            f"{path}.directory_app_requests_per_window",
            1,
        ),
    )
