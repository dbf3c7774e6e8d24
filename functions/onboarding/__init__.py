"""Onboarding: test a connection, then keep its credential in Key Vault and its tenant."""

from functions.clients.credentials import CredentialInput, Credentials
from functions.onboarding.checks import ConnectionCheck, ConnectionTest
from functions.onboarding.directory import Onboarding

__all__ = ["ConnectionCheck", "ConnectionTest", "CredentialInput", "Credentials", "Onboarding"]
