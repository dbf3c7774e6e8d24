"""Onboarding: test a connection, then keep its credential in Key Vault and its tenant."""

from functions.onboarding.directory import ConnectionCheck, Onboarding

__all__ = ["ConnectionCheck", "Onboarding"]
