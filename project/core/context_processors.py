from django.conf import settings


def site(request):
    return {
        "SITE_NAME": settings.SITE_NAME,
        "STAGE": settings.STAGE,
        "TELEGRAM_BOT_USERNAME": settings.TELEGRAM_BOT_USERNAME,
    }


def notices(request):
    """Site-wide notices (e.g. "the bot cannot reach you") from the providers apps register."""
    from project.core.notices import notices_for

    return {"site_notices": notices_for(request)}
