"""LegacyGateway in template.yaml, rendered both ways as CloudFormation would (conditions and
intrinsic functions resolved): what Disabled and Enabled create, the HAProxy task's values, and
the configuration file it runs being the repository's, byte for byte.

`make validate security` lints and scans both renderings (cfn-lint sees every condition;
checkov scans a second translation with the gateway on: Makefile, GATEWAY_ON)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from mqtt_actions_cli.cfn import ROOT, load_template
from mqtt_actions_cli.gateway import config_text
from mqtt_actions_cli.local.template import Resolver

TEMPLATE = load_template()
DOMAIN = "abc123-ats.iot.us-east-1.amazonaws.com"
ENABLED = {
    "LegacyGateway": "Enabled",
    "LegacyGatewayTokenDomain": DOMAIN,
    "LegacyGatewayVpc": "vpc-0123456789abcdef0",
    "LegacyGatewaySubnets": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
GATEWAY = {
    "LegacyGatewayLogs",
    "LegacyGatewayCluster",
    "LegacyGatewayExecutionRole",
    "LegacyGatewayTaskDefinition",
    "LegacyGatewayLoadBalancerSecurityGroup",
    "LegacyGatewayTaskSecurityGroup",
    "LegacyGatewayLoadBalancerToTasks",
    "LegacyGatewayLoadBalancerHealthChecks",
    "LegacyGatewayLoadBalancer",
    "LegacyGatewayTargetGroup",
    "LegacyGatewayPlainListener",
    "LegacyGatewayService",
}
TLS = {"LegacyGatewayTlsListener", "LegacyGatewayTlsIngress"}


def rendered(parameters: dict[str, str]) -> dict[str, Any]:
    """Every resource CloudFormation would create with these parameters, resolved."""
    resolver = Resolver(TEMPLATE, physical={}, parameters=parameters)
    return {
        name: resolver.resolve(res.get("Properties", {}), name)
        for name, res in TEMPLATE["Resources"].items()
        if resolver.resource_enabled(name)
    }


def outputs(parameters: dict[str, str]) -> set[str]:
    resolver = Resolver(TEMPLATE, physical={}, parameters=parameters)
    return {
        name
        for name, spec in TEMPLATE["Outputs"].items()
        if "Condition" not in spec or resolver.condition(spec["Condition"])
    }


def container(made: dict[str, Any]) -> dict[str, Any]:
    (haproxy,) = made["LegacyGatewayTaskDefinition"]["ContainerDefinitions"]
    return dict(haproxy)


def environment(made: dict[str, Any]) -> dict[str, str]:
    return {e["Name"]: e["Value"] for e in container(made)["Environment"]}


def test_disabled_is_the_default_and_creates_nothing_of_the_gateway() -> None:
    assert TEMPLATE["Parameters"]["LegacyGateway"]["Default"] == "Disabled"
    made = rendered({})
    assert not (GATEWAY | TLS) & set(made)
    assert not {o for o in outputs({}) if o.startswith("LegacyGateway")}


def test_enabled_creates_the_load_balancer_the_service_and_their_outputs() -> None:
    made = rendered(ENABLED)
    assert set(made) >= GATEWAY
    assert not TLS & set(made)  # no certificate: plain 1883 only
    assert {"LegacyGatewayDnsName", "LegacyGatewayHostedZoneId", "LegacyGatewayPorts"} <= outputs(
        ENABLED
    )
    assert made["LegacyGatewayLoadBalancer"]["Type"] == "network"
    listener = made["LegacyGatewayPlainListener"]
    assert (listener["Protocol"], listener["Port"]) == ("TCP", 1883)
    service = made["LegacyGatewayService"]
    assert service["LaunchType"] == "FARGATE"
    assert service["DesiredCount"] == "2"
    raw = TEMPLATE["Resources"]["LegacyGatewayService"]["Properties"]["NetworkConfiguration"]
    assert raw["AwsvpcConfiguration"]["Subnets"] == {"Ref": "LegacyGatewaySubnets"}
    balancer = TEMPLATE["Resources"]["LegacyGatewayLoadBalancer"]["Properties"]
    assert balancer["Subnets"] == {"Ref": "LegacyGatewaySubnets"}


def test_a_certificate_adds_the_tls_listener_on_8883() -> None:
    made = rendered({**ENABLED, "LegacyGatewayCertificateArn": CERTIFICATE})
    assert set(made) >= GATEWAY | TLS
    tls = made["LegacyGatewayTlsListener"]
    assert (tls["Protocol"], tls["Port"]) == ("TLS", 8883)
    assert tls["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert tls["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")


def test_haproxy_runs_the_official_image_and_goes_to_the_token_domain_on_443() -> None:
    made = rendered(ENABLED)
    haproxy = container(made)
    assert haproxy["Image"].startswith("public.ecr.aws/docker/library/haproxy:")
    values = environment(made)
    assert values["GATEWAY_TARGET"] == f"{DOMAIN}:443"
    assert values["GATEWAY_SNI"] == DOMAIN
    assert values["GATEWAY_BIND"] == ":1883"
    assert values["GATEWAY_CA_FILE"] == "/tmp/gateway/amazon-root-cas.pem"
    command = " ".join(haproxy["Command"])
    for root in ("Amazon_Root_CA_1", "Amazon_Root_CA_2", "Amazon_Root_CA_3", "Amazon_Root_CA_4"):
        assert f"/etc/ssl/certs/{root}.pem" in command
    assert "exec haproxy -db -f /tmp/gateway/haproxy.cfg" in command


def test_the_task_runs_the_repository_configuration_byte_for_byte() -> None:
    assert environment(rendered(ENABLED))["HAPROXY_CONFIG"] == config_text(), (
        "template.yaml's HAPROXY_CONFIG differs from cli/mqtt_actions_cli/gateway/haproxy.cfg: "
        "run `python scripts/sync_gateway_config.py`"
    )
    checked = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "sync_gateway_config.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize(
    "option",
    ["ssl", "verify required", 'sni "str($GATEWAY_SNI)"', "alpn mqtt", "ssl-min-ver TLSv1.2"],
)
def test_the_configuration_opens_tls_with_sni_alpn_mqtt_and_verification(option: str) -> None:
    (server,) = [line for line in config_text().splitlines() if line.strip().startswith("server ")]
    assert f" {option}" in server


def test_only_the_load_balancer_reaches_the_tasks_and_they_reach_only_443() -> None:
    made = rendered(ENABLED)
    tasks = made["LegacyGatewayTaskSecurityGroup"]
    assert {r["SourceSecurityGroupId"] for r in tasks["SecurityGroupIngress"]} == {
        "LegacyGatewayLoadBalancerSecurityGroup"
    }
    assert [(r["FromPort"], r["ToPort"]) for r in tasks["SecurityGroupEgress"]] == [(443, 443)]


def test_the_execution_role_only_writes_the_gateway_logs_and_there_is_no_task_role() -> None:
    made = rendered(ENABLED)
    assert "TaskRoleArn" not in made["LegacyGatewayTaskDefinition"]
    (policy,) = made["LegacyGatewayExecutionRole"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == made_arn_of_logs()


def made_arn_of_logs() -> Any:
    resolver = Resolver(TEMPLATE, physical={}, parameters=ENABLED)
    return resolver.get_att("LegacyGatewayLogs", "Arn", "test")


def test_health_checks_ask_haproxy_and_logs_go_to_cloudwatch() -> None:
    made = rendered(ENABLED)
    group = made["LegacyGatewayTargetGroup"]
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"], group["HealthCheckPath"]) == (
        "HTTP",
        "8080",
        "/health",
    )
    assert container(made)["LogConfiguration"]["LogDriver"] == "awslogs"


def test_enabling_without_the_values_it_needs_is_refused_by_a_rule_naming_them() -> None:
    rule = TEMPLATE["Rules"]["LegacyGatewayNeedsItsValues"]
    described = " ".join(a["AssertDescription"] for a in rule["Assertions"])
    for parameter in ("DeviceTokens", "LegacyGatewayTokenDomain", "LegacyGatewayVpc"):
        assert parameter in described
    assert "LegacyGatewaySubnets" in described
