"""How many jobs an instance runs at once, and where the host's storage lives."""

from __future__ import annotations

import json
from typing import Any

from .bicep import body, parse, property_path
from .queries import REPO_ROOT


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
