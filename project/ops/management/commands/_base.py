"""Shared by the operator commands: OpsError (and a foreign token) become a plain CommandError."""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from project.core.secrets import ImproperlyConfigured
from project.ops.errors import OpsError


class OpsCommand(BaseCommand):
    # call_command(..., stdin=...) in tests; from a shell the value comes from sys.stdin.
    stealth_options = ("stdin",)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except (OpsError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None

    def read_secret_input(self, prompt: str, stdin=None) -> str:
        """A value from stdin when piped, else a prompt that does not echo; never from argv
        (argv lands in shell history and in every process listing)."""
        stream = stdin or sys.stdin
        if stream.isatty():
            return getpass.getpass(prompt)
        return stream.readline().strip()
