"""What conditions see: ``event``, ``member`` and, in per-line rules, ``line``.

This module is the single definition of those variables. ``event_value`` and
``member_value`` build them whole (for ``has()`` and for a root used whole);
``getter`` reads one field path straight from the inputs, which is what almost
every condition needs: converting a whole nested map into CEL costs far more
than evaluating the condition.

Strings that are absent read as "" and counts as 0, so conditions never trip
over a member without a tier or an event without a channel. A member attribute
(or a key of a map field) that is not set has no such default: it reads as
absent, and a condition that needs it is false for that member, not an error
(``Condition.failure`` tells the two apart; validation asks for ``has()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from patron.program.catalog import FEATURE_FIELDS, RECOMMENDED_FIELDS, ZERO_VALUES
from patron.program.cel import ReadSet, prune
from patron.program.context import EventContext, Line, MemberContext, Purchase

MISSING: Any = object()


class Inputs(Protocol):
    """One evaluation's inputs, as getters read them."""

    event: EventContext
    member: MemberContext
    local: datetime
    purchase: Purchase | None
    data_defaults: Mapping[str, Any]
    counted_types: tuple[tuple[str, str], ...]


Getter = Callable[[Any], Any]


def event_value(inputs: Inputs) -> dict[str, Any]:
    event, local = inputs.event, inputs.local
    data = {**inputs.data_defaults, **event.data}
    if inputs.purchase is not None:
        data["lines"] = [line.as_cel() for line in inputs.purchase.lines]
    return {"id": event.id or "", "type": event.type, "occurred_at": event.occurred_at,
            "channel": event.channel or "", "data": data, "local": local_value(local)}


def local_value(local: datetime) -> dict[str, Any]:
    """Calendar facts in the program timezone; CEL's own timestamp getters are UTC-only."""
    return {"date": local.date().isoformat(), "year": local.year, "month": local.month,
            "day": local.day, "weekday": local.isoweekday(), "hour": local.hour}


def member_value(inputs: Inputs) -> dict[str, Any]:
    member = inputs.member
    counts = member.counts
    value: dict[str, Any] = {
        "id": member.id, "tier": member.tier or "",
        "is_birthday_month": is_birthday_month(inputs),
        "profile": profile_value(member),
        "features": features_value(member.features), "tags": list(member.tags),
        "recommended": recommended_value(member),
    }
    for event_type, field in inputs.counted_types:
        value[field] = counts.get(event_type, 0)
    return value


def is_birthday_month(inputs: Inputs) -> bool:
    """Judged in the program timezone: a March birthday counts on local March days."""
    birthdate = inputs.member.profile.birthdate
    return birthdate is not None and birthdate.month == inputs.local.month


def features_value(features: Mapping[str, Any]) -> dict[str, Any]:
    """Every known feature, absent or unset ones as their type's zero value."""
    return {name: feature_or_zero(features, name) for name in FEATURE_FIELDS}


def feature_or_zero(features: Mapping[str, Any], name: str) -> Any:
    value = features.get(name)
    return ZERO_VALUES[FEATURE_FIELDS[name]] if value is None else value


def recommended_value(member: MemberContext) -> dict[str, list[str]]:
    return {kind: list(member.recommended.get(kind, ())) for kind in RECOMMENDED_FIELDS}


def profile_value(member: MemberContext) -> dict[str, Any]:
    profile = member.profile
    birthdate = profile.birthdate
    return {"birthdate": birthdate.isoformat() if birthdate else "",
            "birth_month": birthdate.month if birthdate else 0,
            "region": profile.region or "", "join_channel": profile.join_channel or "",
            "attributes": dict(profile.attributes)}


_ROOTS: dict[str, Callable[[Any], dict[str, Any]]] = {"event": event_value,
                                                      "member": member_value}

_EVENT: dict[str, Getter] = {
    "id": lambda i: i.event.id or "",
    "type": lambda i: i.event.type,
    "occurred_at": lambda i: i.event.occurred_at,
    "channel": lambda i: i.event.channel or "",
}
_LOCAL: dict[str, Getter] = {
    "date": lambda i: i.local.date().isoformat(),
    "year": lambda i: i.local.year,
    "month": lambda i: i.local.month,
    "day": lambda i: i.local.day,
    "weekday": lambda i: i.local.isoweekday(),
    "hour": lambda i: i.local.hour,
}
_MEMBER: dict[str, Getter] = {
    "id": lambda i: i.member.id,
    "tier": lambda i: i.member.tier or "",
    "is_birthday_month": is_birthday_month,
    "tags": lambda i: list(i.member.tags),
    "recommended": lambda i: recommended_value(i.member),
}
_PROFILE: dict[str, Getter] = {
    "birthdate": lambda i: b.isoformat() if (b := i.member.profile.birthdate) else "",
    "birth_month": lambda i: b.month if (b := i.member.profile.birthdate) else 0,
    "region": lambda i: i.member.profile.region or "",
    "join_channel": lambda i: i.member.profile.join_channel or "",
    "attributes": lambda i: dict(i.member.profile.attributes),
}


def getter(path: tuple[str, ...], counted: Mapping[str, str]) -> Getter:
    """A function reading ``path`` from the inputs, or MISSING when it is absent.

    ``counted`` maps count fields to event types (``purchase_count`` -> ``purchase``).
    """
    root, rest = path[0], path[1:]
    if root == "event" and len(rest) == 1 and rest[0] in _EVENT:
        return _EVENT[rest[0]]
    if root == "event" and len(rest) == 2 and rest[0] == "data":
        return _data_getter(rest[1], None)
    if root == "event" and len(rest) == 2 and rest[0] == "local" and rest[1] in _LOCAL:
        return _LOCAL[rest[1]]
    if root == "member" and len(rest) == 1 and rest[0] in _MEMBER:
        return _MEMBER[rest[0]]
    if root == "member" and len(rest) == 1 and rest[0] in counted:
        event_type = counted[rest[0]]
        return lambda i: i.member.counts.get(event_type, 0)
    if root == "member" and len(rest) == 2 and rest[0] == "profile" and rest[1] in _PROFILE:
        return _PROFILE[rest[1]]
    if root == "member" and len(rest) == 2 and rest[0] == "features" \
            and rest[1] in FEATURE_FIELDS:
        name = rest[1]
        return lambda i: feature_or_zero(i.member.features, name)
    if root == "member" and len(rest) == 2 and rest[0] == "recommended" \
            and rest[1] in RECOMMENDED_FIELDS:
        kind = rest[1]
        return lambda i: list(i.member.recommended.get(kind, ()))
    return _walker(root, rest)


def _data_getter(key: str, line_fields: tuple[str, ...] | None) -> Getter:
    """``event.data.<key>``; purchase lines come normalised, cut to ``line_fields``."""
    if key == "lines":
        def lines(i: Any) -> Any:
            if i.purchase is None:
                return i.event.data.get("lines", i.data_defaults.get("lines", MISSING))
            if line_fields is None:
                return [line.as_cel() for line in i.purchase.lines]
            return [{f: getattr(line, f) for f in line_fields} for line in i.purchase.lines]
        return lines
    return lambda i: i.event.data.get(key, i.data_defaults.get(key, MISSING))


def _line_fields(elements: Any) -> tuple[str, ...] | None:
    """Which fields of each purchase line a macro reads, when they are all plain fields."""
    fields = elements.get("*") if elements else None
    if not fields or any(sub is not None or name not in Line._fields
                         for name, sub in fields.items()):
        return None
    return tuple(fields)


def _walker(root: str, rest: tuple[str, ...]) -> Getter:
    def walk(inputs: Any) -> Any:
        build = _ROOTS.get(root)
        if build is None:
            return MISSING
        value: Any = build(inputs)
        for key in rest:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        return value
    return walk


def compile_reads(reads: ReadSet, counted: Mapping[str, str]
                  ) -> tuple[tuple[str, Getter, Any], ...]:
    """(variable, getter, element tree) for every flattened read of a plan."""
    compiled = []
    for name, path in reads.flat.items():
        elements = reads.elements.get(path)
        fields = _line_fields(elements) if path == ("event", "data", "lines") else None
        if fields is not None:
            compiled.append((name, _data_getter("lines", fields), None))
        else:
            compiled.append((name, getter(path, counted), elements))
    return tuple(compiled)


def variables(inputs: Any, reads: tuple[tuple[str, Getter, Any], ...],
              nested: Mapping[str, Any]) -> dict[str, Any]:
    """CEL variables for one event: flattened reads, then roots passed as maps."""
    out: dict[str, Any] = {}
    for name, read, elements in reads:
        value = read(inputs)
        if value is not MISSING:
            out[name] = prune(value, elements) if elements else value
    for root, tree in nested.items():
        build = _ROOTS.get(root)
        if build is not None:
            out[root] = prune(build(inputs), tree)
    return out


def line_variables(line: Line, reads: ReadSet) -> dict[str, Any]:
    """CEL variables of one purchase line for per-line conditions."""
    out: dict[str, Any] = {}
    for name, path in reads.flat.items():
        if len(path) == 2 and path[1] in Line._fields:
            out[name] = getattr(line, path[1])
    if "line" in reads.nested:
        out["line"] = prune(line.as_cel(), reads.nested["line"])
    return out
