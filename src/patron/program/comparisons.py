"""The comparisons a condition makes, read from its tokens.

The CEL library has no static type checker, and ``==`` between values of different
types is simply false: ``event.data.rating == 'five'`` on an integer rating never
matches, and evaluating it on a sample raises nothing. So validation reads the
comparisons whose two sides are plain (a field path or a literal) and checks their
types against the catalog. The equalities a condition requires on every match
(``event.channel == 'app' && …``) also tell whether two rules can ever apply together.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from patron.program.cel import ROOTS, Token, scan

RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_PAIRS = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_OPENS = frozenset({"(", "[", "{"})
_CLOSES = frozenset({")", "]", "}"})
_BEFORE = frozenset({"(", "[", "{", ",", "&&", "||", "?", ":"})
"""What may precede a comparison's left side: anything binding looser than a relation."""
_AFTER = frozenset({")", "]", "}", ",", "&&", "||", "?", ":"})
_CONSTANTS = {"true": "bool", "false": "bool", "null": "null"}


class Operand(NamedTuple):
    """One side of a comparison: a field path read from a root, or a literal's kind."""

    text: str
    path: tuple[str, ...] | None = None
    kind: str | None = None
    """A literal's type: string, bytes, int, uint, double, bool or null."""


class Comparison(NamedTuple):
    text: str
    left: Operand
    op: str
    right: Operand
    depth: int
    """Brackets around it; 0 is the top level of the condition."""
    joined: bool
    """Both neighbours are ``&&`` (or the ends): the condition needs it to hold."""


def comparisons(source: str) -> list[Comparison]:
    """Every relation in ``source`` whose two sides are plain."""
    lexemes = _lexemes(scan(source))
    depths = _depths(lexemes)
    found = []
    for k, lexeme in enumerate(lexemes):
        if lexeme.kind != "op" or lexeme.text not in RELATIONS:
            continue
        left = _left(lexemes, k)
        right = _right(lexemes, k)
        if left is None or right is None:
            continue
        (start, left_operand), (end, right_operand) = left, right
        before = lexemes[start - 1].text if start else "&&"
        after = lexemes[end + 1].text if end + 1 < len(lexemes) else "&&"
        found.append(Comparison(source[lexemes[start].start:lexemes[end].end], left_operand,
                                lexeme.text, right_operand, depths[k],
                                before == "&&" and after == "&&"))
    return found


def required_values(source: str) -> dict[tuple[str, ...], str]:
    """``path == literal`` facts the condition needs to be true, by path.

    Only for a condition that is a plain conjunction at its top level (no ``||``, no
    ``?:``); anything else requires nothing this can tell.
    """
    lexemes = _lexemes(scan(source))
    depths = _depths(lexemes)
    if any(d == 0 and t.text in ("||", "?") for t, d in zip(lexemes, depths, strict=True)):
        return {}
    facts: dict[tuple[str, ...], str] = {}
    for c in comparisons(source):
        if c.op != "==" or c.depth or not c.joined:
            continue
        path, literal = ((c.left.path, c.right) if c.left.path and c.right.kind
                         else (c.right.path, c.left) if c.right.path and c.left.kind
                         else (None, None))
        if path is not None and literal is not None:
            facts[path] = _normal(literal)
    return facts


def _normal(literal: Operand) -> str:
    """'app' and "app" are one value, and so are 5, 5u and 5.0."""
    text, kind = literal.text, literal.kind
    if kind == "string" and text[:1] in "'\"" and "\\" not in text and len(text) >= 2:
        return "s:" + text[1:-1]
    if kind in ("int", "uint", "double"):
        digits = text.rstrip("uU")
        number = int(digits, 16) if digits.lower().lstrip("-").startswith("0x") else digits
        return f"n:{Decimal(number).normalize()}"
    return f"{kind}:{text}"


def _lexemes(tokens: list[Token]) -> list[Token]:
    """Tokens with two-character operators (``==``, ``&&``…) joined into one."""
    out: list[Token] = []
    for token in tokens:
        previous = out[-1] if out else None
        if (previous is not None and token.kind == "op" and previous.kind == "op"
                and previous.end == token.start and previous.text + token.text in _PAIRS):
            out[-1] = Token("op", previous.text + token.text, previous.start, token.end)
        else:
            out.append(token)
    return out


def _depths(lexemes: list[Token]) -> list[int]:
    depths, level = [], 0
    for lexeme in lexemes:
        if lexeme.kind == "op" and lexeme.text in _CLOSES:
            level -= 1
        depths.append(level)
        if lexeme.kind == "op" and lexeme.text in _OPENS:
            level += 1
    return depths


def _literal(lexeme: Token) -> str | None:
    if lexeme.kind == "str":
        prefix = lexeme.text[:len(lexeme.text) - len(lexeme.text.lstrip("rRbB"))]
        return "bytes" if "b" in prefix.lower() else "string"
    if lexeme.kind == "num":
        text = lexeme.text.lower()
        if text.endswith("u"):
            return "uint"
        return "double" if not text.startswith("0x") and ("." in text or "e" in text) else "int"
    if lexeme.kind == "ident":
        return _CONSTANTS.get(lexeme.text)
    return None


def _left(lexemes: list[Token], k: int) -> tuple[int, Operand] | None:
    """The plain operand ending just before lexeme k, and where it starts."""
    end = k - 1
    if end < 0:
        return None
    kind = _literal(lexemes[end])
    if kind is not None:
        start = end
        if kind in ("int", "double") and end >= 1 and lexemes[end - 1].text == "-" and (
                end == 1 or lexemes[end - 2].text in _BEFORE):
            start = end - 1
        path = None
    elif lexemes[end].kind == "ident":
        start = end
        while (start >= 2 and lexemes[start - 1].text == "."
               and lexemes[start - 2].kind == "ident"):
            start -= 2
        if start and lexemes[start - 1].text == ".":
            return None
        path = tuple(lexemes[i].text for i in range(start, end + 1, 2))
    else:
        return None
    if start and lexemes[start - 1].text not in _BEFORE:
        return None
    return start, _operand(lexemes, start, end, path, kind)


def _right(lexemes: list[Token], k: int) -> tuple[int, Operand] | None:
    """The plain operand starting just after lexeme k, and where it ends."""
    start = k + 1
    if start >= len(lexemes):
        return None
    first = start + 1 if lexemes[start].text == "-" else start
    if first >= len(lexemes):
        return None
    kind = _literal(lexemes[first])
    if kind is not None and (first == start or kind in ("int", "double")):
        end, path = first, None
    elif first == start and lexemes[start].kind == "ident":
        end = start
        while (end + 2 < len(lexemes) and lexemes[end + 1].text == "."
               and lexemes[end + 2].kind == "ident"):
            end += 2
        path = tuple(lexemes[i].text for i in range(start, end + 1, 2))
    else:
        return None
    if end + 1 < len(lexemes) and lexemes[end + 1].text not in _AFTER:
        return None
    return end, _operand(lexemes, start, end, path, kind)


def _operand(lexemes: list[Token], start: int, end: int, path: tuple[str, ...] | None,
             kind: str | None) -> Operand:
    text = "".join(lexemes[i].text for i in range(start, end + 1))
    if path is not None and path[0] not in ROOTS:
        path = None  # a macro's variable or an unknown name: nothing to type
    return Operand(text, path, kind)
