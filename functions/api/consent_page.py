"""The one page a customer's admin sees: where Entra's admin consent returns to. Small and
self-contained (inline style, no script, no external asset); it says connected, with the
tenant's name and what happens next, or what went wrong and the fix.

The API route (served by uvicorn locally) and the anonymous Azure function both answer with
:func:`answer_callback`, so the two can never differ.
"""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Callable

from functions.core.codes import outcome
from functions.core.errors import TenantSyncError
from functions.core.model import SyncKind
from functions.onboarding.consent import ConsentResult
from functions.services import Services

log = logging.getLogger("tenantsync.consent")

# The page needs nothing from anywhere: no script, no frame, no form; the state in the
# address is never sent on as a referrer.
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f5f6f8;"
    "color:#1f2328;margin:0}main{max-width:36rem;margin:4rem auto;background:#fff;"
    "border-radius:8px;padding:2rem 2.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.5rem;margin-top:0}.ok h1{color:#1a7f37}.fail h1{color:#b42318}"
    "code{background:#f0f1f3;padding:.1rem .3rem;border-radius:4px}small{color:#59636e}"
)


def _page(ok: bool, title: str, paragraphs: list[str], word: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    outcome_word = word or ("connected" if ok else "not-connected")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><main class="{"ok" if ok else "fail"}">'
        f'<h1 id="outcome" data-outcome="{outcome_word}">{html.escape(title)}</h1>'
        f"{body}</main></body></html>"
    )


def connected_page(result: ConsentResult) -> str:
    name = html.escape(result.tenant_name or "Your tenant")
    who = f"<strong>{name}</strong> (tenant <code>{html.escape(result.tenant_id)}</code>)"
    if result.awaiting_consent:
        # Entra confirmed the consent but has not propagated it yet: not a failure.
        return _page(True, "Connection being completed", [
            f"Thank you: your consent for {who} was received. Microsoft Entra takes a few "
            "seconds to minutes to apply it; your provider's service completes the "
            "connection on its own as soon as it has, with nothing more to do on your side.",
            "<small>You can close this page. To disconnect later, remove the app under "
            "Entra ID &gt; Enterprise applications.</small>",
        ], word="completing")
    if result.kind == SyncKind.DEVICES:
        what = "its Intune devices and software"
        nxt = ("The first sync has started; your provider sees the devices within minutes, "
               "then they are kept up to date.")
    else:
        what = "the members of one of its security groups"
        if result.awaiting_group:
            nxt = ("Next, your provider chooses the group whose members are synced; nothing "
                   "is read before that.")
        else:
            nxt = (f"The members of the group <strong>{html.escape(result.group_name)}"
                   "</strong> are being synced now; your provider sees them within minutes.")
    return _page(True, "Connected", [
        f"{who} is connected: your provider now reads {what}, with read-only permissions "
        "and no password or secret of yours.",
        nxt,
        "<small>You can close this page. To disconnect later, remove the app under Entra ID "
        "&gt; Enterprise applications.</small>",
    ])


def failure_page(code: str, message: str) -> str:
    return _page(False, "Not connected", [
        html.escape(message),
        f"<small>Error code <code>{html.escape(code)}</code>. Nothing was connected.</small>",
    ])


def answer_callback(services: Callable[[], Services], raw_query: str) -> tuple[int, str]:
    """The callback's status and page for Entra's redirect (its raw query string).

    Never raises: every failure is a page that names the fix (an unexpected one, an error
    id that the log records beside the traceback).
    """
    try:
        result = services().consent.complete(raw_query)
    except TenantSyncError as exc:
        status = outcome(exc.code).status
        log.log(logging.WARNING if status >= 500 else logging.INFO,
                "consent callback -> %d %s", status, exc.code,
                extra={"error_code": exc.code, "status_code": status})
        return status, failure_page(exc.code, exc.message)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s in the consent callback", error_id,
                      extra={"error_id": error_id})
        return 500, failure_page("internal_error", f"Unexpected error {error_id}: please "
                                 "tell your provider, then open the link again later.")
    return 200, connected_page(result)
