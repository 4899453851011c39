"""Secrets as pages, logs and records show them: masked, with the last 4 characters kept so a
reader can tell two apart. Pure.

Webhook header values are secrets by rule (an `Authorization` or `X-Key` header). A webhook URL
can carry one too: a password before the host (`https://user:pass@host`), a token in the query
(`?token=...`) or a path segment that is the secret itself (Slack's
`/services/T.../B.../<secret>`, Discord's `/api/webhooks/<id>/<secret>`). The inspector, the
outbox and error reasons show a URL through `mask_url` (issue #23); what is sent is unchanged.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "SHOWN_CHARS", "mask", "mask_url"]

MASK: Final = "••••"  # a masked secret: MASK + its last 4 characters
SHOWN_CHARS: Final = 4
# A path segment this long that mixes letters and digits (or is longer still) reads as a secret:
# Slack's are 24 characters, Discord's 68; a word, a date or a short id is shown as is.
SECRET_SEGMENT: Final = 16
LONG_SEGMENT: Final = 32


def mask(value: str) -> str:
    """A secret as pages show it: MASK and its last 4 characters (all of it masked if short)."""
    return MASK + value[-SHOWN_CHARS:] if len(value) > 2 * SHOWN_CHARS else MASK


def _secret_segment(segment: str) -> bool:
    if len(segment) >= LONG_SEGMENT:
        return True
    has_digit = any(c.isdigit() for c in segment)
    has_letter = any(c.isalpha() for c in segment)
    return len(segment) >= SECRET_SEGMENT and has_digit and has_letter


def mask_url(url: str) -> str:
    """`url` with its user part, every query value and every secret-looking path segment
    masked; scheme, host, port, the other segments and the query's names kept. Text that is not
    a URL is returned masked whole when it is long, as is otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: not a URL to take apart
        return mask(url) if len(url) >= SECRET_SEGMENT else url
    _user, at, host = parts.netloc.rpartition("@")
    netloc = f"{MASK}@{host}" if at else host
    path = "/".join(mask(s) if _secret_segment(s) else s for s in parts.path.split("/"))
    query = "&".join(_mask_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def _mask_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    return f"{name}={mask(value)}" if sep and value else pair
