"""Directory sync: an Entra ID group tree becomes users and groups in Table Storage."""
