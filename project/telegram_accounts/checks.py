"""
Start-up check: the stage's bot token must belong to the stage's bot.

Tagged "telegram" and deploy-only (`manage.py check --deploy`, run by the deploy and by the
container's start-up), so ordinary manage.py calls do not read Secrets Manager. The first
real use of the token (project.core.secrets.bot_token()) refuses a foreign token as well.
"""

from __future__ import annotations

from django.core import checks

from project.telegram_accounts import conf


@checks.register("telegram", deploy=True)
def check_bot_token_belongs_to_stage(app_configs=None, **kwargs):
    from project.core import secrets

    errors = []
    try:
        secrets.bot_token()
    except secrets.ForeignBotToken as exc:
        errors.append(checks.Error(str(exc), hint="Each stage has its own bot; see TELEGRAM_BOT_ID.", id="telegram_accounts.E001"))
    except secrets.SecretUnavailable as exc:
        errors.append(checks.Error(str(exc), id="telegram_accounts.E002"))
    unknown = [f for f in _configured_flows() if f not in conf.KNOWN_FLOWS]
    if unknown:
        errors.append(
            checks.Error(
                f"TELEGRAM_LOGIN_FLOWS has unknown flows: {', '.join(unknown)}.",
                hint="Use legacy, oidc or both.",
                id="telegram_accounts.E003",
            )
        )
    return errors


def _configured_flows() -> list[str]:
    from django.conf import settings

    flows = getattr(settings, "TELEGRAM_LOGIN_FLOWS", [])
    return [f.strip() for f in (flows.split(",") if isinstance(flows, str) else flows) if f.strip()]
