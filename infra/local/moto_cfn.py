"""
CloudFormation resource types moto's CloudFormation lacks, backed by moto's own services.

moto 5.2's CloudFormation skips AWS::SecretsManager::Secret, AWS::CloudWatch::Alarm and
AWS::SNS::Subscription with a warning, and fails a whole stack (HTTP 500) on a GetAtt of AWS::SES::EmailIdentity or
AWS::ApiGateway::DomainName. infra/aws/stack.yaml uses all of them, so without these the
stack cannot be deployed into moto at all, and what it makes would not exist there. Each
model below creates the resource through the same moto backend its API calls use, so what
the stack makes is what `aws secretsmanager ...`, SES, ACM and API Gateway then see, with
the attributes the real service returns (DKIM token names, a regional domain name, ...).

`install()` registers them in this process; moto's ThreadedMotoServer (the tests, the deploy
rehearsal) runs in the same process, so call it before deploying a stack there.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from typing import Any

from moto.core.common_models import CloudFormationModel


def _dkim_tokens(domain: str) -> list[str]:
    """Three stable, distinct tokens per domain (SES's are random; stable is easier to test)."""
    return [hashlib.sha1(f"{domain}:{i}".encode()).hexdigest()[:32] for i in range(3)]


class _StandIn:
    """What the stand-ins below share: no name property, no GetAtt attribute, and an update
    that creates the resource when its Condition just turned true (moto calls that an
    update) and otherwise keeps it as it is. A stand-in overrides what it does differently.
    A mixin: moto finds models among the *direct* subclasses of CloudFormationModel only,
    so each stand-in names that class itself."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        if original_resource is None:  # its Condition just turned true: moto calls it an update
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass


class Secret(_StandIn, CloudFormationModel):
    def __init__(self, arn: str, name: str):
        self.arn, self.name = arn, name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id",)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.secretsmanager.models import secretsmanager_backends

        properties = cloudformation_json.get("Properties", {})
        name = properties.get("Name") or resource_name
        value = properties.get("SecretString")
        generate = properties.get("GenerateSecretString")
        if generate:
            length = int(generate.get("PasswordLength", 32))
            alphabet = string.ascii_letters + string.digits
            password = "".join(secrets.choice(alphabet) for _ in range(length))
            if generate.get("SecretStringTemplate"):
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = password
                value = json.dumps(document)
            else:
                value = password
        backend = secretsmanager_backends[account_id][region_name]
        answer = backend.create_secret(
            name=name, secret_string=value, secret_binary=None, description=properties.get("Description"),
            tags=properties.get("Tags"), kms_key_id=None, client_request_token=None, replica_regions=[],
            force_overwrite=False,
        )
        arn = json.loads(answer)["ARN"] if isinstance(answer, str) else answer["ARN"]
        return cls(arn, name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        if original_resource is None:  # its Condition just turned true: moto calls it an update
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        return original_resource  # the stack never changes a secret's value

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass  # DeletionPolicy: Retain


class EmailIdentity(_StandIn, CloudFormationModel):
    def __init__(self, domain: str):
        self.domain = domain
        self.tokens = _dkim_tokens(domain)

    @staticmethod
    def cloudformation_name_type() -> str:
        return "EmailIdentity"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SES::EmailIdentity"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr.startswith("DkimDNSToken")

    @property
    def physical_resource_id(self) -> str:
        return self.domain

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        index = int(attribute_name[-1]) - 1
        if attribute_name.startswith("DkimDNSTokenName"):
            return f"{self.tokens[index]}._domainkey.{self.domain}"
        if attribute_name.startswith("DkimDNSTokenValue"):
            return f"{self.tokens[index]}.dkim.amazonses.com"
        raise KeyError(attribute_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.ses.models import ses_backends

        properties = cloudformation_json["Properties"]
        domain = properties["EmailIdentity"]
        backend = ses_backends[account_id][region_name]
        # Not verified: as on AWS, that takes the DKIM records in DNS (not rehearsable).
        backend.create_email_identity_v2(domain, None, properties.get("DkimSigningAttributes"), None)
        backend.dkim_tokens[domain] = _dkim_tokens(domain)
        return cls(domain)


class Certificate(_StandIn, CloudFormationModel):
    def __init__(self, arn: str):
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CertificateManager::Certificate"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.acm.models import acm_backends

        properties = cloudformation_json["Properties"]
        arn = acm_backends[account_id][region_name].request_certificate(
            properties["DomainName"], None, properties.get("SubjectAlternativeNames") or [], properties.get("Tags") or [],
        )
        return cls(arn)


class DomainName(_StandIn, CloudFormationModel):
    def __init__(self, domain):
        self.domain = domain

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DomainName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::DomainName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("RegionalDomainName", "RegionalHostedZoneId", "DistributionDomainName")

    @property
    def physical_resource_id(self) -> str:
        return self.domain.domain_name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return {
            "RegionalDomainName": self.domain.regional_domain_name,
            "RegionalHostedZoneId": self.domain.regional_hosted_zone_id,
            "DistributionDomainName": self.domain.distribution_domain_name,
        }[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.apigateway.models import apigateway_backends

        p = cloudformation_json["Properties"]
        domain = apigateway_backends[account_id][region_name].create_domain_name(
            domain_name=p["DomainName"], certificate_name=None, tags=None, certificate_arn=p.get("CertificateArn"),
            certificate_body=None, certificate_private_key=None, certificate_chain=None,
            regional_certificate_name=None, regional_certificate_arn=p.get("RegionalCertificateArn"),
            endpoint_configuration={"types": (p.get("EndpointConfiguration") or {}).get("Types", ["EDGE"])},
            security_policy=p.get("SecurityPolicy"),
        )
        return cls(domain)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.apigateway.models import apigateway_backends

        apigateway_backends[account_id][region_name].domain_names.pop(resource_name, None)


class BasePathMapping(_StandIn, CloudFormationModel):
    def __init__(self, domain: str, base_path: str):
        self.domain, self.base_path = domain, base_path

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::BasePathMapping"

    @property
    def physical_resource_id(self) -> str:
        return f"{self.domain}/{self.base_path}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.apigateway.models import apigateway_backends

        p = cloudformation_json["Properties"]
        apigateway_backends[account_id][region_name].create_base_path_mapping(
            p["DomainName"], p["RestApiId"], p.get("BasePath") or "", p.get("Stage")
        )
        return cls(p["DomainName"], p.get("BasePath") or "(none)")


class Alarm(_StandIn, CloudFormationModel):
    def __init__(self, name: str):
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName") or resource_name
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period") or 60), threshold=float(p.get("Threshold") or 0), statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=list(p.get("Dimensions") or []),
            alarm_actions=p.get("AlarmActions") or [], ok_actions=p.get("OKActions") or [],
            treat_missing_data=p.get("TreatMissingData"), datapoints_to_alarm=p.get("DatapointsToAlarm"),
            extended_statistic=p.get("ExtendedStatistic"), unit=p.get("Unit"),
        )
        return cls(name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        if original_resource is not None:
            cls.delete_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


class Subscription(_StandIn, CloudFormationModel):
    """An SNS subscription (the alarm mail). Email and HTTP(S) subscriptions start pending,
    as on AWS, until someone follows the link AWS sends (moto's own Subscribe confirms at once,
    so `doctor` could never see a pending one)."""

    PENDING_PROTOCOLS = ("email", "email-json", "http", "https")

    def __init__(self, arn: str):
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.sns.models import sns_backends

        p = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        if p["Protocol"] in cls.PENDING_PROTOCOLS:
            subscription.attributes["PendingConfirmation"] = "true"
            subscription.attributes["ConfirmationWasAuthenticated"] = "false"
        return cls(subscription.arn)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        if original_resource is not None:
            cls.delete_from_cloudformation_json(original_resource.arn, cloudformation_json, account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.sns.models import sns_backends

        try:
            sns_backends[account_id][region_name].unsubscribe(resource_name)
        except Exception:  # already gone
            pass


def confirm_subscriptions(account_id: str, region_name: str) -> list[str]:
    """What following the link in AWS's confirmation mail does (there is no API for it):
    every pending subscription confirmed. Returns their endpoints."""
    from moto.sns.models import sns_backends

    confirmed = []
    for subscription in sns_backends[account_id][region_name].subscriptions.values():
        if str(subscription.attributes.get("PendingConfirmation", "false")).lower() == "true":
            subscription.attributes["PendingConfirmation"] = "false"
            subscription.attributes["ConfirmationWasAuthenticated"] = "true"
            confirmed.append(subscription.endpoint)
    return confirmed


def issue_certificates(account_id: str, region_name: str) -> list[str]:
    """What ACM does once the DNS validation records resolve (moto issues a requested
    certificate only 60 s after the request, whatever DNS says): every certificate still
    waiting for its validation, issued. Returns their domains."""
    from moto.acm.models import acm_backends

    issued = []
    for bundle in acm_backends[account_id][region_name]._certificates.values():
        if bundle.type == "AMAZON_ISSUED" and bundle.status == "PENDING_VALIDATION":
            bundle.status = "ISSUED"
            issued.append(bundle.common_name)
    return issued


def _create_resources_whose_condition_turned_true(update):
    """moto's stack update only looks at resources whose JSON or referenced parameters
    changed; one whose Condition turned true (the stack's FunctionsDeployed=true pass: the
    sender's event source, the sweep's schedule) would never be made. CloudFormation makes it."""

    def patched(self, template, parameters=None):
        update(self, template, parameters)
        for name, resource_json in template.get("Resources", {}).items():
            condition = resource_json.get("Condition")
            if condition and name not in self._parsed_resources and self.lazy_condition_map[condition]:
                _ = self[name]  # ResourceMap.__getitem__ creates and records it

    patched._meetups_patched = True
    return patched


def install() -> None:
    """Make moto's CloudFormation (in this process) know the models above, and create on an
    update the resources whose Condition turned true."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    if not getattr(parsing.ResourceMap.update, "_meetups_patched", False):
        parsing.ResourceMap.update = _create_resources_whose_condition_turned_true(parsing.ResourceMap.update)
