"""
The site's signals per request: `request_id` on every log line of the request, and the
`SiteServerErrors` metric for a 5xx answer. First in settings.MIDDLEWARE, so it wraps
everything else (Django turns an exception anywhere inside into the 500 it sees here, and
logs it, with the request id, before this returns).

In Lambda the request id is the invocation's (Zappa puts the Lambda context into the WSGI
environ), the one on Lambda's own START/END/REPORT lines; elsewhere a fresh one.
"""

from __future__ import annotations

from . import invocation, metric, new_request_id


class RequestSignalsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lambda_context = request.META.get("lambda.context")
        request_id = getattr(lambda_context, "aws_request_id", None) or new_request_id()
        with invocation(request_id=request_id):
            response = self.get_response(request)
            if response.status_code >= 500:
                metric("SiteServerErrors")
            return response
