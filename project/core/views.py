from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from project.core.mail import latest_mail


def home(request):
    return render(request, "core/home.html")


def dev_mail(request):
    """The local stage's outbox of emails, so a newcomer can sign in with nothing else."""
    if settings.STAGE != "local":
        raise Http404
    return render(request, "dev/mail.html", {"mails": latest_mail()})
