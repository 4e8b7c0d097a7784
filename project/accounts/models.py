from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """
    A person on the site. There are no passwords: people sign in with their email (a code or
    a link) or with Telegram. allauth fills `username` with a generated value; an account
    created through Telegram has no email until the person adds one.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def __str__(self):
        return self.email or self.get_full_name() or self.username
