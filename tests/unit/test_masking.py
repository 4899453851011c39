"""Secrets in webhook URLs and headers as the inspector, the outbox and the console show them."""

from __future__ import annotations

import pytest

from mqtt_actions.masking import mask, mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("https://example.com/in", "https://example.com/in", id="nothing secret"),
        pytest.param(
            "https://hooks.slack.com/services/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",
            "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/••••Ab12",
            id="slack",
        ),
        pytest.param(
            "https://discord.com/api/webhooks/1234567890/" + "aB3" * 20,
            "https://discord.com/api/webhooks/1234567890/••••3aB3",
            id="discord",
        ),
        pytest.param(
            "https://user:p4ss@Example.com:8443/in?token=abcdef123456&d=b&flag#top",
            "https://••••@Example.com:8443/in?token=••••3456&d=••••&flag#top",
            id="userinfo and query",
        ),
        pytest.param(
            "https://example.com/in/2024-05-01/sensor-01/reading",
            "https://example.com/in/2024-05-01/sensor-01/reading",
            id="dates and names kept",
        ),
        pytest.param("https://[::1]:8443/a?k=v", "https://[::1]:8443/a?k=••••", id="ipv6"),
        pytest.param("http://[unclosed", "••••osed", id="not a url: masked whole"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_mask_keeps_the_last_four_of_a_long_secret_only() -> None:
    assert (mask("s3cret-value-1234"), mask("short")) == ("••••1234", "••••")
