"""Checks a schema cannot express: across rules, against event types, and inside CEL.

Each check returns ``(path, message, severity)`` triples; ``validate.py`` turns
them into problems. They run on every rule that is valid on its own, so one
broken rule does not hide the problems of the others.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any

from patron.program.activation import event_value, member_value
from patron.program.catalog import (
    BUILT_IN_EVENT_TYPES,
    EVENT_FIELDS,
    FEATURE_FIELDS,
    LINE_FIELDS,
    LOCAL_FIELDS,
    MEMBER_FIELDS,
    RECOMMENDED_FIELDS,
    PROFILE_FIELDS,
    PURCHASE,
    SAMPLE_TIME,
    FieldType,
    count_field,
    event_fields,
    sample_event_data,
    sample_value,
)
from patron.program.cel import (
    AbsentValue,
    CelSyntaxError,
    Condition,
    ConditionError,
    build_activation,
    compile_condition,
    make_context,
    operands,
)
from patron.program.comparisons import Comparison, comparisons
from patron.program.compiled import instant
from patron.program.context import (
    EventContext,
    MemberContext,
    MemberProfile,
    Purchase,
    parse_purchase,
)
from patron.program.document import EarnRule, EventTypeDeclaration, Settings
from patron.program.exclusive import exclusive_problems

Found = tuple[str, str, str]
Declared = dict[str, dict[str, FieldType]]
EXPLAIN_FIELDS = frozenset({"points", "points_name", "rule"})


def check_rules(settings: Settings, declarations: Sequence[tuple[int, EventTypeDeclaration]],
                rules: Sequence[tuple[int, EarnRule]],
                raw_rules: Sequence[tuple[int, Any]]) -> list[Found]:
    """``rules`` are the rules valid on their own; ``raw_rules`` all of them, as written."""
    found: list[Found] = []
    declared = _declared(declarations, found)
    found += _duplicate_ids([(i, raw.get("id")) for i, raw in raw_rules])
    known = set(BUILT_IN_EVENT_TYPES) | set(declared)
    found += _raw_conditions(raw_rules, {i for i, _ in rules}, known, declared)
    by_id: dict[str, EarnRule] = {}
    for _, rule in rules:
        by_id.setdefault(rule.id, rule)
    for i, rule in rules:
        at = f"earn_rules[{i}]"
        found += _event_type(at, rule, known)
        found += _shape(at, rule)
        found += _targets(at, rule, by_id)
        found += _window(at, rule, settings)
        found += _explain(at, rule)
        if rule.when and rule.on in known:
            found += check_condition(f"{at}.when", rule.when, rule.on, rule.per_line, declared)
    found += exclusive_problems(rules, settings)
    return found


def _declared(declarations: Sequence[tuple[int, EventTypeDeclaration]],
              found: list[Found]) -> Declared:
    declared: Declared = {}
    for i, decl in declarations:
        if decl.name in declared:
            found.append((f"event_types[{i}].name", f"{decl.name!r} is declared twice", "error"))
            continue
        built_in = BUILT_IN_EVENT_TYPES.get(decl.name, {})
        for name, kind in decl.fields.items():
            if name in built_in and built_in[name] != kind:
                found.append((f"event_types[{i}].fields.{name}", f"{decl.name} events already "
                              f"have {name} as {built_in[name]}", "error"))
        declared[decl.name] = dict(decl.fields)
    return declared


def _duplicate_ids(raw_ids: Sequence[tuple[int, Any]]) -> list[Found]:
    first: dict[str, int] = {}
    found = []
    for i, rule_id in raw_ids:
        if not isinstance(rule_id, str):
            continue
        if rule_id in first:
            found.append((f"earn_rules[{i}].id", f"duplicate id {rule_id!r} (also "
                          f"earn_rules[{first[rule_id]}]); awards and reports refer to rules by "
                          "id", "error"))
        else:
            first[rule_id] = i
    return found


def _event_type(at: str, rule: EarnRule, known: set[str]) -> list[Found]:
    if rule.on in known:
        return []
    close = get_close_matches(rule.on, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return [(f"{at}.on", f"unknown event type {rule.on!r}{hint} (declare custom types under "
             "event_types)", "error")]


def _shape(at: str, rule: EarnRule) -> list[Found]:
    """Actions that only make sense on purchases, which have an amount and lines."""
    found: list[Found] = []
    if rule.scope == "event" and rule.lines is not None:
        found.append((f"{at}.lines", "a lines filter makes a per-line rule; use scope: line "
                      "or leave scope out", "error"))
    elif rule.per_line and rule.on != PURCHASE:
        where = "scope" if rule.scope == "line" else "lines"
        found.append((f"{at}.{where}", f"per-line rules apply to purchase lines; {rule.on} "
                      "events have none", "error"))
    if rule.points.per_currency_unit is not None and rule.on != PURCHASE:
        found.append((f"{at}.points.per_currency_unit", f"{rule.on} events have no amount to "
                      "earn on; use fixed", "error"))
    if rule.points.cashback_percent is not None and rule.on != PURCHASE:
        found.append((f"{at}.points.cashback_percent", f"{rule.on} events have no amount to "
                      "give cashback on", "error"))
    if rule.points.cashback_percent is not None and rule.tier_points:
        found.append((f"{at}.tier_points", "cashback is money, not tier points", "error"))
    if rule.min_spend is not None and rule.on != PURCHASE:
        found.append((f"{at}.min_spend", "only purchases have a spend", "error"))
    elif rule.min_spend is not None and rule.per_line:
        found.append((f"{at}.min_spend", "applies to the whole order, not to a per-line rule",
                      "error"))
    if (rule.on == PURCHASE and not rule.per_line and rule.min_spend is None and rule.when
            and "event.data.total" in rule.when and not rule.is_multiplier
            and _compiled_or_none(rule.when) is not None):
        found.append((f"{at}.when", "compares event.data.total; use min_spend instead so a "
                      "return that takes the order below it claws the bonus back", "warning"))
    return found


def _targets(at: str, rule: EarnRule, by_id: dict[str, EarnRule]) -> list[Found]:
    found: list[Found] = []
    for j, target_id in enumerate(rule.points.of or []):
        where = f"{at}.points.of[{j}]"
        target = by_id.get(target_id)
        if target is None:
            found.append((where, f"unknown rule {target_id!r}", "error"))
        elif target.is_multiplier:
            found.append((where, f"{target_id!r} is a multiplier; multipliers only multiply "
                          "earn rules", "error"))
        elif target.on != rule.on:
            found.append((where, f"{target_id!r} earns on {target.on} events, this rule on "
                          f"{rule.on}", "error"))
    return found


def _window(at: str, rule: EarnRule, settings: Settings) -> list[Found]:
    starts = instant(rule.valid_from, settings.zone, end=False)
    ends = instant(rule.valid_until, settings.zone, end=True)
    if starts is not None and ends is not None and ends <= starts:
        return [(f"{at}.valid_until", "must be after valid_from", "error")]
    return []


def _explain(at: str, rule: EarnRule) -> list[Found]:
    if not rule.explain:
        return []
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(rule.explain) if name}
    except ValueError as exc:
        return [(f"{at}.explain", f"bad template: {exc}", "error")]
    unknown = sorted(names - EXPLAIN_FIELDS)
    if unknown:
        return [(f"{at}.explain", f"unknown placeholder {{{unknown[0]}}}; use {{points}}, "
                 "{points_name} or {rule}", "error")]
    return []


# --- conditions ----------------------------------------------------------------------------


def _raw_conditions(raw_rules: Sequence[tuple[int, Any]], valid: set[int], known: set[str],
                    declared: Declared) -> list[Found]:
    """Conditions of rules with schema errors elsewhere still get checked."""
    found: list[Found] = []
    for i, raw in raw_rules:
        when, on = raw.get("when"), raw.get("on")
        if i in valid or not isinstance(when, str) or not isinstance(on, str) or on not in known:
            continue
        per_line = raw.get("scope") == "line" or (raw.get("scope") is None and "lines" in raw)
        found += check_condition(f"earn_rules[{i}].when", when, on, per_line, declared)
    return found


def check_condition(at: str, when: str, on: str, per_line: bool, declared: Declared
                    ) -> list[Found]:
    """Compile, check names and fields, then evaluate on a typed sample event."""
    try:
        condition = compile_condition(when)
    except CelSyntaxError as exc:
        return [(at, str(exc), "error")]
    messages = _name_problems(condition, on, per_line, declared)
    if messages:
        return [(at, message, "error") for message in messages]
    messages = (_type_problems(condition, on, per_line, declared)[:1]
                or _mismatches(condition, on, declared))
    return ([(at, message, "error") for message in messages]
            + [(at, message, "warning") for message in _unguarded(condition, on, declared)])


def check_member_condition(at: str, when: str, declared: Declared) -> list[Found]:
    """A condition over ``member`` alone, such as a reward's ``eligibility.when``.

    The catalog evaluates it on ``member`` only, built the way earn rules see it
    (profile, tier, event counts), so it is checked on that same sample. A broken
    one would otherwise show members ``condition_not_met`` and never say why.
    """
    try:
        condition = compile_condition(when)
    except CelSyntaxError as exc:
        return [(at, str(exc), "error")]
    messages = [f"unknown variable {name!r}; reward conditions read member only"
                for name in sorted(condition.variables - {"member"} - condition.bound_names)]
    messages += [f"unknown function {name!r}()" for name in condition.unknown_functions]
    messages += [problem for path in condition.paths if path[0] == "member"
                 if (problem := _field_problem(path, PURCHASE, declared))]
    if messages:
        return [(at, message, "error") for message in messages]
    sample = {"member": sample_activation(PURCHASE, declared, False)["member"]}
    open_maps = any(path[:3] == ("member", "profile", "attributes")
                    for path in condition.paths)
    messages = (_sample_problems(condition, sample, open_maps, flattened=False)[:1]
                or _mismatches(condition, PURCHASE, declared))
    return ([(at, message, "error") for message in messages]
            + [(at, message, "warning") for message in _unguarded(condition, PURCHASE, declared)])


SAMPLE_FEATURES = {name: sample_value(kind) for name, kind in FEATURE_FIELDS.items()}


def check_feature_condition(at: str, when: str) -> list[Found]:
    """A condition over ``member.features`` and ``member.tags`` alone: a rule tag's
    ``when`` or a segment's condition, which the features job evaluates per member."""
    try:
        condition = compile_condition(when)
    except CelSyntaxError as exc:
        return [(at, str(exc), "error")]
    messages = [f"unknown variable {name!r}; this condition reads member.features and "
                "member.tags only"
                for name in sorted(condition.variables - {"member"} - condition.bound_names)]
    messages += [f"unknown function {name!r}()" for name in condition.unknown_functions]
    for path in condition.paths:
        if path[0] == "member" and path[1:2] not in {("features",), ("tags",)}:
            messages.append(f"{'.'.join(path)} cannot be read here; use member.features."
                            f"<name> or member.tags")
        elif path[0] == "member" and (problem := _field_problem(path, PURCHASE, {})):
            messages.append(problem)
    if messages:
        return [(at, message, "error") for message in messages]
    sample = {"member": sample_activation(PURCHASE, {}, False)["member"]}
    messages = (_sample_problems(condition, sample, False)[:1]
                or _mismatches(condition, PURCHASE, {}))
    return [(at, message, "error") for message in messages]


def _name_problems(condition: Condition, on: str, per_line: bool, declared: Declared
                   ) -> list[str]:
    roots = "event, member and line" if per_line else "event and member"
    messages = [f"unknown variable {name!r}; conditions read {roots}"
                for name in condition.unknown_variables]
    if "line" in condition.variables and "line" not in condition.bound_names \
            and not per_line:
        messages.append("'line' is only available in per-line rules (scope: line)")
    messages += [f"unknown function {name!r}()" for name in condition.unknown_functions]
    for path in condition.paths:
        problem = _field_problem(path, on, declared)
        if problem:
            messages.append(problem)
    return messages


_Table = tuple[str, tuple[str, ...], dict[str, Any], str]


def _field_table(path: tuple[str, ...], event_type: str, declared: Declared) -> _Table | None:
    """Where a path's fields are described: (prefix, rest of the path, fields, context)."""
    root, rest = path[0], path[1:]
    if not rest:
        return None
    if root == "line":
        return "line", rest, LINE_FIELDS, ""
    if root == "member":
        if rest[0] == "profile" and len(rest) > 1:
            return "member.profile", rest[1:], PROFILE_FIELDS, ""
        if rest[0] == "features" and len(rest) > 1:
            return "member.features", rest[1:], FEATURE_FIELDS, ""
        if rest[0] == "recommended" and len(rest) > 1:
            return "member.recommended", rest[1:], RECOMMENDED_FIELDS, ""
        counts = {count_field(t): "int" for t in set(BUILT_IN_EVENT_TYPES) | set(declared)}
        return "member", rest, {**MEMBER_FIELDS, **counts}, ""
    if rest[0] == "data" and len(rest) > 1:
        return ("event.data", rest[1:], event_fields(event_type, declared) or {},
                f" for {event_type} events")
    if rest[0] == "local" and len(rest) > 1:
        return "event.local", rest[1:], LOCAL_FIELDS, ""
    return "event", rest, EVENT_FIELDS, ""


def _field_problem(path: tuple[str, ...], event_type: str, declared: Declared) -> str | None:
    table = _field_table(path, event_type, declared)
    return _fields(*table) if table else None


def _field_type(path: tuple[str, ...], event_type: str, declared: Declared) -> str | None:
    """The catalog type of a field path; None past a map (attributes) or if unknown."""
    table = _field_table(path, event_type, declared)
    if table is None:
        return None
    _, rest, fields, _ = table
    return fields.get(rest[0]) if len(rest) == 1 else None


_NUMBERS = frozenset({"int", "uint", "double"})
_OUTCOMES = {"==": "they are never equal", "!=": "they always differ"}


def _mismatches(condition: Condition, on: str, declared: Declared) -> list[str]:
    """Comparisons of a typed field with a value (or field) of another type.

    CEL answers ``1 == 'five'`` with false rather than an error, so these pass the
    sample evaluation and then silently never match."""
    messages = []
    for comparison in comparisons(condition.source):
        kinds = [_operand_kind(side, on, declared)
                 for side in (comparison.left, comparison.right)]
        if None in kinds or "null" in kinds or kinds[0] == kinds[1] \
                or set(kinds) <= _NUMBERS:
            continue
        messages.append(_mismatch(comparison, kinds[0], kinds[1]))
    return messages


def _operand_kind(side: Any, on: str, declared: Declared) -> str | None:
    return side.kind if side.path is None else _field_type(side.path, on, declared)


def _mismatch(comparison: Comparison, left: str, right: str) -> str:
    outcome = _OUTCOMES.get(comparison.op, "they cannot be compared")
    return (f"type mismatch in `{comparison.text}`: {comparison.left.text} is {_a(left)}, "
            f"{comparison.right.text} is {_a(right)}, so {outcome}")


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _unguarded(condition: Condition, on: str, declared: Declared) -> list[str]:
    """Keys of open maps read without ``has()``: a member without the attribute gets
    false for the whole condition, which the author should say is meant."""
    messages = []
    for path in condition.paths:
        if not _open_map_key(path, on, declared) or any(
                guard[:len(path)] == path for guard in condition.guarded):
            continue
        dotted = ".".join(path)
        who = "member" if path[0] == "member" else "event"
        messages.append(f"{dotted} is not set for every {who}, and the condition is false "
                        f"for {who}s without it; guard it with has({dotted})")
    return messages


def _open_map_key(path: tuple[str, ...], event_type: str, declared: Declared) -> bool:
    """A key of a map no schema describes: a member attribute, a map-typed data field's."""
    if path[:3] == ("member", "profile", "attributes"):
        return len(path) > 3
    fields = event_fields(event_type, declared) or {}
    return path[:2] == ("event", "data") and len(path) > 3 and fields.get(path[2]) == "map"


def _fields(prefix: str, rest: tuple[str, ...], fields: dict[str, Any],
            where: str = "") -> str | None:
    name = rest[0]
    if name not in fields:
        close = get_close_matches(name, list(fields), n=1)
        hint = f"; did you mean {prefix}.{close[0]}?" if close else ""
        return f"unknown field {prefix}.{name}{where}{hint}"
    if len(rest) > 1 and fields[name] != "map":
        article = "an" if fields[name][0] in "aeiou" else "a"
        return f"{prefix}.{name} is {article} {fields[name]}; it has no field {rest[1]!r}"
    return None


def _type_problems(condition: Condition, on: str, per_line: bool, declared: Declared
                   ) -> list[str]:
    sample = sample_activation(on, declared, per_line)
    return _sample_problems(condition, sample, _reads_open_map(condition, on, declared))


def _sample_problems(condition: Condition, sample: dict[str, Any], open_maps: bool,
                     flattened: bool = True) -> list[str]:
    """Run the condition, and each operand of a top-level and/or, on a typed sample.

    ``flattened`` also runs the rewritten program the earn engine evaluates;
    reward conditions only ever run as written.
    """
    context = make_context(sample)
    parts = operands(condition.source)
    checks = [(condition, None)] + [(p, part) for part in parts if len(parts) > 1
                                    if (p := _compiled_or_none(part)) is not None]
    messages = []
    for check, part in checks:
        try:
            check.evaluate_nested(context)
            if flattened:
                check.evaluate(make_context(build_activation(sample, check.reads)))
        except ConditionError as exc:
            if open_maps and isinstance(exc, AbsentValue):
                continue  # a key no sample can know; ``_unguarded`` warns about it
            message = str(exc)
            where = f" in `{part}`" if part else ""
            messages.append(f"type error{where}: {message}{_double_hint(message, check.source)}")
    return messages


def _compiled_or_none(source: str) -> Condition | None:
    try:
        return compile_condition(source)
    except CelSyntaxError:
        return None


def _double_hint(message: str, source: str) -> str:
    if ("overload" in message or "Unsupported operation" in message) \
            and re.search(r"\d\.\d", source):
        return (" (CEL never mixes int and double: money is in integer minor units, "
                "e.g. 5000 for 50.00)")
    return ""


def _reads_open_map(condition: Condition, event_type: str, declared: Declared) -> bool:
    """Attributes and map-typed fields have keys no sample can know."""
    fields = event_fields(event_type, declared) or {}
    for path in condition.paths:
        if path[:3] == ("member", "profile", "attributes"):
            return True
        if path[:2] == ("event", "data") and len(path) > 2 and fields.get(path[2]) == "map":
            return True
    return False


@dataclass(frozen=True)
class _SampleInputs:
    event: EventContext
    member: MemberContext
    local: datetime
    purchase: Purchase | None
    data_defaults: dict[str, Any]
    counted_types: tuple[tuple[str, str], ...]


def sample_activation(event_type: str, declared: Declared, per_line: bool) -> dict[str, Any]:
    """A typed example of what conditions see, built the way real events are."""
    data = sample_event_data(event_fields(event_type, declared) or {})
    purchase = None
    if event_type == PURCHASE:
        data.update(currency="USD", total=sum(line["amount"] for line in data["lines"]))
        purchase = parse_purchase(data, "USD")
    known = sorted(set(BUILT_IN_EVENT_TYPES) | set(declared))
    profile = MemberProfile(birthdate=date(1990, 3, 14), region="sample", join_channel="web")
    inputs = _SampleInputs(
        event=EventContext(event_type, SAMPLE_TIME, data, "web", "evt-sample"),
        member=MemberContext("member-sample", profile, "gold", dict.fromkeys(known, 1),
                             features=SAMPLE_FEATURES, tags=("sample",),
                             recommended={kind: ("sample",) for kind in RECOMMENDED_FIELDS}),
        local=SAMPLE_TIME, purchase=purchase, data_defaults={},
        counted_types=tuple((t, count_field(t)) for t in known))
    variables = {"event": event_value(inputs), "member": member_value(inputs)}
    if per_line:
        variables["line"] = variables["event"]["data"]["lines"][0] if purchase else {}
    return variables


def tag_rule_problems(raw_tags: Any) -> list[Found]:
    """Rule tags' ``when``: conditions over member features and tags (see ``tags``)."""
    found: list[Found] = []
    for i, raw in enumerate(raw_tags if isinstance(raw_tags, list) else []):
        when = raw.get("when") if isinstance(raw, dict) else None
        if isinstance(when, str):
            found += check_feature_condition(f"tags[{i}].when", when)
    return found
