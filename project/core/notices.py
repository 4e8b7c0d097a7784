"""
Site-wide notices shown above every page.

An app registers a provider (a function of the request returning Notice objects) in its
AppConfig.ready(); the base template shows them all. This keeps the core free of knowledge
about, say, Telegram reachability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import logging

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    text: str
    level: str = "warning"  # info, warning, error
    link: str = ""
    link_text: str = ""


_providers: list[Callable] = []


def register(provider: Callable) -> Callable:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def notices_for(request) -> list[Notice]:
    found: list[Notice] = []
    for provider in _providers:
        found.extend(provider(request) or ())
    return found
