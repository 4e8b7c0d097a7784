from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.urls import reverse

from project.accounts.emails import normalize_email


class AccountAdapter(DefaultAccountAdapter):
    """
    Site-specific allauth behaviour for email sign-in.

    Sign-in itself is project.accounts.flows.email_sign_in; allauth's password and sign-up
    pages are replaced by project.accounts.urls. What remains here is small.
    """

    def clean_email(self, email: str) -> str:
        """allauth's email forms (adding or changing the address on the account page) store
        the one spelling project.accounts.emails gives; ValidationError is a form error."""
        return normalize_email(super().clean_email(email))

    def get_email_verification_redirect_url(self, email_address):
        # Adding or changing an address happens from the account page: go back there.
        if self.request.user.is_authenticated:
            return reverse("account")
        return super().get_email_verification_redirect_url(email_address)

    def send_mail(self, template_prefix, email, context):
        # Every email template may say which site it comes from without relying on the
        # Sites framework's name (set per stage by `ensure_site`, but absent in a fresh DB).
        context = {
            "site_name": settings.SITE_NAME,
            "site_url": settings.SITE_URL,
            # How long the code in an email-confirmation mail works; the sign-in email sets its own.
            "valid_minutes": max(1, app_settings.EMAIL_VERIFICATION_BY_CODE_TIMEOUT // 60),
            **context,
        }
        super().send_mail(template_prefix, email, context)
