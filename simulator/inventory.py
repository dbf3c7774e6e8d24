"""Which detected apps each managed device has, stored compactly.

A tenant can hold about a million (device, app) links, so they are kept as positions in
typed arrays rather than as Python lists of id strings: a CSR layout (`offsets` into one
flat `targets` array) from device to apps, and the reverse (app to devices) built with it,
when the fixture is loaded: a service has its indexes before it is asked, and the
simulator shares the benchmarks' cores, so the benchmarked runs must not pay for them.
Positions are those of the tenant's managedDevices and detectedApps collections.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence


class AppLinks:
    """Device position -> the positions of its detected apps, and the reverse.

    Immutable once built (an edit of the tenant builds a new one), so reads need no lock.
    """

    __slots__ = ("_app_count", "_offsets", "_reverse", "_targets")

    def __init__(self, offsets: array[int], targets: array[int], app_count: int) -> None:
        """`targets[offsets[d]:offsets[d + 1]]` are the app positions of device `d`."""
        self._app_count = app_count
        self._offsets = offsets
        self._targets = targets
        self._reverse = self._build_reverse()

    def __len__(self) -> int:
        """The number of (device, app) links."""
        return len(self._targets)

    def apps_of(self, device: int) -> array[int]:
        """Positions of the apps detected on the device at position `device`."""
        return self._targets[self._offsets[device] : self._offsets[device + 1]]

    def counts(self) -> list[int]:
        """How many devices each app (by position) is detected on."""
        tally = Counter(self._targets)
        return [tally.get(app, 0) for app in range(self._app_count)]

    def devices_of(self, app: int) -> array[int]:
        """Positions of the devices the app at position `app` was detected on, in order."""
        offsets, devices = self._reverse
        return devices[offsets[app] : offsets[app + 1]]

    def _build_reverse(self) -> tuple[array[int], array[int]]:
        starts = array("I", [0]) * (self._app_count + 1)
        for app, count in enumerate(self.counts()):
            starts[app + 1] = starts[app] + count
        offsets = array("I", starts)
        devices = array("I", [0]) * len(self._targets)
        targets, device_offsets = self._targets, self._offsets
        for device in range(len(device_offsets) - 1):
            for app in targets[device_offsets[device] : device_offsets[device + 1]]:
                devices[starts[app]] = device
                starts[app] += 1
        return offsets, devices


def build_links(per_device: Iterable[Sequence[int]], app_count: int) -> AppLinks:
    """AppLinks from each device's app positions, in device order."""
    offsets, targets = array("I", [0]), array("I")
    for apps in per_device:
        targets.extend(apps)
        offsets.append(len(targets))
    return AppLinks(offsets, targets, app_count)


EMPTY_LINKS = AppLinks(array("I", [0]), array("I"), 0)
