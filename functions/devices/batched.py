"""The read-only path's single reads, in ``$batch``: the devices of each detected app, and
the details of each device that checked in."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from functions.clients.batch import GraphBatch, SubRequest
from functions.clients.pacing import Deadline
from functions.clients.paging import LinkGuard
from functions.clients.retry import RetryBudget
from functions.core.errors import GraphError
from functions.devices.model import DETAIL_SELECT, Details, details_from_graph

# The devices an app was detected on (v1.0, List managedDevices documents this path with
# the list's permissions); only their ids, as many a page as Graph gives.
_APP_DEVICES = "/deviceManagement/detectedApps/{app}/managedDevices?$select=id&$top=1000"
_DEVICE = "/deviceManagement/managedDevices/{device}?$select=" + DETAIL_SELECT


@dataclass
class BatchedRead:
    """What a batched read found (by app or device id), what failed for good, and whether
    the deadline came first (then nothing of it is to be kept)."""

    found: dict[str, list[str]] = field(default_factory=dict)  # app -> device ids as listed
    details: dict[str, Details] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # 404: deleted since it was listed
    failed: dict[str, GraphError] = field(default_factory=dict)
    undone: bool = False


def read_app_devices(batch: GraphBatch, app_ids: list[str], deadline: Deadline) -> BatchedRead:
    """The ids of the devices each app is on, in the order Graph listed them, following each
    app's nextLinks (an app on more than 1,000 devices has more than one page): each app's
    pages are a walk of their own: one retry budget, the host rule and the loop guard. Only
    the ids are kept: whether they become links is the caller's to decide (``cycle``)."""
    result = BatchedRead(found={app: [] for app in app_ids})
    walks: dict[str, LinkGuard] = {}
    budgets: dict[str, RetryBudget] = {}
    requests = [SubRequest(app, _APP_DEVICES.format(app=quote(app, safe=""))) for app in app_ids]
    while requests:
        outcome = batch.run(requests, deadline, budgets=budgets)
        if outcome.undone:
            result.undone = True
            return result
        requests = []
        for request_key, answer in outcome.answers.items():
            app = request_key
            if answer.status == 404:
                # Deleted since the listing: on no device now (the next listing drops it).
                continue
            if not answer.ok:
                result.failed[app] = answer.error()
                continue
            # A tenant's links number in the tens of thousands: the ids, and nothing else.
            result.found[app] += [d["id"] for d in answer.body.get("value") or ()]
            next_link = answer.body.get("@odata.nextLink")
            if next_link:
                links = walks.setdefault(app, batch.link_guard())
                try:
                    requests.append(SubRequest(app, links.follow_relative(str(next_link))))
                except GraphError as exc:  # another host, or a link seen before
                    result.failed[app] = exc
    return result


def read_details(batch: GraphBatch, device_ids: list[str], deadline: Deadline) -> BatchedRead:
    """The details of each device, by a single read that selects them."""
    result = BatchedRead()
    if not device_ids:  # an unchanged tenant's usual case: no batch (nor its threads)
        return result
    requests = [SubRequest(d, _DEVICE.format(device=quote(d, safe=""))) for d in device_ids]
    outcome = batch.run(requests, deadline)
    if outcome.undone:
        result.undone = True
        return result
    for device, answer in outcome.answers.items():
        if answer.status == 404:
            result.gone.add(device)  # deleted since it was listed: its details stay as stored
        elif answer.ok:
            result.details[device] = details_from_graph(answer.body)
        else:
            result.failed[device] = answer.error()
    return result
