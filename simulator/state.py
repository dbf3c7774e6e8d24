"""The live state of a simulator and the control operations that change it."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections import Counter
from typing import Any

from .credentials import (
    parse_certificates,
    parse_consent_decision,
    parse_delay,
    parse_federated_credentials,
    parse_signed_in_admin,
)
from .delta_log import SOFT_DELETED, DeltaConfig
from .export_jobs import ExportStore
from .faults import Fault, describe, parse_faults
from .fixture import fail, guid, member_ids, parse_object, parse_roles, parse_secrets
from .intune_data import INTUNE_KINDS, edit_intune
from .model import KINDS, Application, Tenant, World
from .partner_access import PartnerAccess
from .sections import SECTION_KEYS, apply_section, directory_of
from .subscriptions import Subscriptions
from .throttle import Limiter, parse_throttling
from .validate import mapping
from .vault_store import VaultStore


class SimState:
    """World + vault + faults + stats, guarded by one re-entrant lock (`lock`).

    Handlers and control methods take the lock for every read and write; the control
    methods raise FixtureError for invalid input, naming the offending value.
    """

    def __init__(self, world: World) -> None:
        self.lock = threading.RLock()
        self.world = world
        self.vault = VaultStore(world.vault_secrets)
        self.faults: list[Fault] = []
        self.latency = 0.0
        self.signing_key = secrets.token_bytes(32)
        # IDENTITY_HEADER of the simulated Functions host: random, like the platform's.
        self.identity_header = secrets.token_hex(16)
        self.marker = secrets.token_hex(4)  # ties skip tokens to this instance
        self.limiter = Limiter(world.throttling)  # Intune budgets (has its own lock)
        self.exports = ExportStore(world.export_jobs, self.signing_key)  # has its own lock
        self.subscriptions = Subscriptions()  # change notifications (has its own lock)
        self.delta = DeltaConfig()  # how users/groups delta rounds are paged
        self.partner_access = PartnerAccess()  # the partner side (simulator.partner_access)
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._batched: Counter[str] = Counter()  # $batch requests by "METHOD kind"
        self._batched_statuses: Counter[str] = Counter()
        self._throttled = 0
        self._tokens_issued = 0
        self._graph_in_flight = 0
        self._graph_in_flight_peak = 0
        self._graph_service = [0, 0.0]  # Graph requests answered, their seconds in the service

    # --- lookups used by the handlers -------------------------------------------------

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self.world.tenants.get(tenant_id.lower())

    def vault_tenant(self) -> str:
        """The vault's tenant: home tenant of the first principal (else the first tenant)."""
        for client_id in self.world.vault_principals:
            identity = self.world.managed_identities.get(client_id)
            if identity is not None:
                return identity.home_tenant
            return self.world.applications[client_id].home_tenant
        return next(iter(self.world.tenants), "00000000-0000-0000-0000-000000000000")

    # --- directory control ------------------------------------------------------------

    def _tenant_or_fail(self, tenant_id: str) -> Tenant:
        tenant = self.tenant(guid(tenant_id, "tenant"))
        if tenant is None:
            fail("tenant", f"unknown tenant '{tenant_id}'")
        return tenant

    def _group_or_fail(self, tenant: Tenant, group_id: str) -> str:
        key = guid(group_id, "group")
        if key not in tenant.members:
            fail("group", f"unknown group '{group_id}' in tenant '{tenant.id}'")
        return key

    def change_members(
        self, tenant_id: str, group_id: str, add: list[str], remove: list[str]
    ) -> None:
        """Add and remove direct members of a group (adding a member twice is a no-op)."""
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            group = self._group_or_fail(tenant, group_id)
            current = tenant.members[group]
            to_add = member_ids(tenant, group, add, "add")
            to_remove = [guid(item, f"remove[{index}]") for index, item in enumerate(remove)]
            before = list(current)
            current[:] = [member for member in current if member not in to_remove]
            current.extend(member for member in to_add if member not in current)
            self._log_members(tenant, group, before, current)
            if current != before:
                self.subscriptions.changed(tenant.id, "groups", group, "updated",
                                           membership=True)

    def upsert_object(self, tenant_id: str, kind: str, raw: object) -> None:
        """Create or replace a directory object; a group's `members`, if given, replace its own.

        Intune kinds (managed_devices, detected_apps, mobile_apps) replace or add one item of
        the tenant's `intune` section.
        """
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            if kind in INTUNE_KINDS:
                props = dict(mapping(raw, kind))
                if not isinstance(props.get("id"), str) or not props["id"]:
                    fail(f"{kind}.id", "missing 'id'")
                tenant.intune = edit_intune(tenant.intune, kind, props["id"], props)
                return
            obj = parse_object(kind, raw, f"{kind}")
            existing = tenant.objects.get(obj.id)
            if existing is not None and existing.kind != kind:
                fail(f"{kind}.id", f"'{obj.id}' is already a {existing.kind[:-1]}")
            members = raw.get("members") if isinstance(raw, dict) else None
            tenant.objects[obj.id] = obj
            tenant.delta.touched(obj.id)
            if kind == "groups":
                before = list(tenant.members.setdefault(obj.id, []))
                if members is not None:
                    tenant.members[obj.id] = member_ids(tenant, obj.id, members, f"{kind}.members")
                    self._log_members(tenant, obj.id, before, tenant.members[obj.id])
            if kind in ("users", "groups"):
                # Creation arrives as `updated` too (subscription resource, changeType).
                self.subscriptions.changed(tenant.id, kind, obj.id, "updated",
                                           membership=members is not None)

    def delete_object(self, tenant_id: str, kind: str, object_id: str,
                      reason: str = SOFT_DELETED) -> None:
        """Remove an object, and its memberships, from a tenant (or an Intune item);
        ``reason`` is what users/groups delta says of it (``changed``: soft-deleted)."""
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            if kind in INTUNE_KINDS:
                tenant.intune = edit_intune(tenant.intune, kind, object_id, None)
                return
            key = guid(object_id, "id")
            obj = tenant.objects.get(key)
            if obj is None or obj.kind != kind:
                fail("id", f"no {kind} object '{object_id}' in tenant '{tenant.id}'")
            del tenant.objects[key]
            tenant.members.pop(key, None)
            # Its memberships go silently: group delta is reported not to emit a member
            # `@removed` for a deleted user (reference: GDC issues #2829, #5855).
            tenant.delta.removed(key, kind, reason)
            for members in tenant.members.values():
                if key in members:
                    members.remove(key)
            if kind in ("users", "groups"):
                self.subscriptions.changed(tenant.id, kind, key, "deleted")

    @staticmethod
    def _log_members(tenant: Tenant, group: str, before: list[str], after: list[str]) -> None:
        kinds = {m: tenant.objects[m].kind for m in (*before, *after) if m in tenant.objects}
        tenant.delta.members_replaced(group, before, after, kinds)

    def expire_delta_tokens(self, tenant_id: str, *, resync: bool = False) -> None:
        """Every delta token issued so far answers 400 syncStateNotFound from now on (or,
        with ``resync``, 410 Gone: a resync after tenant maintenance)."""
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            # Issue times are wall-clock seconds: a token of this very instant is stale too.
            cutoff = time.time() + 1e-6
            if resync:
                tenant.delta.reset_before = cutoff
            else:
                tenant.delta.expired_before = cutoff

    def set_delta_paging(self, raw: object) -> None:
        """How delta rounds are paged: users_page, groups_page, members_page (1-10000),
        repeat (bool), token_lifetime (seconds)."""
        body = mapping(raw, "body", ("users_page", "groups_page", "members_page", "repeat",
                                     "token_lifetime"))
        for name, value in body.items():
            if name == "repeat":
                if not isinstance(value, bool):
                    fail(name, "must be true or false")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    1 <= value <= (1e9 if name == "token_lifetime" else 10000)):
                fail(name, "must be a positive number")
        with self.lock:
            self.delta.update(body)

    def set_roles(self, tenant_id: str, client_id: str, roles: list[str] | None) -> None:
        """Grant `roles` to an application's service principal; None removes the principal."""
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            app = guid(client_id, "client_id")
            if app not in self.world.applications:
                fail("client_id", f"unknown application '{client_id}'")
            if roles is None:
                tenant.roles.pop(app, None)
            else:
                tenant.roles[app] = parse_roles(roles, "roles")

    def _app_or_fail(self, client_id: str) -> Application:
        app = self.world.applications.get(guid(client_id, "client_id"))
        if app is None:
            fail("client_id", f"unknown application '{client_id}'")
        return app

    def set_app_secrets(self, client_id: str, raw: object) -> None:
        """Replace an application's secrets (same format as in the fixture)."""
        with self.lock:
            self._app_or_fail(client_id).secrets = parse_secrets(raw, "secrets")

    def set_app_certificates(self, client_id: str, raw: object) -> None:
        """Replace an application's certificate credentials (same format as in the fixture)."""
        certificates = parse_certificates(raw, "certificates")
        with self.lock:
            self._app_or_fail(client_id).certificates = certificates

    def set_federated_credentials(self, client_id: str, raw: object) -> None:
        """Replace an application's federated credentials. A record it did not have before
        answers AADSTS70021 for `federation_delay` seconds (Entra's propagation delay)."""
        with self.lock:
            app = self._app_or_fail(client_id)
            app.federated_credentials = parse_federated_credentials(
                raw,
                "federated_credentials",
                visible_at=time.time() + self.world.federation_delay,
                previous=app.federated_credentials,
            )

    def set_federation_delay(self, seconds: object) -> None:
        """Propagation delay for federated credentials added from now on (0-3600 s)."""
        delay = parse_delay(seconds, "seconds")
        with self.lock:
            self.world.federation_delay = delay

    def set_admin_consent(self, tenant_id: str, decision: object) -> None:
        """What the tenant's admin answers at /adminconsent: "accept" or "refuse"."""
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            tenant.admin_consent = parse_consent_decision(decision, "decision")

    def set_signed_in_admin(self, tenant_id: object) -> None:
        """The tenant whose admin is signed in for /organizations and /common (None: nobody)."""
        with self.lock:
            self.world.signed_in_admin_tenant = parse_signed_in_admin(
                tenant_id, "tenant", self.world.tenants
            )

    def grant_admin_consent(self, tenant: Tenant, app: Application) -> None:
        """Create or update the app's service principal with its requested permissions.
        Consent adds grants and never removes one. The caller holds the lock."""
        if self.partner_access.propagation_seconds:  # Entra's delay before tokens see it
            self.partner_access.grant_later(tenant, app.client_id, app.required_roles)
            return
        granted = tenant.roles.setdefault(app.client_id, [])
        granted.extend(role for role in app.required_roles if role not in granted)

    def update_tenant(self, tenant_id: str, raw: object) -> None:
        """Replace sections of a tenant: {"organization"|"intune"|"gdap"|"partner_center":
        value or null}. All of them are validated before any is applied."""
        changes = mapping(raw, "body", SECTION_KEYS)
        with self.lock:
            tenant = self._tenant_or_fail(tenant_id)
            draft = dataclasses.replace(tenant)
            directory = directory_of(self.world)
            for name, value in changes.items():
                apply_section(draft, name, value, name, directory)
            for name in changes:
                setattr(tenant, name, getattr(draft, name))

    def set_throttling(self, raw: object) -> None:
        """New Intune budgets (keys left out take their defaults); the windows restart."""
        config = parse_throttling(raw)
        with self.lock:
            self.world.throttling = config
            self.limiter.configure(config)

    # --- faults, latency, stats ---------------------------------------------------------

    def set_faults(self, raw: object) -> None:
        parsed = parse_faults(raw)
        with self.lock:
            self.faults = parsed

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = []

    def set_latency(self, seconds: object) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= 60
        ):
            fail("seconds", "must be a number from 0 to 60")
        with self.lock:
            self.latency = float(seconds)

    def count_request(self, method: str, kind: str) -> None:
        with self.lock:
            self._requests[f"{method} {kind}"] += 1

    def count_response(self, status: int) -> None:
        with self.lock:
            self._statuses[str(status)] += 1
            if status == 429:
                self._throttled += 1

    def count_subrequest(self, method: str, kind: str, status: int) -> None:
        """One request of a $batch (not in `requests`, which counts HTTP requests)."""
        with self.lock:
            self._batched[f"{method} {kind}"] += 1
            self._batched_statuses[str(status)] += 1

    def graph_started(self) -> None:
        """A Graph request arrived; it is in flight until ``graph_ended`` (latency included)."""
        with self.lock:
            self._graph_in_flight += 1
            self._graph_in_flight_peak = max(self._graph_in_flight_peak, self._graph_in_flight)

    def graph_ended(self, arrived: float) -> None:
        """A Graph request's answer is ready to go; ``arrived`` is when it came in."""
        seconds = time.monotonic() - arrived
        with self.lock:
            self._graph_in_flight -= 1
            self._graph_service[0] += 1
            self._graph_service[1] += seconds

    def count_token(self) -> None:
        with self.lock:
            self._tokens_issued += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": sum(self._requests.values()),
                "by_path_kind": dict(sorted(self._requests.items())),
                "throttled": self._throttled,
                "tokens_issued": self._tokens_issued,
                "graph_in_flight_peak": self._graph_in_flight_peak,
                # What the latency promises against what it took (the simulator's own work
                # and its threads' waits for the CPU count in): the mean, in milliseconds.
                "graph_service_ms": round(
                    1000 * self._graph_service[1] / max(1, self._graph_service[0]), 2),
                "budget_throttled": dict(self.limiter.rejected),
                "app_window_peak": dict(self.limiter.peak),
                "by_status": dict(sorted(self._statuses.items())),
                "batch": {
                    "subrequests": sum(self._batched.values()),
                    "by_path_kind": dict(sorted(self._batched.items())),
                    "by_status": dict(sorted(self._batched_statuses.items())),
                    "throttled": self._batched_statuses["429"],
                },
                "faults": [describe(fault) for fault in self.faults],
            }

    def reset_stats(self) -> None:
        with self.lock:
            self._requests.clear()
            self._statuses.clear()
            self._batched.clear()
            self._batched_statuses.clear()
            self._throttled = 0
            self._tokens_issued = 0
            self._graph_in_flight_peak = self._graph_in_flight
            self._graph_service = [0, 0.0]
        self.limiter.reset_counts()


__all__ = ["KINDS", "SimState"]
