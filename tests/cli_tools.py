"""Running ``tenantsync`` in tests, and checking that nothing typed into a secret-bearing
flag ever comes back on stdout or stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.cli import main

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[Any]:
        """The JSON lines of the output."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    @property
    def error(self) -> str:
        """The one error line (and that it is one line, without a traceback)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("tenantsync: error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


def typed_secrets(argv: list[str]) -> list[str]:
    """What the user typed that may be a secret: the values of ``--*secret*`` flags, what
    the environment variables they name hold, and any word that is not a flag or a GUID
    after an unknown ``--secret`` flag."""
    found: list[str] = []
    for i, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        if "secret" in flag and flag.startswith("--"):
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
            if flag.endswith("secret-expires") and _future_date(value):
                continue  # a valid expiry is data: the API answers it too
            if value:
                found.append(value)
                if flag.endswith("secret-env") and os.environ.get(value):
                    found.append(os.environ[value])
    return [s for s in found if len(s) >= 4]


@dataclass
class Cli:
    """``tenantsync`` in this process: each call's exit code, stdout and stderr, checked for
    every secret-like value typed into it so far (and for ``extra_secrets``)."""

    capsys: pytest.CaptureFixture[str]
    extra_secrets: list[str] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)
    calls: int = 0

    def __call__(self, *argv: str) -> Result:
        self.capsys.readouterr()
        self.typed.extend(typed_secrets(list(argv)))
        try:
            code = main(list(argv))
        except SystemExit as stopped:  # argparse refused the arguments
            code = int(stopped.code or 0)
        out, err = self.capsys.readouterr()
        self.calls += 1
        check_no_secret(out + err, [*self.typed, *self.extra_secrets])
        return Result(code, out, err)


def _future_date(value: str) -> bool:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) > datetime.now(UTC)


def check_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, "a value typed into a secret flag was printed"


def run_cli(*argv: str, env: dict[str, str], stdin: str | None = None,
            timeout: float = 120) -> Result:
    """``tenantsync`` as a separate process (the installed entry point's module)."""
    done = subprocess.run([sys.executable, "-m", "functions.cli", *argv], cwd=ROOT,
                          env={**os.environ, **env}, input=stdin, capture_output=True,
                          text=True, timeout=timeout, check=False)
    check_no_secret(done.stdout + done.stderr, typed_secrets(list(argv)))
    return Result(done.returncode, done.stdout, done.stderr)
