"""Why a meetups flow refused to do something. Each message is fit to show the person."""


class MeetupsError(Exception):
    """Base of every refusal; `str(error)` is what the page or the bot says."""

    default_message = "That cannot be done."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)
