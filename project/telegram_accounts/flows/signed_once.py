"""
Each signed Telegram result signs in once, whichever way it arrives.

Telegram's signed data is not bound to anything of ours (no state, no nonce): whoever holds a
fresh result could post it again, from another browser, within its auth_date window. So every
path remembers the results it accepted for as long as they could still pass the age check.

The legacy sign-in's `tgAuthResult` and a login_url button's query fields are the same thing
(the same fields under the same HMAC keyed with SHA256(bot token)), so they share one
namespace: a result used by one path is spent for the other too. Mini App launch data is
signed differently and has its own.

The cache is shared by every container (database or Redis on deployed stages, contract C7).
Keys hold a SHA-256 of the signature, never the signature itself: the store then holds
nothing a reader could replay.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

# The legacy widget's results and login_url buttons' fields.
LOGIN_RESULTS = "telegram-login-result"
# Mini App launch data (tgWebAppData).
MINI_APP_LAUNCHES = "telegram-mini-app-launch"


def claim(namespace: str, signature: str, max_age: int) -> bool:
    """True the first time this signature is claimed in `namespace`, False ever after (while
    it could still be fresh: twice the age window, for clocks that disagree, plus a minute)."""
    digest = hashlib.sha256(str(signature).encode("utf-8", "surrogatepass")).hexdigest()
    return cache.add(f"{namespace}:{digest}", True, timeout=2 * max_age + 60)
