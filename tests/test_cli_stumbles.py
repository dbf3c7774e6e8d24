"""Each stumble a new user of the command line hit: one line that names the fix, nothing
typed into a secret-bearing flag repeated, nothing stored changed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import quote

import pytest
import requests

from functions.core.sensitive import SecretValue
from functions.partners.discovery import inventory_secret_name
from functions.services import get_services
from tests.api.conftest import stored, vault_state
from tests.cli_tools import ROOT, Cli, run_cli
from tests.conftest import Harness
from tests.world import INVENTORY_ROLES, Partner, World, directory_side, new_id, seed_example

SECRET_LOOKALIKE = "Qx8~kP3.vZ_9sT2-secretValue"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, extra_secrets=[SECRET_LOOKALIKE])


@pytest.fixture(autouse=True)
def _stdin_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed at exit


def test_groups_show_their_ids_and_users_take_a_group_by_its_exact_name(
    harness: Harness, world: World, cli: Cli,
) -> None:
    t, ids = seed_example(world)
    twin_a, twin_b = t.group("Twins", ids["tom"]), t.group("Twins", ids["john"])
    t.add(t.level0, twin_a, twin_b)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    shown = cli("groups", "--tenant-id", t.id)
    rows = {line.split()[1]: line.split()[0] for line in shown.out.splitlines()[1:-1]}
    assert rows["Management"] == ids["management"]
    by_name = cli("users", "--tenant-id", t.id, "--group", "Management")
    by_id = cli("users", "--tenant-id", t.id, "--group", ids["management"])
    assert by_name.out == by_id.out and "Jane Doe" in by_name.out
    assert by_name.out.splitlines()[-1] == "2 users"
    unknown = cli("users", "--tenant-id", t.id, "--group", "Managers")
    assert unknown.code == 2 and "tenantsync groups --tenant-id" in unknown.error
    twins = cli("users", "--tenant-id", t.id, "--group", "Twins")
    assert twins.code == 2 and twin_a in twins.error and twin_b in twins.error


def test_tenant_list_shows_each_sides_problem_in_the_same_words(
    harness: Harness, world: World, cli: Cli,
) -> None:
    partner = Partner(world)
    tid = partner.customer("Zeta")
    side = directory_side(partner, tid)
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="1")
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="gdap")
    harness.services.partners.discover(partner.id)
    harness.services.onboarding.add_directory_tenant(tid, side.app, SecretValue(side.secret),
                                                     side.group)
    assert harness.sim is not None
    harness.sim.set_faults([
        {"match": {"tenant": tid, "path_contains": "/members"}, "kind": "status",
         "status": 403, "code": "Authorization_RequestDenied"},
        {"match": {"tenant": tid, "path_contains": "/deviceManagement/"}, "kind": "status",
         "status": 400, "code": "BadRequest",
         "message": "Request not applicable to target tenant."}])
    harness.services.runner.run_one("directory", tid, "cli")
    harness.services.runner.run_one("devices", tid, "cli")
    listed = cli("tenant", "list")
    tenant = harness.services.tenants.get(tid)
    problems = {m.group(1): (m.group(2), m.group(3)) for m in
                re.finditer(rf"^{tid} (directory|devices): (\w+): (.+)$", listed.out, re.M)}
    assert problems == {
        "directory": ("permission_missing", tenant.last_error),
        "devices": ("intune_not_licensed", tenant.device_state.last_error),
    }
    assert "GroupMember.Read.All" in problems["directory"][1]


def test_a_past_or_malformed_secret_expiry_is_refused_without_repeating_it(
    harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch,
) -> None:
    t, _ = seed_example(world)
    partner = Partner(world)
    harness.start()
    monkeypatch.setenv("T_SECRET", t.secret)
    monkeypatch.setenv("P_SECRET", partner.partner_secret)
    monkeypatch.setenv("I_SECRET", partner.inventory_secret)
    before = stored(harness)
    add = ["tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id, "--group-id",
           t.level0, "--secret-env", "T_SECRET", "--secret-expires"]
    past = cli(*add, "2020-01-31")
    assert past.code == 2 and "--secret-expires is in the past" in past.error
    assert "2020" not in past.err
    for typed in (SECRET_LOOKALIKE, "31/01/2030", "2030-13-45"):
        wrong = cli(*add, typed)
        assert wrong.code == 2 and "--secret-expires must be a date like" in wrong.error
        assert typed not in wrong.err
    partner_add = cli(
        "partner", "add", "--partner-tenant-id", partner.id, "--partner-client-id",
        partner.partner_app, "--partner-secret-env", "P_SECRET", "--inventory-client-id",
        partner.inventory_app, "--inventory-secret-env", "I_SECRET", "--source", "gdap",
        "--inventory-secret-expires", "2001-01-01")
    assert partner_add.code == 2 and "--inventory-secret-expires is in the past" in (
        partner_add.error)
    assert stored(harness) == before


def test_secret_env_given_the_secret_itself_is_refused_without_repeating_it(
    harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = harness.start_onboarded()
    before = stored(harness)
    for secret in (t.secret, SECRET_LOOKALIKE):
        refused = cli("tenant", "update", "--tenant-id", t.id, "--secret-env", secret)
        assert refused.code == 2
        assert "takes the NAME of an environment variable" in refused.error
    unset = cli("tenant", "update", "--tenant-id", t.id, "--secret-env", "UNSET_SECRET_VAR")
    assert unset.code == 2 and "is not set or empty" in unset.error
    assert "UNSET_SECRET_VAR" not in unset.err  # the name may have been a secret too
    partner = cli("partner", "update", "--partner-tenant-id", new_id(),
                  "--inventory-secret-env", SECRET_LOOKALIKE)
    assert partner.code == 2 and "--inventory-secret-env takes the NAME" in partner.error
    assert stored(harness) == before


@pytest.mark.slow
def test_nothing_typed_into_a_secret_flag_is_ever_printed(
    harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = harness.start_onboarded()
    monkeypatch.setenv("GOOD_SECRET", t.secret)
    before = stored(harness)
    update = ["tenant", "update", "--tenant-id", t.id]
    mistakes = [
        [*update, "--secret", SECRET_LOOKALIKE],  # no such flag
        [*update, f"--secret={SECRET_LOOKALIKE}"],
        [*update, "--secret-e", SECRET_LOOKALIKE],  # abbreviations are refused
        [*update, "--secret-env", "GOOD_SECRET", SECRET_LOOKALIKE],  # pasted after the name
        [*update, f"--secret-env={SECRET_LOOKALIKE}"],
        [*update, "--secret-env", "GOOD_SECRET", "--secret-expires", SECRET_LOOKALIKE],
        [*update, "--secret-stdin", "--secret-env", SECRET_LOOKALIKE],
        ["tenant", "add", SECRET_LOOKALIKE],
        ["partner", "update", "--partner-tenant-id", new_id(), "--partner-secret-expires",
         SECRET_LOOKALIKE],
    ]
    for argv in mistakes:
        refused = cli(*argv)  # checks that nothing typed into a secret flag is printed
        assert refused.code == 2, argv
        assert refused.error, argv
    # What argparse itself says is one line too, and names the command's help.
    refused = run_cli(*update, "--secret", SECRET_LOOKALIKE, env=harness.env)
    assert refused.code == 2
    assert refused.error == ("tenantsync: error: unrecognized arguments: --secret and 1 "
                             "value(s), not shown (see tenantsync --help)")
    assert stored(harness) == before


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_the_command_quietly(
    harness: Harness, world: World,
) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    read, write = os.pipe()
    os.close(read)  # as `| head` does once it has its lines
    done = subprocess.run([sys.executable, "-m", "functions.cli", "users", "--tenant-id",
                           t.id], cwd=ROOT, env={**os.environ, **harness.env}, stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    os.close(write)
    assert done.returncode == 1
    assert done.stderr == ""  # no BrokenPipeError traceback


@pytest.mark.slow
def test_a_missing_consent_gives_an_admin_consent_link_that_works(
    harness: Harness, world: World, cli: Cli,
) -> None:
    partner = Partner(world)
    tid = partner.customer("NoConsent", consented=False)
    redirect = "https://portal.example/consented"
    app = world.fixture["applications"][partner.inventory_app]
    app["redirect_uris"] = [redirect]
    app["required_roles"] = list(INVENTORY_ROLES)
    harness.start()
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="gdap")
    harness.services.partners.discover(partner.id)
    failed = cli("sync", "devices", "--tenant-id", tid, "--json")
    [run] = failed.lines()
    assert failed.code == 1 and run["errorCode"] == "app_not_found"
    assert harness.sim is not None
    link = re.search(r"https://\S+/v2\.0/adminconsent\?\S+", run["error"])
    assert link is not None
    assert link.group(0).startswith(f"{harness.sim.base_url}/{tid}/v2.0/adminconsent?"
                                    f"client_id={partner.inventory_app}&scope=https%3A%2F%2F"
                                    "graph.microsoft.com%2F.default&redirect_uri=")
    # The admin opens it with one of the app's redirect URIs and accepts.
    url = link.group(0).split("&redirect_uri=")[0] + "&redirect_uri=" + quote(redirect)
    consent = requests.get(url, verify=harness.sim.ca_path, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    assert "admin_consent=True" in consent.headers["Location"]
    get_services().tokens.forget()  # MSAL keeps a refused request for 60 s
    assert cli("sync", "devices", "--tenant-id", tid).code == 0


def test_a_token_refused_for_consent_names_the_link_too(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/oauth2/v2.0/token"},
                             "kind": "status", "status": 400, "code": "65001"}])
    harness.services.tokens.forget()
    run = harness.sync(t)
    assert run.error_code == "consent_missing"
    assert (f"{harness.sim.base_url}/{t.id}/v2.0/adminconsent?client_id={t.app_id}&scope="
            in run.error)


@pytest.mark.parametrize("app", ["partner", "inventory"])
def test_partner_errors_name_the_app_and_the_flag_to_fix(
    harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch, app: str,
) -> None:
    partner = Partner(world)
    harness.start()
    monkeypatch.setenv("P_SECRET", "wrong~" + partner.partner_secret
                       if app == "partner" else partner.partner_secret)
    monkeypatch.setenv("I_SECRET", "wrong~" + partner.inventory_secret
                       if app == "inventory" else partner.inventory_secret)
    cli.extra_secrets += [partner.partner_secret, partner.inventory_secret]
    before = stored(harness)
    refused = cli("partner", "add", "--partner-tenant-id", partner.id, "--partner-client-id",
                  partner.partner_app, "--partner-secret-env", "P_SECRET",
                  "--inventory-client-id", partner.inventory_app, "--inventory-secret-env",
                  "I_SECRET", "--source", "gdap")
    assert refused.code == 2
    assert f"tenantsync: error: The {app} app (" in refused.error
    assert f"(command line: --{app}-secret-env)" in refused.error
    assert "Value" in refused.error  # the secret's Value, not its ID
    assert stored(harness) == before
    unknown_app = cli("partner", "add", "--partner-tenant-id", partner.id,
                      "--partner-client-id", new_id(), "--partner-secret-env", "P_SECRET",
                      "--inventory-client-id", partner.inventory_app,
                      "--inventory-secret-env", "I_SECRET", "--source", "gdap")
    assert "The partner app (" in unknown_app.error
    assert "(command line: --partner-client-id)" in unknown_app.error


@pytest.mark.slow
def test_rotating_the_inventory_secret_every_customer_depends_on(
    harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch,
) -> None:
    partner = Partner(world)
    customers = [partner.customer(f"Rot {i}", devices=2) for i in range(2)]
    harness.start()
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="gdap")
    harness.services.partners.discover(partner.id)
    # The README's steps: a second secret on the inventory app, saved, then the old deleted.
    new = "rotated~" + partner.inventory_secret[::-1]
    assert harness.sim is not None
    harness.sim.set_app_secrets(partner.inventory_app, [
        {"id": partner.inventory_secret_id, "value": partner.inventory_secret,
         "expires": "2099-01-01T00:00:00Z"},
        {"id": new_id(), "value": new, "expires": "2099-01-01T00:00:00Z"}])
    monkeypatch.setenv("NEW_INVENTORY_SECRET", new)
    cli.extra_secrets += [new, partner.inventory_secret, partner.partner_secret]
    versions = vault_state(harness)[0][inventory_secret_name(partner.id)]
    saved = cli("partner", "update", "--partner-tenant-id", partner.id,
                "--inventory-secret-env", "NEW_INVENTORY_SECRET", "--inventory-secret-expires",
                "2099-01-01")
    assert saved.code == 0, saved.err
    assert vault_state(harness)[0][inventory_secret_name(partner.id)] == versions + 1
    harness.sim.set_app_secrets(partner.inventory_app, [
        {"id": new_id(), "value": new, "expires": "2099-01-01T00:00:00Z"}])
    synced = cli("sync", "devices", "--all", "--json")
    assert synced.code == 0, synced.out
    assert sorted(r["tenantId"] for r in synced.lines()) == sorted(customers)


@pytest.mark.slow
def test_tenant_remove_keeps_the_synced_data_and_purge_deletes_it(
    harness: Harness, world: World, cli: Cli,
) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    removed = cli("tenant", "remove", "--tenant-id", t.id)
    assert removed.code == 0 and "its synced data stays" in removed.out
    assert cli("tenant", "show", "--tenant-id", t.id).code == 2
    assert len(harness.users_of(t.id)) == 5
    harness.onboard(t)
    assert cli("tenant", "remove", "--tenant-id", t.id, "--purge").code == 0
    assert harness.users_of(t.id) == []
    assert harness.services.runs.recent(t.id, 5) == []


@pytest.mark.slow
def test_verbose_shows_tenantsync_and_very_verbose_adds_the_http_traffic(
    harness: Harness, world: World,
) -> None:
    t = harness.start_onboarded()
    quiet = run_cli("sync", "directory", "--tenant-id", t.id, env=harness.env)
    assert (quiet.code, quiet.err) == (0, "")
    verbose = run_cli("-v", "sync", "directory", "--tenant-id", t.id, env=harness.env)
    ours = [line for line in verbose.err.splitlines() if " tenantsync." in line]
    assert ours and all(line.split()[1].startswith("tenantsync.")
                        for line in verbose.err.splitlines() if line.strip())
    very = run_cli("-vv", "sync", "directory", "--tenant-id", t.id, env=harness.env)
    assert " tenantsync." in very.err
    assert re.search(r"azure\.core\.pipeline\.policies\.http_logging_policy: Request URL",
                     very.err)
    assert re.search(r"urllib3\.connectionpool: .* \"GET /v1\.0/groups/", very.err)
    assert t.secret not in very.err and world.operator_secret not in very.err


@pytest.mark.slow
def test_demo_help_prints_help_and_runs_nothing() -> None:
    done = subprocess.run(["bash", "scripts/demo.sh", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: demo.py")
    assert "starting Azurite" not in done.stdout


def test_the_readme_links_only_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if target.startswith(("http://", "https://")):
            continue
        resolved = (ROOT / target).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), target
    assert "../" not in readme

