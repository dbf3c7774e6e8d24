"""Parsed Bicep templates of infra/, for the structural tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

from .queries import INFRA_DIR

BICEP_FILES = sorted(INFRA_DIR.rglob("*.bicep"))


@cache
def parse(relative_path: str) -> dict[str, Any]:
    """The pycep JSON of infra/<relative_path>; raises lark errors on invalid syntax."""
    return BicepParser().parse(file_path=INFRA_DIR / relative_path)


def relative(path: Path) -> str:
    """A template's path relative to infra/, with forward slashes."""
    return path.relative_to(INFRA_DIR).as_posix()


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's properties, unwrapped from an ``if`` condition or a ``for`` loop."""
    while ("condition" in config or "loop_type" in config) and isinstance(
        config.get("config"), dict
    ):
        config = config["config"]
    return config


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Symbolic name -> resource, for the resources of one type declared in a template."""
    return {
        symbol: resource
        for symbol, resource in template.get("resources", {}).items()
        if resource["type"].lower() == resource_type.lower()
    }


def only_resource(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The config of the single (non-existing) resource of a type; fails if not exactly one."""
    found = [
        body(resource["config"])
        for resource in resources_of_type(template, resource_type).values()
        if not resource["existing"]
    ]
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def function_call(expression: Any) -> tuple[str, dict[str, Any]] | None:
    """(function type, parameters) if the expression is a function call, else None."""
    if isinstance(expression, dict) and "function" in expression:
        function = expression["function"]
        return function["type"], function.get("parameters") or {}
    return None


def property_path(expression: Any) -> list[str] | None:
    """['a', 'b', 'c'] for the expression a.b.c, else None."""
    if isinstance(expression, str):
        return [expression]
    if (
        isinstance(expression, dict)
        and expression.get("operator", {}).get("type") == "property_accessor"
    ):
        operands = expression["operator"]["operands"]
        head = property_path(operands["operand_1"])
        tail = property_path(operands["operand_2"])
        if head is not None and tail is not None:
            return head + tail
    return None
