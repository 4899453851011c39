"""Where the router finds a device's parser: the device registry (DevicesTable), whose profile
keeps the parser as named settings (`extra`): `parser` (the code), `parser_language`
(javascript | python) and `parser_name` (the file it came from). `devices set NAME --parser F`
writes them.

The router asks once per message; answers are cached per device for `ttl` seconds (the actions'
ACTIONS_CACHE_SECONDS), or until `changed()` says the registry changed (the local stack's
change marker), so a message costs no registry read in the steady state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from mqtt_actions.parsers import DeviceParser, Parser, device_context

PARSER: Final = "parser"
PARSER_LANGUAGE: Final = "parser_language"
PARSER_NAME: Final = "parser_name"
MAX_CACHED: Final = 10_000  # devices whose answer is kept


class ProfileLike(Protocol):
    """What the lookup reads of a device registry profile (mqtt_actions.device_profiles)."""

    @property
    def device(self) -> str: ...

    @property
    def tags(self) -> Sequence[tuple[str, str]]: ...

    @property
    def extra(self) -> Mapping[str, str]: ...

    def params_list(self) -> list[dict[str, Any]]: ...


def parser_of(profile: ProfileLike) -> DeviceParser | None:
    """The parser a profile holds, with the `device` object its parser sees; None without one."""
    source = profile.extra.get(PARSER)
    if not source:
        return None
    language = profile.extra.get(PARSER_LANGUAGE, "javascript")
    parser = Parser(
        language="python" if language == "python" else "javascript",
        source=source,
        name=profile.extra.get(PARSER_NAME, "parser"),
    )
    return DeviceParser(parser, device_context(profile.device, profile.tags, profile.params_list()))


def parser_settings(parser: Parser | None) -> dict[str, str | None]:
    """The profile settings (`extra`) that attach `parser`, or remove it (None)."""
    if parser is None:
        return {PARSER: None, PARSER_LANGUAGE: None, PARSER_NAME: None}
    return {PARSER: parser.source, PARSER_LANGUAGE: parser.language, PARSER_NAME: parser.name}


class CachedParsers:
    """`ParserLookup` over `get` (the registry's read of one device), cached per device."""

    def __init__(
        self,
        get: Callable[[str], ProfileLike | None],
        ttl: float,
        clock: Callable[[], float],
        changed: Callable[[], bool] | None = None,
    ) -> None:
        self._get = get
        self._ttl = ttl
        self._clock = clock
        self._changed = changed
        self._cache: dict[str, tuple[float, DeviceParser | None]] = {}

    def for_device(self, device: str) -> DeviceParser | None:
        now = self._clock()
        if self._changed is not None and self._changed():
            self._cache.clear()
        hit = self._cache.get(device)
        if hit is not None and hit[0] > now:
            return hit[1]
        profile = self._get(device)
        found = parser_of(profile) if profile is not None else None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[device] = (now + self._ttl, found)
        return found
