"""Delegation tokens: what `Account.devices.tokenList` and `Utils.getTokenByName` return instead
of a device's stored token (only its hash is stored, so the token itself cannot be given back).

A delegation token names one device and an expiry, signed (HMAC-SHA256) with a key made at
random when the function's container starts and kept only in its memory: `Device({"token"})`
accepts it in the same container until it expires, and nowhere else. Nothing secret is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache
from typing import Final

PREFIX: Final = "mqad1"
LIFETIME_MS: Final = 15 * 60 * 1000


@cache
def _key() -> bytes:
    return secrets.token_bytes(32)


def _sign(body: str) -> str:
    digest = hmac.new(_key(), body.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue(device: str, now_ms: int) -> str:
    name = base64.urlsafe_b64encode(device.encode("utf-8")).decode("ascii").rstrip("=")
    body = f"{PREFIX}.{name}.{now_ms + LIFETIME_MS}"
    return f"{body}.{_sign(body)}"


def is_delegation(token: str) -> bool:
    return token.startswith(f"{PREFIX}.")


def device_for(token: str, now_ms: int) -> str | None:
    """The device of a valid, unexpired delegation token of this container; None otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(body), parts[3]):
        return None
    try:
        expires = int(parts[2])
        name = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode("utf-8")
    except ValueError:
        return None
    return name if now_ms <= expires else None
