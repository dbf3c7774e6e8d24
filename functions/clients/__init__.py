"""Clients of Microsoft's endpoints: Graph, Entra ID tokens and Key Vault."""
