"""The part of AWS IoT's rule SQL the template uses, parsed once per rule and evaluated per message.

Supported (anything else is refused with the rule's name and what to change):
  SELECT  `*`, field paths (`a.b`), literals, and the functions `encode(*, 'base64')`, `topic()`,
          `topic(n)`, `clientid()`, `principal()`, `timestamp()`, `traceid()`,
          `get_user_properties('name')`, each optionally `AS alias`
  FROM    one quoted topic filter
  WHERE   comparisons (= <> != < <= > >=) of those expressions, AND, OR, NOT, parentheses

Semantics follow IoT's: a field the payload does not have is *undefined*; an undefined value is
left out of the result, and a comparison involving one is false.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

SQL_VERSIONS: Final = ("2015-10-08", "2016-03-23", "beta")


class RuleSqlError(ValueError):
    """The rule's SQL uses something the local rules engine does not support (or is invalid)."""


class RuleEvaluationError(ValueError):
    """The SQL cannot be evaluated for this message (IoT would run the rule's ErrorAction)."""


class _Undefined:
    """IoT SQL's Undefined: a missing field; dropped from results, never equal to anything."""

    def __repr__(self) -> str:
        return "Undefined"


UNDEFINED: Final = _Undefined()


@dataclass
class MessageContext:
    """One MQTT message as the rules engine sees it."""

    topic: str
    payload: bytes
    clientid: str
    principal: str
    timestamp: int
    traceid: str
    user_properties: Sequence[tuple[str, str]] = ()
    _json: Any = field(default=None, init=False, repr=False)
    _json_done: bool = field(default=False, init=False, repr=False)

    def json(self) -> Any:
        """The payload as JSON, or UNDEFINED when it is not JSON (decoded once per message)."""
        if not self._json_done:
            try:
                self._json = json.loads(self.payload)
            except (UnicodeDecodeError, ValueError):
                self._json = UNDEFINED
            self._json_done = True
        return self._json


# ---------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op><>|!=|<=|>=|=|<|>)
    | (?P<punct>[(),.*])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | number | op | punct | ident | kw | end
    text: str


def _tokenize(sql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    sql = sql.strip()
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None or match.end() == pos:
            raise RuleSqlError(f"cannot read the SQL at {sql[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "ident" and text.upper() in _KEYWORDS:
            tokens.append(_Tok("kw", text.upper()))
        elif kind == "ident" and text.startswith("`"):
            tokens.append(_Tok("ident", text[1:-1]))
        else:
            tokens.append(_Tok(kind, text))
    tokens.append(_Tok("end", ""))
    return tokens


# ---------------------------------------------------------------------------- expressions

Expr = Callable[[MessageContext], Any]


@dataclass(frozen=True)
class SelectItem:
    name: str | None  # None: `*` (the payload's fields merged in)
    expr: Expr


@dataclass(frozen=True)
class ParsedSql:
    items: tuple[SelectItem, ...]
    topic_filter: str
    where: Expr | None


def _literal(value: Any) -> Expr:
    return lambda _ctx: value


def _field(path: tuple[str, ...]) -> Expr:
    def get(ctx: MessageContext) -> Any:
        value = ctx.json()
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return UNDEFINED
            value = value[part]
        return value

    return get


def _topic(level: int | None) -> Expr:
    def get(ctx: MessageContext) -> Any:
        if level is None:
            return ctx.topic
        levels = ctx.topic.split("/")
        return levels[level - 1] if 1 <= level <= len(levels) else UNDEFINED

    return get


def _user_properties(name: str) -> Expr:
    def get(ctx: MessageContext) -> Any:
        values = [v for k, v in ctx.user_properties if k == name]
        return values if values else UNDEFINED

    return get


def _encode_base64(ctx: MessageContext) -> Any:
    return base64.b64encode(ctx.payload).decode("ascii")


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": lambda a, b: bool(a == b),
    "<>": lambda a, b: bool(a != b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return isinstance(a, str) and isinstance(b, str)


def _comparison(op: str, left: Expr, right: Expr) -> Expr:
    compare = _COMPARE[op]

    def evaluate(ctx: MessageContext) -> Any:
        a, b = left(ctx), right(ctx)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        if op in ("=", "<>", "!="):
            return compare(a, b) if _comparable(a, b) else op != "="
        return compare(a, b) if _comparable(a, b) else UNDEFINED

    return evaluate


def _truthy(value: Any) -> bool:
    return value is True


def _and(left: Expr, right: Expr) -> Expr:
    return lambda ctx: _truthy(left(ctx)) and _truthy(right(ctx))


def _or(left: Expr, right: Expr) -> Expr:
    return lambda ctx: _truthy(left(ctx)) or _truthy(right(ctx))


def _not(inner: Expr) -> Expr:
    def evaluate(ctx: MessageContext) -> Any:
        value = inner(ctx)
        return UNDEFINED if value is UNDEFINED else not _truthy(value)

    return evaluate


class _Parser:
    def __init__(self, sql: str, version: str) -> None:
        self._tokens = _tokenize(sql)
        self._pos = 0
        self._version = version

    # -- token helpers
    def _peek(self) -> _Tok:
        return self._tokens[self._pos]

    def _next(self) -> _Tok:
        tok = self._tokens[self._pos]
        self._pos += 1
        return tok

    def _accept(self, kind: str, text: str | None = None) -> _Tok | None:
        tok = self._peek()
        if tok.kind == kind and (text is None or tok.text == text):
            self._pos += 1
            return tok
        return None

    def _expect(self, kind: str, text: str | None = None, what: str = "") -> _Tok:
        tok = self._accept(kind, text)
        if tok is None:
            found = self._peek().text or "the end"
            raise RuleSqlError(f"expected {what or text or kind}, found {found!r}")
        return tok

    # -- grammar
    def statement(self) -> ParsedSql:
        self._expect("kw", "SELECT")
        items = [self._select_item()]
        while self._accept("punct", ","):
            items.append(self._select_item())
        self._expect("kw", "FROM")
        topic_filter = self._string(self._expect("string", what="a quoted topic filter after FROM"))
        where = None
        if self._accept("kw", "WHERE"):
            where = self._expr()
        if self._peek().kind != "end":
            raise RuleSqlError(f"unsupported SQL after the statement: {self._peek().text!r}")
        names = [i.name for i in items if i.name is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RuleSqlError(f"SELECT names {', '.join(duplicates)} more than once")
        return ParsedSql(tuple(items), topic_filter, where)

    def _select_item(self) -> SelectItem:
        if self._accept("punct", "*"):
            return SelectItem(None, lambda ctx: ctx.json())
        start = self._pos
        expr = self._primary()
        if self._accept("kw", "AS"):
            return SelectItem(self._expect("ident", what="an alias after AS").text, expr)
        first = self._tokens[start]
        if first.kind == "ident" and self._tokens[start + 1].text != "(":
            # A field path without alias is named after its last part, as in IoT.
            return SelectItem(self._tokens[self._pos - 1].text, expr)
        if first.kind == "ident":
            raise RuleSqlError(f"give {first.text}() a name with AS (e.g. AS {first.text})")
        raise RuleSqlError(f"give {first.text} a name with AS")

    def _expr(self) -> Expr:
        left = self._and_expr()
        while self._accept("kw", "OR"):
            left = _or(left, self._and_expr())
        return left

    def _and_expr(self) -> Expr:
        left = self._not_expr()
        while self._accept("kw", "AND"):
            left = _and(left, self._not_expr())
        return left

    def _not_expr(self) -> Expr:
        if self._accept("kw", "NOT"):
            return _not(self._not_expr())
        left = self._primary()
        op = self._accept("op")
        if op is None:
            return left
        return _comparison(op.text, left, self._primary())

    def _primary(self) -> Expr:
        tok = self._next()
        if tok.kind == "string":
            return _literal(self._string(tok))
        if tok.kind == "number":
            number = float(tok.text)
            return _literal(int(number) if number.is_integer() and "." not in tok.text else number)
        if tok.kind == "kw" and tok.text in ("TRUE", "FALSE"):
            return _literal(tok.text == "TRUE")
        if tok.kind == "kw" and tok.text == "NULL":
            return _literal(None)
        if tok.kind == "punct" and tok.text == "(":
            inner = self._expr()
            self._expect("punct", ")")
            return inner
        if tok.kind == "ident":
            if self._accept("punct", "("):
                return self._function(tok.text)
            path = [tok.text]
            while self._accept("punct", "."):
                path.append(self._expect("ident", what="a field name after '.'").text)
            return _field(tuple(path))
        raise RuleSqlError(f"unsupported SQL at {tok.text or 'the end'!r}")

    def _function(self, name: str) -> Expr:
        fn = name.lower()
        args: list[_Tok] = []
        while not self._accept("punct", ")"):
            if args:
                self._expect("punct", ",")
            tok = self._next()
            if tok.kind not in ("string", "number") and tok.text != "*":
                raise RuleSqlError(f"{name}() takes literal arguments here, found {tok.text!r}")
            args.append(tok)
        texts = [self._string(a) if a.kind == "string" else a.text for a in args]
        if fn in ("clientid", "principal", "timestamp", "traceid") and not args:
            attribute = fn
            return lambda ctx: getattr(ctx, attribute)
        if fn == "topic" and not args:
            return _topic(None)
        if fn == "topic" and len(args) == 1 and args[0].kind == "number":
            return _topic(int(args[0].text))
        if fn == "encode" and texts == ["*", "base64"]:
            if self._version == "2015-10-08":
                raise RuleSqlError("encode() needs AwsIotSqlVersion '2016-03-23'")
            return _encode_base64
        if fn == "get_user_properties" and len(args) == 1 and args[0].kind == "string":
            return _user_properties(texts[0])
        shown = ", ".join(texts)
        raise RuleSqlError(f"function {name}({shown}) is not supported by the local rules engine")

    @staticmethod
    def _string(tok: _Tok) -> str:
        return tok.text[1:-1].replace("''", "'")


def parse(sql: str, version: str = "2016-03-23") -> ParsedSql:
    """Parse a rule's SQL; raises RuleSqlError saying what is not supported."""
    if version not in SQL_VERSIONS:
        raise RuleSqlError(f"AwsIotSqlVersion {version!r} is not one of {', '.join(SQL_VERSIONS)}")
    return _Parser(sql, version).statement()


def select(parsed: ParsedSql, ctx: MessageContext) -> dict[str, Any] | None:
    """The rule's output for this message, or None when WHERE does not hold."""
    if parsed.where is not None and not _truthy(parsed.where(ctx)):
        return None
    out: dict[str, Any] = {}
    for item in parsed.items:
        value = item.expr(ctx)
        if item.name is None:
            if not isinstance(value, dict):
                msg = "SELECT * needs a JSON object payload; select encode(*, 'base64') instead"
                raise RuleEvaluationError(msg)
            out.update(value)
        elif value is not UNDEFINED:
            out[item.name] = value
    return out
