"""Graph v1.0 endpoints a partner reads: /organization and the GDAP collections."""

from __future__ import annotations

from . import resources as res
from .collection import Collection
from .graph import authenticate, bad_segment, denied
from .listing import ListSpec, page_response, parse_query
from .model import Gdap
from .state import SimState
from .wire import Request, Response, graph_error

ORG_READ = frozenset(
    {
        "Organization.Read.All",
        "Organization.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
GDAP_READ = frozenset(
    {"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"}
)

ORG_SPEC = ListSpec(
    entity_set="organization",
    type_name="microsoft.graph.organization",
    properties=frozenset(name for name, _ in res.ORGANIZATION_PROPERTIES),
    default_top=100,
    max_top=999,
    select_error="Request_BadRequest",
)
CUSTOMERS_SPEC = ListSpec(
    entity_set="delegatedAdminCustomers",
    type_name="microsoft.graph.delegatedAdminCustomer",
    properties=frozenset(res.GDAP_CUSTOMER_PROPERTIES),
    default_top=100,
    max_top=300,
    clamp_top=False,
    metadata="/v1.0/tenantRelationships/$metadata#",
)
RELATIONSHIPS_SPEC = ListSpec(
    entity_set="delegatedAdminRelationships",
    type_name="microsoft.graph.delegatedAdminRelationship",
    properties=frozenset(res.GDAP_RELATIONSHIP_PROPERTIES),
    default_top=100,
    max_top=300,
    clamp_top=False,
    metadata="/v1.0/tenantRelationships/$metadata#",
    filters=("status",),
)
_EMPTY_GDAP = Gdap(customers=Collection([]), relationships=Collection([]), by_status={})


def _method_not_allowed(req: Request) -> Response:
    return graph_error(
        req, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri."
    )


def organization(state: SimState, req: Request) -> Response:
    """GET /v1.0/organization: the tenant of the token, as a one-item collection."""
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    if len(segments) > 1:
        return bad_segment(req, segments[1])
    if req.method != "GET":
        return _method_not_allowed(req)
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    query = parse_query(state, req, ORG_SPEC)
    if isinstance(query, Response):
        return query
    if not set(claims.get("roles") or []) & ORG_READ:
        return denied(req)
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        org = tenant.organization if tenant else None
        if tenant is not None and org is None:
            name = res.initial_domain(tenant.display_name)
            org = res.organization(
                tenant.id, tenant.display_name, [res.domain(name, default=True, initial=True)]
            )
    return page_response(state, req, ORG_SPEC, query, Collection([org] if org else []))


def gdap(state: SimState, req: Request) -> Response:
    """GET /v1.0/tenantRelationships/delegatedAdminCustomers | delegatedAdminRelationships."""
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    if len(segments) > 2:
        return bad_segment(req, segments[2])
    if req.method != "GET":
        return _method_not_allowed(req)
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    relationships = segments[1].lower() == "delegatedadminrelationships"
    spec = RELATIONSHIPS_SPEC if relationships else CUSTOMERS_SPEC
    query = parse_query(state, req, spec)
    if isinstance(query, Response):
        return query
    if query.filter is not None and query.filter[1] not in res.GDAP_STATUSES:
        message = f"The string '{query.filter[1]}' is not a valid enumeration type constant."
        return graph_error(req, 400, "BadRequest", message)
    if not set(claims.get("roles") or []) & GDAP_READ:
        return denied(req)
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        data = (tenant.gdap if tenant else None) or _EMPTY_GDAP
    if not relationships:
        items = data.customers
    elif query.filter is not None:
        items = data.by_status.get(query.filter[1], Collection([]))
    else:
        items = data.relationships
    return page_response(state, req, spec, query, items)
