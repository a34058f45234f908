"""CEL conditions: compiled once, evaluated against as little data as they read.

Rule conditions are CEL (``common-expression-language``): safe to run from a
document a marketer wrote, no attribute or dunder access, and errors that carry a
position. Three facts about that library shape this module:

* Compiling parses only; there is no static type checker. Validation therefore
  evaluates each condition against a typed sample event (see ``validate.py``) and
  this module adds the static checks it can do: unknown variables and functions,
  and the field paths a condition reads.
* Handing Python values to CEL costs microseconds per string and per map, far
  more than evaluating. A condition's *read set* (``event.data.total``,
  ``member.purchase_count``...) is extracted once at compile time, and the engine
  passes only those values in; that is what lets a 20-rule program evaluate tens
  of thousands of events per second.
* CEL never mixes int and double in arithmetic (``event.data.total + 1.5`` fails),
  so money stays integer minor units. Timestamps are supported, but their getters
  work in UTC only, hence ``event.local`` (date, month, weekday, hour in the
  program timezone) for calendar conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel as _cel

ROOTS = frozenset({"event", "member", "line"})

# Functions the Rust CEL core provides (the package's Python "stdlib" is not enabled).
KNOWN_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double", "string",
    "bytes", "timestamp", "duration", "type", "dyn", "has", "exists", "all", "exists_one", "map",
    "filter", "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek",
    "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    "optional.of", "optional.none", "optional.ofNonZeroValue", "hasValue", "value", "orValue", "or",
})
_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})

_TOKEN = re.compile(r"""
    (?P<str>[rRbB]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
                       |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
   |(?P<num>0[xX][0-9a-fA-F]+[uU]?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uU]?)
   |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
   |(?P<ws>\s+)
   |(?P<op>.)
""", re.VERBOSE | re.DOTALL)

_PARSE_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")

PathTree = dict[str, Any]  # key -> PathTree, or None meaning "the whole value"


class CelSyntaxError(ValueError):
    """A condition that does not parse; ``line``/``column`` are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"Syntax error at {line}:{column}: {message}")
        self.line = line
        self.column = column


class ConditionError(RuntimeError):
    """A condition that failed at evaluation time (missing field, wrong types...)."""


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    program: Any
    paths: tuple[tuple[str, ...], ...]
    bound_names: frozenset[str]
    variables: frozenset[str]
    functions: frozenset[str]

    @property
    def tree(self) -> PathTree:
        return paths_to_tree(self.paths)

    @property
    def unknown_variables(self) -> list[str]:
        return sorted(self.variables - ROOTS - self.bound_names)

    @property
    def unknown_functions(self) -> list[str]:
        named = {f for f in self.functions if f[:1] not in "_@!-"}
        return sorted(named - KNOWN_FUNCTIONS)

    def evaluate(self, context: Any) -> bool:
        """True/False for this activation; ConditionError for anything else."""
        try:
            result = self.program.execute(context)
        except Exception as exc:  # noqa: BLE001 - the library raises several kinds
            raise ConditionError(_runtime_message(exc)) from None
        if result is True or result is False:
            return result
        raise ConditionError(f"must be a true/false condition, got {_cel_type(result)}")


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """Parse once; the same text in any rule or program shares one compiled program."""
    if not source.strip():
        raise CelSyntaxError(1, 1, "empty condition")
    try:
        program = _cel.compile(source)
    except ValueError as exc:
        raise _syntax_error(str(exc)) from None
    refs = program.references()
    tokens = _tokens(source)
    bound = _bound_names(tokens)
    return Condition(source, program, _read_paths(tokens, bound), frozenset(bound),
                     frozenset(refs["variables"]), frozenset(refs["functions"]))


def _syntax_error(text: str) -> CelSyntaxError:
    match = _PARSE_ERROR.search(text)
    if match is None:
        return CelSyntaxError(1, 1, text.strip())
    message = match.group(3).strip()
    message = re.sub(r"^Syntax error:\s*", "", message)
    return CelSyntaxError(int(match.group(1)), int(match.group(2)), message)


def _runtime_message(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no field {exc.args[0]!r}"
    text = str(exc).split(". CEL does not coerce")[0].split(". Check that")[0]
    return text.strip().rstrip(".")


def _cel_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "double", str: "string", list: "list",
             dict: "map", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _tokens(source: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "op"
        if kind != "ws":
            out.append((kind, match.group()))
    return out


def _bound_names(tokens: list[tuple[str, str]]) -> set[str]:
    """Names a macro binds (``x`` in ``lines.exists(x, ...)``): not program variables."""
    bound = set()
    for i in range(1, len(tokens) - 3):
        kind, text = tokens[i]
        if (kind == "ident" and text in _MACROS and tokens[i - 1][1] == "."
                and tokens[i + 1][1] == "(" and tokens[i + 2][0] == "ident"
                and tokens[i + 3][1] == ","):
            bound.add(tokens[i + 2][1])
    return bound


def _read_paths(tokens: list[tuple[str, str]], bound: set[str]) -> tuple[tuple[str, ...], ...]:
    """Dotted field chains starting at event/member/line, e.g. ('event', 'data', 'total').

    A chain stops before a method call or an index, and the value at its end is
    passed whole, so pruning never hides anything the condition can reach. A root
    that a macro rebinds is passed whole too.
    """
    paths: set[tuple[str, ...]] = set()
    for i, (kind, text) in enumerate(tokens):
        if kind != "ident" or text not in ROOTS or (i and tokens[i - 1][1] == "."):
            continue
        if i + 1 < len(tokens) and tokens[i + 1][1] == "(":
            continue
        if text in bound:
            paths.add((text,))
            continue
        paths.add(_chain(tokens, i))
    return tuple(sorted(paths))


def _chain(tokens: list[tuple[str, str]], start: int) -> tuple[str, ...]:
    chain = [tokens[start][1]]
    j = start + 1
    while (j + 1 < len(tokens) and tokens[j][1] == "." and tokens[j + 1][0] == "ident"
           and not (j + 2 < len(tokens) and tokens[j + 2][1] == "(")):
        chain.append(tokens[j + 1][1])
        j += 2
    return tuple(chain)


def paths_to_tree(paths: Any) -> PathTree:
    tree: PathTree = {}
    for path in paths:
        add_path(tree, path)
    return tree


def add_path(tree: PathTree, path: tuple[str, ...]) -> None:
    node = tree
    for key in path[:-1]:
        if key in node and node[key] is None:
            return
        node = node.setdefault(key, {})
    node[path[-1]] = None


def merge_trees(*trees: PathTree) -> PathTree:
    merged: PathTree = {}
    for tree in trees:
        _merge_into(merged, tree)
    return merged


def _merge_into(target: PathTree, tree: PathTree) -> None:
    for key, sub in tree.items():
        if sub is None or target.get(key, {}) is None:
            target[key] = None
        else:
            _merge_into(target.setdefault(key, {}), sub)


def prune(value: Any, tree: PathTree | None) -> Any:
    """The part of ``value`` a tree of read paths reaches; missing keys stay missing."""
    if tree is None or not isinstance(value, dict):
        return value
    return {key: prune(value[key], sub) for key, sub in tree.items() if key in value}


def make_context(variables: dict[str, Any]) -> Any:
    """A CEL activation; build one per event and reuse it for every rule."""
    return _cel.Context(variables=variables)


def set_variable(context: Any, name: str, value: Any) -> None:
    context.add_variable(name, value)
