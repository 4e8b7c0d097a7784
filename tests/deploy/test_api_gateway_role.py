"""
API Gateway invokes the site and webhook functions with their own roles, as Zappa 0.63 sets
them up: every method of its REST API is an AWS_PROXY integration whose `Credentials` is the
function's role (zappa/core.py, create_and_setup_methods), so AWS assumes that role as
apigateway.amazonaws.com and calls lambda:InvokeFunction with it; a resource-based
permission on the function is not consulted then. The stack deployed into moto with IAM
enforced (the rehearsal's AwsWorld), API Gateway played by the rehearsal's front.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile

import pytest

from .test_manage_role import world  # noqa: F401  (the fixture: the dev stack in IAM-enforced moto)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


@pytest.fixture(scope="module")
def api_gateway(world):  # noqa: F811
    from werkzeug.serving import make_server

    from infra.rehearse.apigateway import ApiGatewayFront
    from infra.rehearse.aws_front import AwsFront
    from infra.rehearse.runtime import LambdaRuntime

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    lam = world.client("lambda")
    for kind in ("site", "webhook", "sender", "manage"):
        name = f"meetups-dev-{kind}"
        if name not in {f["FunctionName"] for f in lam.list_functions()["Functions"]}:
            lam.create_function(FunctionName=name, Runtime="python3.11", Handler="handler.lambda_handler",
                                Role=world.outputs[f"{kind.capitalize()}RoleArn"], Code={"ZipFile": buffer.getvalue()})
    runtime = LambdaRuntime(world, network_env={})
    server = make_server("127.0.0.1", 0, AwsFront(world, runtime), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ApiGatewayFront(world, runtime, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    runtime.stop()


@pytest.mark.parametrize("kind", ["site", "webhook"])
def test_api_gateway_invokes_each_function_with_its_own_role_and_nothing_else(world, api_gateway, kind):  # noqa: F811
    role = world.outputs[f"{kind.capitalize()}RoleArn"]
    assert api_gateway.may_invoke_as(role, f"meetups-dev-{kind}") is None
    for other in {"site", "webhook", "sender", "manage"} - {kind}:
        refused = api_gateway.may_invoke_as(role, f"meetups-dev-{other}")
        assert refused and "may not invoke" in refused, other


@pytest.mark.parametrize("kind", ["sender", "manage"])
def test_api_gateway_cannot_assume_the_roles_of_functions_it_does_not_front(world, api_gateway, kind):  # noqa: F811
    refused = api_gateway.may_invoke_as(world.outputs[f"{kind.capitalize()}RoleArn"], f"meetups-dev-{kind}")
    assert refused and "cannot assume" in refused
