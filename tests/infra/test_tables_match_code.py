"""The tables Bicep declares are the tables the code uses, so a deployment never lacks one."""

from __future__ import annotations

import re
from pathlib import Path

from functions.storage.tables import TABLE_NAMES

MAIN = Path(__file__).resolve().parents[2] / "infra" / "main.bicep"


def test_bicep_declares_exactly_the_tables_the_code_uses() -> None:
    block = re.search(r"var tableSuffixes = \[(.*?)\]", MAIN.read_text(), re.DOTALL)
    assert block is not None, "main.bicep no longer declares tableSuffixes"
    declared = re.findall(r"'([a-z]+)'", block.group(1))
    assert sorted(declared) == sorted(TABLE_NAMES)
