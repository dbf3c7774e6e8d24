"""The Azure Functions app: composes the HTTP API and the blueprints in functions/, nothing else."""

import azure.functions as func

from functions.api import API_FUNCTION_NAME, create_app
from functions.blueprints.consent import bp as consent
from functions.blueprints.health import bp as health
from functions.blueprints.notifications import bp as notifications
from functions.blueprints.syncs import devices, directory
from functions.blueprints.webhooks import bp as webhooks

# The HTTP API (every route, function key required) beside the timer and queue functions;
# the anonymous health function wins /api/health and the anonymous consent callback
# /api/consent/callback, the anonymous Graph endpoints /api/notifications/* (see
# functions/blueprints/health.py, consent.py and notifications.py).
app = func.AsgiFunctionApp(
    app=create_app(), http_auth_level=func.AuthLevel.FUNCTION, function_name=API_FUNCTION_NAME
)
app.register_functions(directory)
app.register_functions(devices)
app.register_functions(health)
app.register_functions(webhooks)
app.register_functions(consent)
app.register_functions(notifications)
