"""Sync jobs on a Storage queue: one message per tenant, so tenants scale out across instances."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest
from azure.storage.queue import (
    QueueClient,
    QueueMessage,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from functions.core.errors import InputError, StorageError
from functions.core.kinds import KINDS
from functions.core.model import RunOptions, SyncKind, Trigger, is_run_id
from functions.core.validation import guid
from functions.storage.meter import client_options
from functions.storage.transport import request_id

# The statuses azure-storage-queue raises these for (azure-core's map_error first).
_REFUSALS: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError, 403: ClientAuthenticationError,
    404: ResourceNotFoundError, 409: ResourceExistsError}


@dataclass(frozen=True)
class SyncJob:
    """One queued run of one tenant: the message the queue function gets."""

    tenant_id: str
    kind: SyncKind
    trigger: str  # a Trigger
    run_id: str | None = None  # the queued run; None in a message put on the queue by hand
    options: RunOptions = field(default_factory=RunOptions)

    def to_json(self) -> str:
        data: dict[str, Any] = {"tenant_id": self.tenant_id, "kind": self.kind,
                                "trigger": self.trigger, "run_id": self.run_id}
        if self.options.full:
            data["full"] = True
        if self.options.allow_mass_deletion:
            data["allow_mass_deletion"] = True
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SyncJob:
        """Parse a queue message.

        Raises:
            InputError: ``invalid_job``: the message is not a sync job we understand.
        """
        try:
            data = json.loads(text)
        except ValueError:
            raise InputError("queue message is not JSON", code="invalid_job") from None
        if not isinstance(data, dict):
            raise InputError("queue message is not a JSON object", code="invalid_job")
        kind, trigger = data.get("kind"), data.get("trigger", Trigger.QUEUE)
        if kind not in KINDS or trigger not in set(Trigger):
            raise InputError(
                f"unknown job kind {kind!r} or trigger {trigger!r}", code="invalid_job"
            )
        run_id = data.get("run_id")
        if run_id is not None and not is_run_id(run_id):
            raise InputError("queue message has a malformed run_id", code="invalid_job")
        flags = {name: data.get(name, False) for name in ("full", "allow_mass_deletion")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise InputError("queue message has a malformed option", code="invalid_job")
        return cls(guid(data.get("tenant_id"), "tenant_id"), KINDS.parse(kind), Trigger(trigger),
                   run_id, RunOptions(**flags))


@dataclass(frozen=True)
class Delivery:
    """A message taken from the queue: invisible to others until ``visibility`` runs out,
    deleted only once its work is recorded (at-least-once, as the Functions host does)."""

    text: str
    message: QueueMessage
    dequeue_count: int


class JobQueue:
    """The queue of one kind's sync jobs.

    Messages are base64-encoded: the Functions host decodes queue messages as base64 by
    default (host.json extensions.queues.messageEncoding).
    """

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def from_connection_string(cls, connection: str, name: str) -> JobQueue:
        return cls(QueueClient.from_connection_string(
            connection, name, message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(), **client_options(),
        ))

    @classmethod
    def from_endpoint(cls, endpoint: str, name: str, credential: TokenCredential) -> JobQueue:
        return cls(QueueClient(
            endpoint, name, credential=credential, message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(), **client_options(),
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
            # azure-storage-queue's retry policy resends any request after a read error, POST
            # included: a second copy of a job finds its run taken by the first.
            self._send(job.to_json(), 0)
        except AzureError as exc:
            raise StorageError(f"could not enqueue a sync job ({type(exc).__name__})") from None

    def send(self, text: str, *, delay_seconds: int = 0) -> None:
        """Put any message on the queue, visible after ``delay_seconds`` (at most 7 days).

        Raises:
            StorageError: the queue did not answer.
        """
        try:
            self._send(text, delay_seconds)
        except AzureError as exc:
            raise StorageError(f"could not enqueue a message ({type(exc).__name__})") from None

    def _send(self, text: str, delay_seconds: int) -> None:
        """Put Message, built by us and sent through the queue client's own pipeline (its
        credential, retries and meter): the SDK's ``send_message`` spends more CPU on its
        XML model and decorators than on the request (docs/benchmarks.md)."""
        # Put Message's body; the text is base64 (the Functions host's default messageEncoding),
        # which needs no XML escaping.
        encoded = base64.b64encode(text.encode()).decode()
        body = (f"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>{encoded}"
                "</MessageText></QueueMessage>").encode()
        params = f"visibilitytimeout={delay_seconds}" if delay_seconds else ""
        self._request("POST", "/messages", params, body, 201)

    def _request(self, method: str, path: str, params: str, body: bytes | None,
                 expected: int) -> None:
        """One request to the queue's ``path`` through the client's pipeline; a refusal
        raises what the SDK raises for that status (its type names the cause in our errors)."""
        client = self._client
        url, _, sas = client.url.partition("?")  # a SAS token, if any, stays in the query
        query = "&".join(part for part in (params, sas) if part)
        request = HttpRequest(method, f"{url}{path}" + (f"?{query}" if query else ""),
                              content=body, headers={"x-ms-version": client.api_version,
                                                     "Content-Type": "application/xml",
                                                     "Accept": "application/xml"})
        # Streamed: no answer of these is needed (the new message's id and pop receipt).
        # The queue SDK's request hook sets the client request id: ours, or one by uuid1.
        response = client._client.send_request(request, stream=True,
                                               client_request_id=request_id())
        response.read()
        if response.status_code != expected:
            error = _REFUSALS.get(response.status_code, HttpResponseError)
            raise error(message=f"Queue Storage answered HTTP {response.status_code}",
                        response=response)

    def receive(self, *, visibility_seconds: int, max_messages: int = 16) -> list[Delivery]:
        """Take up to ``max_messages`` messages, hidden from others for ``visibility_seconds``;
        a message not deleted by then is delivered again."""
        try:
            return [Delivery(m.content, m, int(m.dequeue_count or 1))
                    for m in self._client.receive_messages(
                        # One request for the batch: the SDK's page is one message unless
                        # told otherwise (messages_per_page defaults to 1).
                        max_messages=max_messages, messages_per_page=max_messages,
                        visibility_timeout=visibility_seconds)]
        except AzureError as exc:
            raise StorageError(f"could not read the job queue ({type(exc).__name__})") from None

    def delete(self, delivery: Delivery) -> None:
        """Delete a delivered message (its work is recorded). One already gone is fine;
        one whose visibility ran out and was taken again cannot be deleted (that delivery
        will find its run taken)."""
        message = delivery.message
        try:
            # Delete Message: its id in the path, its pop receipt (base64) in the query.
            self._request("DELETE", f"/messages/{quote(message.id, safe='')}",
                          f"popreceipt={quote(message.pop_receipt or '', safe='')}", None, 204)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise StorageError(f"could not delete a job message ({type(exc).__name__})") from None

    def peek_count(self) -> int:
        """About how many messages wait (for tests and the local worker's progress)."""
        try:
            return int(self._client.get_queue_properties().approximate_message_count or 0)
        except AzureError as exc:
            raise StorageError(f"could not read the job queue ({type(exc).__name__})") from None
