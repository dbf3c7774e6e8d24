"""Key Vault secrets through the real SecretClient and ClientSecretCredential."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from simulator import Simulator

from .conftest import TENANT, http, vault_client


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[SecretClient]:
    secret_client, credential = vault_client(sim)
    yield secret_client
    secret_client.close()
    credential.close()


def test_set_then_get_latest_and_by_version(client: SecretClient) -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    first = client.set_secret(
        "tenant-a", "value-one", content_type="text/plain", tags={"tenant": "a"}, expires_on=expires
    )
    second = client.set_secret("tenant-a", "value-two")
    assert first.properties.version != second.properties.version
    assert client.get_secret("tenant-a").value == "value-two"
    old = client.get_secret("tenant-a", first.properties.version)
    assert old.value == "value-one"
    assert old.properties.content_type == "text/plain"
    assert old.properties.tags == {"tenant": "a"}
    assert old.properties.expires_on == expires
    assert old.properties.enabled is True
    assert old.properties.recovery_level == "Recoverable+Purgeable"
    assert old.name == "tenant-a"


def test_versions_and_list_are_paged(client: SecretClient) -> None:
    for index in range(3):
        client.set_secret("paged", f"v{index}")
    versions = list(client.list_properties_of_secret_versions("paged", max_page_size=2))
    assert len(versions) == 3
    names = {p.name for p in client.list_properties_of_secrets(max_page_size=2)}
    assert {"paged", "seeded"} <= names


def test_seeded_secret_is_readable(client: SecretClient) -> None:
    assert client.get_secret("seeded").value == "seed-value"


def test_delete_is_soft_and_then_get_is_404(client: SecretClient) -> None:
    client.set_secret("to-delete", "bye")
    poller = client.begin_delete_secret("to-delete")
    deleted = poller.result()
    poller.wait()
    assert deleted.name == "to-delete"
    assert deleted.recovery_id
    assert deleted.deleted_date
    with pytest.raises(ResourceNotFoundError) as raised:
        client.get_secret("to-delete")
    assert raised.value.error is not None
    assert raised.value.error.code == "SecretNotFound"
    client.purge_deleted_secret("to-delete")
    assert client.set_secret("to-delete", "again").value == "again"


def test_update_properties_disables_a_version(client: SecretClient) -> None:
    secret = client.set_secret("switch", "on")
    nbf = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    updated = client.update_secret_properties(
        "switch", secret.properties.version, enabled=False, not_before=nbf, tags={"k": "v"}
    )
    assert updated.enabled is False
    assert updated.not_before == nbf
    assert updated.tags == {"k": "v"}
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("switch")
    assert raised.value.status_code == 403


def test_invalid_name_is_400(client: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        client.set_secret("bad_name", "x")
    assert raised.value.status_code == 400
    assert raised.value.error is not None
    assert raised.value.error.code == "BadParameter"


def test_unauthenticated_request_gets_the_challenge(sim: Simulator) -> None:
    response = http(sim).get(f"{sim.base_url}/keyvault/secrets/seeded?api-version=7.6")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{sim.base_url}/{TENANT}", resource="https://vault.azure.net"'
    )
