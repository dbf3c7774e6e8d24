"""The collector's young-generation threshold, set once per process by the composition root."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from functions.core.collector import YOUNG_THRESHOLD, collect_less_often


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_young_generation_is_scanned_less_often_the_older_ones_as_set(
        thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    collect_less_often()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    collect_less_often()  # twice is once
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_a_higher_threshold_or_collection_turned_off_is_left_alone(thresholds: None) -> None:
    gc.set_threshold(50_000, 5, 5)
    collect_less_often()
    assert gc.get_threshold() == (50_000, 5, 5)
    gc.set_threshold(0, 10, 10)
    collect_less_often()
    assert gc.get_threshold()[0] == 0
