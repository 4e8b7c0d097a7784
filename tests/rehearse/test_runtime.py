"""The rehearsal's Lambda runs a function from its package alone, as AWS does (runtime.py):
a fresh python3.11 -I -S with the package, the runtime's SDK and the standard library on
sys.path, files read-only but /tmp, exactly the configured environment plus Lambda's own
variables, its role's credentials, a warm worker per function, a new one after a change."""

from __future__ import annotations

import io
import json
import sys
import zipfile

import pytest

from infra.rehearse import runtime as runtime_module
from infra.rehearse.aws_world import AwsWorld
from infra.rehearse.runtime import IsolationUnavailable, LambdaRuntime

PROBE = '''
import os, sys
def handler(event, context):
    out = {"path": sys.path, "env": dict(os.environ), "pid": os.getpid(), "writes": {}}
    for target in (os.environ["LAMBDA_TASK_ROOT"] + "/written", "/tmp/written", os.path.expanduser("~") + "/written"):
        try:
            with open(target, "w") as f:
                f.write("x")
            out["writes"][target] = "ok"
        except OSError as exc:
            out["writes"][target] = exc.strerror
    import boto3
    out["boto3"] = boto3.__version__
    out["caller"] = boto3.client("sts").get_caller_identity()["Arn"]
    for name in ("django", "pytest", "moto"):
        try:
            __import__(name)
            out[name] = "importable"
        except ImportError:
            out[name] = "absent"
    print("a log line from the function")
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return out
'''
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def world():
    started = AwsWorld().start()
    iam, lam = started.client("iam"), started.client("lambda")
    role = iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="probe-role", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", PROBE)
    lam.create_function(FunctionName="probe", Runtime="python3.11", Role=role, Handler="probe.handler",
                        Code={"ZipFile": buffer.getvalue()}, Timeout=3, MemorySize=256,
                        Environment={"Variables": {"STAGE": "dev", "SECRETS_NAME": "meetups/dev"}})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def runtime(world):
    # The functions reach moto by its address here; the rehearsal's network does it by name.
    running = LambdaRuntime(world, network_env={"AWS_ENDPOINT_URL": world.endpoint})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def probe(runtime):
    invocation = runtime.invoke("probe", {})
    assert not invocation.failed, invocation.error
    return invocation


def test_sys_path_is_the_package_the_runtime_and_the_standard_library_only(probe, runtime):
    path = probe.result["path"]
    assert path[0] == probe.result["env"]["LAMBDA_TASK_ROOT"]
    assert path[1] == str(runtime.runtime_dir)
    assert all(p.startswith(sys.base_prefix) for p in path[2:]), path
    assert not any(".venv" in p or "site-packages" in p for p in path), path
    assert (probe.result["django"], probe.result["pytest"], probe.result["moto"]) == ("absent",) * 3
    assert probe.result["boto3"] == "1.34.145"  # the runtime's SDK, not .venv's


def test_files_are_read_only_except_tmp(probe):
    writes = probe.result["writes"]
    task_root = probe.result["env"]["LAMBDA_TASK_ROOT"]
    assert writes[task_root + "/written"] == "Read-only file system"
    assert writes["/tmp/written"] == "ok"
    assert set(writes.values()) == {"Read-only file system", "ok"}


def test_the_environment_is_the_configuration_and_lambdas_own_variables(probe):
    env = probe.result["env"]
    assert env["STAGE"] == "dev" and env["SECRETS_NAME"] == "meetups/dev"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "probe.handler"
    allowed = {"STAGE", "SECRETS_NAME", "AWS_ENDPOINT_URL", "LC_CTYPE", *LambdaRuntime.RESERVED}
    assert set(env) <= allowed, set(env) - allowed
    assert not any(k.startswith(("PYENV", "VIRTUAL_ENV", "DJANGO", "PYTEST", "DATABASE_URL")) for k in env)


def test_the_credentials_are_the_functions_role(probe):
    assert ":assumed-role/probe-role/" in probe.result["caller"]
    assert probe.result["env"]["AWS_SESSION_TOKEN"]


def test_a_warm_worker_serves_the_next_invocation_and_a_change_starts_a_new_one(world, runtime, probe):
    again = runtime.invoke("probe", {})
    assert again.result["pid"] == probe.result["pid"]
    assert "a log line from the function" in again.logs
    world.client("lambda").update_function_configuration(
        FunctionName="probe", Environment={"Variables": {"STAGE": "dev", "SECRETS_NAME": "meetups/dev-2"}})
    changed = runtime.invoke("probe", {})
    assert changed.result["pid"] != probe.result["pid"]
    assert changed.result["env"]["SECRETS_NAME"] == "meetups/dev-2"


def test_an_error_and_a_timeout_are_lambdas(runtime):
    failed = runtime.invoke("probe", {"fail": True})
    assert failed.error["errorType"] == "ValueError" and failed.error["errorMessage"] == "asked to fail"
    timed_out = runtime.invoke("probe", {"sleep": 10})
    assert timed_out.error["errorMessage"] == "Task timed out after 3.00 seconds"
    assert not runtime.invoke("probe", {}).failed  # a new container after the timeout


def test_without_mount_namespaces_it_says_so(monkeypatch):
    monkeypatch.setattr(runtime_module.shutil, "which", lambda name: None)
    with pytest.raises(IsolationUnavailable, match="read-only"):
        runtime_module.check_isolation()


def test_each_rehearsal_runs_the_package_with_its_own_ca_added(world):
    """Every rehearsal has a CA of its own, added to the packages' RDS CA bundle. An unzipped
    package kept from an earlier run (same code) carried that run's CA: the database's
    certificate then failed verification ("provider signature failure")."""
    bundle_probe = ("import os\ndef handler(event, context):\n"
                    "    return open(os.environ['LAMBDA_TASK_ROOT'] + '/certs/rds-ca-bundle.pem').read()\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bundle_probe.py", bundle_probe)
        archive.writestr("certs/rds-ca-bundle.pem", "AMAZON-RDS-ROOTS\n")
    role = world.client("iam").get_role(RoleName="probe-role")["Role"]["Arn"]
    world.client("lambda").create_function(FunctionName="bundle-probe", Runtime="python3.11", Role=role,
                                           Handler="bundle_probe.handler", Code={"ZipFile": buffer.getvalue()})
    seen = []
    for ca in (b"REHEARSAL-CA-ONE", b"REHEARSAL-CA-TWO"):
        running = LambdaRuntime(world, network_env={"AWS_ENDPOINT_URL": world.endpoint},
                                extra_trust={"rds-ca-bundle.pem": ca})
        try:
            invocation = running.invoke("bundle-probe", {})
        finally:
            running.stop()
        assert not invocation.failed, invocation.error
        seen.append(invocation.result)
    assert seen == ["AMAZON-RDS-ROOTS\nREHEARSAL-CA-ONE", "AMAZON-RDS-ROOTS\nREHEARSAL-CA-TWO"]
