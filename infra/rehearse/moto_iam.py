"""
IAM in moto, evaluated as AWS evaluates it: the rehearsal's corrections to moto 5.2.

moto enforces IAM when INITIAL_NO_AUTH_ACTION_COUNT is set, but its policy evaluation is
basic, and wrong in both directions for this project's policies:

- resource and action patterns: moto turns a pattern into a regex by replacing `*` only,
  so IAM's `?` (exactly one character, as in a Secrets Manager ARN's `-??????` suffix)
  becomes a regex quantifier and `.` matches anything. Here: `*` is any run of characters,
  `?` exactly one, everything else literal; actions compare case-insensitively (as IAM's).
- Secrets Manager and SES requests are authorized against resource "*" in moto, so a policy
  naming a secret's ARN never matches (every GetSecretValue denied). Here the resource is
  the secret's ARN (looked up by name or ARN) and the sender identity's ARN for SES.
- conditions: moto checks `StringEquals` only, ignores every other operator (an Allow with
  `StringLike ses:FromAddress` allowed any sender), and turns a failed condition of an
  Allow into an explicit deny. Here: the string, ARN and Bool operators, a missing key
  fails the condition (as in IAM, unless `...IfExists`), a failed condition makes the
  statement not apply, and an operator not implemented here makes an Allow not apply and
  a Deny apply (never laxer than AWS).
- request context: `ses:FromAddress` (the address in Source, or the raw message's From).
- SQS's batch calls: IAM authorizes SendMessageBatch, DeleteMessageBatch and
  ChangeMessageVisibilityBatch as SendMessage, DeleteMessage and ChangeMessageVisibility
  (there are no batch permissions); moto checks the batch names, so it denied every batch
  a role may send and would allow one only to a policy naming an action IAM does not have.
- service principals: trust policies naming `{"Service": "lambda.amazonaws.com"}` are
  checked against the principal that plays Lambda in the rehearsal (an IAM user whose ARN
  is registered with `trust_service_principal`), so a function's role is assumed only if
  its trust policy lets Lambda assume it.

`install()` patches moto's classes in this process (the rehearsal runs moto's server in it).
"""

from __future__ import annotations

import email
import re
from email.utils import parseaddr
from typing import Any

# The action IAM authorizes an SQS batch call as (AWS's SQS API reference, "Permissions").
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
SERVICE_PRINCIPALS: dict[str, str] = {}  # caller ARN -> service it plays ("lambda.amazonaws.com")


def trust_service_principal(caller_arn: str, service: str) -> None:
    SERVICE_PRINCIPALS[caller_arn] = service


def pattern_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern:
    """IAM's wildcard pattern: `*` any run (also empty), `?` exactly one character."""
    parts = []
    for char in pattern:
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("^" + "".join(parts) + "$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(pattern_regex(pattern, ignore_case=ignore_case).match(value))


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# --- conditions ------------------------------------------------------------------------------

def _string_like(expected: str, actual: str) -> bool:
    return matches(expected, actual)


OPERATORS = {
    "StringEquals": lambda e, a: a == e,
    "StringNotEquals": lambda e, a: a != e,
    "StringEqualsIgnoreCase": lambda e, a: a.lower() == e.lower(),
    "StringNotEqualsIgnoreCase": lambda e, a: a.lower() != e.lower(),
    "StringLike": _string_like,
    "StringNotLike": lambda e, a: not _string_like(e, a),
    "ArnEquals": lambda e, a: a == e,
    "ArnLike": _string_like,
    "ArnNotEquals": lambda e, a: a != e,
    "ArnNotLike": lambda e, a: not _string_like(e, a),
    "Bool": lambda e, a: str(a).lower() == str(e).lower(),
}
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


class Unsupported(Exception):
    pass


def conditions_hold(conditions: dict | None, context: dict[str, str]) -> bool:
    """IAM's condition block: every operator, every key, any of the expected values."""
    for operator, keys in (conditions or {}).items():
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        compare = OPERATORS.get(base)
        if compare is None:
            raise Unsupported(operator)
        for key, expected in keys.items():
            actual = context.get(key.lower())
            if actual is None:
                if if_exists:
                    continue
                return False
            values = _listed(expected)
            if base in NEGATED:
                if not all(compare(str(v), actual) for v in values):
                    return False
            elif not any(compare(str(v), actual) for v in values):
                return False
    return True


def request_context(action: str, data: dict, body: bytes | None) -> dict[str, str]:
    """The condition keys this project's policies use, from the request (lower-cased)."""
    context: dict[str, str] = {}
    if action.lower() in ("ses:sendrawemail", "ses:sendemail"):
        source = _first(data.get("Source"))
        if not source and data.get("RawMessage.Data"):
            import base64

            raw = base64.b64decode(_first(data["RawMessage.Data"]))
            source = email.message_from_bytes(raw).get("From", "")
        address = parseaddr(source or "")[1]
        if address:
            context["ses:fromaddress"] = address
    return context


def _first(value: Any) -> str:
    if isinstance(value, list):
        return value[0] if value else ""
    return value or ""


# --- statements --------------------------------------------------------------------------------

def statement_result(statement: dict, action: str, resource: str, principal: str | None,
                     context: dict[str, str]):
    from moto.iam.access_control import PermissionResult

    effect = statement.get("Effect")
    if "NotAction" in statement:
        concerned = not any(matches(p, action, ignore_case=True) for p in _listed(statement["NotAction"]))
    else:
        concerned = any(matches(p, action, ignore_case=True) for p in _listed(statement.get("Action", [])))
    if not concerned:
        return PermissionResult.NEUTRAL
    if principal is not None and "Principal" in statement and not principal_matches(statement["Principal"], principal):
        return PermissionResult.NEUTRAL
    if "Resource" in statement:
        if not any(matches(p, resource) for p in _listed(statement["Resource"])):
            return PermissionResult.NEUTRAL
    elif "NotResource" in statement:
        if any(matches(p, resource) for p in _listed(statement["NotResource"])):
            return PermissionResult.NEUTRAL
    try:
        applies = conditions_hold(statement.get("Condition"), context)
    except Unsupported:
        applies = effect == "Deny"  # never laxer than AWS
    if not applies:
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if effect == "Allow" else PermissionResult.DENIED


def principal_matches(expected: Any, caller_arn: str) -> bool:
    if expected == "*":
        return True
    if not isinstance(expected, dict):
        return False
    for kind, values in expected.items():
        for value in _listed(values):
            if kind == "AWS" and (value == "*" or value == caller_arn or
                                  (value.endswith(":root") and caller_arn.split(":")[4:5] == value.split(":")[4:5])):
                return True
            if kind == "Service" and SERVICE_PRINCIPALS.get(caller_arn) == value:
                return True
    return False


# --- resources moto leaves as "*" ---------------------------------------------------------------

def secretsmanager_resource(self) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = self._get_param("SecretId") or self._get_param("Name") or ""
    region = self.region
    backend = secretsmanager_backends[self.current_account][region]
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return backend.describe_secret(secret_id).arn
    except Exception:  # unknown secret: an ARN without the random suffix matches no `-??????`
        return f"arn:aws:secretsmanager:{region}:{self.current_account}:secret:{secret_id}"


def ses_resource(self) -> str:
    source = _first(self.querystring.get("Source")) if hasattr(self, "querystring") else ""
    address = parseaddr(source or "")[1]
    identity = address.split("@", 1)[1] if "@" in address else address or "*"
    return f"arn:aws:ses:{self.region}:{self.current_account}:identity/{identity}"


_installed = False


def install() -> None:
    """Patch moto's IAM evaluation in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.iam import access_control
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.ses.responses import EmailResponse

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        return statement_result(self._statement, action, resource, principal,
                                {k.lower(): v for k, v in (incoming_condition_values or {}).items()})

    access_control.IAMPolicyStatement.is_action_permitted = is_action_permitted
    access_control.IAMPolicyStatement._match = staticmethod(lambda pattern, string: pattern_regex(pattern).match(string))

    original_check = access_control.IAMRequestBase.check_action_permitted

    def check_action_permitted(self, resource):
        if self._action == "sts:GetCallerIdentity":  # AWS allows it whatever the policies say
            return
        context = request_context(self._action, self._data or {}, self._body)
        policies = self._access_key.collect_policies()
        permitted = False
        for policy in policies:
            document = access_control.IAMPolicy(policy)
            result = document.is_action_permitted(self._action, resource, incoming_condition_values=context)
            if result == access_control.PermissionResult.DENIED:
                self._raise_access_denied()
            if result == access_control.PermissionResult.PERMITTED:
                permitted = True
        if self._is_assuming_role_operation(resource):
            permitted = permitted and self._check_role_trust_relationship(resource)
        if not permitted:
            self._raise_access_denied()

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted

    original_request_init = access_control.IAMRequestBase.__init__

    def request_init(self, *args, **kwargs):
        original_request_init(self, *args, **kwargs)
        self._action = BATCH_ACTIONS.get(self._action, self._action)

    access_control.IAMRequestBase.__init__ = request_init

    # moto's CloudFormation stores a role's inline `Policies` as dicts, which moto's own
    # evaluation cannot read (KeyError 'policy_document': every call of a stack-made role
    # denied). AWS evaluates them like any inline policy.
    original_policy_init = access_control.IAMPolicy.__init__

    def policy_init(self, policy):
        if isinstance(policy, dict) and "policy_document" not in policy and "Statement" in policy:
            self._policy_json = policy
            return
        original_policy_init(self, policy)

    access_control.IAMPolicy.__init__ = policy_init

    # Signature check of bodiless requests (REST GETs: Lambda's and API Gateway's reads):
    # moto signs its copy with the parsed query as the body, so every signed GET with a
    # query or path parameters failed with SignatureDoesNotMatch. AWS hashes the empty body.
    original_request = access_control.IAMRequestBase._create_aws_request

    def create_aws_request(self):
        request = original_request(self)
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            request.data = b""
        return request

    access_control.IAMRequestBase._create_aws_request = create_aws_request
    access_control.IAMRequestBase._moto_check_action_permitted = original_check
    SecretsManagerResponse._determine_resource = secretsmanager_resource
    EmailResponse._determine_resource = ses_resource
    _installed = True


__all__ = ["install", "matches", "pattern_regex", "conditions_hold", "trust_service_principal"]
