"""tenantsync: Entra ID group members and Intune data of many tenants, kept in Table Storage.

The code of the function app. ``function_app.py`` composes the triggers in
``functions.blueprints``; everything else is the service layer they call.
"""
