import re

from django.conf import settings

# An origin as frame-ancestors takes it: scheme://host[:port], nothing that could end the
# directive or start another.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class ContentSecurityPolicyMiddleware:
    """
    Sends the site's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY).

    Nothing may frame the site (`frame-ancestors 'none'`, and X-Frame-Options DENY for old
    browsers) except the responses that say who may: a response with `csp_frame_ancestors`
    (a list of origins; pages shown inside Telegram set it, see
    project/telegram_accounts/middleware.py) gets exactly those origins instead, and no
    X-Frame-Options (it cannot name an origin). The rest of the policy never changes.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy_for(response)
        return response

    def policy_for(self, response) -> str:
        origins = [o for o in getattr(response, "csp_frame_ancestors", None) or () if _ORIGIN.fullmatch(o)]
        if not origins:
            return self.policy
        if "X-Frame-Options" in response:
            del response["X-Frame-Options"]
        return re.sub(r"frame-ancestors [^;]*", "frame-ancestors " + " ".join(origins), self.policy)
