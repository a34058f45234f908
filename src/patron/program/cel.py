"""CEL conditions: compiled once, evaluated against as little data as they read.

Rule conditions are CEL (``common-expression-language``): safe to run from a
document a marketer wrote, no attribute or dunder access, and errors that carry a
position. Three facts about that library shape this module:

* Compiling parses only; there is no static type checker. Validation therefore
  evaluates each condition against a typed sample event (see ``semantics.py``) and
  this module adds the static checks it can do: unknown variables and functions,
  and the field paths a condition reads.
* Handing Python values to CEL costs microseconds per string and per map key,
  far more than evaluating. So each condition is analysed once: every field
  chain it reads (``event.data.total``) is rewritten to one flat variable
  (``event__data__total``), and a macro over a list (``lines.exists(l, ...)``)
  records which element fields it needs. The engine then hands CEL a handful of
  scalars per event instead of nested maps. ``has()`` and a root used whole keep
  the nested form. Tests check both forms always agree.
* CEL never mixes int and double in arithmetic (``event.data.total + 1.5`` fails),
  so money stays integer minor units. Timestamps are supported, but their getters
  work in UTC only, hence ``event.local`` (date, month, weekday, hour in the
  program timezone) for calendar conditions.
"""

from __future__ import annotations

import re
from collections.abc import Collection
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


class AbsentValue(ConditionError):
    """The condition read a value the data does not have: a member attribute that is
    not set, a key a map field lacks. Attributes are free-form, so most members lack
    most of them: such a condition is simply false for them, not broken.
    """


@dataclass(frozen=True, slots=True)
class ReadSet:
    """What conditions read, in the shape that is cheapest to hand to CEL.

    ``flat`` maps a variable name to the field path it stands for: at run time
    ``event.data.total`` is rewritten to the variable ``event__data__total`` so a
    single int crosses into CEL instead of two nested maps. ``elements`` says which
    fields of a list's elements a macro reads (``lines.exists(l, l.category ...)``
    needs only ``category``). ``nested`` lists roots or paths that must stay maps
    (inside ``has()``, or a root used whole).
    """

    flat: dict[str, tuple[str, ...]]
    elements: dict[tuple[str, ...], PathTree]
    nested: PathTree

    @property
    def roots(self) -> frozenset[str]:
        return frozenset({path[0] for path in self.flat.values()} | set(self.nested))

    def only(self, roots: frozenset[str] | set[str]) -> ReadSet:
        return ReadSet({n: p for n, p in self.flat.items() if p[0] in roots},
                       {p: t for p, t in self.elements.items() if p[0] in roots},
                       {r: t for r, t in self.nested.items() if r in roots})


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    program: Any
    runtime: Any
    reads: ReadSet
    paths: tuple[tuple[str, ...], ...]
    bound_names: frozenset[str]
    variables: frozenset[str]
    functions: frozenset[str]
    guarded: frozenset[tuple[str, ...]] = frozenset()
    """The field paths the condition tests with ``has()``."""

    @property
    def unknown_variables(self) -> list[str]:
        return sorted(self.variables - ROOTS - self.bound_names)

    @property
    def unknown_functions(self) -> list[str]:
        named = {f for f in self.functions if f[:1] not in "_@!-"}
        return sorted(named - KNOWN_FUNCTIONS)

    def evaluate(self, context: Any, bound: Collection[str] | None = None) -> bool:
        """Run the flattened program on an activation from ``build_activation``;
        ``bound`` names the variables it was given (see ``failure``)."""
        return self._run(self.runtime, context, bound)

    def evaluate_nested(self, context: Any) -> bool:
        """Run the condition as written, on nested ``event``/``member``/``line`` maps."""
        return self._run(self.program, context, None)

    def _run(self, program: Any, context: Any, bound: Collection[str] | None) -> bool:
        try:
            result = program.execute(context)
        except Exception as exc:  # noqa: BLE001 - the library raises several kinds
            raise self.failure(exc, bound) from None
        if result is True or result is False:
            return result
        raise ConditionError(f"must be a true/false condition, got {_cel_type(result)}")

    def failure(self, exc: Exception, bound: Collection[str] | None = None) -> ConditionError:
        """What went wrong, in the condition's own words.

        A flattened read (``member__profile__attributes__vip``) is named as written
        (``member.profile.attributes.vip``). A read whose value the data lacks, or a
        missing map key, is an ``AbsentValue``; a value that was given (it is in
        ``bound``) but CEL could not take is a plain error.
        """
        if isinstance(exc, KeyError):
            return AbsentValue(runtime_message(exc))
        message = runtime_message(exc)
        match = _UNDEFINED.search(message)
        path = self.reads.flat.get(match.group(1)) if match else None
        if path is None:
            return ConditionError(_as_written(message, self.reads))
        dotted = ".".join(path)
        if bound is None or match.group(1) not in bound:
            return AbsentValue(f"{dotted} is not set")
        return ConditionError(f"{dotted} holds a value conditions cannot read")


_UNDEFINED = re.compile(r"Undefined variable or function: '([A-Za-z_][A-Za-z0-9_]*)'")


def _as_written(message: str, reads: ReadSet) -> str:
    """Any flattened variable name in a message, back as the field path it stands for."""
    for name in sorted(reads.flat, key=len, reverse=True):  # longest first: no partial names
        message = message.replace(name, ".".join(reads.flat[name]))
    return message


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
    tokens = scan(source)
    bound = _bound_names(tokens)
    analysis = _analyse(tokens, bound)
    runtime_source = _rewrite(source, analysis.replacements)
    runtime = _cel.compile(runtime_source) if analysis.replacements else program
    return Condition(source, program, runtime, analysis.reads, analysis.paths, frozenset(bound),
                     frozenset(refs["variables"]), frozenset(refs["functions"]),
                     analysis.guarded)


def _syntax_error(text: str) -> CelSyntaxError:
    match = _PARSE_ERROR.search(text)
    if match is None:
        return CelSyntaxError(1, 1, text.strip())
    message = match.group(3).strip()
    message = re.sub(r"^Syntax error:\s*", "", message)
    return CelSyntaxError(int(match.group(1)), int(match.group(2)), message)


def runtime_message(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no field {exc.args[0]!r}"
    text = str(exc).split(". CEL does not coerce")[0].split(". Check that")[0]
    return text.strip().rstrip(".")


def _cel_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "double", str: "string", list: "list",
             dict: "map", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def scan(source: str) -> list[Token]:
    """The tokens of a condition, without whitespace."""
    return [Token(m.lastgroup or "op", m.group(), m.start(), m.end())
            for m in _TOKEN.finditer(source) if m.lastgroup != "ws"]


def _macro_at(tokens: list[Token], i: int) -> bool:
    """``.exists(x, ...)`` and friends: token i is the macro name."""
    return (tokens[i].kind == "ident" and tokens[i].text in _MACROS and i >= 1
            and tokens[i - 1].text == "." and i + 3 < len(tokens) and tokens[i + 1].text == "("
            and tokens[i + 2].kind == "ident" and tokens[i + 3].text == ",")


def _bound_names(tokens: list[Token]) -> set[str]:
    """Names a macro binds (``x`` in ``lines.exists(x, ...)``): not program variables."""
    return {tokens[i + 2].text for i in range(len(tokens)) if _macro_at(tokens, i)}


@dataclass
class _Analysis:
    reads: ReadSet
    paths: tuple[tuple[str, ...], ...]
    replacements: list[tuple[int, int, str]]
    guarded: frozenset[tuple[str, ...]]


def _analyse(tokens: list[Token], bound: set[str]) -> _Analysis:
    """Find every chain read from event/member/line and decide how to pass it."""
    receivers = _macro_receivers(tokens)
    flat: dict[str, tuple[str, ...]] = {}
    elements: dict[tuple[str, ...], PathTree] = {}
    nested: PathTree = {}
    paths: set[tuple[str, ...]] = set()
    replacements: list[tuple[int, int, str]] = []
    used_whole: set[tuple[str, ...]] = set()
    guarded: set[tuple[str, ...]] = set()
    for i, token in enumerate(tokens):
        if not _chain_start(tokens, i):
            continue
        if i >= 2 and _macro_at(tokens, i - 2):
            continue  # the variable a macro binds, not a read
        chain, last = _chain(tokens, i)
        if token.text in bound:
            for receiver in receivers.get(token.text, ()):
                add_path(elements.setdefault(receiver, {}), ("*",) + chain[1:])
            if token.text in ROOTS:
                add_path(nested, (token.text,))
                paths.add((token.text,))
            continue
        if token.text not in ROOTS:
            continue
        paths.add(chain)
        tested = _inside_has(tokens, i, last)
        if tested:
            guarded.add(chain)
        if len(chain) == 1 or tested or token.text in bound:
            add_path(nested, chain)
            continue
        name = "__".join(chain)
        flat[name] = chain
        replacements.append((token.start, tokens[last].end, name))
        if not (last + 2 < len(tokens) and tokens[last + 1].text == "."
                and _macro_at(tokens, last + 2)):
            used_whole.add(chain)
    paths_flat = set(flat.values()) - used_whole
    elements = {path: tree for path, tree in elements.items() if path in paths_flat}
    return _Analysis(ReadSet(flat, elements, nested), tuple(sorted(paths)), replacements,
                     frozenset(guarded))


def _chain_start(tokens: list[Token], i: int) -> bool:
    token = tokens[i]
    if token.kind != "ident" or (i and tokens[i - 1].text == "."):
        return False
    return not (i + 1 < len(tokens) and tokens[i + 1].text == "(")


def _chain(tokens: list[Token], start: int) -> tuple[tuple[str, ...], int]:
    """The longest ``a.b.c`` from ``start`` that stops before a method call."""
    chain = [tokens[start].text]
    j = start + 1
    while (j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].kind == "ident"
           and not (j + 2 < len(tokens) and tokens[j + 2].text == "(")):
        chain.append(tokens[j + 1].text)
        j += 2
    return tuple(chain), j - 1


def _inside_has(tokens: list[Token], start: int, last: int) -> bool:
    return (start >= 2 and tokens[start - 1].text == "(" and tokens[start - 2].text == "has"
            and last + 1 < len(tokens) and tokens[last + 1].text == ")")


def _macro_receivers(tokens: list[Token]) -> dict[str, list[tuple[str, ...]]]:
    """For ``event.data.lines.exists(l, ...)``: l -> [('event', 'data', 'lines')]."""
    receivers: dict[str, list[tuple[str, ...]]] = {}
    for i in range(len(tokens)):
        if not _macro_at(tokens, i):
            continue
        j = i - 2
        while j >= 2 and tokens[j - 1].text == "." and tokens[j - 2].kind == "ident":
            j -= 2
        if tokens[j].kind == "ident" and _chain_start_receiver(tokens, j):
            chain = tuple(tokens[k].text for k in range(j, i - 1, 2))
            receivers.setdefault(tokens[i + 2].text, []).append(chain)
    return receivers


def _chain_start_receiver(tokens: list[Token], j: int) -> bool:
    return tokens[j].text in ROOTS and not (j and tokens[j - 1].text == ".")


def _rewrite(source: str, replacements: list[tuple[int, int, str]]) -> str:
    out, position = [], 0
    for start, end, name in sorted(replacements):
        out.append(source[position:start])
        out.append(name)
        position = end
    out.append(source[position:])
    return "".join(out)


def merge_reads(*reads: ReadSet) -> ReadSet:
    flat: dict[str, tuple[str, ...]] = {}
    elements: dict[tuple[str, ...], PathTree] = {}
    nested: PathTree = {}
    for read in reads:
        flat.update(read.flat)
        for path, tree in read.elements.items():
            _merge_into(elements.setdefault(path, {}), tree)
        _merge_into(nested, read.nested)
    # a list one condition reads whole and another element-wise is passed whole
    for read in reads:
        for path in read.flat.values():
            if path not in read.elements and path in elements:
                elements[path] = {"*": None}
    return ReadSet(flat, elements, nested)


def build_activation(roots: dict[str, Any], reads: ReadSet) -> dict[str, Any]:
    """CEL variables for ``reads`` from plain nested values of event/member/line.

    A missing field leaves its variable unbound, so the condition errors (and
    does not match) exactly as ``event.data.missing`` would on the full maps.
    """
    variables: dict[str, Any] = {}
    for name, path in reads.flat.items():
        value = roots.get(path[0], _MISSING)
        for key in path[1:]:
            if not isinstance(value, dict) or key not in value:
                value = _MISSING
                break
            value = value[key]
        if value is _MISSING:
            continue
        element_tree = reads.elements.get(path)
        variables[name] = prune(value, element_tree) if element_tree else value
    for root, tree in reads.nested.items():
        if root in roots:
            variables[root] = prune(roots[root], tree)
    return variables


_MISSING = object()


def add_path(tree: PathTree, path: tuple[str, ...]) -> None:
    node = tree
    for key in path[:-1]:
        if key in node and node[key] is None:
            return
        node = node.setdefault(key, {})
    node[path[-1]] = None


def _merge_into(target: PathTree, tree: PathTree) -> None:
    for key, sub in tree.items():
        if sub is None or target.get(key, {}) is None:
            target[key] = None
        else:
            _merge_into(target.setdefault(key, {}), sub)


def prune(value: Any, tree: PathTree | None) -> Any:
    """The part of ``value`` a tree of read paths reaches; missing keys stay missing.

    ``"*"`` stands for every element of a list.
    """
    if tree is None:
        return value
    if isinstance(value, list):
        element = tree.get("*", _MISSING)
        return value if element is _MISSING else [prune(v, element) for v in value]
    if not isinstance(value, dict) or "*" in tree:
        return value
    return {key: prune(value[key], sub) for key, sub in tree.items() if key in value}


def make_context(variables: dict[str, Any]) -> Any:
    """A CEL activation; build one per event and reuse it for every rule.

    A value CEL cannot represent (a ``date`` in a member attribute, say) leaves
    its variable unbound, so only the conditions reading it fail, with a note,
    instead of the whole event.
    """
    try:
        return _cel.Context(variables=variables)
    except Exception:  # noqa: BLE001 - conversion errors come as several kinds
        context = _cel.Context()
        for name, value in variables.items():
            set_variable(context, name, value)
        return context


def set_variable(context: Any, name: str, value: Any) -> None:
    try:
        context.add_variable(name, value)
    except Exception:  # noqa: BLE001 - see make_context
        return


def operands(source: str, depth: int = 3) -> list[str]:
    """The ``&&``/``||`` operands of a condition, recursively through parentheses.

    CEL short-circuits, so evaluating a whole condition on one sample only checks
    the branches that sample takes; checking each operand on its own also checks
    the branch ``a || b`` skips when ``a`` is true.
    """
    text = _strip_parens(source.strip())
    parts = _split_top_level(text)
    if len(parts) == 1 or depth == 0:
        return [text]
    out: list[str] = []
    for part in parts:
        out.extend(operands(part, depth - 1))
    return out


def _split_top_level(text: str) -> list[str]:
    parts, level, start = [], 0, 0
    matches = list(_TOKEN.finditer(text))
    for i, match in enumerate(matches):
        token = match.group()
        if match.lastgroup != "op":
            continue
        if token in "([{":
            level += 1
        elif token in ")]}":
            level -= 1
        elif token == "?" and level == 0:
            return [text]  # a ternary's branches are not independent conditions
        elif (token in "&|" and level == 0 and i + 1 < len(matches)
              and matches[i + 1].group() == token and matches[i + 1].start() == match.end()):
            parts.append(text[start:match.start()])
            start = match.end() + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()] if len(parts) > 1 else [text]


def _strip_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")") and _closing_paren(text) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing_paren(text: str) -> int:
    level = 0
    for match in _TOKEN.finditer(text):
        if match.lastgroup != "op":
            continue
        if match.group() == "(":
            level += 1
        elif match.group() == ")":
            level -= 1
            if level == 0:
                return match.start()
    return -1
