"""
Notifications: notify(), the outbox (SQS) and the sender's logic.

`notify` is importable from here without loading models at import time (app loading imports
this package before the models are ready).
"""


def notify(user, kind, *, text, link="", buttons=None, subject=""):
    """Tell `user` something of `kind` on the channels they chose; call inside the event's
    transaction. Returns the Notification. See flows/notify.py."""
    from .flows.notify import notify as _notify

    return _notify(user, kind, text=text, link=link, buttons=buttons, subject=subject)


__all__ = ["notify"]
