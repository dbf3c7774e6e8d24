"""The tree shows the architecture: every module imports only from its own layer or below.

Layers, top to bottom: entry points (the function app, the HTTP API, the command line, the
blueprints); the composition root (services); the sync engine; the feature slices
(directory, devices, partners, onboarding); the clients of Microsoft's endpoints and of
storage; the core every layer stands on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS = {
    "function_app": 5, "functions.api": 5, "functions.cli": 5, "functions.blueprints": 5,
    "functions.services": 4, "functions.connections": 4,
    "functions.sync": 3,
    "functions.directory": 2, "functions.devices": 2, "functions.partners": 2,
    "functions.onboarding": 2, "functions.webhooks": 2, "functions.notifications": 2,
    "functions.clients": 1, "functions.storage": 1,
    "functions.core": 0,
}
FEATURES = ("functions.directory", "functions.devices")


def _layer_of(module: str) -> tuple[str, int]:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len,
               default=None)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")
    return best, LAYERS[best]


def _modules() -> list[tuple[str, Path]]:
    found = [("function_app", ROOT / "function_app.py")]
    for path in sorted((ROOT / "functions").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts != ["functions"]:  # the root package holds nothing but its docstring
            found.append((".".join(parts), path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("functions")}


def _internal(name: str) -> str | None:
    """The module an imported name lives in, if it is one of ours."""
    candidates = [m for m, _ in _modules() if name == m or name.startswith(m + ".")]
    return max(candidates, key=len) if candidates else None


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_no_module_imports_from_a_layer_above_its_own(module: str, path: Path) -> None:
    own_group, own = _layer_of(module)
    upward = []
    for name in sorted(_imports(path)):
        target = _internal(name)
        if target is None or target == "functions":
            continue
        group, layer = _layer_of(target)
        if layer > own:
            upward.append(f"{target} (layer {layer})")
        # One feature slice never reaches into another: what they share is in core.
        if own_group in FEATURES and group in FEATURES and group != own_group:
            upward.append(f"{target} (another feature)")
    assert not upward, f"{module} (layer {own}) imports {upward}"


def test_every_module_is_in_a_layer() -> None:
    assert all(_layer_of(module) for module, _ in _modules())


def test_no_file_grows_past_about_four_hundred_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for _, p in _modules()
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long
