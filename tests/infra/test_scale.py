"""How many jobs an instance runs at once, and where the host's storage lives."""

from __future__ import annotations

import json
from typing import Any

from functions.core import pricing

from .bicep import body, parse, property_path
from .queries import REPO_ROOT, workbook_queries


def host_queue_settings() -> dict[str, Any]:
    """host.json's extensions.queues."""
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    queues = host["extensions"]["queues"]
    assert isinstance(queues, dict)
    return queues


def test_an_instance_has_a_thread_for_every_job_it_runs_at_once() -> None:
    queues = host_queue_settings()
    settings = parse("modules/functionapp.bicep")["variables"]["appSettings"]["value"]
    in_flight = queues["batchSize"] + queues["newBatchThreshold"]
    assert int(settings["PYTHON_THREADPOOL_THREAD_COUNT"]) == in_flight
    # Few enough for the one core of a 2,048 MB instance (docs/deploy.md, "Scale").
    assert in_flight <= 8
    assert parse("main.bicep")["parameters"]["instanceMemoryMB"]["default"] == 2048


def test_a_message_goes_to_its_poison_queue_after_five_attempts() -> None:
    assert host_queue_settings()["maxDequeueCount"] == 5
    main = (REPO_ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    # Declared, so that the functions watching them find them from the first deployment.
    assert "'${directoryQueueName}-poison'" in main
    assert "'${devicesQueueName}-poison'" in main


def test_host_storage_moves_to_its_own_account_when_the_parameter_says_so() -> None:
    main = parse("main.bicep")
    assert main["parameters"]["separateHostStorage"]["default"] is False
    host = main["modules"]["hostStorage"]
    assert "condition" in host["config"]  # deployed only when asked
    host_params = body(host["config"])["params"]
    assert "tableNames" not in host_params  # the data's tables stay in the data's account
    assert host_params["deploymentContainerName"]
    app = body(main["modules"]["functionApp"]["config"])["params"]
    assert app["storageAccountName"] == "hostAccountName"
    assert app["queueEndpoint"] == "hostQueueEndpoint"
    assert property_path(app["dataTableEndpoint"]) == ["storage", "outputs", "tableEndpoint"]
    settings = parse("modules/functionapp.bicep")["variables"]["appSettings"]["value"]
    assert settings["TENANTSYNC_TABLE_ENDPOINT"] == "dataTableEndpoint"
    # The jobs go where the queue triggers read them: AzureWebJobsStorage's queues.
    assert settings["TENANTSYNC_QUEUE_ENDPOINT"] == "queueEndpoint"
    assert settings["AzureWebJobsStorage__queueServiceUri"] == "queueEndpoint"
    roles = body(main["modules"]["roleAssignments"]["config"])["params"]
    assert "hostStorageAccountName" in roles


def test_the_cost_model_prices_the_instance_and_schedules_the_infra_sets() -> None:
    queues = host_queue_settings()
    main = parse("main.bicep")["parameters"]
    in_flight = queues["batchSize"] + queues["newBatchThreshold"]
    memory_gb = main["instanceMemoryMB"]["default"] / 1024
    schedules = {"directory": main["directorySchedule"]["default"],
                 "devices": main["devicesSchedule"]["default"]}
    assert (in_flight, memory_gb) == (pricing.RUNS_AT_ONCE, pricing.INSTANCE_GB)
    assert schedules == pricing.DEFAULT_SCHEDULES


def test_the_workbook_prices_runs_with_the_cost_model_of_the_code() -> None:
    def number(value: float) -> str:  # as the workbook writes it
        text = f"{value:.10f}".rstrip("0")
        return text + "0" if text.endswith(".") else text

    panels = {q.source.split(":", 1)[1]: q.text for q in workbook_queries()}
    cost = panels["cost-per-tenant"]
    prices = pricing.PRICES
    for part in (f"gb_s = {number(pricing.INSTANCE_GB)} * max_of(cpu_s, seconds / "
                 f"{pricing.RUNS_AT_ONCE})",
                 f"sum(storage) + {number(pricing.START_TABLE_OPERATIONS)} * count()",
                 f"gb_seconds * {number(prices.gb_second)}",
                 f"runs * {number(prices.million_executions)} / 1000000.0",
                 f"table_operations * {number(prices.table_10k)} / 10000.0",
                 f"runs * {number(pricing.QUEUE_OPERATIONS)} * {number(prices.queue_10k)} "
                 "/ 10000.0"):
        assert part in cost, part
