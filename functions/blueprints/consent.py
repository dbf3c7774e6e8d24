"""The anonymous consent callback, registered beside the API's ASGI function.

Where Microsoft Entra returns a customer's admin after an admin-consent link. Every API
route needs a function key in Azure, which Entra's redirect cannot carry, so this is a
function of its own with a literal route and auth level ANONYMOUS (as ``health``: the host
adds HTTP routes in the order of the functions' names, and ``consent_callback`` sorts before
``tenantsync_api``, so it answers /api/consent/callback; tests/test_function_app.py pins
that). It answers exactly as the API's own route of the same path does locally.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import azure.functions as func

from functions.api.consent_page import HEADERS, answer_callback
from functions.api.routes_partner_consent import answer_sign_in
from functions.core.model import utcnow
from functions.services import get_services

bp = func.Blueprint()


@bp.function_name("consent_callback")
@bp.route(route="consent/callback", methods=[func.HttpMethod.GET],
          auth_level=func.AuthLevel.ANONYMOUS)
def consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Test the consented connection, store the tenant, start its first sync: an HTML page
    that says connected, or what went wrong and the fix."""
    status, page = answer_callback(get_services, urlsplit(req.url).query)
    return func.HttpResponse(page, status_code=status, headers=HEADERS)


@bp.function_name("partner_sign_in_callback")
@bp.route(route="partners/sign-in/callback", methods=[func.HttpMethod.GET],
          auth_level=func.AuthLevel.ANONYMOUS)
def partner_sign_in_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Where Entra returns the partner's admin agent after signing in: the refresh token
    goes to Key Vault; the page says signed in, or what went wrong."""
    status, page = answer_sign_in(get_services, urlsplit(req.url).query)
    return func.HttpResponse(page, status_code=status, headers=HEADERS)


# Consent that heals itself: awaiting tenants are tested on their back-off (the schedule is
# the back-off's granularity; functions/partners/consent_retry.py).
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False)
def consent_retry(timer: func.TimerRequest) -> None:
    services, now = get_services(), utcnow()
    services.consent_retry.sweep(now)
    # Links never used are kept a week past their expiry (GET /consents/{id} says expired).
    services.consents.purge_expired(now - timedelta(days=7))
