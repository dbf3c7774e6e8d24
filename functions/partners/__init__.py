"""Partner connections and the discovery of their customer tenants."""

from functions.partners.discovery import Customer, Discovery, Partners

__all__ = ["Customer", "Discovery", "Partners"]
