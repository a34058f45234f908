"""Reading a program document someone sends: a file, a request body, a draft to simulate.

Validation itself is ``patron.program.validate``; this adds the guards a document
from outside needs before it is validated. YAML aliases can make a small text
expand into billions of values, deep nesting exhausts the parser's recursion,
and a NUL character or a lone surrogate cannot be stored by the database, so
each is refused with a problem instead of hanging or failing the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patron.errors import InvalidInput
from patron.program.document import ProgramDocument
from patron.program.validate import (
    DocumentParseError,
    Problem,
    load_document,
    validate_document,
)

MAX_DOCUMENT_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_VALUES = 200_000


class InvalidProgramDocument(InvalidInput):
    code = "invalid_program_document"
    title = "Invalid program document"


class DocumentTooLarge(InvalidInput):
    status = 413
    code = "program_document_too_large"
    title = "Program document too large"


class _Unacceptable(Exception):
    """Data no program document can be: too big, too deep, or not storable text."""


def check_document(source: str | bytes | Mapping[str, Any] | Any,
                   filename: str = "program.yaml"
                   ) -> tuple[ProgramDocument | None, list[Problem]]:
    """The document (None if it has errors) and every problem, from text or parsed data."""
    if isinstance(source, bytes):
        if len(source) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"a program document is at most {MAX_DOCUMENT_BYTES:,} bytes")
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Problem("", f"not UTF-8 text (byte {exc.start})")]
    if isinstance(source, str):
        try:
            data = load_document(source, filename)
        except DocumentParseError as exc:
            return None, [Problem("", exc.detail)]
        except RecursionError:
            return None, [Problem("", f"nested more than {MAX_DEPTH} levels deep")]
        except (ValueError, TypeError) as exc:  # a 5,000-digit number, a list as a key
            return None, [Problem("", f"cannot be read: {exc}")]
    else:
        data = source
    try:
        _size(data, 0, {})
    except _Unacceptable as exc:
        return None, [Problem("", str(exc))]
    return validate_document(data)


def require_document(source: str | bytes | Mapping[str, Any] | Any,
                     filename: str = "program.yaml") -> tuple[ProgramDocument, list[Problem]]:
    """The valid document and its warnings; ``InvalidProgramDocument`` listing every problem."""
    document, problems = check_document(source, filename)
    if document is None:
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0] if errors else problems[0]
        raise InvalidProgramDocument(
            f"{len(errors)} problem(s) in the program document; first: {first}",
            problems=problem_list(problems))
    return document, problems


def problem_list(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"path": p.path, "message": p.message, "severity": p.severity} for p in problems]


def _size(node: Any, depth: int, seen: dict[int, int]) -> int:
    """Values in ``node`` with aliases expanded; each shared node is counted once per use
    but walked once, so a billion-laughs document costs no more than its text."""
    if isinstance(node, str):
        _check_text(node)
        return 1
    if not isinstance(node, (dict, list)):
        return 1
    if depth > MAX_DEPTH:
        raise _Unacceptable(f"nested more than {MAX_DEPTH} levels deep "
                         "(or a YAML alias refers to itself)")
    known = seen.get(id(node))
    if known is not None:
        return known
    if isinstance(node, dict):
        for key in node:
            if isinstance(key, str):
                _check_text(key)
    children = node.values() if isinstance(node, dict) else node
    total = len(node) + 1 + sum(_size(child, depth + 1, seen) for child in children)
    if total > MAX_VALUES:
        raise _Unacceptable(f"the document holds more than {MAX_VALUES:,} values once its "
                         "YAML aliases are expanded")
    seen[id(node)] = total
    return total


def _check_text(text: str) -> None:
    """Text a database can store: no NUL character, no lone surrogate."""
    if "\x00" in text:
        raise _Unacceptable("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Unacceptable("text must be valid Unicode (a lone surrogate escape?)") from None
