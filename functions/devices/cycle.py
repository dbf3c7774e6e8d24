"""One run's share of a tenant's inventory read: resume the read where the last run left it,
go on step by step (chunk by chunk) until the run's time is up or the read is whole, save
the progress, and hand a whole read over to be compared and written (see docs/inventory.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from functions.clients.batch import GraphBatch
from functions.clients.graph import GraphClient
from functions.clients.pacing import Deadline, RequestPacer
from functions.core.config import Settings
from functions.core.errors import ErrorCode, GraphError
from functions.core.model import utcnow
from functions.devices import exports, unchanged
from functions.devices.batched import BatchedRead, read_app_devices, read_details
from functions.devices.checkpoint import EXPORT_PATH, READ_PATH, Checkpoint, Step
from functions.devices.model import Inventory, SavedRead, device_from_graph, device_key
from functions.devices.parts import (
    LISTING_PART,
    HeldLinks,
    Listed,
    assemble,
    decode,
    encode,
    links_of,
    listing_parts,
    records,
)
from functions.devices.reader import read_listing, read_organization
from functions.devices.staging import CheckpointStore
from functions.devices.store import InventoryTables

log = logging.getLogger("tenantsync.devices")

APP_CHUNK = 100  # apps whose devices are read, then kept, at a time
DETAIL_CHUNK = 200  # devices whose details are read, then kept, at a time
BATCHES_IN_FLIGHT = 3  # a tenant's batches at once: its reads need not wait for each other
SAVE_EVERY = 10.0  # seconds of reading between saves: a run that dies loses no more
GRACE = 60.0  # a chunk started in time may finish this much past the run's time
PACING_MARGIN = 1.0  # seconds added to Intune's window: requests take time to arrive
_POLL_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # between polls of export jobs
RAW_DEVICES = 10_000  # devices kept as Graph sent them at most (about 25 MB): more, records
EXPORT_PATIENCE = 3600.0  # seconds export jobs may take before the read gives up on them
_LISTINGS = (("devices", Step.DEVICES, "devices"),
             ("detected_apps", Step.DETECTED_APPS, "detectedapps"),
             ("managed_apps", Step.MANAGED_APPS, "managedapps"))
_PARTS = ("devices", "detected_apps", "managed_apps", "software", "details")


class InventoryCycle:
    """Reads a tenant's inventory for one run (``read``), resuming the read in progress."""

    def __init__(self, graph: GraphClient, tenant_id: str, *, checkpoints: CheckpointStore,
                 tables: InventoryTables, settings: Settings,
                 clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic, known: str = "") -> None:
        self._graph, self._tenant_id = graph, tenant_id
        self._known = known  # the tables' fingerprint, when this run may trust it
        self._checkpoints, self._tables = checkpoints, tables
        self._settings, self._clock, self._monotonic = settings, clock, monotonic
        window = settings.intune_window_seconds + PACING_MARGIN
        self.pacer = RequestPacer(settings.intune_budget, window, clock=monotonic)
        # Intune's apps budget (mobileApps) is half the devices one: 1,000 against 2,000.
        self._apps_pacer = RequestPacer(max(1, settings.intune_budget // 2), window,
                                        clock=monotonic)
        # The requests inside a batch are retried under the client's own policy.
        self._batch = GraphBatch(graph, self.pacer, clock=monotonic,
                                 in_flight=BATCHES_IN_FLIGHT)
        self._cp: Checkpoint | None = None
        self._etag: str | None = None
        self._unsaved: list[tuple[str, Any]] = []  # parts read since the last save
        self._cache: dict[str, Any] = {}  # saved parts, by row key
        self._listed: Listed | None = None
        self._wanted: list[int] | None = None
        self._held = HeldLinks()  # apps' devices not made links yet (see _software)
        # Devices that may be listed as the tables hold them: not made records (yet).
        self._raw: list[dict[str, Any]] | None = None
        self._saved_at = monotonic()

    @property
    def checkpoint(self) -> Checkpoint:
        assert self._cp is not None, "read() first"
        return self._cp

    # --- the run -------------------------------------------------------------------------

    def read(self) -> Inventory:
        """Read as much of the tenant's inventory as this run's time allows.

        Returns the whole read (``complete`` unless a part failed; ``end_read`` ends its
        ``saved`` progress once it was applied), or one ``in_progress`` with the progress
        saved.

        Raises:
            TenantError: Intune not licensed, a permission missing, no token.
            CheckpointTaken: another run took the tenant's read over.
            StorageError: storage did not answer.
        """
        organization = read_organization(self._graph, self._tenant_id)
        cp = self._resume()
        deadline = Deadline(self._settings.run_time_budget_seconds, clock=self._monotonic)
        worked = False
        while cp.step != Step.APPLY:
            if worked and deadline.passed():
                break
            if not self._step(cp.step, deadline, first=not worked):
                break
            worked = True
            if self._monotonic() - self._saved_at >= SAVE_EVERY and cp.step != Step.APPLY:
                self._save()
        inventory = Inventory(organization=organization)
        if cp.step == Step.APPLY:
            self._assemble(inventory)
            return inventory
        self._save()
        inventory.in_progress = True
        if worked:
            inventory.error_code, inventory.error = ErrorCode.INVENTORY_IN_PROGRESS, cp.progress()
        else:
            inventory.error_code = ErrorCode.GRAPH_THROTTLED
            inventory.error = (
                "Intune kept the inventory read waiting (throttled) past this run's time "
                f"budget; nothing could be read. {cp.progress()}")
        log.info("inventory read saved part-way", extra={
            "tenant_id": self._tenant_id, "step": cp.step.value, "worked": worked})
        return inventory

    def _resume(self) -> Checkpoint:
        """The read in progress, or a new one (on the export path if the token allows)."""
        cp, self._etag = self._checkpoints.load(self._tenant_id)
        now = self._clock()
        max_age = timedelta(hours=self._settings.checkpoint_max_age_hours)
        if cp is not None and now - cp.started_at < max_age:
            cp.runs += 1
            self.pacer.prime(cp.paced, now.timestamp())
            self._cp = cp
            return cp
        if cp is not None:
            self._checkpoints.drop(self._tenant_id, cp.cycle)  # too old: start over
        path = EXPORT_PATH if self._graph.roles() & exports.EXPORT_ROLES else READ_PATH
        self._cp = Checkpoint.start(now, path)
        return self._cp

    def _step(self, step: Step, deadline: Deadline, *, first: bool) -> bool:
        """Do one step, or one chunk of a chunked step; False if it could not be done in
        this run's time (nothing of it is kept)."""
        for name, listing_step, kind in _LISTINGS:
            if step == listing_step:
                return self._listing(name, kind)
        if step == Step.SOFTWARE:
            return self._software(deadline, first)
        if step == Step.EXPORTS:
            return self._exports(deadline)
        return self._details(deadline, first)

    def _fits(self, requests: int, deadline: Deadline, first: bool) -> bool:
        """Whether a chunk of ``requests`` can go through the pacer before the deadline (the
        first chunk of a run always goes, so that every run advances)."""
        return first or self.pacer.wait_for(requests) <= deadline.remaining()

    # --- steps ---------------------------------------------------------------------------

    def _listing(self, name: str, part_type: str) -> bool:
        cp = self.checkpoint
        pacer = self._apps_pacer if name == "managed_apps" else self.pacer
        hold = name == "devices" and bool(unchanged.known_device_listing(self._known))  # see _raw
        listing = read_listing(self._graph, name, self._tenant_id, pacer, parse=not hold)
        if hold and len(listing.records) <= RAW_DEVICES:
            self._raw = sorted(listing.records, key=lambda item: device_key(item)[0])
        else:
            made = map(device_from_graph, listing.records) if hold else listing.records
            for part in listing_parts(part_type, made):
                self._keep(part_type, part)
        cp.digests[name] = listing.digest
        if name == "devices":
            cp.devices = len(listing.records)
        elif name == "detected_apps":
            cp.apps = len(listing.records)
        if listing.complete:
            cp.advance()
        else:
            self._abort(name, listing.error_code, listing.error)
        if name == "managed_apps" and not unchanged.may_be_unchanged(self._known, cp.digests):
            self._make_devices()
        return True

    def _software(self, deadline: Deadline, first: bool) -> bool:
        cp, listed = self.checkpoint, self._listings()
        chunk = listed.app_ids[cp.apps_read:cp.apps_read + APP_CHUNK]
        if chunk and not self._fits(len(chunk), deadline, first):
            return False
        found = read_app_devices(self._batch, chunk, deadline.extended(GRACE))
        if found.undone:
            return False
        ids = {cp.apps_read + n: found.found[app] for n, app in enumerate(chunk)}
        read = {app: unchanged.devices_as_read(devices) for app, devices in ids.items()}
        unchanged.add_software(cp.digests, read)
        if unchanged.may_be_unchanged(self._known, cp.digests) and not self._held.full:
            self._held.hold(read)  # links only once the read may not be unchanged
        else:
            self._release(ids)
        self._failures("software", found)
        cp.apps_read += len(chunk)
        if cp.apps_read >= len(listed.app_ids):
            cp.advance()
        return True

    def _details(self, deadline: Deadline, first: bool) -> bool:
        cp, listed = self.checkpoint, self._listings()
        listed_as = unchanged.known_device_listing(self._known)
        if self._wanted is None and listed_as and cp.digests.get("devices") == listed_as:
            # Listed as when the tables were last written whole: nobody checked in since.
            self._wanted, cp.details_wanted = [], 0
        if self._wanted is None:
            stamps = self._tables.details_as_of(self._tenant_id)
            missing = object()
            # Only devices never read, or that checked in since their details were read.
            self._wanted = [p for p, device in enumerate(listed.device_ids)
                            if (stamp := stamps.get(device, missing)) is missing
                            or stamp is None or stamp != listed.last_sync[p]]
            cp.details_wanted = len(self._wanted)
        chunk = self._wanted[cp.details_read:cp.details_read + DETAIL_CHUNK]
        if chunk and not self._fits(len(chunk), deadline, first):
            return False
        ids = [listed.device_ids[p] for p in chunk]
        read = read_details(self._batch, ids, deadline.extended(GRACE))
        if read.undone:
            return False
        rows = {p: read.details[d] for p, d in zip(chunk, ids, strict=True) if d in read.details}
        if rows:
            self._keep("details", rows)
        self._failures("details", read)
        cp.details_read += len(chunk)
        if cp.details_read >= len(self._wanted):
            cp.advance()
        return True

    def _exports(self, deadline: Deadline) -> bool:
        cp, graph = self.checkpoint, self._graph
        try:
            if not cp.jobs:
                for report in (exports.APP_REPORT, exports.DEVICE_REPORT):
                    cp.jobs[report] = exports.submit(graph, report)
                cp.jobs_at = self._clock().timestamp()
                self._save()  # jobs are worth keeping: a later run collects them
                return True
            urls: dict[str, str] = {}
            polls = 0
            while True:
                for report, job in cp.jobs.items():
                    if report not in urls:
                        status, url = exports.poll(graph, job)
                        if status == exports.FAILED:
                            raise GraphError(f"Intune's {report} export failed", status=0)
                        if status == exports.DONE and url:
                            urls[report] = url
                wait = _POLL_WAITS[min(polls, len(_POLL_WAITS) - 1)]
                polls += 1
                if len(urls) == len(cp.jobs) or wait > deadline.remaining():
                    break
                time.sleep(wait)
            if len(urls) < len(cp.jobs):
                if self._clock().timestamp() - cp.jobs_at > EXPORT_PATIENCE:
                    raise GraphError("Intune's exports did not complete within an hour",
                                     status=0)
                return True  # polled: real jobs can take minutes; the next run looks again
            self._collect(urls)
        except GraphError as exc:
            # Exports are an optimisation: this read goes on with the read-only reads.
            log.warning("export path failed, reading apps' devices instead: %s", exc.message,
                        extra={"tenant_id": self._tenant_id})
            cp.switch_to_reads()
            return True
        cp.advance()
        return True

    def _collect(self, urls: dict[str, str]) -> None:
        listed, graph = self._listings(), self._graph
        devices = {d.lower(): i for d, i in listed.positions.items()}
        apps = {a: i for i, a in enumerate(listed.app_ids)}
        by_name = {names: i for i, names in enumerate(listed.app_names)}
        links = exports.app_links(exports.rows(graph, urls[exports.APP_REPORT]), devices,
                                  apps, by_name)
        ordered, digests = sorted(links), self.checkpoint.digests
        for start in range(0, len(ordered), APP_CHUNK):
            part = links_of({a: links[a] for a in ordered[start:start + APP_CHUNK]})
            unchanged.add_software(digests, {a: unchanged.devices_as_read(p)
                                             for a, p in part.items()})
            self._keep("links", part)
        columns = exports.device_columns(exports.rows(graph, urls[exports.DEVICE_REPORT]),
                                         devices)
        keys = sorted(columns)
        for start in range(0, len(keys), LISTING_PART):
            self._keep("extras", {p: columns[p] for p in keys[start:start + LISTING_PART]})

    def _failures(self, part: str, read: BatchedRead) -> None:
        if read.failed:
            first = next(iter(read.failed.values()))
            self.checkpoint.incomplete[part] = first.message
            if not self.checkpoint.error_code:
                self.checkpoint.error_code = first.code
                self.checkpoint.error = (f"{len(read.failed)} {part} reads failed: "
                                         f"{first.message} (request {first.request_id})")

    def _abort(self, part: str, code: str, message: str) -> None:
        """A listing failed: the read ends here, with what it has, and concludes nothing
        from the parts it did not read."""
        cp = self.checkpoint
        cp.fail(part, code, message)
        for later in _PARTS[_PARTS.index(part) + 1:]:
            cp.incomplete.setdefault(later, f"not read: {part.replace('_', ' ')} failed")
        cp.step = Step.APPLY

    # --- parts and saves -----------------------------------------------------------------

    def _keep(self, part_type: str, part: Any) -> None:
        """Keep a part read (in memory until the next save; see ``parts``)."""
        self._unsaved.append((part_type, part))

    def _parts(self, part_type: str) -> list[Any]:
        """Every part of one type read so far: the saved ones (read back once), then the rest."""
        cp = self.checkpoint
        saved = []
        for key in cp.parts.get(part_type, []):
            if key not in self._cache:
                self._cache[key] = decode(part_type, self._checkpoints.get(self._tenant_id, key))
            saved.append(self._cache[key])
        return saved + [part for k, part in self._unsaved if k == part_type]

    def _listings(self) -> Listed:
        if self._listed is None:
            devices = list(map(device_key, self._raw)) if self._raw is not None else [
                (d.id, d.last_sync_at) for d in records(self._parts("devices"))]
            apps = records(self._parts("detectedapps"))
            self._listed = Listed([d for d, _ in devices], [at for _, at in devices],
                                  [a.id for a in apps], [(a.name, a.version or "") for a in apps])
        return self._listed

    def _make_devices(self) -> None:
        if self._raw is not None:
            for part in listing_parts("devices", map(device_from_graph, self._raw)):
                self._keep("devices", part)
            self._raw = None

    def _release(self, ids: Mapping[int, list[str]] | None = None) -> None:
        """Make links of what is held, then of ``ids`` (apps' devices just read)."""
        for links in self._held.release(self._listings().positions, APP_CHUNK, ids or {}):
            self._keep("links", links)

    def _save(self) -> None:
        """Keep what was read since the last save, then the checkpoint (conditional)."""
        cp = self.checkpoint
        self._make_devices()  # what is saved is records and links: a resumed read holds
        self._release()  # nothing it did not read itself
        for kind, part in self._unsaved:
            key, _ = self._checkpoints.put(self._tenant_id, cp.cycle, kind, encode(kind, part))
            cp.add_part(kind, key)
            self._cache[key] = part
        self._unsaved.clear()
        cp.paced = self.pacer.recent(self._clock().timestamp())
        self._etag = self._checkpoints.save(self._tenant_id, cp, self._etag)
        self._saved_at = self._monotonic()

    def _assemble(self, inventory: Inventory) -> None:
        cp = self.checkpoint
        parts = {kind: self._parts(kind) for kind in
                 ("devices", "detectedapps", "managedapps", "links", "details", "extras")}
        found = unchanged.fingerprint(parts, cp.digests)
        if found == self._known and not cp.incomplete:
            # The tables hold exactly this read (the engine compares and writes nothing):
            # only its records' counts are used, not the software and details they carry.
            self._held.drop()
            if self._raw is None:
                inventory.devices = {d.id: d for d in records(parts["devices"])}
            inventory.detected_apps = {a.id: a for a in records(parts["detectedapps"])}
            inventory.managed_apps = {m.id: m for m in records(parts["managedapps"])}
        else:
            self._make_devices()
            self._release()
            parts["devices"], parts["links"] = self._parts("devices"), self._parts("links")
            assemble(inventory, parts)
        inventory.digest, inventory.devices_listed = found, cp.devices
        complete = {part: part not in cp.incomplete for part in _PARTS}
        inventory.devices_complete = complete["devices"]
        inventory.detected_apps_complete = complete["detected_apps"]
        inventory.managed_apps_complete = complete["managed_apps"]
        inventory.software_complete = complete["software"]
        inventory.details_complete = complete["details"]
        inventory.error_code, inventory.error = cp.error_code, cp.error
        if self._etag is not None:
            inventory.saved = SavedRead(self._etag, cp.cycle)
