"""A tenant's inventory read as a cycle of steps, and how far it got (pure, serialisable).

A read too large for one run is cut between steps (or between chunks of a step) and
resumed by the next run from its checkpoint. The checkpoint is small: the step, counts,
export job ids, digests of the listings, and the row keys of the parts already read (the
parts themselves are packed rows beside it; see ``staging``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from functions.storage.entities import iso, parse_time


class Step(StrEnum):
    """The steps of a read, in order (``software`` on the read-only path, ``exports`` on
    the export path)."""

    DEVICES = "devices"
    DETECTED_APPS = "detected_apps"
    MANAGED_APPS = "managed_apps"
    SOFTWARE = "software"
    EXPORTS = "exports"
    DETAILS = "details"
    APPLY = "apply"


READ_PATH = "read"
EXPORT_PATH = "export"
_ORDER = {
    READ_PATH: (Step.DEVICES, Step.DETECTED_APPS, Step.MANAGED_APPS, Step.SOFTWARE,
                Step.DETAILS, Step.APPLY),
    EXPORT_PATH: (Step.DEVICES, Step.DETECTED_APPS, Step.MANAGED_APPS, Step.EXPORTS,
                  Step.DETAILS, Step.APPLY),
}


@dataclass
class Checkpoint:
    """How far the tenant's current read (``cycle``) got."""

    cycle: str
    started_at: datetime
    path: str = READ_PATH
    step: Step = Step.DEVICES
    runs: int = 1  # runs that worked on this read
    devices: int = 0  # devices listed
    apps: int = 0  # detected apps listed
    apps_read: int = 0  # apps whose devices were read (in listing order)
    details_wanted: int = 0  # devices whose details are to be read
    details_read: int = 0  # of those, read (in listing order)
    jobs: dict[str, str] = field(default_factory=dict)  # report -> export job id
    jobs_at: float = 0.0  # when they were created (Unix time)
    digests: dict[str, str] = field(default_factory=dict)  # listing -> digest of its pages
    parts: dict[str, list[str]] = field(default_factory=dict)  # part kind -> row keys
    incomplete: dict[str, str] = field(default_factory=dict)  # part -> why it is not whole
    error_code: str = ""  # the first failure (the read goes straight to apply)
    error: str = ""
    paced: list[list[float]] = field(default_factory=list)  # [unix time, requests] sent

    @classmethod
    def start(cls, now: datetime, path: str) -> Checkpoint:
        """A new read, on ``path``."""
        return cls(cycle=f"{int(now.timestamp()):010d}{os.urandom(3).hex()}", started_at=now,
                   path=path)

    def advance(self) -> None:
        """On to the step after the current one on this read's path."""
        order = _ORDER[self.path]
        self.step = order[order.index(self.step) + 1]

    def switch_to_reads(self) -> None:
        """Leave the export path for the read-only one (an export failed); the step that
        reads the apps' devices comes next."""
        self.path, self.step = READ_PATH, Step.SOFTWARE
        self.jobs.clear()

    def fail(self, part: str, code: str, message: str) -> None:
        """``part`` could not be read whole: the read ends here, incomplete."""
        self.incomplete[part] = message
        if not self.error_code:
            self.error_code, self.error = code, message

    def add_part(self, part_type: str, row_key: str) -> None:
        self.parts.setdefault(part_type, []).append(row_key)

    def progress(self) -> str:
        """How far the read got, for a person (the run's message and the tenant's health)."""
        if self.step == Step.DEVICES:
            done = ["started listing devices"]
        elif self.step == Step.DETECTED_APPS:
            done = [f"listed {self.devices:,} devices"]
        else:
            done = [f"listed {self.devices:,} devices and {self.apps:,} detected apps"]
        if self.path == READ_PATH and self.step in (Step.SOFTWARE, Step.DETAILS, Step.APPLY):
            done.append(f"read the devices of {self.apps_read:,} of {self.apps:,} apps")
        if self.path == EXPORT_PATH and self.step == Step.EXPORTS:
            done.append("waiting for Intune's report exports" if self.jobs
                        else "about to request Intune's report exports")
        if self.step in (Step.DETAILS, Step.APPLY):
            done.append(f"read the details of {self.details_read:,} of "
                        f"{self.details_wanted:,} devices that checked in")
        return (f"Inventory read in progress (run {self.runs} of this read): "
                f"{'; '.join(done)}. The next run resumes from there; nothing is retired or "
                "marked removed until the whole inventory is read.")

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["started_at"], data["step"] = iso(self.started_at), self.step.value
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Checkpoint | None:
        """A checkpoint as saved; None for one this version cannot read (it starts over)."""
        try:
            data = json.loads(text)
            data["started_at"] = parse_time(data["started_at"])
            data["step"] = Step(data["step"])
            checkpoint = cls(**data)
        except (ValueError, TypeError, KeyError):
            return None
        if checkpoint.path not in _ORDER or checkpoint.step not in _ORDER[checkpoint.path]:
            return None
        return checkpoint
