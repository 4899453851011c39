"""Webhook destination safety and retry policy, without the network."""

from __future__ import annotations

import pytest

from mqtt_actions.adapters.webhook import HttpWebhookClient, check_destination
from mqtt_actions.ports import ActionError


@pytest.mark.parametrize(
    ("url", "allow_http", "allow_private", "fragment"),
    [
        pytest.param("http://example.com/in", False, False, "must be https", id="http-refused"),
        pytest.param("ftp://example.com/in", True, False, "must be https", id="ftp-refused"),
        pytest.param("https:///in", False, False, "no host", id="no-host"),
        pytest.param("https://127.0.0.1/in", False, False, "non-public", id="loopback"),
        pytest.param("https://10.1.2.3/in", False, False, "non-public", id="private-10"),
        pytest.param("https://192.168.0.9/in", False, False, "non-public", id="private-192"),
        pytest.param("https://169.254.169.254/latest", False, False, "non-public", id="metadata"),
        pytest.param("https://[::1]/in", False, False, "non-public", id="ipv6-loopback"),
        pytest.param("https://[fd00::1]/in", False, False, "non-public", id="ipv6-ula"),
        pytest.param("https://0.0.0.0/in", False, False, "non-public", id="unspecified"),
        # issue #23: forms Python's is_global lets through
        pytest.param(
            "https://[64:ff9b::a9fe:a9fe]/in", False, False, "non-public", id="nat64-metadata"
        ),
        pytest.param(
            "https://[64:ff9b::7f00:1]/in", False, False, "non-public", id="nat64-loopback"
        ),
        pytest.param("https://[::a9fe:a9fe]/in", False, False, "non-public", id="v4-compatible"),
        pytest.param("https://[::ffff:a9fe:a9fe]/in", False, False, "non-public", id="v4-mapped"),
        pytest.param("https://224.0.0.1/in", False, False, "non-public", id="multicast-v4"),
        pytest.param("https://239.1.2.3/in", False, False, "non-public", id="multicast-v4-admin"),
        pytest.param("https://[ff0e::1]/in", False, False, "non-public", id="multicast-v6-global"),
    ],
)
def test_unsafe_destinations_are_refused_permanently(
    url: str, allow_http: bool, allow_private: bool, fragment: str
) -> None:
    with pytest.raises(ActionError) as err:
        check_destination(url, allow_http=allow_http, allow_private=allow_private)
    assert fragment in err.value.reason
    assert err.value.permanent


@pytest.mark.parametrize(
    ("url", "allow_http", "allow_private"),
    [
        pytest.param("https://93.184.215.14/in", False, False, id="public-ip"),
        pytest.param("https://[64:ff9b::5db8:d70e]/in", False, False, id="nat64-of-a-public-ip"),
        pytest.param(
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/in", False, False, id="public-ipv6"
        ),
        pytest.param("http://127.0.0.1:8080/in", True, True, id="local-when-allowed"),
        pytest.param("https://10.0.0.1/in", False, True, id="private-when-allowed"),
    ],
)
def test_safe_destinations_pass(url: str, allow_http: bool, allow_private: bool) -> None:
    check_destination(url, allow_http=allow_http, allow_private=allow_private)


def test_connection_errors_are_retried_with_backoff_then_fail_transiently() -> None:
    sleeps: list[float] = []
    client = HttpWebhookClient(allow_private=True, sleep=sleeps.append, backoff=0.5)
    with pytest.raises(ActionError) as err:
        # Port 9 (discard) on loopback: nothing listens there, the connection is refused.
        client.post("http://127.0.0.1:9/in", b"{}", {}, timeout=1, retries=2, allow_http=True)
    assert not err.value.permanent
    assert "after 3 attempts" in err.value.reason
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] < sleeps[1]
