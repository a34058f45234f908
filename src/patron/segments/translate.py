"""Segment conditions as SQL: the common forms of CEL, translated to a WHERE clause.

Most segment and rule-tag conditions compare feature columns with constants and
join the comparisons with ``&&``, ``||`` and ``!``; evaluated in the database they
cost one scan instead of a million rows fetched into Python. ``sql_condition``
translates exactly those forms and returns None for anything else (functions,
macros, arithmetic, dates, string ordering...), which is then evaluated in Python
as before. The translation keeps CEL's reading of a feature row: a missing value
reads as its type's zero (0, 0.0 or ""), so no SQL NULL ever reaches a comparison,
and only comparisons whose outcome cannot depend on the database (numbers with
numbers, strings for equality only) are translated.

The parse (``parse``) is pure; ``to_sql`` turns its tree into a SQLAlchemy
expression over ``member_features``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Connection, Text, and_, cast, column, exists, false, func, literal,
                        not_, or_, select, true)
from sqlalchemy.sql.elements import ColumnElement

from patron.program.catalog import FEATURE_FIELDS, ZERO_VALUES
from patron.program.cel import Token, scan
from patron.segments.tables import member_features

TRANSLATED_KINDS = ("int", "double", "string")
NOT_TRANSLATED = frozenset({"joined_on", "last_purchase_on"})
"""Dates: text in CEL, date columns in SQL; their conditions are evaluated in Python."""
_OPERATORS = ("||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "-", "(", ")", "[", "]",
              ",", ".")
_INT = re.compile(r"\d+")
_DOUBLE = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INT_MAX = 2 ** 63 - 1
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


class Untranslatable(Exception):
    """The condition uses a form this module does not translate."""


@dataclass(frozen=True)
class Node:
    """``op`` is field, tags, literal, list, compare, in, and, or, not; ``kind`` the
    value's type (int, double, string, bool, list) for values, bool for conditions."""

    op: str
    kind: str
    value: Any = None
    args: tuple[Node, ...] = ()


def parse(source: str) -> Node:
    """The condition's tree, or ``Untranslatable``; the tree is always a condition."""
    parser = _Parser(_operators(scan(source)))
    node = parser.expression()
    if parser.at < len(parser.tokens):
        raise Untranslatable(f"unexpected {parser.tokens[parser.at]!r}")
    return _condition(node)


def _operators(tokens: list[Token]) -> list[str | Token]:
    """Tokens with two-character operators (``&&``, ``>=``...) joined; operators as text."""
    out: list[str | Token] = []
    previous_end = -1
    for token in tokens:
        last = out[-1] if out else None
        if (token.kind == "op" and isinstance(last, str) and previous_end == token.start
                and last + token.text in _OPERATORS):
            out[-1] = last + token.text
        elif token.kind == "op":
            out.append(token.text)
        else:
            out.append(token)
        previous_end = token.end
    unknown = [t for t in out if isinstance(t, str) and t not in _OPERATORS]
    if unknown:
        raise Untranslatable(f"operator {unknown[0]!r}")
    return out


class _Parser:
    def __init__(self, tokens: list[str | Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str | Token:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Untranslatable(f"expected {expected or 'more'}")
        self.at += 1
        return token

    def expression(self) -> Node:
        node = self.conjunction()
        while self.peek() == "||":
            self.take()
            node = Node("or", "bool", args=(_condition(node), _condition(self.conjunction())))
        return node

    def conjunction(self) -> Node:
        node = self.relation()
        while self.peek() == "&&":
            self.take()
            node = Node("and", "bool", args=(_condition(node), _condition(self.relation())))
        return node

    def relation(self) -> Node:
        left = self.operand()
        token = self.peek()
        if token in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return _compare(str(token), left, self.operand())
        if isinstance(token, Token) and token.kind == "ident" and token.text == "in":
            self.take()
            return _membership(left, self.operand())
        return left

    def operand(self) -> Node:
        token = self.take()
        if token == "!":
            return Node("not", "bool", args=(_condition(self.operand()),))
        if token == "-":
            number = self.operand()
            if number.op != "literal" or number.kind not in ("int", "double"):
                raise Untranslatable("minus of a non-number")
            return Node("literal", number.kind, -number.value)
        if token == "(":
            node = self.expression()
            self.take(")")
            return node
        if token == "[":
            return self.list_literal()
        if isinstance(token, str):
            raise Untranslatable(f"unexpected {token!r}")
        return self.path(token) if token.kind == "ident" else _literal(token)

    def list_literal(self) -> Node:
        items: list[Node] = []
        while self.peek() != "]":
            if items:
                self.take(",")
            items.append(self.operand())
        self.take("]")
        kinds = {_family(i.kind) for i in items}
        if any(i.op != "literal" for i in items) or len(kinds) > 1 or "bool" in kinds:
            raise Untranslatable("a list of anything but constants of one type")
        return Node("list", "list", value=tuple(i.value for i in items),
                    args=tuple(items))

    def path(self, token: Token) -> Node:
        if token.text in ("true", "false"):
            return Node("literal", "bool", token.text == "true")
        if token.text != "member":
            raise Untranslatable(f"name {token.text!r}")
        names = []
        while self.peek() == ".":
            self.take()
            name = self.take()
            if not isinstance(name, Token) or name.kind != "ident":
                raise Untranslatable("a path")
            names.append(name.text)
        if self.peek() in ("(", "[", "."):
            raise Untranslatable("a call or index")
        if names == ["tags"]:
            return Node("tags", "list")
        if len(names) == 2 and names[0] == "features" and names[1] in FEATURE_FIELDS \
                and names[1] not in NOT_TRANSLATED \
                and FEATURE_FIELDS[names[1]] in TRANSLATED_KINDS:
            return Node("field", FEATURE_FIELDS[names[1]], names[1])
        raise Untranslatable(f"member.{'.'.join(names)}")


def _literal(token: Token) -> Node:
    text = token.text
    if token.kind == "num" and _INT.fullmatch(text):
        if int(text) > _INT_MAX:  # CEL refuses it: the condition never holds
            raise Untranslatable(f"int {text} out of range")
        return Node("literal", "int", int(text))
    if token.kind == "num" and _DOUBLE.fullmatch(text):
        return Node("literal", "double", float(text))
    if token.kind == "str" and text[:1] in "\"'" and not text.startswith(text[0] * 3) \
            and "\\" not in text:
        return Node("literal", "string", text[1:-1])
    raise Untranslatable(f"literal {text!r}")


def _family(kind: str) -> str:
    return "number" if kind in ("int", "double") else kind


def _condition(node: Node) -> Node:
    if node.kind != "bool":
        raise Untranslatable("a value where a condition is needed")
    return node


def _compare(op: str, left: Node, right: Node) -> Node:
    families = {_family(left.kind), _family(right.kind)}
    if len(families) != 1 or families & {"bool", "list"}:
        raise Untranslatable("a comparison of different or unordered types")
    if families == {"string"} and op not in ("==", "!="):
        raise Untranslatable("string ordering (collations differ)")
    return Node("compare", "bool", op, (left, right))


def _membership(item: Node, container: Node) -> Node:
    if container.op == "tags" and item.op == "literal" and item.kind == "string":
        return Node("in", "bool", args=(item, container))
    if container.op == "list" and item.op in ("field", "literal") and (
            not container.args or _family(container.args[0].kind) == _family(item.kind)):
        return Node("in", "bool", args=(item, container))
    raise Untranslatable("an `in` this module does not translate")


# --------------------------------------------------------------------------- SQL

def sql_condition(conn: Connection, source: str) -> ColumnElement[bool] | None:
    """The condition as a WHERE clause over ``member_features``, or None when it
    must be evaluated in Python."""
    try:
        return to_sql(conn, parse(source))
    except Untranslatable:
        return None


def to_sql(conn: Connection, node: Node) -> Any:
    if node.op == "and":
        return and_(*(to_sql(conn, a) for a in node.args))
    if node.op == "or":
        return or_(*(to_sql(conn, a) for a in node.args))
    if node.op == "not":
        return not_(to_sql(conn, node.args[0]))
    if node.op == "literal" and node.kind == "bool":
        return true() if node.value else false()
    if node.op == "compare":
        left, right = (_value(a) for a in node.args)
        return _COMPARE[node.value](left, right)
    item, container = node.args
    if container.op == "tags":
        return _has_tag(conn, item.value)
    if not container.value:
        return false()
    return _value(item).in_(list(container.value))


def _value(node: Node) -> Any:
    if node.op == "literal":
        return literal(node.value)
    return func.coalesce(member_features.c[node.value], literal(ZERO_VALUES[node.kind]))


def _has_tag(conn: Connection, tag: str) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        wanted = func.jsonb_build_array(cast(literal(tag), Text))
        return member_features.c.tags.bool_op("@>")(wanted)
    items = func.json_each(member_features.c.tags).table_valued("value")
    return exists(select(literal(1)).select_from(items).where(column("value") == tag))
