"""
Texts rendered from templates outside a page: what the bot says in Telegram.

`render_text(name, context)` finds `name` in the site's template directories (settings
TEMPLATES' DIRS) and renders it with Django's built-in tags and filters, autoescaped, exactly
as `render_to_string` would, but with an engine of its own. The site's engine, when first
used, imports the tag library of every installed app (allauth's pulls in its account flows):
about 30 ms of a cold webhook, which renders its answer to /help on its first request, for
texts that load no library. A text that needs one names it in LIBRARIES.

Like the site's engine, it keeps compiled templates for the life of the process.
"""

from __future__ import annotations

from django.conf import settings

# {"name": "dotted.module"} of tag libraries the texts may {% load %} (none so far).
LIBRARIES: dict[str, str] = {}

_engine = None


def engine():
    global _engine
    if _engine is None:
        from django.template import Engine

        dirs = [directory for backend in settings.TEMPLATES for directory in backend.get("DIRS", [])]
        _engine = Engine(dirs=dirs, libraries=LIBRARIES)
    return _engine


def render_text(name: str, context: dict | None = None) -> str:
    from django.template import Context

    return engine().get_template(name).render(Context(context or {}))


def _forget_engine(*, setting, **kwargs) -> None:
    """Tests that change TEMPLATES get an engine that follows them (as Django's own does)."""
    global _engine
    if setting == "TEMPLATES":
        _engine = None


def _connect() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(_forget_engine, dispatch_uid="project.core.text_templates")


_connect()
