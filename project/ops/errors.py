"""Errors of the operator flows. Their messages are for the operator: plain words, what to do."""

from __future__ import annotations


class OpsError(Exception):
    """Something the operator has to fix; the command prints the message and exits non-zero."""


class WrongSecretsBackend(OpsError):
    pass


class TokenRejected(OpsError):
    pass


class StageMismatch(OpsError):
    pass


class NotDeployed(OpsError):
    pass
