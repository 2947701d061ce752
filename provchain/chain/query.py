"""CometBFT's event query language: `tm.event='Tx' AND register_clip.creator='AB..' AND tx.height>=5`.

A query is a conjunction of conditions on composite event keys ("type.attribute"). Operators: =, <, <=,
>, >=, CONTAINS, EXISTS. Operands: 'single-quoted strings', numbers, DATE 2026-01-02, TIME <RFC 3339>.
Used by websocket subscriptions and by tx_search / block_search; parsing errors are QueryError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

MAX_QUERY_LEN = 512
MAX_CONDITIONS = 16


class QueryError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<op><=|>=|=|<|>)
    | (?P<str>'[^']*')
    | (?P<date>DATE\s+\d{4}-\d{2}-\d{2})
    | (?P<time>TIME\s+\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))
    | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    | (?P<num>-?\d+(?:\.\d+)?)
    )""", re.VERBOSE)


@dataclass(frozen=True)
class Condition:
    key: str
    op: str            # "=", "<", "<=", ">", ">=", "CONTAINS", "EXISTS"
    operand: object    # str, float (number, date or time as seconds since the epoch), or None for EXISTS
    is_string: bool = False

    def match_value(self, value: str) -> bool:
        if self.op == "EXISTS":
            return True
        if self.op == "CONTAINS":
            return self.operand in value
        if self.is_string:
            return self.op == "=" and value == self.operand
        try:
            v = _to_number(value)
        except ValueError:
            return False
        a = self.operand
        return {"=": v == a, "<": v < a, "<=": v <= a, ">": v > a, ">=": v >= a}[self.op]


def _to_number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return _time_seconds(value)


def _time_seconds(text: str) -> float:
    t = text.strip()
    if len(t) == 10:
        return datetime.strptime(t, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    t = t.replace("Z", "+00:00")
    if "." in t:  # Python 3.11 takes at most 6 fraction digits
        head, rest = t.split(".", 1)
        frac = re.match(r"\d+", rest).group(0)
        t = head + "." + frac[:6].ljust(6, "0") + rest[len(frac):]
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        raise ValueError(f"not a time: {text!r}") from None


@dataclass(frozen=True)
class Query:
    text: str
    conditions: tuple[Condition, ...]

    def matches(self, events: dict[str, list[str]]) -> bool:
        """events: composite key -> values (as in a websocket event's `events` map)."""
        return all(any(c.match_value(v) for v in events.get(c.key, ())) for c in self.conditions)

    def without(self, key: str) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.key != key)

    def event_type(self) -> str | None:
        """The value of a tm.event='X' condition, if there is one."""
        for c in self.conditions:
            if c.key == "tm.event" and c.op == "=" and c.is_string:
                return c.operand
        return None


def parse(text: str) -> Query:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("query must be a non-empty string")
    if len(text) > MAX_QUERY_LEN:
        raise QueryError(f"query longer than {MAX_QUERY_LEN} characters")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    conditions, i = [], 0
    while i < len(tokens):
        if conditions:
            if tokens[i] != ("word", "AND"):
                raise QueryError(f"expected AND, got {tokens[i][1]!r} (only AND joins conditions)")
            i += 1
        if i >= len(tokens) or tokens[i][0] != "word":
            raise QueryError("expected an event key such as tm.event or tx.height")
        key = tokens[i][1]
        i += 1
        if i < len(tokens) and tokens[i] == ("word", "EXISTS"):
            conditions.append(Condition(key, "EXISTS", None))
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise QueryError(f"condition on {key!r} is incomplete")
        (ok, op), (vk, vt) = tokens[i], tokens[i + 1]
        if ok == "word" and op == "CONTAINS":
            if vk != "str":
                raise QueryError("CONTAINS takes a quoted string")
            conditions.append(Condition(key, "CONTAINS", vt[1:-1], True))
        elif ok == "op":
            if vk == "str":
                if op != "=":
                    raise QueryError(f"{op} compares numbers, dates and times, not strings")
                conditions.append(Condition(key, op, vt[1:-1], True))
            elif vk == "num":
                conditions.append(Condition(key, op, float(vt)))
            elif vk in ("date", "time"):
                try:
                    conditions.append(Condition(key, op, _time_seconds(vt.split(None, 1)[1])))
                except ValueError as exc:
                    raise QueryError(str(exc)) from None
            else:
                raise QueryError(f"expected a value after {key} {op}")
        else:
            raise QueryError(f"expected an operator after {key!r}, got {op!r}")
        i += 2
        if len(conditions) > MAX_CONDITIONS:
            raise QueryError(f"more than {MAX_CONDITIONS} conditions")
    return Query(text, tuple(conditions))
