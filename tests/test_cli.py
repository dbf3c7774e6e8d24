"""The tenantsync command line: listings, and bad input that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.world import World, new_id, seed_example

ROOT = Path(__file__).resolve().parent.parent


def _scanned(capsys: pytest.CaptureFixture[str], *secrets: str) -> Callable[[list[str]], int]:
    """``main`` whose output is checked for every secret-like value typed into it, and
    left in ``capsys`` for the test to read."""
    cli = Cli(capsys, extra_secrets=list(secrets))

    def run(argv: list[str]) -> int:
        result = cli(*argv)
        sys.stdout.write(result.out)
        sys.stderr.write(result.err)
        return result.code

    return run


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("tenantsync: error: ")
    assert "\n" not in err
    assert "Traceback" not in err
    return err


@pytest.mark.slow
def test_onboard_sync_and_list_through_the_cli(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t, ids = seed_example(world)
    harness.start()
    monkeypatch.setenv("MY_SECRET", t.secret)
    main = _scanned(capsys, t.secret)
    assert main(["tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id,
                 "--group-id", t.level0, "--secret-env", "MY_SECRET"]) == 0
    assert main(["sync", "directory", "--tenant-id", t.id]) == 0
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["john"])
    assert main(["sync", "directory", "--all"]) == 0
    capsys.readouterr()

    assert main(["users", "--tenant-id", t.id, "--json"]) == 0
    users = json.loads(capsys.readouterr().out)
    assert {u["displayName"] for u in users} == {
        "Tom Smith", "John Doe", "Jane Doe", "Richard Roe", "Alex Anonymous"}
    assert main(["users", "--tenant-id", t.id, "--deleted-only", "--json"]) == 0
    deleted = json.loads(capsys.readouterr().out)
    assert [(u["displayName"], u["azureIdDeleted"]) for u in deleted] == [("John Doe", True)]
    assert deleted[0]["deletedAt"]
    assert main(["users", "--tenant-id", t.id, "--group", ids["management"], "--json"]) == 0
    assert {u["displayName"] for u in json.loads(capsys.readouterr().out)} == {
        "Jane Doe", "Richard Roe"}
    assert main(["users", "--tenant-id", t.id, "--anonymous", "--json"]) == 0
    assert [u["email"] for u in json.loads(capsys.readouterr().out)] == [None]
    assert main(["users", "--tenant-id", t.id]) == 0
    text = capsys.readouterr().out
    assert "Azure ID: deleted" in text
    assert "(anonymous)" in text
    assert main(["groups", "--tenant-id", t.id, "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out)
    assert (group["id"], group["displayName"], group["azureIdDeleted"]) == (
        ids["management"], "Management", False)
    assert main(["groups", "--tenant-id", t.id]) == 0
    [_header, row, _count] = capsys.readouterr().out.splitlines()
    assert row.split()[:3] == [ids["management"], "Management", "2"]  # ID, name, members
    assert main(["runs", "list", "--tenant-id", t.id, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["users"]["markedDeleted"] == 1  # newest first
    assert main(["tenant", "list", "--json"]) == 0
    [tenant] = json.loads(capsys.readouterr().out)
    assert tenant["health"] == "healthy"
    assert tenant["displayName"] == "TinyMDM"


@pytest.mark.slow
def test_bad_input_is_one_clear_line_nonzero_and_changes_nothing(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    before = harness.entities()
    monkeypatch.setenv("MY_SECRET", t.secret)
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115 - not a tty, empty
    main = _scanned(capsys, t.secret)
    add = ["tenant", "add", "--client-id", t.app_id, "--secret-env", "MY_SECRET"]
    cases = {
        "malformed GUID": (
            [*add, "--tenant-id", "not-a-guid", "--group-id", t.level0], "must be a GUID"),
        "unknown tenant": (["sync", "directory", "--tenant-id", new_id()], "not onboarded"),
        "unknown tenant users": (["users", "--tenant-id", new_id()], "not onboarded"),
        "missing secret": (["tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id,
                            "--group-id", t.level0], "client secret is required"),
        "group ID of a user": (["tenant", "update", "--tenant-id", t.id, "--group-id",
                                ids["tom"]], "Object ID"),
        "bad expiry date": ([*add, "--tenant-id", t.id, "--group-id", t.level0,
                             "--secret-expires", "soon"], "--secret-expires"),
    }
    for name, (argv, expected) in cases.items():
        assert main(argv) == 2, name
        assert expected in _one_line_error(capsys), name
    assert harness.entities() == before


def test_invalid_fixture_is_refused_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tenants": {"not-a-guid": {}}}))
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "check", "--fixture", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1
    assert "not-a-guid" in lines[0]
    good = subprocess.run(
        [sys.executable, "-m", "simulator", "check", "--fixture",
         str(ROOT / "samples" / "tinymdm.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert good.returncode == 0, good.stderr
