"""The workbook and the alert rules query only what docs/telemetry.md promises."""

from __future__ import annotations

import json

import pytest

from .queries import (
    EVENT_DIMENSION,
    WORKBOOK_PATH,
    Query,
    alert_queries,
    all_queries,
    contract,
    used_dimensions,
    workbook_queries,
)


def test_contract_table_is_read() -> None:
    rows = contract()
    assert {
        "tenantsync.run",
        "tenantsync.health",
        "tenantsync.secret_expiry",
        "tenantsync.schedule",
    } <= set(rows)
    assert {"tenant_id", "kind", "status"} <= rows["tenantsync.run"]
    assert "directory" not in rows["tenantsync.run"]  # an allowed value, not a dimension


def test_workbook_is_a_notebook_bound_to_the_workspace() -> None:
    workbook = json.loads(WORKBOOK_PATH.read_text(encoding="utf-8"))
    assert workbook["version"] == "Notebook/1.0"
    assert workbook["fallbackResourceIds"] == ["__LOG_ANALYTICS_WORKSPACE_ID__"]
    for item in workbook["items"]:
        if item["type"] == 3:
            content = item["content"]
            assert content["version"] == "KqlItem/1.0"
            assert content["queryType"] == 0
            assert content["resourceType"] == "microsoft.operationalinsights/workspaces"


def test_workbook_has_the_promised_panels() -> None:
    names = {query.source.split(":", 1)[1] for query in workbook_queries()}
    assert {
        "runs-over-time",
        "failures-by-error-code",
        "health-by-state",
        "users-deleted-restored",
        "devices-retired",
        "graph-requests",
        "run-durations",
        "secrets-expiring",
        "poisoned-jobs",
    } <= names


def test_there_are_four_alert_rules() -> None:
    assert {query.source for query in alert_queries()} == {
        "alerts.bicep:failingTenant",
        "alerts.bicep:secretExpiring",
        "alerts.bicep:timerStopped",
        "alerts.bicep:poisonedJob",
    }


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.source)
def test_query_reads_only_contract_events_and_their_dimensions(query: Query) -> None:
    rows = contract()
    assert query.events, "a query must name the events it reads"
    assert query.events <= set(rows), f"unknown events {query.events - set(rows)}"
    allowed = {EVENT_DIMENSION}.union(*(rows[event] for event in query.events))
    assert query.dimensions <= allowed, (
        f"dimensions outside the contract: {query.dimensions - allowed}"
    )


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.source)
def test_query_spells_dimensions_one_way(query: Query) -> None:
    assert query.dimension_prefixes == {"Properties"}
    assert "AppTraces" in query.text
    # Bracket access would hide a dimension from the contract check.
    assert "Properties[" not in query.text
    assert "customDimensions" not in query.text


def test_used_dimensions_cover_every_event_and_stay_inside_the_contract() -> None:
    used = used_dimensions()
    rows = contract()
    assert set(used) == set(rows)
    for event, dimensions in used.items():
        assert dimensions <= rows[event], event
    assert {"tenant_id", "kind", "status", "duration_ms", "graph_requests", "throttled"} <= used[
        "tenantsync.run"
    ]
    assert {"days_left", "expires_on"} <= used["tenantsync.secret_expiry"]
    assert "health" in used["tenantsync.health"]
    assert "kind" in used["tenantsync.schedule"]
    assert {"kind", "tenant_id", "run_id", "outcome"} <= used["tenantsync.poison"]
