"""The deletion guard's verdict, visible: a held sync keeps its preview, and a release
applies exactly the previewed changes (docs/design.md, "The deletion guard, visible")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from functions.core.changes import Change, plan_digest
from functions.core.model import Run, utcnow
from functions.storage.holds import Hold, HoldTable

CHANGED_SINCE_PREVIEW = (
    "These changes differ from the preview that was released (the directory changed since "
    "it was taken): nothing was written. Review the new preview (GET /api/tenants/{tenant}/"
    "directory/held) and release it again (POST /api/tenants/{tenant}/directory/sync with "
    '{{"allowMassDeletion": true}}).')


@dataclass
class DeletionGuard:
    holds: HoldTable
    clock: Callable[[], datetime] = utcnow

    def verdict(self, run: Run, reason: str | None, entries: Sequence[Change]) -> str | None:
        """Whether a run's planned changes are held back: None to write them, else why
        (their preview is then kept, replacing any earlier one).

        ``reason`` is the slice's own verdict. A run that allows mass deletion writes only
        when nothing was previewed or the plan is the previewed one; a plan that changed
        since the preview is held again with the new preview.

        Raises:
            StorageError: storage did not answer.
        """
        if reason is None:
            if self.holds.get(run.tenant_id, run.kind) is not None:
                self.holds.delete(run.tenant_id, run.kind)  # nothing abnormal any more
            return None
        digest = plan_digest(entries)
        if run.options.allow_mass_deletion:
            held = self.holds.get(run.tenant_id, run.kind)
            if held is None or held.digest == digest:
                if held is not None:
                    self.holds.delete(run.tenant_id, run.kind)
                return None
            reason = CHANGED_SINCE_PREVIEW.format(tenant=run.tenant_id)
        self.holds.save(run.tenant_id, Hold(run.kind, run.run_id, self.clock(), reason, digest,
                                            list(entries)))
        return reason
