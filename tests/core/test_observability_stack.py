"""
infra/aws/stack.yaml's Signals block: every function Zappa deploys has a log group with a
retention, made by the stack; every alarm issue 11 lists exists, watches the right metric
(for the sender's, the names and dimensions the code writes), has a sensible threshold, and
notifies the operator's topic, which mails AlarmEmail. cfn-lint stays clean.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from slugify import slugify

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "aws" / "stack.yaml"
PARAMETERS = {"ProjectName": "meetups", "Stage": "dev"}
# What CloudWatch Logs accepts as RetentionInDays.
RETENTIONS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}


def template() -> dict:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.loads(TEMPLATE.read_text())


def resources(kind: str) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template()["Resources"].items() if r["Type"] == kind}


def resolve(value):
    """A !Sub or !Ref over the stage's parameters, as CloudFormation would for dev."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for name, parameter in PARAMETERS.items():
            text = text.replace("${" + name + "}", parameter)
        assert "${" not in text, text
        return text
    if isinstance(value, dict) and "Ref" in value:
        return PARAMETERS[value["Ref"]]
    return value


def function_names(stage: str = "dev") -> list[str]:
    """Each Lambda function of the stage: as infra.stages names it, checked against Zappa's
    own rule (slugify("<project_name>-<zappa stage>"), zappa/cli.py)."""
    from infra.stages import config as stages

    stage_config = stages.load(stage)
    names = []
    for kind in stages.KINDS:
        name = stage_config.function_name(kind)
        assert name == slugify(f"{stages.PROJECT_NAME}-{stage_config.zappa_stage(kind)}")
        names.append(name)
    assert PARAMETERS["ProjectName"] == stages.PROJECT_NAME
    assert {"meetups-dev-site", "meetups-dev-webhook", "meetups-dev-sender"} <= set(names)
    return names


def alarms() -> dict[str, dict]:
    return resources("AWS::CloudWatch::Alarm")


def alarm_on(namespace: str, metric: str, **dimensions) -> dict:
    """The one alarm on this metric with exactly these dimensions (resolved for dev)."""
    found = []
    for props in alarms().values():
        if props.get("Namespace") == namespace and props.get("MetricName") == metric:
            if {d["Name"]: resolve(d["Value"]) for d in props["Dimensions"]} == dimensions:
                found.append(props)
    assert len(found) == 1, f"{len(found)} alarms on {namespace} {metric} {dimensions}"
    return found[0]


def test_cfn_lint_passes():
    answer = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_every_function_has_a_log_group_with_a_retention():
    groups = {resolve(p["LogGroupName"]): p for p in resources("AWS::Logs::LogGroup").values()}
    for name in function_names():
        group = groups.get(f"/aws/lambda/{name}")
        assert group is not None, f"no log group for {name}"
        assert group["RetentionInDays"] in RETENTIONS
        assert 7 <= group["RetentionInDays"] <= 365


def test_the_log_groups_are_those_the_roles_may_write():
    """The functions' roles grant PutLogEvents on /aws/lambda/<project>-<stage>-<kind>: the
    stack's groups must be those very names, or Lambda would write elsewhere."""
    groups = {resolve(p["LogGroupName"]) for p in resources("AWS::Logs::LogGroup").values()}
    for role in ("site", "webhook", "sender"):
        assert f"/aws/lambda/meetups-dev-{role}" in groups


def test_every_alarm_notifies_the_operator():
    topics = resources("AWS::SNS::Topic")
    assert resolve(topics["AlarmTopic"]["TopicName"]) == "meetups-dev-alarms"
    (subscription,) = resources("AWS::SNS::Subscription").values()
    assert subscription["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Protocol"] == "email" and subscription["Endpoint"] == {"Ref": "AlarmEmail"}
    for name, props in alarms().items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name  # silence is not an outage
        assert len(props["AlarmDescription"]) > 60, name  # says what it means and what to do


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_each_function_has_error_and_throttle_alarms(metric):
    for name in function_names():
        props = alarm_on("AWS/Lambda", metric, FunctionName=name)
        assert props["Statistic"] == "Sum" and props["Period"] <= 300
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and props["Threshold"] == 1


def test_the_site_and_webhook_5xx_alarms_watch_zappas_apis():
    for kind in ("site", "webhook"):
        # Zappa names each REST API after its function.
        props = alarm_on("AWS/ApiGateway", "5XXError", ApiName=f"meetups-dev-{kind}")
        assert props["Statistic"] == "Sum" and props["Period"] == 300
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and 1 <= props["Threshold"] <= 10


def test_the_dead_letter_queue_alarms_on_depth_and_age():
    queue = {"QueueName": {"Fn::GetAtt": ["OutboxDeadLetterQueue", "QueueName"]}}
    found = {}
    for props in alarms().values():
        if props.get("Namespace") == "AWS/SQS" and props["Dimensions"][0]["Value"] == queue["QueueName"]:
            found[props["MetricName"]] = props
    depth = found["ApproximateNumberOfMessagesVisible"]
    assert depth["ComparisonOperator"] == "GreaterThanThreshold" and depth["Threshold"] == 0
    age = found["ApproximateAgeOfOldestMessage"]
    retention = template()["Resources"]["OutboxDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    # Early enough to replay before SQS deletes the letters, late enough not to repeat the depth alarm.
    assert 3600 <= age["Threshold"] <= retention / 2


def _math_alarm(metric: str) -> tuple[dict, dict, dict]:
    """The metric-math alarm whose numerator is `metric`: (alarm, numerator, TelegramTotal)."""
    for props in alarms().values():
        stats = {m["Id"]: m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m}
        by_name = {s["Metric"]["MetricName"]: s for s in stats.values()}
        if metric in by_name:
            return props, by_name[metric], by_name["TelegramTotal"]
    raise AssertionError(f"no alarm on {metric}")


@pytest.mark.parametrize("metric,highest", [("TelegramRetryAfter", 10), ("TelegramBlocked", 50)])
def test_the_senders_429_and_unreachable_rates_alarm_on_what_the_code_writes(metric, highest):
    """The names, namespace and dimensions are those test_observability_flows reads from the
    sender's own EMF lines (Function=sender; Stage is the stage)."""
    props, numerator, total = _math_alarm(metric)
    for stat in (numerator, total):
        assert resolve(stat["Metric"]["Namespace"]) == "meetups"
        assert {d["Name"]: resolve(d["Value"]) for d in stat["Metric"]["Dimensions"]} == {"Stage": "dev", "Function": "sender"}
        assert stat["Stat"] == "Sum"
    (returned,) = [m for m in props["Metrics"] if m.get("ReturnData")]
    assert "100 *" in returned["Expression"] and "/ calls" in returned["Expression"]  # a percentage of all calls
    assert props["ComparisonOperator"] == "GreaterThanThreshold" and 1 <= props["Threshold"] <= highest
