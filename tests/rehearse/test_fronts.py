"""API Gateway and Lambda Invoke in front of the rehearsal's runtime, as strict as AWS:
routing by the custom domain's base path mapping in moto, the integration's credentials
role assumed by API Gateway (its trust policy and its lambda:InvokeFunction both count),
and Invoke authorized with moto's IAM."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from werkzeug.test import Client

from infra.rehearse.apigateway import ApiGatewayFront
from infra.rehearse.aws_front import AwsFront
from infra.rehearse.aws_world import ACCOUNT, AwsWorld
from infra.rehearse.runtime import LambdaRuntime

ECHO = '''
import json
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
'''
TRUST = lambda *services: {"Version": "2012-10-17", "Statement": [  # noqa: E731
    {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}]}
FUNCTION_ARN = f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:echo"


@pytest.fixture(scope="module")
def stage():
    world = AwsWorld().start()
    iam, lam, apigw = world.client("iam"), world.client("lambda"), world.client("apigateway")
    invoke = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FUNCTION_ARN}]}
    roles = {}
    for name, trust in (("both", TRUST("lambda.amazonaws.com", "apigateway.amazonaws.com")),
                        ("lambda-only", TRUST("lambda.amazonaws.com"))):
        roles[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(invoke))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("echo.py", ECHO)
    lam.create_function(FunctionName="echo", Runtime="python3.11", Role=roles["both"], Handler="echo.handler",
                        Code={"ZipFile": buffer.getvalue()}, Timeout=5)
    api = apigw.create_rest_api(name="echo")["id"]
    # As Zappa's binary_support does it.
    apigw.update_rest_api(restApiId=api, patchOperations=[{"op": "add", "path": "/binaryMediaTypes/*~1*"}])
    root = next(r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")["id"]
    proxy = apigw.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
    uri = f"arn:aws:apigateway:eu-central-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
    for resource in (root, proxy):
        apigw.put_method(restApiId=api, resourceId=resource, httpMethod="ANY", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=resource, httpMethod="ANY", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri, credentials=roles["both"])
    apigw.create_deployment(restApiId=api, stageName="dev_site")
    apigw.create_domain_name(domainName="dev.example.com", regionalCertificateArn="arn:aws:acm:x",
                             endpointConfiguration={"types": ["REGIONAL"]})
    apigw.create_base_path_mapping(domainName="dev.example.com", restApiId=api, stage="dev_site")
    runtime = LambdaRuntime(world, network_env={"AWS_ENDPOINT_URL": world.endpoint})
    aws = AwsFront(world, runtime)
    from werkzeug.serving import make_server
    import threading

    server = make_server("127.0.0.1", 0, aws, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    yield {"world": world, "api": api, "roles": roles, "proxy": proxy, "root": root,
           "front": ApiGatewayFront(world, runtime, endpoint), "endpoint": endpoint}
    server.shutdown()
    runtime.stop()
    world.stop()


def request(front, path: str, *, host: str = "dev.example.com", method: str = "POST", data: bytes = b"hello"):
    return Client(front).open(path, method=method, data=data, headers={"Host": host})


def test_a_custom_domain_reaches_the_function_with_a_rest_proxy_event(stage):
    answer = request(stage["front"], "/people/7/?a=1")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    event = json.loads(answer.get_data())
    assert event["path"] == "/people/7/" and event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "people/7/"}
    assert event["requestContext"]["stage"] == "dev_site"
    assert event["queryStringParameters"] == {"a": "1"}
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"hello"  # binary */*


def test_the_callers_forwarded_for_is_kept_and_its_address_appended_as_api_gateway_does(stage):
    answer = Client(stage["front"]).open("/", method="GET", headers={"Host": "dev.example.com",
                                                                      "X-Forwarded-For": "203.0.113.9"},
                                          environ_base={"REMOTE_ADDR": "198.51.100.7"})
    event = json.loads(answer.get_data())
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["203.0.113.9, 198.51.100.7"]
    assert event["requestContext"]["identity"]["sourceIp"] == "198.51.100.7"
    assert event["headers"]["X-Forwarded-Proto"] == "https"


def test_the_execute_api_host_has_the_stage_as_path_prefix(stage):
    answer = request(stage["front"], "/dev_site/", host=f"{stage['api']}.execute-api.eu-central-1.amazonaws.com")
    assert answer.status_code == 200
    assert json.loads(answer.get_data())["resource"] == "/"


def test_unknown_domains_and_paths_are_refused_as_api_gateway_does(stage):
    assert request(stage["front"], "/", host="other.example.com").status_code == 403


def test_a_credentials_role_api_gateway_may_not_assume_is_a_500(stage):
    apigw = stage["world"].client("apigateway")
    uri = f"arn:aws:apigateway:eu-central-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"

    def integrate(role):
        apigw.put_integration(restApiId=stage["api"], resourceId=stage["proxy"], httpMethod="ANY", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri, credentials=stage["roles"][role])
        apigw.create_deployment(restApiId=stage["api"], stageName="dev_site")
        stage["front"].deployed()

    integrate("lambda-only")
    try:
        answer = request(stage["front"], "/people/")
        assert answer.status_code == 500
        assert "apigateway.amazonaws.com" in stage["front"].refusals[-1]
    finally:
        integrate("both")


def test_invoke_is_authorized_and_run_by_the_runtime(stage):
    world = stage["world"]
    lam = world.client("lambda", endpoint=stage["endpoint"])
    answer = lam.invoke(FunctionName="echo", Payload=b'{"command": "x"}', LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.loads(json.loads(answer["Payload"].read())["body"]) == {"command": "x"}
    assert "START RequestId" in base64.b64decode(answer["LogResult"]).decode()
    nobody = world.client("iam")
    nobody.create_user(UserName="nobody")
    key = nobody.create_access_key(UserName="nobody")["AccessKey"]
    from infra.rehearse.aws_world import Keys

    refused = world.client("lambda", Keys(key["AccessKeyId"], key["SecretAccessKey"]), endpoint=stage["endpoint"])
    with pytest.raises(refused.exceptions.ClientError) as error:
        refused.invoke(FunctionName="echo", Payload=b"{}")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
