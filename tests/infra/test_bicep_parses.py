"""Every template parses, and checkov finds nothing to fix in those it can read."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from .bicep import BICEP_FILES, parse, relative
from .queries import INFRA_DIR, REPO_ROOT

CHECKOV_SCRIPT = REPO_ROOT / "scripts" / "checkov.sh"
# Templates checkov's pinned pycep-parser cannot read (see scripts/checkov.sh); pycep-parser
# >= 0.7 still parses them below.
NOT_SCANNED_BY_CHECKOV = {"app-registrations.bicep"}
SKIP_COMMENT_RE = re.compile(r"checkov:skip=(?P<ids>[A-Z0-9_,]+)(?P<reason>:[^\n]*)?")


def test_infra_has_the_expected_templates() -> None:
    names = {relative(path) for path in BICEP_FILES}
    assert {
        "main.bicep",
        "app-registrations.bicep",
        "modules/storage.bicep",
        "modules/keyvault.bicep",
        "modules/monitoring.bicep",
        "modules/functionapp.bicep",
        "modules/identity.bicep",
        "modules/role-assignments.bicep",
        "modules/workbook.bicep",
        "modules/alerts.bicep",
    } <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=relative)
def test_template_parses(path: Path) -> None:
    template = parse(relative(path))
    assert template.get("resources") or template.get("modules")


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run installs checkov into .venv-checkov
def test_checkov_reports_no_failed_check_and_parses_every_file(tmp_path: Path) -> None:
    report_path = tmp_path / "checkov.json"
    result = subprocess.run(
        ["bash", str(CHECKOV_SCRIPT)],
        cwd=REPO_ROOT,
        env={**os.environ, "CHECKOV_JSON_REPORT": str(report_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(report_path.read_text(encoding="utf-8"))["summary"]
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0


@pytest.mark.parametrize("path", BICEP_FILES, ids=relative)
def test_checkov_skips_name_a_check_and_give_a_reason(path: Path) -> None:
    for match in SKIP_COMMENT_RE.finditer(path.read_text(encoding="utf-8")):
        reason = (match.group("reason") or ":").lstrip(":").strip()
        assert len(reason.split()) >= 8, (
            f"{relative(path)}: skip of {match.group('ids')} needs a reason"
        )


def test_only_templates_checkov_cannot_read_are_left_out_of_its_scan() -> None:
    script = CHECKOV_SCRIPT.read_text(encoding="utf-8")
    left_out = set(re.findall(r"--skip-path '([^']+)'", script))
    assert {
        pattern.replace("\\.", ".").rstrip("$") for pattern in left_out
    } == NOT_SCANNED_BY_CHECKOV
    # The reason for leaving a template out must still hold: it uses a Bicep extension.
    for name in NOT_SCANNED_BY_CHECKOV:
        text = (INFRA_DIR / name).read_text(encoding="utf-8")
        assert re.search(r"^extension \w+", text, re.MULTILINE)
