"""The local stack's HTTP endpoints answer only to themselves (issue #23): the pure checks.
The attacks against a running stack are replayed in tests/e2e/test_local_http_guard.py."""

from __future__ import annotations

import pytest

from mqtt_actions_cli.local.http_guard import own_hosts, refusal, without_cors

HOSTS = own_hosts("127.0.0.1", 4566)


def test_a_loopback_server_answers_to_its_ip_and_localhost_with_the_port() -> None:
    assert own_hosts("localhost", 4566) == HOSTS == {"127.0.0.1:4566", "localhost:4566"}
    assert own_hosts("10.0.0.5", 80) == {"10.0.0.5:80"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"host": "127.0.0.1:4566"}, None, id="boto3-and-the-cli"),
        pytest.param({"host": "LOCALHOST:4566"}, None, id="localhost-any-case"),
        pytest.param({"host": "127.0.0.1:4566", "origin": "http://127.0.0.1:4566"}, None,
                     id="its-own-origin"),
        pytest.param({"host": "127.0.0.1:4566", "sec-fetch-site": "none"}, None,
                     id="typed-in-the-address-bar"),
        pytest.param({"host": "evil.example:4566"}, 421, id="dns-rebinding-host"),
        pytest.param({"host": "127.0.0.1:4567"}, 421, id="another-port"),
        pytest.param({}, 421, id="no-host"),
        pytest.param({"host": "127.0.0.1:4566", "origin": "https://evil.example"}, 403,
                     id="foreign-origin"),
        pytest.param({"host": "127.0.0.1:4566", "origin": "null"}, 403, id="sandboxed-origin"),
        pytest.param({"host": "127.0.0.1:4566", "origin": "http://localhost:4568"}, 403,
                     id="the-console-is-another-origin"),
        pytest.param({"host": "127.0.0.1:4566", "sec-fetch-site": "cross-site"}, 403,
                     id="cross-site-without-origin"),
        pytest.param({"host": "127.0.0.1:4566", "sec-fetch-site": "same-site"}, 403,
                     id="same-site-other-port"),
    ],
)  # fmt: skip
def test_refusal(headers: dict[str, str], status: int | None) -> None:
    refused = refusal(headers, HOSTS)
    assert (refused[0] if refused else None) == status


def test_moto_cors_headers_are_removed() -> None:
    headers = [("Content-Type", "x"), ("Access-Control-Allow-Origin", "https://evil.example")]
    assert without_cors(headers) == [("Content-Type", "x")]
