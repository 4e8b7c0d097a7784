"""
Deploying a stage's stack (infra/aws/stack.yaml) with its parameters from the stage's file,
then writing the stage's Zappa settings from the outputs.

One command for both passes: before `zappa deploy` the functions do not exist, so the stack
leaves out what needs them (FunctionsDeployed=false); after it, the same command finds the
functions and the REST APIs Zappa made (Zappa's own CloudFormation stack per function, whose
resource "Api" is the REST API) and adds the sender's event source, the sweep's schedule and
the custom domains' base path mappings. Every AWS call honours AWS_ENDPOINT_URL (the
rehearsal's moto).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from infra.stages import render
from infra.stages.config import BASE_DIR, StageConfig

TEMPLATE = BASE_DIR / "infra" / "aws" / "stack.yaml"
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
FAILED_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")


class StackError(RuntimeError):
    pass


@dataclass
class StackResult:
    outputs: dict[str, str]
    functions_deployed: bool
    settings_path: object = None
    dns: list[tuple[str, str, str, str]] = field(default_factory=list)  # (name, type, value, why)


def _client(service: str, config: StageConfig):
    import boto3

    from project.core.aws import client_config

    return boto3.client(service, region_name=config.region, config=client_config(read_timeout=30))


def zappa_api_id(config: StageConfig, kind: str) -> str:
    """The REST API `zappa deploy <stage>_<kind>` made, or "" before it."""
    cf = _client("cloudformation", config)
    try:
        answer = cf.describe_stack_resource(StackName=config.function_name(kind), LogicalResourceId="Api")
    except Exception:
        return ""
    return answer["StackResourceDetail"].get("PhysicalResourceId") or ""


def function_exists(config: StageConfig, kind: str) -> bool:
    lam = _client("lambda", config)
    try:
        lam.get_function_configuration(FunctionName=config.function_name(kind))
    except lam.exceptions.ResourceNotFoundException:
        return False
    return True


def parameters(config: StageConfig, *, functions_deployed: bool, site_api: str = "", webhook_api: str = "") -> dict[str, str]:
    s = config.sizes
    return {
        "Stage": config.stage,
        "Domain": config.domain,
        "WebhookDomain": config.webhook_domain,
        "BotId": config.bot_id,
        "AlarmEmail": config.alarm_email,
        "CertificateArn": config.certificate_arn,
        "SenderMaxConcurrency": str(s.sender_max_concurrency),
        "DatabaseInstanceClass": s.database_class,
        "DatabaseStorageGb": str(s.database_storage_gb),
        "DatabaseMultiAz": "true" if s.database_multi_az else "false",
        "FunctionsDeployed": "true" if functions_deployed else "false",
        "SiteApiId": site_api,
        "WebhookApiId": webhook_api,
    }


def stack_outputs(config: StageConfig) -> dict[str, str]:
    cf = _client("cloudformation", config)
    try:
        stack = cf.describe_stacks(StackName=config.stack_name)["Stacks"][0]
    except Exception as exc:
        if "does not exist" in str(exc):
            return {}
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _certificate_records(config: StageConfig, cf, acm, shown: set) -> list[tuple[str, str, str, str]]:
    """The certificate's validation records, as soon as ACM has them (the stack waits for them)."""
    try:
        resource = cf.describe_stack_resource(StackName=config.stack_name, LogicalResourceId="Certificate")
        arn = resource["StackResourceDetail"].get("PhysicalResourceId")
        if not arn or not arn.startswith("arn:"):
            return []
        certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    except Exception:
        return []
    records = []
    for option in certificate.get("DomainValidationOptions", []):
        record = option.get("ResourceRecord")
        if record and (record["Name"], record["Value"]) not in shown:
            shown.add((record["Name"], record["Value"]))
            records.append((record["Name"], record["Type"], record["Value"], f"certificate validation for {option['DomainName']}"))
    return records


def dns_records(config: StageConfig, outputs: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Every record the stage needs in DNS (wherever DNS lives), from the stack's outputs."""
    records = [
        (config.domain, "CNAME", outputs.get("SiteDomainTarget", ""), "the site's regional custom domain"),
        (config.webhook_domain, "CNAME", outputs.get("WebhookDomainTarget", ""), "the webhook's regional custom domain"),
    ]
    for i in (1, 2, 3):
        value = outputs.get(f"DkimRecord{i}", "")
        if " CNAME " in value:
            name, target = value.split(" CNAME ", 1)
            records.append((name, "CNAME", target, f"SES DKIM {i} of 3 (verifies the mail identity)"))
    return [r for r in records if r[2]]


def deploy(
    config: StageConfig,
    *,
    poll_seconds: float = 10,
    timeout_seconds: float = 3600,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> StackResult:
    cf, acm = _client("cloudformation", config), _client("acm", config)
    deployed = function_exists(config, "site") and function_exists(config, "sender")
    site_api = zappa_api_id(config, "site") if deployed else ""
    webhook_api = zappa_api_id(config, "webhook") if deployed else ""
    params = parameters(config, functions_deployed=deployed, site_api=site_api, webhook_api=webhook_api)
    args = dict(
        StackName=config.stack_name,
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Tags=[{"Key": "project", "Value": "meetups"}, {"Key": "stage", "Value": config.stage}],
    )
    exists = bool(stack_outputs(config)) or _stack_exists(cf, config)
    say(f"{'Updating' if exists else 'Creating'} stack {config.stack_name} in {config.region} "
        f"({'with' if deployed else 'before'} the functions).")
    try:
        (cf.update_stack if exists else cf.create_stack)(**args)
    except Exception as exc:
        if "No updates are to be performed" not in str(exc):
            raise StackError(f"CloudFormation refused the stack: {exc}") from None
        say("The stack is already up to date.")
    shown: set = set()
    started = time.monotonic()
    while True:
        stack = cf.describe_stacks(StackName=config.stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in DONE:
            break
        if status.endswith(FAILED_SUFFIXES) or status.endswith("_FAILED"):
            raise StackError(f"The stack ended in {status}: {stack.get('StackStatusReason', 'see its events in the console')}.")
        for name, kind, value, why in _certificate_records(config, cf, acm, shown):
            say(f"Waiting for DNS: create {name} {kind} {value} ({why}).")
        if time.monotonic() - started > timeout_seconds:
            raise StackError(f"The stack is still {status} after {timeout_seconds:.0f} s.")
        sleep(poll_seconds)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    path = render.write(config, outputs)
    result = StackResult(outputs=outputs, functions_deployed=deployed, settings_path=path, dns=dns_records(config, outputs))
    say(f"Stack {config.stack_name}: {status}. Zappa settings: {render.shown(path)}.")
    return result


def _stack_exists(cf, config: StageConfig) -> bool:
    try:
        cf.describe_stacks(StackName=config.stack_name)
    except Exception:
        return False
    return True
