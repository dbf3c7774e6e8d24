"""Settings' defaults are written once, on the dataclass: the environment reader uses them."""

from __future__ import annotations

import dataclasses

from functions.core.config import Settings


def test_an_empty_environment_gives_the_dataclass_defaults() -> None:
    assert Settings.from_env({}) == Settings()


@dataclasses.dataclass(frozen=True)
class Tuned(Settings):
    graph_max_retries: int = 2
    devices_queue: str = "elsewhere"
    run_time_budget_seconds: float = 5.0
    webhook_allow_private: bool = True


def test_the_environment_reader_falls_back_to_the_fields_defaults() -> None:
    tuned = Tuned.from_env({})
    assert (tuned.graph_max_retries, tuned.devices_queue, tuned.run_time_budget_seconds,
            tuned.webhook_allow_private) == (2, "elsewhere", 5.0, True)
    assert Tuned.from_env({"TENANTSYNC_GRAPH_MAX_RETRIES": "4"}).graph_max_retries == 4
