"""The webhook client against hostile receivers on 127.0.0.1: huge and dripping answers,
redirects to the metadata address, names that resolve to loopback, and a DNS answer that
changes. No timing assertions: a bound that fails shows as a hang that pytest-timeout ends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from mqtt_actions.adapters.webhook import MAX_RESPONSE_BYTES, HttpWebhookClient
from mqtt_actions.ports import ActionError

pytestmark = pytest.mark.integration


@dataclass
class Receiver:
    """A raw TCP receiver: `answer(conn)` writes whatever the case needs."""

    port: int
    requests: list[bytes] = field(default_factory=list)
    sent: int = 0  # bytes of answer written before the client hung up
    hung_up: threading.Event = field(default_factory=threading.Event)


Answer = Callable[[socket.socket, Receiver], None]


@pytest.fixture
def receiver() -> Iterator[Callable[[Answer], Receiver]]:
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(answer: Answer) -> Receiver:
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(0.05)
        state = Receiver(port=server.getsockname()[1])

        def serve() -> None:
            with server:
                while not stop.is_set():
                    try:
                        conn, _ = server.accept()
                    except TimeoutError:
                        continue
                    with conn:
                        conn.settimeout(5)
                        state.requests.append(_read_request(conn))
                        try:
                            answer(conn, state)
                        except OSError:  # the client hung up: what a bounded client does
                            state.hung_up.set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return state

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    length = lengths[0] if lengths else 0
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def client(
    *, max_total_seconds: float = 20, resolve: Callable[[str, int], list[str]] | None = None
) -> HttpWebhookClient:
    if resolve is None:
        return HttpWebhookClient(
            allow_private=True, sleep=lambda _s: None, max_total_seconds=max_total_seconds
        )
    return HttpWebhookClient(
        allow_private=True,
        sleep=lambda _s: None,
        max_total_seconds=max_total_seconds,
        resolve=resolve,
    )


def post(c: HttpWebhookClient, port: int, *, host: str = "127.0.0.1", retries: int = 0) -> int:
    url = f"http://{host}:{port}/in"
    return c.post(url, b"{}", {}, timeout=5, retries=retries, allow_http=True)


# ---------------------------------------------------------------- answers


def huge_body(conn: socket.socket, state: Receiver) -> None:
    size = 100 * 2**20
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):  # bounded: 100 MB at most
        conn.sendall(chunk)
        state.sent += len(chunk)


def _drip(conn: socket.socket, state: Receiver, head: bytes, byte: bytes) -> None:
    # Each byte arrives well within the per-operation timeout, forever (bounded: 200 s).
    conn.sendall(head)
    for _ in range(4000):
        conn.sendall(byte)
        state.sent += 1
        if state.hung_up.wait(0.05):
            return


def drip_headers(conn: socket.socket, state: Receiver) -> None:
    _drip(conn, state, b"HTTP/1.1 200 OK\r\n", b"X")


def drip_body(conn: socket.socket, state: Receiver) -> None:
    _drip(conn, state, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x")


def redirect_to_metadata(conn: socket.socket, state: Receiver) -> None:
    conn.sendall(
        b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


def ok(conn: socket.socket, state: Receiver) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def fail_once(conn: socket.socket, state: Receiver) -> None:
    if len(state.requests) == 1:
        conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    else:
        ok(conn, state)


# ---------------------------------------------------------------- size and time


def test_a_huge_answer_is_read_up_to_64_kb_then_the_connection_is_closed(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(huge_body)
    assert post(client(), state.port) == 200
    assert state.hung_up.wait(30)
    assert MAX_RESPONSE_BYTES <= state.sent < 100 * 2**20


def test_an_answer_dripping_its_headers_is_cut_at_the_total_time_limit(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(drip_headers)
    with pytest.raises(ActionError) as err:
        post(client(max_total_seconds=0.5), state.port, retries=3)
    assert not err.value.permanent  # the dead-letter queue keeps it for a replay
    assert err.value.reason == (
        "webhook gave up after 1 of 4 attempts: the total time limit of 0.5 s would pass; "
        "last error: no complete answer within 0.5 s"
    )
    assert state.hung_up.wait(30)


def test_a_dripping_body_after_a_2xx_is_delivered_and_cut(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(drip_body)
    assert post(client(max_total_seconds=0.5), state.port) == 200
    assert state.hung_up.wait(30)


class Remaining:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def test_a_post_ends_before_the_lambda_invocation_does(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(drip_headers)
    c = client(max_total_seconds=20)
    c.register(Remaining(3_500))  # 0.5 s left once the router's 3 s margin is kept
    with pytest.raises(ActionError, match=r"after 1 attempt; .* no complete answer within 0\.5 s"):
        post(c, state.port)


def test_no_attempt_when_the_invocation_has_no_time_left(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(ok)
    c = client()
    c.register(Remaining(1_000))
    with pytest.raises(ActionError, match="no attempt: the invocation had no time left") as err:
        post(c, state.port)
    assert not err.value.permanent
    assert state.requests == []


# ---------------------------------------------------------------- where a post may go


def test_a_redirect_to_the_metadata_address_is_refused_not_followed(
    receiver: Callable[[Answer], Receiver],
) -> None:
    state = receiver(redirect_to_metadata)
    with pytest.raises(ActionError) as err:
        post(client(), state.port, retries=3)
    assert err.value.permanent
    assert "HTTP 302" in err.value.reason
    assert "169.254.169.254" in err.value.reason
    assert "redirects are not followed" in err.value.reason
    assert len(state.requests) == 1


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1", "[::ffff:127.0.0.1]"])
def test_names_and_forms_of_loopback_are_refused(
    receiver: Callable[[Answer], Receiver], host: str
) -> None:
    state = receiver(ok)
    c = HttpWebhookClient(allow_private=False)
    with pytest.raises(ActionError, match="non-public address") as err:
        c.post(f"https://{host}:{state.port}/in", b"{}", {}, timeout=5, retries=0)
    assert err.value.permanent
    assert state.requests == []


def test_the_checked_address_is_the_one_connected_to(
    receiver: Callable[[Answer], Receiver],
) -> None:
    # The name resolves once, through the client's resolver; no second lookup at connect time
    # could answer differently (DNS rebinding). `hook.test` exists only in this resolver.
    state = receiver(fail_once)
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    assert post(client(resolve=resolve), state.port, host="hook.test", retries=1) == 200
    assert lookups == ["hook.test"]
    assert len(state.requests) == 2
    assert all(b"\r\nHost: hook.test:" in r for r in state.requests)


def test_a_name_resolving_to_public_and_private_addresses_is_refused() -> None:
    c = HttpWebhookClient(resolve=lambda host, port: ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(ActionError, match=r"non-public address 10\.0\.0\.7") as err:
        c.post("https://mixed.test/in", b"{}", {}, timeout=5, retries=0)
    assert err.value.permanent
