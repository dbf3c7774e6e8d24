"""Azure Functions blueprints: thin triggers that call the service layer."""
