"""Sync jobs on a Storage queue: one message per tenant, so tenants scale out across instances."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from functions.core.errors import InputError, StorageError
from functions.core.validation import guid

KINDS = ("directory", "devices")
_RUN_ID = re.compile(r"^\d{13}-[0-9a-f]{8}$")
TRIGGERS = ("timer", "http", "queue", "cli")


@dataclass(frozen=True)
class SyncJob:
    tenant_id: str
    kind: str
    trigger: str
    run_id: str | None = None  # set when the run was recorded as queued (HTTP-started syncs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SyncJob:
        """Parse a queue message.

        Raises:
            InputError: the message is not a sync job we understand.
        """
        try:
            data = json.loads(text)
        except ValueError:
            raise InputError("queue message is not JSON", code="invalid_job") from None
        if not isinstance(data, dict):
            raise InputError("queue message is not a JSON object", code="invalid_job")
        kind, trigger = data.get("kind"), data.get("trigger", "queue")
        if kind not in KINDS or trigger not in TRIGGERS:
            raise InputError(
                f"unknown job kind {kind!r} or trigger {trigger!r}", code="invalid_job"
            )
        run_id = data.get("run_id")
        if run_id is not None and not (isinstance(run_id, str) and _RUN_ID.match(run_id)):
            raise InputError("queue message has a malformed run_id", code="invalid_job")
        return cls(guid(data.get("tenant_id"), "tenant_id"), kind, trigger, run_id)


class JobQueue:
    """Puts sync jobs on the queue the queue-triggered function listens to.

    Messages are base64-encoded: the Functions host decodes queue messages as base64 by
    default (host.json extensions.queues.messageEncoding).
    """

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def from_connection_string(cls, connection: str, name: str) -> JobQueue:
        return cls(QueueClient.from_connection_string(
            connection, name, message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        ))

    @classmethod
    def from_endpoint(cls, endpoint: str, name: str, credential: TokenCredential) -> JobQueue:
        return cls(QueueClient(
            endpoint, name, credential=credential, message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        ))

    def ensure(self) -> None:
        try:
            self._client.create_queue()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise StorageError(f"could not create queue ({type(exc).__name__})") from None

    def put(self, job: SyncJob) -> None:
        try:
            self._client.send_message(job.to_json())
        except AzureError as exc:
            raise StorageError(f"could not enqueue a sync job ({type(exc).__name__})") from None

    def take(self, max_messages: int = 32) -> list[SyncJob]:
        """Receive and delete up to ``max_messages`` jobs (for the command-line worker)."""
        jobs = []
        try:
            for message in self._client.receive_messages(max_messages=max_messages):
                jobs.append(SyncJob.from_json(message.content))
                self._client.delete_message(message)
        except AzureError as exc:
            raise StorageError(f"could not read the job queue ({type(exc).__name__})") from None
        return jobs

