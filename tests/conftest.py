"""Test-wide safety: no test can reach real AWS (fake credentials, fixed region, no endpoints).
The `slow` marker: every e2e test (the local stack) and every test marked by hand; `make quick`
runs the rest. Property tests (hypothesis) run in both: 300 examples each under the default
profile (`make test`), 20 under `--hypothesis-profile=quick` (`make quick`)."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("full", max_examples=300)
settings.register_profile("quick", max_examples=20)
settings.load_profile("full")

_E2E = Path(__file__).parent / "e2e"

for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
    os.environ.pop(_var, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_SERVICE_NAME": "mqtt-actions-test",
        "POWERTOOLS_METRICS_NAMESPACE": "MqttActionsTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_e2e = item.path.is_relative_to(_E2E)
        if in_e2e:
            item.add_marker(pytest.mark.slow)
