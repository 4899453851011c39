"""The stored form of an action: the router's cold start.

An action is stored as its `model_dump_json()` next to a fingerprint: a sha256 over the rules
(the source of every module the action models import from this package, `RULE_MODULES`) and that
text. A row whose fingerprint matches is built
without validating (the models are never built on the router's cold start); any other row (stored
by an older version, or edited since) is validated in full.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from pathlib import Path
from typing import Final

from mqtt_actions.actions.model import CLASSES, Action, Condition, RateLimit
from mqtt_actions.actions.problems import parse_actions

__all__ = ["RULE_MODULES", "read_stored_action", "stored_fingerprint"]

# The modules whose text decides what a valid action is: the models and every module of this
# package they import, directly or not (tests/unit/test_actions.py recomputes the closure from
# the imports and fails when a module is missing here). Paths relative to `mqtt_actions/`.
RULE_MODULES: Final = (
    "actions/model.py",
    "actions/problems.py",
    "actions/wording.py",
    "conditions.py",
    "limits.py",
    "templating.py",
    "text.py",
    "topics.py",
)


@functools.cache
def _rules_digest() -> bytes:
    # Any change to the rules (a rule, a field) changes every fingerprint, so actions stored under
    # the old rules are validated in full again.
    digest = hashlib.sha256()
    package = Path(__file__).parent.parent
    for name in RULE_MODULES:
        digest.update(name.encode())
        digest.update((package / name).read_bytes())
    return digest.digest()


def stored_fingerprint(config: str) -> str:
    """The mark stored next to `config`, the `model_dump_json()` of an action validated under the
    current rules: `read_stored_action` trusts exactly that text, and nothing else."""
    text = config.encode("utf-8", "surrogatepass")
    return hashlib.sha256(_rules_digest() + text).hexdigest()


def read_stored_action(config: str, fingerprint: str | None) -> tuple[Action, bool]:
    """A stored action, and whether the fingerprint matched. When it does, `config` is what a
    validated action dumped under these rules: the models are built without validating, so the
    router's cold start never builds the validators. Otherwise (no mark: stored by an older
    version; or the text changed since) it is validated in full (False); ActionsFileError names
    the id and the field. ValueError when `config` is not JSON."""
    data = json.loads(config)
    if fingerprint is None or not hmac.compare_digest(fingerprint, stored_fingerprint(config)):
        [checked] = parse_actions({"actions": [data]})
        return checked, False
    fields = dict(data)
    fields["when"] = [Condition.model_construct(**c) for c in data["when"]]
    if data["rate_limit"] is not None:
        fields["rate_limit"] = RateLimit.model_construct(**data["rate_limit"])
    action: Action = CLASSES[data["type"]].model_construct(**fields)  # type: ignore[assignment]
    return action, True
