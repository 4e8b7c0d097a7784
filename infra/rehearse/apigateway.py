"""
API Gateway (REST) in front of the rehearsal's functions, routed by what moto holds.

A request to a custom domain (`dev.meetups.example.com`) goes where the domain's base path
mapping in moto says (REST API and stage); one to `<api id>.execute-api.<region>.amazonaws.com`
goes to that API, its first path segment being the stage (as on AWS, where the stage is a
path prefix). The API's resources and methods in moto decide which Lambda integration
serves the path (`/` and `/{proxy+}`, what Zappa creates, or any other resource), and the
function's resource policy must let `apigateway.amazonaws.com` invoke it, or API Gateway
answers 500 as it does. The request becomes a REST API proxy event (payload 1.0); with the
API's binary media types `*/*` (Zappa's binary_support) every body arrives base64-encoded.
The integration times out at 29 s (504) and a function error is a 502, as on AWS.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from werkzeug.wrappers import Request, Response

from infra.rehearse.aws_world import ACCOUNT, REGION, AwsWorld

INTEGRATION_TIMEOUT = 29.0
MAX_PAYLOAD = 10 * 1024 * 1024


def logged_path(path: str) -> str:
    """The path as the access log keeps it: no query (OIDC codes, login_url hashes) and no
    sign-in link token (a secret that must not reach a log)."""
    import re

    return re.sub(r"(/accounts/login/link/)[^/]+", r"\1<token>", path)


def _message(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status=status,
                    headers={"Content-Type": "application/json", "x-amzn-ErrorType": "InternalServerErrorException"})


class ApiGatewayFront:
    def __init__(self, world: AwsWorld, runtime, aws_endpoint: str = ""):
        self.world = world
        self.runtime = runtime
        self.aws_endpoint = aws_endpoint or world.endpoint  # where Invoke is authorized (the AWS front)
        self.refusals: list[str] = []
        self._role_keys: dict[str, tuple] = {}
        # An API's routes change only with a new deployment: what moto said is kept briefly.
        self._routes: dict[tuple, tuple[float, object]] = {}

    def __call__(self, environ, start_response):
        request = Request(environ)
        started = time.monotonic()
        response = self.handle(request)
        # API Gateway's access log, one line per request.
        from infra.rehearse.stage import WORK_DIR

        (WORK_DIR / "logs").mkdir(parents=True, exist_ok=True)
        with open(WORK_DIR / "logs" / "api-gateway-access.log", "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {request.host} {request.method} {logged_path(request.path)} "
                      f"{response.status_code} {(time.monotonic() - started) * 1000:.0f} ms"
                      + (f" (the function {request.environ['rehearsal.function_ms']:.0f} ms)"
                         if "rehearsal.function_ms" in request.environ else "") + "\n")
        return response(environ, start_response)

    # --- routing ----------------------------------------------------------------------------

    def target(self, host: str, path: str) -> tuple[str, str, str, str] | None:
        """(rest api id, stage, path inside the API, base path) for a request, per moto."""
        apigw = self.world.client("apigateway")
        if ".execute-api." in host:
            api_id = host.split(".", 1)[0]
            stage, _, rest = path.lstrip("/").partition("/")
            return (api_id, stage, "/" + rest, f"/{stage}") if stage else None
        mappings = self._cached(("mappings", host), lambda: self._mappings(host))
        if mappings is None:
            return None
        by_path = {("" if m.get("basePath") in (None, "(none)") else m["basePath"]): m for m in mappings}
        first, _, rest = path.lstrip("/").partition("/")
        if first in by_path and first:
            mapping = by_path[first]
            return mapping["restApiId"], mapping.get("stage", ""), "/" + rest, f"/{first}"
        if "" in by_path:
            mapping = by_path[""]
            return mapping["restApiId"], mapping.get("stage", ""), path, ""
        return None

    def _mappings(self, host: str) -> list[dict] | None:
        apigw = self.world.client("apigateway")
        try:
            apigw.get_domain_name(domainName=host)
        except apigw.exceptions.NotFoundException:
            return None
        return apigw.get_base_path_mappings(domainName=host).get("items", [])

    def integration(self, api_id: str, path: str, method: str) -> tuple[str, str, dict] | None:
        """(function name, resource path, path parameters) of the Lambda integration."""
        apigw = self.world.client("apigateway")
        resources = self._cached(("resources", api_id), lambda: apigw.get_resources(restApiId=api_id, limit=500)["items"])
        exact = [r for r in resources if r["path"] == path]
        greedy = [r for r in resources if r["path"].endswith("/{proxy+}")
                  and path.startswith(r["path"][: -len("{proxy+}")]) and len(path) > len(r["path"]) - len("{proxy+}")]
        for resource, params in ([(r, {}) for r in exact] +
                                 [(r, {"proxy": path[len(r["path"]) - len("{proxy+}"):]}) for r in greedy]):
            methods = resource.get("resourceMethods") or {}
            for verb in (method, "ANY"):
                if verb in methods:
                    integration = self._cached(("method", api_id, resource["id"], verb), lambda: apigw.get_integration(
                        restApiId=api_id, resourceId=resource["id"], httpMethod=verb))
                    uri = integration.get("uri", "")
                    if ":lambda:path/" in uri:
                        function_arn = uri.split("/functions/", 1)[1].split("/invocations", 1)[0]
                        return function_arn.split(":")[6], resource["path"], params, integration.get("credentials")
        return None

    def may_invoke_as(self, role_arn: str, function: str) -> str | None:
        """With integration credentials, API Gateway assumes that role (its trust policy must
        let apigateway.amazonaws.com assume it) and invokes with it (the role must be allowed
        lambda:InvokeFunction). None when it may; else what AWS would log."""
        cached = self._role_keys.get(role_arn)
        if cached is None or time.monotonic() - cached[1] > 3000:
            try:
                cached = (self.world.role_credentials(role_arn, "apigateway-integration", service="apigateway"),
                          time.monotonic())
            except Exception:
                return f"API Gateway cannot assume {role_arn} (its trust policy does not name apigateway.amazonaws.com)"
            self._role_keys[role_arn] = cached
        keys = cached[0]
        try:
            self.world.client("lambda", keys, endpoint=self.aws_endpoint).invoke(FunctionName=function,
                                                                                   InvocationType="DryRun")
        except Exception as exc:
            return f"{role_arn} may not invoke {function}: {exc}"
        return None

    def may_invoke(self, function: str, source_arn: str) -> bool:
        """The function's resource policy lets API Gateway invoke it for this method's ARN
        (`arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<resource path>`)."""
        lam = self.world.client("lambda")
        try:
            policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
        except lam.exceptions.ResourceNotFoundException:
            return False
        from infra.rehearse.moto_iam import Unsupported, conditions_hold, matches

        for statement in policy.get("Statement", []):
            principal = statement.get("Principal")
            service = principal.get("Service") if isinstance(principal, dict) else principal
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") != "Allow" or service not in ("apigateway.amazonaws.com", "*"):
                continue
            if not any(matches(a, "lambda:InvokeFunction", ignore_case=True) for a in actions):
                continue
            try:
                if conditions_hold(statement.get("Condition"), {"aws:sourcearn": source_arn}):
                    return True
            except Unsupported:
                continue
        return False

    # --- one request ----------------------------------------------------------------------------

    def deployed(self) -> None:
        """A new deployment: what is kept of the APIs' routes is read again."""
        self._routes.clear()

    def _cached(self, key: tuple, compute, seconds: float = 5.0):
        now = time.monotonic()
        hit = self._routes.get(key)
        if hit is not None and now - hit[0] < seconds:
            return hit[1]
        value = compute()
        self._routes[key] = (now, value)
        return value

    def handle(self, request: Request) -> Response:
        host = (request.host or "").split(":")[0].lower()
        target = self._cached(("target", host, request.path), lambda: self.target(host, request.path))
        if target is None:
            return _message(403, "Forbidden")
        api_id, stage, inner_path, base_path = target
        found = self._cached(("integration", api_id, inner_path, request.method),
                             lambda: self.integration(api_id, inner_path, request.method))
        if found is None:
            return _message(403, "Missing Authentication Token")
        function, resource_path, params, credentials = found
        source_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{request.method}{resource_path}"
        # Checked again every few seconds, not on every request: IAM's own changes take
        # seconds to apply, and each check is a round trip through moto's IAM evaluation.
        refused = self._cached(("authorized", function, credentials, source_arn), lambda: (
            self.may_invoke_as(credentials, function) if credentials
            else None if self.may_invoke(function, source_arn) else
            f"the resource policy of {function} does not let API Gateway ({source_arn}) invoke it"))
        if refused:
            # AWS logs "Execution failed due to configuration error: Invalid permissions on Lambda function".
            self.refusals.append(refused)
            return _message(500, "Internal server error")
        body = request.get_data()
        if len(body) > MAX_PAYLOAD:
            return _message(413, "Request Too Long")
        event = self.event(request, api_id, stage, inner_path, base_path, resource_path, params, body)
        started = time.monotonic()
        invocation = self.runtime.invoke(function, event)
        request.environ["rehearsal.function_ms"] = (time.monotonic() - started) * 1000  # a new container's start too
        if time.monotonic() - started > INTEGRATION_TIMEOUT:
            return _message(504, "Endpoint request timed out")
        if invocation.failed or not isinstance(invocation.result, dict) or "statusCode" not in invocation.result:
            return _message(502, "Internal server error")
        return self.response(invocation.result)

    def event(self, request: Request, api_id, stage, path, base_path, resource_path, params, body: bytes) -> dict:
        apigw = self.world.client("apigateway")
        binary_types = self._cached(("binary", api_id), lambda: apigw.get_rest_api(restApiId=api_id).get(
            "binaryMediaTypes") or [])
        # moto keeps a patched-in binary media type as "" (it loses the value of Zappa's
        # `add /binaryMediaTypes/*~1*`); Zappa only ever adds */*, so "" stands for it.
        as_binary = bool({"*/*", ""} & {t.replace("~1", "/") for t in binary_types})
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            multi.setdefault(name, []).append(value)
        # As API Gateway does: the caller's address is *appended* to any X-Forwarded-For the
        # caller sent (so its first entries are the caller's to choose), and the port and
        # scheme are its own. The site must take the address from requestContext instead.
        source_ip = request.remote_addr or "127.0.0.1"
        forwarded = ", ".join(multi.pop("X-Forwarded-For", []))
        multi["X-Forwarded-For"] = [f"{forwarded}, {source_ip}" if forwarded else source_ip]
        multi["X-Forwarded-Proto"] = ["https"]
        multi["X-Forwarded-Port"] = ["443"]
        query: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
        if as_binary and body:
            payload, is_base64 = base64.b64encode(body).decode(), True
        else:
            try:
                payload, is_base64 = (body.decode("utf-8") if body else None), False
            except UnicodeDecodeError:
                payload, is_base64 = base64.b64encode(body).decode(), True
        return {
            "resource": resource_path,
            "path": base_path + path if base_path else path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi.items()},
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource_path, "httpMethod": request.method, "path": f"/{stage}{path}",
                "stage": stage, "apiId": api_id, "accountId": ACCOUNT, "domainName": request.host,
                "requestId": str(uuid.uuid4()), "protocol": "HTTP/1.1", "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": source_ip,
                             "userAgent": request.headers.get("User-Agent", "")},
            },
            "body": payload,
            "isBase64Encoded": is_base64,
        }

    @staticmethod
    def response(result: dict) -> Response:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        response = Response(raw, status=int(result["statusCode"]))
        response.headers.clear()
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.remove(name)
            for value in values:
                response.headers.add(name, str(value))
        return response
