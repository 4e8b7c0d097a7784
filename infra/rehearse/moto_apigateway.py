"""
API Gateway in moto, as CloudFormation makes it on AWS: the rehearsal's correction.

moto 5.2's CloudFormation model of `AWS::ApiGateway::Method` keeps the integration's type,
method and URI but drops `Integration.Credentials`, the role API Gateway assumes to invoke
the function. Zappa's template sets it (the function's role), so without this the
rehearsal would check the function's resource policy instead of that role, and miss what
AWS checks: that the role trusts apigateway.amazonaws.com and may invoke the function.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.apigateway import models

    original = models.Method.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        method = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        credentials = (properties.get("Integration") or {}).get("Credentials")
        if credentials:
            backend = models.apigateway_backends[account_id][region_name]
            integration = backend.get_integration(properties["RestApiId"], properties["ResourceId"],
                                                  properties["HttpMethod"])
            integration.credentials = credentials
        return method

    models.Method.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    _installed = True
