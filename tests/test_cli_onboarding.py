"""The command line's onboarding: consent links (a tenant's, a partner's customers'), every
credential type, choosing a group by name, and bad input as one line that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from functions.cli import main
from functions.core.model import CredentialType, Health
from tests.conftest import Harness
from tests.consent_helpers import consent_world, redirect_of
from tests.simulator.onboarding import make_cert
from tests.test_cli import _one_line_error
from tests.world import Partner, World, new_id

CERT = make_cert("tenantsync cli")


def test_a_consent_link_connects_a_tenant_awaiting_its_group_chosen_by_name(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    d, t, ids = consent_world(world)
    harness.start(**d.env())
    assert main(["consent", "link", "--kind", "directory", "--tenant-id", t.id, "--json"]) == 0
    link = json.loads(capsys.readouterr().out)
    harness.services.consent.complete(redirect_of(harness, link["url"]))
    assert harness.services.tenants.get(t.id).health == Health.AWAITING_GROUP
    assert main(["tenant", "groups", "--tenant-id", t.id, "--name-prefix", "man"]) == 0
    header, *rows, total = capsys.readouterr().out.splitlines()
    assert header.split() == ["GROUP", "NAME"]
    assert [row.split() for row in rows] == [[ids["management"], "Management"]]
    assert total.startswith("1 group;")
    # Choosing the group it awaits starts its first sync, at once, as the API's PATCH does.
    assert main(["tenant", "update", "--tenant-id", t.id, "--group-id",
                 ids["management"]]) == 0
    assert "running its first directory sync now" in capsys.readouterr().out
    [first] = harness.services.runs.recent(t.id)
    assert first.status == "succeeded"
    assert first.users.created == len(harness.users_of(t.id)) > 0
    assert main(["sync", "directory", "--tenant-id", t.id]) == 0
    assert harness.services.tenants.get(t.id).health == Health.HEALTHY


@pytest.mark.slow
def test_tenant_add_with_a_certificate_file_and_with_the_managed_identity(
    harness: Harness, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, t, _ = consent_world(world)
    other = world.tenant("Certified")
    other.add(other.level0, other.user("Pat Doe"))
    world.fixture["applications"][other.app_id]["certificates"] = [
        {"id": new_id(), "pem": CERT.cert_pem}]
    d.consented(t.id, d.directory_app)
    harness.start(**d.env())
    pem = tmp_path / "app.pem"
    pem.write_text(CERT.with_key_pem())
    assert main(["tenant", "add", "--tenant-id", other.id, "--client-id", other.app_id,
                 "--group-id", other.level0, "--credential", "certificate",
                 "--certificate-file", str(pem)]) == 0
    assert main(["tenant", "add", "--tenant-id", t.id, "--client-id", d.directory_app,
                 "--group-id", t.level0, "--credential", "federated"]) == 0
    assert main(["sync", "directory", "--all"]) == 0
    types = {tid: harness.services.tenants.get(tid).directory.credential_type  # type: ignore[union-attr]
             for tid in (t.id, other.id)}
    assert types == {t.id: CredentialType.FEDERATED, other.id: CredentialType.CERTIFICATE}
    assert CERT.key_pem.splitlines()[1] not in capsys.readouterr().out


@pytest.mark.parametrize(("content", "args", "words"), [
    ("not a certificate", [], "is not a PEM certificate"),
    (CERT.key_pem, [], "holds a private key but not its certificate"),
    (None, [], "--certificate-file"),
])
def test_bad_certificate_input_is_one_line_and_stores_nothing(
    harness: Harness, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    content: str | None, args: list[str], words: str,
) -> None:
    t = world.tenant()
    harness.start()
    extra = []
    if content is not None:
        pem = tmp_path / "bad.pem"
        pem.write_text(content)
        extra = ["--certificate-file", str(pem)]
    assert main(["tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id, "--group-id",
                 t.level0, "--credential", "certificate", *extra, *args]) == 2
    err = _one_line_error(capsys)
    assert words in err
    assert "PRIVATE KEY-----\n" not in err
    assert harness.services.tenants.find(t.id) is None


@pytest.mark.slow
def test_a_federated_partner_connection_and_its_customers_consent_links(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    d, _, _ = consent_world(world)
    customers = Partner(world, "Reseller")
    waiting = customers.customer("Waiting", consented=False)
    harness.start(**d.env())
    # The deployment's own apps in its own tenant: no secret anywhere.
    assert main(["partner", "add", "--partner-tenant-id", world.home,
                 "--partner-client-id", d.partner_app, "--partner-credential", "federated",
                 "--inventory-client-id", d.inventory_app, "--inventory-credential",
                 "federated", "--source", "list", "--customer", waiting]) == 1  # no consent
    assert harness.services.tenants.get(waiting).device_state.health == Health.CONSENT_MISSING
    capsys.readouterr()
    assert main(["partner", "consent-links", "--partner-tenant-id", world.home, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["progress"] == {"consent_missing": 1}
    (item,) = listed["items"]
    assert item["tenantId"] == waiting
    harness.services.consent.complete(redirect_of(harness, item["url"]))
    assert main(["worker"]) == 0
    assert harness.services.tenants.get(waiting).device_state.health == Health.HEALTHY


def test_partner_add_without_the_secret_its_type_needs_is_one_line(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    partner = Partner(world)
    harness.start()
    assert main(["partner", "add", "--partner-tenant-id", partner.id,
                 "--partner-client-id", partner.partner_app, "--inventory-client-id",
                 partner.inventory_app, "--inventory-credential", "federated",
                 "--source", "gdap"]) == 2
    assert "--partner-secret-env" in _one_line_error(capsys)
    assert harness.services.partner_table.find(partner.id) is None


@pytest.mark.slow
def test_a_tenant_and_a_partners_inventory_app_switch_to_a_certificate(
    harness: Harness, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = world.tenant()
    t.add(t.level0, t.user("Pat Doe"))
    partner = Partner(world)
    customer = partner.customer("Alpha", devices=2)
    for app_id in (t.app_id, partner.inventory_app):
        world.fixture["applications"][app_id]["certificates"] = [
            {"id": new_id(), "pem": CERT.cert_pem}]
    harness.start()
    harness.onboard(t)
    monkeypatch.setenv("P_SECRET", partner.partner_secret)
    monkeypatch.setenv("I_SECRET", partner.inventory_secret)
    assert main(["partner", "add", "--partner-tenant-id", partner.id, "--partner-client-id",
                 partner.partner_app, "--partner-secret-env", "P_SECRET",
                 "--inventory-client-id", partner.inventory_app, "--inventory-secret-env",
                 "I_SECRET", "--source", "gdap"]) == 0
    pem = tmp_path / "app.pem"
    pem.write_text(CERT.with_key_pem())
    # The type follows from the file; the old secret stops being used at once.
    assert main(["tenant", "update", "--tenant-id", t.id, "--certificate-file", str(pem)]) == 0
    assert "the new credential is used from the next token request" in capsys.readouterr().out
    assert main(["partner", "update", "--partner-tenant-id", partner.id,
                 "--inventory-credential", "certificate", "--inventory-certificate-file",
                 str(pem)]) == 0
    assert harness.sim is not None
    for app_id in (t.app_id, partner.inventory_app):
        harness.sim.set_app_secrets(app_id, [])  # only the certificate signs in now
    assert main(["sync", "directory", "--tenant-id", t.id]) == 0
    assert main(["sync", "devices", "--tenant-id", customer]) == 0
    directory = harness.services.tenants.get(t.id).directory
    assert directory is not None and directory.credential_type == CredentialType.CERTIFICATE
    saved = harness.services.partner_table.get(partner.id)
    assert saved.inventory_credential.type == CredentialType.CERTIFICATE
    assert saved.partner_credential.type == CredentialType.SECRET  # left as it was
    assert CERT.key_pem.splitlines()[1] not in capsys.readouterr().out


@pytest.mark.parametrize(("args", "words"), [
    (["--credential", "federated", "--secret-env", "T_SECRET"],
     "--secret-env, --secret-stdin and --secret-expires are for --credential secret, not "
     "federated"),
    (["--credential", "secret", "--secret-env", "T_SECRET", "--certificate-file", "PEM"],
     "--certificate-file is for --credential certificate, not secret"),
    (["--credential", "certificate", "--certificate-file", "PEM", "--secret-expires",
      "2099-01-01"], "are for --credential secret, not certificate"),
    (["--credential", "certificate", "--certificate-file", "MISSING"],
     "--certificate-file: the file cannot be read (No such file or directory)"),
    (["--credential", "certificate", "--certificate-file", "DER"],
     "--certificate-file: the file is not PEM text"),
    (["--credential", "hunter2-secret-value"], "argument --credential: the value given is "
     "not valid (not shown); choose from 'secret', 'certificate', 'federated'"),
])
def test_credential_flags_that_do_not_fit_are_one_line_naming_them(
    harness: Harness, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, args: list[str], words: str,
) -> None:
    t = world.tenant()
    harness.start()
    monkeypatch.setenv("T_SECRET", t.secret)
    (tmp_path / "app.pem").write_text(CERT.with_key_pem())
    (tmp_path / "app.der").write_bytes(CERT.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    files = {"PEM": str(tmp_path / "app.pem"), "DER": str(tmp_path / "app.der"),
             "MISSING": str(tmp_path / "nowhere" / "app.pem")}
    argv = ["tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id, "--group-id",
            t.level0, *[files.get(a, a) for a in args]]
    try:
        code = main(argv)
    except SystemExit as stopped:  # argparse refused it
        code = int(stopped.code or 0)
    assert code == 2
    err = _one_line_error(capsys)
    assert words in err
    for typed in ("hunter2", str(tmp_path), t.secret, "PRIVATE KEY"):
        assert typed not in err
    assert harness.services.tenants.find(t.id) is None
