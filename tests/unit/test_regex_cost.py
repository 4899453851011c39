"""Every regular expression a user or device string reaches costs linear time (issue #23).

`conditions.as_number`'s old pattern `[0-9]+\\.?[0-9]*` backtracked quadratically: "1" * 16,000 +
"x" took 13 s, and one 10 KB message stalled the router for 7.7 s. Here each entry point that
runs a regex over outside text gets adversarial inputs from 1 KB to 100 KB (a short chunk
of the pattern's own characters, repeated, then a character that makes the match fail: the shape
that makes a backtracking engine try every split). Its cost per call is compared with a linear
baseline (a regex that visits every character) timed on the same input in the same run: no
wall-clock threshold. The old number pattern cost ~600 baselines at 1 KB; the old policy matcher
(`.*` per `*`) passed 1 KB and would have run for minutes at 100 KB.

`test_every_regex_module_is_covered` keeps the list honest: a module that starts using `re`
must be added to ENTRY_POINTS (or to NOT_OUTSIDE_TEXT with the reason).
"""

from __future__ import annotations

import gc
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqtt_actions.actions import ActionsFileError, parse_actions
from mqtt_actions.actions.problems import _path as problem_path
from mqtt_actions.bindings import client_id_problem, is_certificate
from mqtt_actions.conditions import as_number
from mqtt_actions.device_profiles import EXTRA_NAME
from mqtt_actions.parsers.javascript import _V8_WHERE
from mqtt_actions.tagoio_query import to_ms
from mqtt_actions.templating import render, render_header
from mqtt_actions.text import first_surrogate, without_surrogates
from mqtt_actions.tokens import policy_allows, weak_token_problem
from mqtt_actions_cli.actions_file import _nesting
from mqtt_actions_cli.console.forms import problems_by_field
from mqtt_actions_cli.errors import UsageError
from mqtt_actions_cli.inspect import parse_since
from mqtt_actions_cli.local.broker_rules import _PUBLISHABLE_RESERVED as _RESERVED
from mqtt_actions_cli.local.control import _INVOKE
from mqtt_actions_cli.local.sql import _TOKEN as _SQL_TOKEN
from mqtt_actions_cli.ops.analyses import ENV_KEY
from mqtt_actions_cli.ops.analyses import NAME as ANALYSIS_NAME
from mqtt_actions_cli.tagoio_import import convert
from mqtt_actions_cli.timeparse import parse_when
from tagoio_sdk._paths import _TYPES as _SDK_TYPES

ROOT = Path(__file__).resolve().parents[2]
# Doubling up to 100 KB: a superlinear pattern crosses BOUND at the first size where it is too
# slow, at most 2^k x BOUND baselines for an O(n^k) one, so a regression fails fast, never hangs.
SIZES = (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000)
# A linear pattern: one backtracking point per character, like the patterns under test.
_BASELINE = re.compile(r"(?s)(?:\n|.)*")
# Per-call cost at most this many baselines. Linear entry points measure 1-25 here (Python work
# per match included, more on a loaded machine); the old number pattern measured ~600 at 1 KB and
# ~11,000 at 4 KB, and a polynomial one crosses the bound at the first size where it is too slow.
BOUND = 200


def _quietly(call: Callable[[str], object]) -> Callable[[str], object]:
    """`call`, with the documented refusals (ValueError and its kin) counted as an answer."""

    def run(text: str) -> object:
        try:
            return call(text)
        except (ValueError, ActionsFileError, UsageError) as exc:
            return exc

    return run


def _email(text: str) -> object:
    action = {"id": "m", "topics": ["a"], "type": "email", "to": [text], "message": "x"}
    return parse_actions({"actions": [action]})


def _sms(text: str) -> object:
    action = {"id": "s", "topics": ["a"], "type": "sms", "to": [text], "message": "x"}
    return parse_actions({"actions": [action]})


def _ids(text: str) -> object:
    action = {"id": text, "topics": ["a"], "type": "run_analysis", "analyses": [text]}
    return parse_actions({"actions": [action]})


_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:*",
                "Resource": "arn:aws:iot:*:*:topic/*a*/*a*a*?*b",
            }
        ],
    }
)


def _policy(text: str) -> object:
    # Ends in "b", as the pattern does: the middle parts are searched, not refused at once.
    return policy_allows([_POLICY], "iot:Publish", f"arn:aws:iot:eu-west-1:1:topic/{text}b")


def _tagoio(text: str) -> object:
    item = {
        "name": text,
        "type": "interval",
        "trigger": [{"interval": text}],
        "action": {"type": "sms", "sms": [{"to": text, "message": text}]},
    }
    return convert([item], {})


ENTRY_POINTS: dict[str, Callable[[str], object]] = {
    "conditions.as_number (device values)": as_number,
    "tokens.policy_allows (device topics)": _policy,
    "tokens.weak_token_problem (imported tokens)": weak_token_problem,
    "templating.render": lambda text: render(text, {"VALUE": text}),
    "templating.render_header": lambda text: render_header(text, {"VALUE": text}),
    "text.first_surrogate": first_surrogate,
    "text.without_surrogates": without_surrogates,
    "actions.model e-mail": _quietly(_email),
    "actions.model E.164": _quietly(_sms),
    "actions.model ids and analysis names": _quietly(_ids),
    "actions.problems path": lambda text: problem_path([text, 0]),
    "actions_file nesting": _nesting,
    "console.forms problems_by_field": lambda text: problems_by_field([f"actions[0] (id {text}"]),
    "inspect.parse_since": _quietly(lambda text: parse_since(text, 0)),
    "timeparse.parse_when": _quietly(lambda text: parse_when(text, option="--since", now=0)),
    "local.control invoke path": lambda text: _INVOKE.match(f"/2015-03-31/functions/{text}"),
    # The tokenizer's pattern at one position (the parser around it is plain Python).
    "device_profiles extra name": lambda text: EXTRA_NAME.fullmatch(text),
    "local.broker_rules reserved topics (device topics)": lambda text: (
        _RESERVED.match(f"$aws/things/{text}"),
        _RESERVED.match(f"$aws/rules/{text}"),
    ),
    "ops.analyses names": lambda text: (ANALYSIS_NAME.fullmatch(text), ENV_KEY.fullmatch(text)),
    "parsers.javascript V8 error line": lambda text: _V8_WHERE.match(f"x:1: {text}"),
    "tagoio_query.to_ms (analysis queries)": _quietly(lambda text: to_ms("start_date", text, 0)),
    "tagoio_sdk module paths": lambda text: _SDK_TYPES.fullmatch(f"tagoio_sdk.{text}"),
    "local.sql token pattern": lambda text: _SQL_TOKEN.match(text),
    "tagoio_import.convert": _quietly(_tagoio),
    "bindings client id and principal (device strings)": lambda text: (
        client_id_problem(text),
        is_certificate(text),
    ),
}
# Modules whose patterns never see outside text, with why.
NOT_OUTSIDE_TEXT = {
    "cli/mqtt_actions_cli/cfn.py": "template.yaml's own !Sub strings",
    "cli/mqtt_actions_cli/console/pages.py": "a device name already validated as a thing name",
}
COVERED_MODULES = {
    "cli/mqtt_actions_cli/ops/analyses.py",
    "layers/core/mqtt_actions/parsers/javascript.py",
    "layers/core/mqtt_actions/tagoio_query.py",
    "layers/core/tagoio_sdk/_paths.py",
    "layers/core/mqtt_actions/conditions.py",
    "layers/core/mqtt_actions/device_profiles.py",
    "layers/core/mqtt_actions/tokens.py",
    "layers/core/mqtt_actions/templating.py",
    "layers/core/mqtt_actions/text.py",
    "layers/core/mqtt_actions/actions/model.py",
    "layers/core/mqtt_actions/actions/problems.py",
    "cli/mqtt_actions_cli/actions_file.py",
    "cli/mqtt_actions_cli/console/forms.py",
    "cli/mqtt_actions_cli/inspect.py",
    "cli/mqtt_actions_cli/timeparse.py",
    "cli/mqtt_actions_cli/local/control.py",
    "cli/mqtt_actions_cli/local/broker_rules.py",
    "cli/mqtt_actions_cli/local/sql.py",
    "cli/mqtt_actions_cli/tagoio_import.py",
    "layers/core/mqtt_actions/bindings.py",
}
# The characters patterns branch on: digits, signs, dots, exponents, placeholders, wildcards, ...
_ALPHABET = "0123456789+-.eEaAsZ_$*?/#@ \t\n'`()[]{}:,;\ud800"
_FAILERS = ("x", "!", "\x00", "$", "", ".", "@", "'")


def _cost(call: Callable[[str], object], text: str, repeat: int = 5) -> float:
    """The fastest of `repeat` calls, with the garbage collector off (its pauses are noise)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            call(text)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def _ratio(call: Callable[[str], object], text: str) -> float:
    return _cost(call, text) / _cost(_BASELINE.fullmatch, text)


def test_every_regex_module_is_covered() -> None:
    uses = {
        str(path.relative_to(ROOT))
        for base in ("layers", "cli", "functions")
        for path in (ROOT / base).rglob("*.py")
        if re.search(r"^import re$|^from re import", path.read_text(), re.MULTILINE)
    }
    assert uses <= COVERED_MODULES | set(NOT_OUTSIDE_TEXT), sorted(
        uses - COVERED_MODULES - set(NOT_OUTSIDE_TEXT)
    )


def test_the_old_number_pattern_fails_this_measure() -> None:
    """The measure catches what issue #23 found (at 1 KB, so it stays quick)."""
    old = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
    assert _ratio(old.fullmatch, "1" * 1_000 + "x") > BOUND


def _assert_linear(name: str, chunk: str, failer: str) -> None:
    call = ENTRY_POINTS[name]
    for size in SIZES:
        text = (chunk * (size // len(chunk) + 1))[:size] + failer
        ratio = _ratio(call, text)
        assert ratio <= BOUND, f"{name}: {size:,} chars of {chunk!r}+{failer!r}: {ratio:.0f}x"


@pytest.mark.slow  # timing, 8 examples x 19 entry points x up to 100 KB: `make test`
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    chunk=st.text(alphabet=_ALPHABET, min_size=1, max_size=5),
    failer=st.sampled_from(_FAILERS),
)
def test_cost_per_call_is_linear(name: str, chunk: str, failer: str) -> None:
    _assert_linear(name, chunk, failer)


@pytest.mark.slow  # timing: with the properties in `make test`, not in `make quick`
@pytest.mark.parametrize(
    ("name", "chunk", "failer"),
    [
        ("conditions.as_number (device values)", "1", "x"),  # issue #23's 13 s
        ("tokens.policy_allows (device topics)", "a", ""),
        ("tokens.policy_allows (device topics)", "a/", "a"),
        ("actions.model e-mail", "a", "@"),
        ("actions.model e-mail", "a.", "@a"),
        ("tagoio_import.convert", "s", "x"),
        ("templating.render", "$A", "x"),
    ],
)
def test_known_worst_cases(name: str, chunk: str, failer: str) -> None:
    _assert_linear(name, chunk, failer)
