"""Validating a program document: every problem at once, each as ``path: message``.

A marketer fixing a program wants the whole list in one go, pointing at the
exact place (``earn_rules[3].when: Syntax error at 1:16 …``), not one error per
attempt. So schema errors, cross-rule checks and CEL checks all run, and their
problems are collected. Conditions are compiled and type-checked against a
sample event of the rule's type now, at validation time, rather than failing on
the first real purchase.

Warnings do not fail validation; they point at things that work but probably do
not do what the author meant.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from patron.errors import InvalidInput
from patron.program.document import (
    Campaign,
    EarnRule,
    EventTypeDeclaration,
    IDENTITY_KINDS,
    BLOCKING_FIELDS,
    Limits,
    Matching,
    PointsAction,
    ProgramDocument,
    Settings,
    Transfers,
)
from patron.program.campaign_checks import campaign_problems, campaign_rules, remap
from patron.program.engagement import Badge, Challenge, Goal, Streak
from patron.program.engagement_checks import engagement_problems
from patron.program.incentives import Reward
from patron.program.privacy import Privacy, privacy_problems
from patron.program.semantics import check_member_condition, check_rules, tag_rule_problems

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{self.path or '(document)'}: {self.message}"


class DocumentParseError(InvalidInput):
    code = "program_document_unparsable"
    title = "Program document is not valid YAML/JSON"


# --- loading -------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2-ish: ``on``/``yes``/``off`` stay strings (``on: purchase`` is a rule's
    event type, not ``True: purchase``), decimals stay exact, duplicate keys are errors."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return Decimal(text)
    except ArithmeticError:
        return loader.construct_yaml_float(node)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise DocumentParseError(f"duplicate key {key!r} at {mark.line + 1}:{mark.column + 1}")
        seen[key] = True
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_document(text: str, filename: str = "program.yaml") -> Any:
    """Parse YAML (or JSON, by extension or leading brace) into plain data."""
    if filename.lower().endswith(".json") or text.lstrip().startswith("{"):
        try:
            return json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise DocumentParseError(f"JSON syntax error at {exc.lineno}:{exc.colno}: "
                                     f"{exc.msg}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at {mark.line + 1}:{mark.column + 1}" if mark else ""
        raise DocumentParseError(f"YAML syntax error{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise DocumentParseError(f"YAML syntax error: {exc}") from None


# --- validating ----------------------------------------------------------------------------


def validate_document(data: Any) -> tuple[ProgramDocument | None, list[Problem]]:
    """The document if it has no errors (warnings allowed), and every problem found."""
    problems: list[Problem] = []
    document: ProgramDocument | None = None
    try:
        document = ProgramDocument.model_validate(data)
    except ValidationError as exc:
        problems.extend(_schema_problems(exc, ProgramDocument))
    if isinstance(data, dict):
        problems.extend(_semantic_problems(data, document))
    problems.sort(key=lambda p: (_path_key(p.path), p.severity == "warning"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return document, problems


def validate_text(text: str, filename: str = "program.yaml"
                  ) -> tuple[ProgramDocument | None, list[Problem]]:
    try:
        data = load_document(text, filename)
    except DocumentParseError as exc:
        return None, [Problem("", exc.detail)]
    return validate_document(data)


def validate_file(path: str | Path) -> tuple[ProgramDocument | None, list[Problem]]:
    path = Path(path)
    return validate_text(path.read_text(encoding="utf-8"), path.name)


def format_problems(problems: Sequence[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m patron.program.validate FILE``: what ``patron program validate`` runs."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: validate FILE", file=sys.stderr)
        return 2
    document, problems = validate_file(args[0])
    if problems:
        print(format_problems(problems))
    if document is None:
        errors = sum(p.severity == "error" for p in problems)
        print(f"{errors} error(s)", file=sys.stderr)
        return 1
    print(f"ok: {document.name}, {len(document.earn_rules)} earn rule(s)")
    return 0


def _semantic_problems(data: dict[str, Any], document: ProgramDocument | None) -> list[Problem]:
    """Cross-rule and CEL checks, on every rule that is valid on its own."""
    settings = document.settings if document else _valid_or_none(Settings, data.get("settings"))
    settings = settings or Settings()
    declarations = _valid_items(EventTypeDeclaration, data.get("event_types"))
    raw_rules = data.get("earn_rules")
    raw = [(i, r) for i, r in enumerate(raw_rules if isinstance(raw_rules, list) else [])]
    raw += campaign_rules(data.get("campaigns"))
    rules = [(i, rule) for i, r in raw if isinstance(r, dict)
             and (rule := _valid_or_none(EarnRule, r)) is not None]
    raw = [(i, r) for i, r in raw if isinstance(r, dict)]
    found = check_rules(settings, declarations, rules, raw)
    found += gift_problems(rules, _valid_items(Reward, data.get("rewards")))
    found += reward_condition_problems(data.get("rewards"), declarations)
    found += tag_rule_problems(data.get("tags"))
    found += engagement_problems(data, settings, {d.name: dict(d.fields)
                                                  for _, d in declarations})
    if document is not None:
        found += membership_problems(document)
        found += campaign_problems(document)
    found += transfer_problems(document.transfers if document
                               else _valid_or_none(Transfers, data.get("transfers")))
    found += matching_problems(document.matching if document
                               else _valid_or_none(Matching, data.get("matching")))
    found += privacy_problems(document.privacy if document
                              else _valid_or_none(Privacy, data.get("privacy")),
                              settings.pending_days)
    return [Problem(path, message, severity) for path, message, severity in remap(found)]


def reward_condition_problems(raw_rewards: Any,
                              declarations: Sequence[tuple[int, EventTypeDeclaration]]
                              ) -> list[tuple[str, str, str]]:
    """Rewards' ``eligibility.when``, checked as written so a reward with a schema error
    elsewhere still has its condition checked."""
    declared = {decl.name: dict(decl.fields) for _, decl in declarations}
    found = []
    for i, raw in enumerate(raw_rewards if isinstance(raw_rewards, list) else []):
        eligibility = raw.get("eligibility") if isinstance(raw, dict) else None
        when = eligibility.get("when") if isinstance(eligibility, dict) else None
        if isinstance(when, str) and when:  # "" is no condition, as for earn rules
            found += check_member_condition(f"rewards[{i}].eligibility.when", when, declared)
    return found


def membership_problems(document: ProgramDocument) -> list[tuple[str, str, str]]:
    """References between earn rules, tiers, plans and households."""
    found = []
    tiers = document.tiers
    tier_ids = {level.id for level in tiers.levels} if tiers else set()
    for i, rule in enumerate(document.earn_rules):
        source = rule.points.benefit_multiplier
        if source == "tier" and tiers is None:
            found.append((f"earn_rules[{i}].points.benefit_multiplier",
                          "multiplies by the tier's earn_multiplier, but there are no tiers",
                          "error"))
        if source == "membership" and not document.memberships:
            found.append((f"earn_rules[{i}].points.benefit_multiplier", "multiplies by the "
                          "plan's earn_multiplier, but there are no membership plans", "error"))
        if rule.tier_points and (tiers is None or tiers.metric != "tier_points"):
            found.append((f"earn_rules[{i}].tier_points", "tier points only count when "
                          "tiers.metric is tier_points", "error"))
    plan_ids: set[str] = set()
    for i, plan in enumerate(document.memberships):
        if plan.id in plan_ids:
            found.append((f"memberships[{i}].id", f"duplicate plan id {plan.id!r}", "error"))
        plan_ids.add(plan.id)
        floor = plan.benefits.tier_floor
        if floor is not None and floor not in tier_ids:
            found.append((f"memberships[{i}].benefits.tier_floor",
                          f"unknown tier {floor!r}" + (f" (tiers: {', '.join(sorted(tier_ids))})"
                                                       if tier_ids else ": there are no tiers"),
                          "error"))
    coupon_ids = {c.id for c in document.coupons}
    for i, reward in enumerate(document.rewards):
        if reward.coupon_type is not None and reward.coupon_type not in coupon_ids:
            found.append((f"rewards[{i}].coupon_type", f"unknown coupon type "
                          f"{reward.coupon_type!r}", "error"))
        for tier in reward.eligibility.tiers or []:
            if tier not in tier_ids:
                found.append((f"rewards[{i}].eligibility.tiers", f"unknown tier {tier!r}",
                              "error"))
        for plan in reward.eligibility.plans or []:
            if plan not in plan_ids:
                found.append((f"rewards[{i}].eligibility.plans", f"unknown plan {plan!r}",
                              "error"))
    for section, items in (("rewards", document.rewards), ("coupons", document.coupons)):
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                found.append((f"{section}[{i}].id", f"duplicate id {item.id!r}", "error"))
            seen.add(item.id)
    if tiers is not None and tiers.per == "household" and not document.households.pooled_points:
        found.append(("tiers.per", "a household tier needs households.pooled_points: true",
                      "error"))
    return found


def gift_problems(rules: Sequence[tuple[int, EarnRule]],
                  rewards: Sequence[tuple[int, Reward]]) -> list[tuple[str, str, str]]:
    """Gift rules: the gift must be a ``type: gift`` reward of the catalog, given once
    per event, and it is neither points (tier points) nor pending."""
    catalog = {reward.id: reward for _, reward in rewards}
    gifts = sorted(reward.id for reward in catalog.values() if reward.type == "gift")
    gift_rules = {rule.id for _, rule in rules if rule.gift is not None}
    found = []
    for i, rule in rules:
        for j, target in enumerate(rule.points.of or []):
            if target in gift_rules:
                found.append((f"earn_rules[{i}].points.of[{j}]", f"{target!r} gives a gift; "
                              "multipliers only multiply points", "error"))
        if rule.gift is None:
            continue
        at = f"earn_rules[{i}]"
        reward = catalog.get(rule.gift)
        if reward is None:
            close = get_close_matches(rule.gift, gifts, n=1)
            hint = (f"; did you mean {close[0]!r}?" if close else
                    f" (gift rewards: {', '.join(gifts)})" if gifts else
                    "; add it under rewards with type: gift")
            found.append((f"{at}.points.gift", f"unknown reward {rule.gift!r}{hint}", "error"))
        elif reward.type != "gift":
            found.append((f"{at}.points.gift", f"{rule.gift!r} is a {reward.type} reward; a "
                          "rule gives rewards of type gift", "error"))
        if rule.per_line:
            where = "scope" if rule.scope == "line" else "lines"
            found.append((f"{at}.{where}", "a gift is given once per event, not per line",
                          "error"))
        if rule.tier_points:
            found.append((f"{at}.tier_points", "a gift is not points", "error"))
        if rule.pending:
            found.append((f"{at}.pending", "a gift is never pending", "error"))
    return found


def transfer_problems(transfers: Transfers | None) -> list[tuple[str, str, str]]:
    """Transfer limits that contradict each other, so no transfer could ever pass them."""
    if transfers is None:
        return []
    found = []
    least, most = transfers.minimum_points, transfers.maximum_points
    daily = transfers.daily_maximum_points
    if most is not None and least > most:
        found.append(("transfers.minimum_points", f"{least} is above maximum_points ({most}): "
                      "no transfer could be made", "error"))
    if daily is not None and least > daily:
        found.append(("transfers.minimum_points", f"{least} is above daily_maximum_points "
                      f"({daily}): no transfer could be made", "error"))
    if most is not None and daily is not None and most > daily:
        found.append(("transfers.maximum_points", f"{most} is above daily_maximum_points "
                      f"({daily}), which caps every transfer anyway", "warning"))
    return found


PERSON_FIELDS = frozenset({"family_name", "birthdate", *IDENTITY_KINDS})
"""A rule needs one of these: gender, city, postcode, street and given name together
still describe many different people."""


def matching_problems(matching: Matching | None) -> list[tuple[str, str, str]]:
    """Matching rules that contradict each other, would merge strangers, or could never
    run at enrolment."""
    if matching is None:
        return []
    found = []
    missing = [kind for kind in IDENTITY_KINDS if kind not in matching.unique_identities]
    if missing:
        found.append(("matching.unique_identities", f"{', '.join(missing)}: every identity type "
                      "is unique per program (one value belongs to one member); list all of "
                      f"{', '.join(IDENTITY_KINDS)}", "error"))
    if matching.suggest_probability > matching.auto_merge_probability:
        found.append(("matching.suggest_probability", f"{matching.suggest_probability} is above "
                      f"auto_merge_probability ({matching.auto_merge_probability}): every pair "
                      "worth suggesting would already be merged", "error"))
    seen: set[str] = set()
    for kind, rules in (("auto_merge", matching.auto_merge), ("suggest", matching.suggest)):
        for i, rule in enumerate(rules):
            at = f"matching.{kind}[{i}]"
            if rule.name in seen:
                found.append((f"{at}.name", f"duplicate rule name {rule.name!r}", "error"))
            seen.add(rule.name)
            if not PERSON_FIELDS.intersection(rule.fields):
                found.append((f"{at}.fields", "matches many different people: add "
                               "family_name, birthdate or an identity field",
                               "error" if kind == "auto_merge" else "warning"))
            if not BLOCKING_FIELDS.intersection(rule.fields):
                found.append((f"{at}.fields", "not checked when a member enrols: a rule needs "
                              "birthdate or postcode to find look-alikes by index", "warning"))
    return found


def _valid_or_none(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError:
        return None


def _valid_items(model: type[BaseModel], values: Any) -> list[tuple[int, Any]]:
    if not isinstance(values, list):
        return []
    valid = []
    for i, value in enumerate(values):
        item = _valid_or_none(model, value) if isinstance(value, dict) else None
        if item is not None:
            valid.append((i, item))
    return valid


# --- schema error messages -----------------------------------------------------------------


def _schema_problems(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    return [Problem(_path(err["loc"]), _message(err, root)) for err in exc.errors()]


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: dict[str, Any], root: type[BaseModel]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key(err["loc"], root)
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} must be lower-case letters, digits, '_' or '-'"
    message = str(err["msg"])
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return re.sub(r"^Input should be", "must be", message)


def _unknown_key(loc: Sequence[Any], root: type[BaseModel]) -> str:
    key = str(loc[-1])
    model = _model_at(root, loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = [f.alias or name for name, f in model.model_fields.items()]
    close = get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
    return f"unknown key {key!r}{hint}"


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class a schema location points into, to list its allowed keys."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = _item_type(current)
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = _unwrap(field.annotation) if field else None
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def _item_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) is list:
        return _unwrap(typing.get_args(annotation)[0])
    return None


def _field_ranks() -> dict[str, int]:
    ranks: dict[str, int] = {}
    for model in (ProgramDocument, Settings, EventTypeDeclaration, EarnRule, PointsAction, Limits,
                  Matching, Campaign, Badge, Challenge, Goal, Streak):
        for name, field in model.model_fields.items():
            ranks.setdefault(field.alias or name, len(ranks))
    return ranks


_RANKS = _field_ranks()


def _path_key(path: str) -> tuple[Any, ...]:
    """Document order: settings before earn rules, rule 2 before rule 10, id before when."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    return tuple((int(p[1:-1]), "") if p.startswith("[") else (_RANKS.get(p, 999), p)
                 for p in parts)


if __name__ == "__main__":
    raise SystemExit(main())
