from allauth.account.forms import RequestLoginCodeForm
from django import forms

from project.accounts.emails import normalize_email


class EmailSignInForm(RequestLoginCodeForm):
    """allauth's request-a-code form: its email field, user lookup and `request_login_code`
    rate limit. With ACCOUNT_PREVENT_ENUMERATION it never says whether an account exists."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        field.label = "Email address"
        field.widget.attrs.update({"placeholder": "you@example.com", "autofocus": True})

    def clean_email(self):
        # One spelling per address before anything looks it up or counts it against a rate
        # limit: case and Unicode/punycode domains are one address; over 254 characters is
        # an error here, not at the database.
        if self.cleaned_data.get("email"):
            self.cleaned_data["email"] = normalize_email(self.cleaned_data["email"])
        try:
            return super().clean_email()
        except forms.ValidationError as error:
            if getattr(error, "code", None) == "too_many_login_attempts":
                # allauth's wording is about failed logins; here it is about emails asked for.
                raise forms.ValidationError(
                    "Too many sign-in emails were asked for. Wait a minute, then try again.",
                    code="too_many_login_attempts",
                ) from error
            raise


class SignInCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the email",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "class": "code-input",
                "autofocus": True,
            }
        ),
    )
