"""doctor: what the stack made around the functions: the sweep's schedule, the alarms' mail,
log retention, the SES identity, the certificate and the custom domains."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from project.ops import conf

from .base import OK, PROBLEM, SKIPPED, WARN, Context, Report, client, error_text, resource_name

KINDS = ("site", "webhook", "sender", "manage")
SANDBOX_DAILY_QUOTA = 200  # SES's sandbox: 200 messages a day, to verified addresses only


def _stack_fix() -> str:
    return f"run `python -m infra.stages stack {settings.STAGE}`"


def check_schedule(report: Report, ctx: Context) -> None:
    name = resource_name("outbox-sweep")
    events = client("events")
    try:
        rule = events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        report.add("sweep", PROBLEM, f"There is no schedule {name}, so committed deliveries that missed the queue stay unsent: {_stack_fix()} after the functions are deployed.")
        return
    except Exception as exc:
        report.add("sweep", SKIPPED, f"Cannot read the schedule {name}: {error_text(exc)}.")
        return
    if rule.get("State") != "ENABLED":
        report.add("sweep", PROBLEM, f"The sweep's schedule {name} is {rule.get('State', 'disabled').lower()}: aws events enable-rule --name {name}.")
        return
    targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
    site = conf.function_name("site")
    if not any(t.get("Arn", "").endswith(f":function:{site}") for t in targets):
        report.add("sweep", PROBLEM, f"The schedule {name} does not invoke {site}: {_stack_fix()}.")
        return
    report.add("sweep", OK, f"The outbox sweep runs {rule.get('ScheduleExpression', '')} in {site}.")


def check_alarm_mail(report: Report, ctx: Context) -> None:
    sns = client("sns")
    name = resource_name("alarms")
    topics = [t["TopicArn"] for t in sns.list_topics().get("Topics", []) if t["TopicArn"].rsplit(":", 1)[-1] == name]
    if not topics:
        report.add("alarm mail", WARN, f"No alarm topic {name}, so alarms notify nobody: set alarm_email in infra/stages/{settings.STAGE}.toml and {_stack_fix()}.")
        return
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topics[0]).get("Subscriptions", [])
    if not subscriptions:
        report.add("alarm mail", PROBLEM, f"The alarm topic {name} has no subscription, so alarms notify nobody: {_stack_fix()} with alarm_email set.")
        return
    pending = []
    for subscription in subscriptions:
        arn = subscription.get("SubscriptionArn", "")
        if arn == "PendingConfirmation":
            pending.append(subscription.get("Endpoint", "?"))
            continue
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
        if str(attributes.get("PendingConfirmation", "false")).lower() == "true":
            pending.append(subscription.get("Endpoint", "?"))
    if pending:
        report.add("alarm mail", PROBLEM, f"The alarm subscription of {', '.join(pending)} is not confirmed, so alarms reach nobody: click the link in AWS's confirmation mail (or delete the subscription and {_stack_fix()} to get a new one).")
    else:
        report.add("alarm mail", OK, f"Alarms mail {', '.join(s.get('Endpoint', '?') for s in subscriptions)} (confirmed).")


def check_log_retention(report: Report, ctx: Context) -> None:
    logs = client("logs")
    prefix = f"/aws/lambda/{conf.project_name()}-{settings.STAGE}-"
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix=prefix).get("logGroups", [])}
    forever = [name for name, group in sorted(groups.items()) if not group.get("retentionInDays")]
    if forever:
        report.add("log retention", PROBLEM, f"{', '.join(forever)} keep logs forever (and cost for it): {_stack_fix()} (it sets every function's retention).")
    elif not groups:
        report.add("log retention", SKIPPED, "No log group of this stage's functions yet.")
    else:
        days = sorted({g["retentionInDays"] for g in groups.values()})
        report.add("log retention", OK, f"{len(groups)} log groups keep {', '.join(map(str, days))} days.")


def _mail_domain() -> str:
    address = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rsplit("@", 1)[-1].lower()


def check_ses(report: Report, ctx: Context) -> None:
    if getattr(settings, "EMAIL_DELIVERY", "ses") != "ses":
        report.add("mail", SKIPPED, f"EMAIL_DELIVERY is {settings.EMAIL_DELIVERY!r}, not SES.")
        return
    ses = client("ses")
    domain = _mail_domain()
    try:
        attributes = ses.get_identity_verification_attributes(Identities=[domain]).get("VerificationAttributes", {})
    except Exception as exc:
        report.add("mail", SKIPPED, f"Cannot ask SES about {domain}: {error_text(exc)}.")
        return
    status = (attributes.get(domain) or {}).get("VerificationStatus")
    if status is None:
        report.add("mail", PROBLEM, f"SES has no identity {domain}, so every mail fails: {_stack_fix()} (it creates the identity and its DKIM keys).")
        return
    if status != "Success":
        report.add("mail", PROBLEM, f"The SES identity {domain} is {status}, so mail from it is refused: create its DKIM records (`python -m infra.stages dns {settings.STAGE}`).")
        return
    quota = ses.get_send_quota()
    if float(quota.get("Max24HourSend", 0)) <= SANDBOX_DAILY_QUOTA:
        report.add("mail", WARN, f"SES is in the sandbox ({quota.get('Max24HourSend'):.0f} a day, only to verified addresses): request production access (docs/DEPLOY.md, \"Leaving the SES sandbox\").")
    else:
        report.add("mail", OK, f"SES sends as {domain} (verified), up to {quota.get('Max24HourSend'):.0f} a day.")


def check_certificate(report: Report, ctx: Context) -> None:
    """The custom domains: regional, on a certificate of this region that ACM has issued."""
    apigateway, acm = client("apigateway"), client("acm")
    region = settings.AWS_REGION
    webhook_host = urlsplit(settings.TELEGRAM_WEBHOOK_URL).hostname or ""
    site_host = urlsplit(f"//{settings.SITE_DOMAIN}").hostname or settings.SITE_DOMAIN
    for domain in dict.fromkeys((site_host, webhook_host)):
        try:
            answer = apigateway.get_domain_name(domainName=domain)
        except apigateway.exceptions.NotFoundException:
            report.add("certificate", PROBLEM, f"API Gateway has no custom domain {domain}: {_stack_fix()}.")
            continue
        except Exception as exc:
            report.add("certificate", SKIPPED, f"Cannot ask API Gateway about {domain}: {error_text(exc)}.")
            continue
        types = (answer.get("endpointConfiguration") or {}).get("types") or []
        arn = answer.get("regionalCertificateArn") or answer.get("certificateArn") or ""
        if "REGIONAL" not in types:
            report.add("certificate", PROBLEM, f"{domain} is {', '.join(types) or 'not'} regional (its certificate would have to be in us-east-1): delete it and {_stack_fix()}.")
            continue
        cert_region = arn.split(":")[3] if arn.count(":") >= 5 else "?"
        if cert_region != region:
            report.add("certificate", PROBLEM, f"{domain}'s certificate is in {cert_region}, but a regional domain needs one in {region}: set certificate_arn to one there (or empty) and {_stack_fix()}.")
            continue
        try:
            certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        except Exception as exc:
            report.add("certificate", PROBLEM, f"{domain}'s certificate cannot be read ({error_text(exc)}): {_stack_fix()}.")
            continue
        if certificate.get("Status") != "ISSUED":
            report.add("certificate", PROBLEM, f"{domain}'s certificate is {certificate.get('Status')}: create its validation records (`python -m infra.stages dns {settings.STAGE}`) and wait.")
            continue
        if not apigateway.get_base_path_mappings(domainName=domain).get("items"):
            report.add("certificate", PROBLEM, f"{domain} is mapped to no API: {_stack_fix()} (after zappa deploy).")
            continue
        report.add("certificate", OK, f"{domain}: regional, certificate issued in {region}, mapped.")
