"""The KQL queries shipped in infra/ and the telemetry contract they must respect.

The workbook (infra/workbook.json) and the alert rules (infra/modules/alerts.bicep) query the
events of docs/telemetry.md. Queries name events as string literals ("tenantsync.run") and
dimensions as ``Properties.<name>`` (Log Analytics AppTraces), which is what lets this module
read them with regular expressions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
WORKBOOK_PATH = INFRA_DIR / "workbook.json"
ALERTS_PATH = INFRA_DIR / "modules" / "alerts.bicep"
CONTRACT_PATH = REPO_ROOT / "docs" / "telemetry.md"

#: The dimension every event record carries; it names the event rather than describing it.
EVENT_DIMENSION = "event"

EVENT_RE = re.compile(r'"(tenantsync\.[A-Za-z0-9_.]+)"')
DIMENSION_RE = re.compile(r"\b(Properties|customDimensions)\.([A-Za-z_][A-Za-z0-9_]*)")
_CONTRACT_ROW_RE = re.compile(
    r"^\|\s*`(tenantsync\.[^`]+)`\s*\|(?P<when>[^|]*)\|(?P<dims>[^|]*)\|\s*$"
)
_PARENTHESISED_RE = re.compile(r"\([^)]*\)")
_BACKTICKED_RE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Query:
    """A KQL query and its origin: ``workbook.json:<item>`` or ``alerts.bicep:<rule>``."""

    source: str
    text: str

    @property
    def events(self) -> set[str]:
        """Event names the query mentions as string literals."""
        return set(EVENT_RE.findall(self.text))

    @property
    def dimensions(self) -> set[str]:
        """Dimension names the query reads, in either spelling."""
        return {name for _, name in DIMENSION_RE.findall(self.text)}

    @property
    def dimension_prefixes(self) -> set[str]:
        """Spellings used for dimensions: ``Properties`` and/or ``customDimensions``."""
        return {prefix for prefix, _ in DIMENSION_RE.findall(self.text)}


@cache
def contract() -> dict[str, frozenset[str]]:
    """Event name -> its dimensions, from the table of docs/telemetry.md.

    Raises ValueError if the table cannot be found.
    """
    events: dict[str, frozenset[str]] = {}
    for line in CONTRACT_PATH.read_text(encoding="utf-8").splitlines():
        match = _CONTRACT_ROW_RE.match(line.strip())
        if not match:
            continue
        # Allowed values are listed in parentheses after a dimension; they are not dimensions.
        names = _BACKTICKED_RE.findall(_PARENTHESISED_RE.sub("", match.group("dims")))
        events[match.group(1)] = frozenset(names)
    if not events:
        raise ValueError(f"no event table found in {CONTRACT_PATH}")
    return events


def workbook_queries() -> list[Query]:
    """Every ``query`` string of the workbook, at any depth."""
    document = json.loads(WORKBOOK_PATH.read_text(encoding="utf-8"))
    found: list[Query] = []

    def walk(node: Any, name: str) -> None:
        if isinstance(node, dict):
            name = node.get("name", name) if isinstance(node.get("name"), str) else name
            for key, value in node.items():
                if key == "query" and isinstance(value, str):
                    found.append(Query(f"workbook.json:{name}", value))
                else:
                    walk(value, name)
        elif isinstance(node, list):
            for item in node:
                walk(item, name)

    walk(document, "")
    return found


def _strings(
    expression: Any, variables: dict[str, Any], seen: frozenset[str] = frozenset()
) -> list[str]:
    """String leaves of a pycep expression, with variable references replaced by their values."""
    if isinstance(expression, str):
        if expression in variables and expression not in seen:
            return _strings(variables[expression]["value"], variables, seen | {expression})
        return [expression]
    if isinstance(expression, dict):
        return [text for value in expression.values() for text in _strings(value, variables, seen)]
    if isinstance(expression, list):
        return [text for value in expression for text in _strings(value, variables, seen)]
    return []


def alert_queries() -> list[Query]:
    """The query of every condition of every scheduled query rule in alerts.bicep."""
    template = BicepParser().parse(file_path=ALERTS_PATH)
    variables = template.get("variables", {})
    found: list[Query] = []
    for symbol, resource in template.get("resources", {}).items():
        if resource["type"] != "Microsoft.Insights/scheduledQueryRules":
            continue
        conditions = resource["config"]["properties"]["criteria"]["allOf"]
        for condition in conditions:
            text = "\n".join(_strings(condition["query"], variables))
            found.append(Query(f"alerts.bicep:{symbol}", text))
    return found


def all_queries() -> list[Query]:
    """Workbook and alert queries together."""
    return workbook_queries() + alert_queries()


def used_dimensions() -> dict[str, set[str]]:
    """Event name -> the dimensions the workbook and the alert rules read from it.

    A dimension read in a query is attributed to the query's events whose contract row lists
    it; failing that, to every event whose row lists it; failing that (a dimension missing from
    the contract), to the query's own events, so that it still shows up. The ``event``
    dimension itself is left out: every record carries it. Events a query names without
    reading any of their dimensions map to an empty set.
    """
    rows = contract()
    used: dict[str, set[str]] = {}
    for query in all_queries():
        events = query.events
        for event in events:
            used.setdefault(event, set())
        for dimension in query.dimensions - {EVENT_DIMENSION}:
            owners = {event for event in events if dimension in rows.get(event, ())}
            if not owners:
                owners = {event for event, dimensions in rows.items() if dimension in dimensions}
            if not owners:
                owners = events
            for event in owners:
                used.setdefault(event, set()).add(dimension)
    return used
