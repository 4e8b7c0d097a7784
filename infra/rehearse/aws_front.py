"""
AWS's endpoints in the rehearsal: moto for everything, except Lambda's Invoke, which this
runtime executes (moto would need Docker, and would not run the package as Lambda does).

The same WSGI app serves `https://<service>.<region>.amazonaws.com` (through network.py, for
the functions and Zappa) and `http://127.0.0.1:<port>` (the documented commands'
AWS_ENDPOINT_URL). A request is forwarded to moto unchanged (the Host header too, which
SigV4 signs), so moto authenticates and authorizes it. An Invoke is authenticated and
authorized here with moto's own IAM code (signature, then `lambda:InvokeFunction` on the
function's ARN) before it runs:

  POST /2015-03-31/functions/<name or ARN>/invocations
  X-Amz-Invocation-Type: RequestResponse (default) | Event (202, runs in the background) | DryRun
  X-Amz-Log-Type: Tail -> X-Amz-Log-Result, the last 4 KB of the invocation's log, base64
  an error -> 200 with X-Amz-Function-Error: Unhandled and the error as the payload
"""

from __future__ import annotations

import base64
import json
import re
import threading

import httpx
from werkzeug.wrappers import Request, Response

from infra.rehearse.aws_world import ACCOUNT, AwsWorld

INVOKE = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")
CREATE_FUNCTION = re.compile(r"^/2015-03-31/functions/?$")
UPDATE_CODE = re.compile(r"^/2015-03-31/functions/[^/]+/code$")
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "content-length", "content-encoding"}


def raw_uri(request: Request) -> str:
    return request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path.rstrip("?")


def _error(status: int, kind: str, message: str) -> Response:
    return Response(json.dumps({"Type": "User", "message": message}), status=status,
                    headers={"x-amzn-ErrorType": kind, "Content-Type": "application/json"})


class AwsFront:
    def __init__(self, world: AwsWorld, runtime):
        self.world = world
        self.runtime = runtime
        self.client = httpx.Client(timeout=120, trust_env=False)
        self.invocations: list[tuple[str, str]] = []  # (function, invocation type), for the record

    def __call__(self, environ, start_response):
        request = Request(environ)
        match = INVOKE.match(request.path)
        response = self.invoke(request, match["function"]) if match and request.method == "POST" else self.forward(request)
        return response(environ, start_response)

    def forward(self, request: Request) -> Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        # The path as sent (still percent-encoded): SigV4 signed that one.
        url = self.world.endpoint + raw_uri(request)
        answer = self.client.request(request.method, url, headers=headers, content=request.get_data())
        out = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        self.code_uploaded(request, answer)
        return Response(answer.content, status=answer.status_code, headers=out)

    def code_uploaded(self, request: Request, answer) -> None:
        """After CreateFunction or UpdateFunctionCode, Lambda gets the package ready before
        the function is invoked: so does the runtime, in the background."""
        new_code = (request.method == "POST" and CREATE_FUNCTION.match(request.path)) or (
            request.method == "PUT" and UPDATE_CODE.match(request.path))
        if not new_code or not 200 <= answer.status_code < 300 or not hasattr(self.runtime, "prepare"):
            return
        try:
            name = answer.json()["FunctionName"]
        except (ValueError, KeyError, TypeError):
            return
        threading.Thread(target=self.runtime.prepare, args=(name,), daemon=True).start()

    def invoke(self, request: Request, function: str) -> Response:
        from moto.iam.access_control import IAMRequest

        name = function.split(":")[6] if function.startswith("arn:") else function.split(":")[0]
        arn = self.runtime.function_arn(name)
        body = request.get_data()
        try:
            iam = IAMRequest(account_id=ACCOUNT, method=request.method, path=raw_uri(request),
                             data={}, body=body, headers=dict(request.headers.items()), action="InvokeFunction")
            iam.check_signature()
            iam.check_action_permitted(arn)
        except Exception as exc:  # moto's errors: InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied
            return _error(403, "AccessDeniedException", getattr(exc, "description", None) or str(exc))
        try:
            self.runtime.configuration(name)
        except Exception:
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        if len(body) > MAX_SYNC_PAYLOAD:
            return _error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes")
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        self.invocations.append((name, kind))
        if kind == "DryRun":
            return Response(b"", status=204)
        if kind == "Event":
            threading.Thread(target=self.runtime.invoke, args=(name, event), daemon=True).start()
            return Response(b"", status=202)
        invocation = self.runtime.invoke(name, event)
        headers = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            tail = "\n".join(invocation.logs).encode()[-4096:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        if invocation.failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return Response(json.dumps(invocation.error), status=200, headers=headers)
        return Response(json.dumps(invocation.result), status=200, headers=headers)
