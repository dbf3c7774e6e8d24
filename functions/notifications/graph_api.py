"""Graph's /subscriptions, through GraphClient's public API: POST directly; PATCH (renew),
DELETE and the reauthorize POST (answered 204 without a body) as a one-request JSON batch,
since GraphClient sends no other method and decodes every answer as JSON
("Combine multiple HTTP requests using JSON batching": any method, URL relative to the
version, the answer's own status inside a 200)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.clients.batch import SubAnswer
from functions.clients.graph import GraphClient
from functions.core.sensitive import SecretValue
from functions.notifications.model import CHANGE_TYPES
from functions.storage.entities import iso, parse_time


def _graph_time(moment: datetime) -> str:
    return iso(moment).replace("+00:00", "Z")


class GraphSubscriptions:
    """One app's subscriptions in one tenant."""

    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph

    def create(self, resource: str, notification_url: str, lifecycle_url: str,
               client_state: SecretValue, expires: datetime) -> tuple[str, datetime]:
        """Create a subscription (Graph validates both URLs first); its id and expiry.

        Raises:
            GraphError: 400 (validation failed, bad input), 403 (permission or quota,
            Graph's message names the limit), 404 (no such group).
        """
        made = self._graph.post("/subscriptions", {
            "changeType": CHANGE_TYPES, "resource": resource,
            "notificationUrl": notification_url, "lifecycleNotificationUrl": lifecycle_url,
            "expirationDateTime": _graph_time(expires), "clientState": client_state.reveal(),
        })
        return str(made["id"]), parse_time(made.get("expirationDateTime")) or expires

    def renew(self, subscription_id: str, expires: datetime) -> datetime:
        """Extend a subscription (which also reauthorizes it); its new expiry.

        Raises:
            GraphError: 404 once Graph removed it.
        """
        answer = self._one("PATCH", f"/subscriptions/{subscription_id}",
                           {"expirationDateTime": _graph_time(expires)})
        return parse_time(answer.get("expirationDateTime")) or expires

    def reauthorize(self, subscription_id: str) -> None:
        """Answer a ``reauthorizationRequired`` lifecycle event.

        Raises:
            GraphError: 404 once Graph removed it.
        """
        # Answered 204 without a body, which GraphClient.post does not take: batched.
        self._one("POST", f"/subscriptions/{subscription_id}/reauthorize", {})

    def delete(self, subscription_id: str) -> None:
        """Delete a subscription; one Graph no longer has is not an error."""
        try:
            self._one("DELETE", f"/subscriptions/{subscription_id}", None)
        except _Missing:
            return

    def _one(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        request: dict[str, Any] = {"id": "1", "method": method, "url": url}
        if body is not None:
            request.update(headers={"Content-Type": "application/json"}, body=body)
        answer = self._graph.post("/$batch", {"requests": [request]})
        [response] = answer.get("responses") or [{"status": 502, "body": {}}]
        result = SubAnswer("1", int(response.get("status") or 502),
                           response.get("body") if isinstance(response.get("body"), dict)
                           else {})
        if result.ok:
            return result.body
        if method == "DELETE" and result.status == 404:
            raise _Missing
        raise result.error()


class _Missing(Exception):
    pass
