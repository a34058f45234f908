"""Recommendations use cases: what a training reads and writes, a member's list, the
members likely to buy an item, and keeping stored rewards redeemable between trainings.

The training itself (several transactions) is ``jobs.train_program``; each step
here works in the caller's transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from patron import hooks
from patron.members.service import MemberNotFound
from patron.program.compiled import CompiledProgram
from patron.program.service import Program, get_program
from patron.program.versions import VersionNotFound, versions
from patron.recommendations import domain, model, repository
from patron.recommendations.model import History, Parameters, Pick
from patron.rewards import domain as rewards_domain
from patron.rewards import eligibility
from patron.rewards import repository as rewards_repository

LISTS = {"category": "categories", "product": "products", "reward": "rewards"}
"""Each kind's list in a member's recommendations."""


def catalog(conn: Connection, program: Program) -> CompiledProgram | None:
    """The current program version (its rewards are what may be recommended); None
    for a program that has published nothing yet."""
    try:
        return versions.compiled(conn, program, program.version)
    except VersionNotFound:
        return None


# --------------------------------------------------------------------------- training

@dataclass(frozen=True)
class TrainingData:
    """What a training reads, in one transaction."""

    program: Program
    compiled: CompiledProgram | None
    history: History
    ranked: np.ndarray
    """History rows of the members to give a list: active members with a history."""

    @cached_property
    def reward_names(self) -> dict[str, str]:
        return {r.id: r.name for r in self.compiled.document.rewards} if self.compiled else {}

    @cached_property
    def popularity(self) -> np.ndarray:
        return model.popularity(self.history)


def training_data(conn: Connection, program_id: int, until: datetime | None) -> TrainingData:
    program = get_program(conn, program_id)
    history = History.from_rows(repository.history_rows(conn, program_id, until))
    active = repository.active_member_ids(conn, program_id)
    ranked = np.flatnonzero(np.isin(history.member_ids, np.fromiter(active, dtype=np.int64,
                                                                     count=len(active))))
    return TrainingData(program, catalog(conn, program), history, ranked)


def eligible_rewards(conn: Connection, data: TrainingData, now: datetime
                     ) -> dict[int, frozenset[str]]:
    """The rewards each member to be ranked may redeem now, by the rewards domain's rules."""
    if data.compiled is None or not data.compiled.document.rewards:
        return {}
    ids = data.history.member_ids[data.ranked].tolist()
    found = eligibility.redeemable(conn, data.program, data.compiled, ids, now)
    shared: dict[frozenset[str], frozenset[str]] = {}
    return {m: shared.setdefault(rewards, rewards) for m, rewards in found.items()}


def begin(conn: Connection, data: TrainingData, parameters: Parameters, blob: bytes,
          now: datetime, until: datetime | None) -> int:
    """A new model (``training``), with the program's popular items for members it has
    no list for: rewards among them only if open to every member."""
    history = data.history
    model_id = repository.start_model(conn, dict(
        program_id=data.program.id, trained_at=now, history_until=until or now,
        program_version=data.program.version, algorithm=parameters.algorithm,
        parameters=parameters.as_dict(), members=len(history.member_ids),
        items=len(history.items), interactions=int(history.counts.nnz), model=blob))
    open_rewards = _open_rewards(data.compiled, now)
    counts = data.popularity
    members = max(len(history.member_ids), 1)
    rows = []
    for kind in model.KINDS:
        allowed = (lambda key: key in open_rewards) if kind == "reward" else None
        for rank, item in enumerate(model.popular(history, kind, parameters.top, allowed),
                                    start=1):
            rows.append(_row(data, model_id, None, kind, item, rank,
                             float(counts[item]) / members, domain.POPULAR,
                             domain.popular_because(kind, int(counts[item]))))
    repository.insert_recommendations(conn, rows)
    return model_id


def _open_rewards(compiled: CompiledProgram | None, now: datetime) -> set[str]:
    if compiled is None:
        return set()
    holders = rewards_domain.benefit_holders(compiled.document)
    return {r.id for r in compiled.document.rewards
            if domain.open_to_all(r, holders.get(r.id))
            and rewards_domain.window_refusal(r, now, compiled.zone) is None}


def rows_of(data: TrainingData, model_id: int, picks: Iterable[Pick]) -> list[dict[str, Any]]:
    """Stored rows for picks, each with its reason (each distinct reason worded once:
    a training repeats the same few thousand)."""
    items, names, counts = data.history.items, data.reward_names, data.popularity
    program_id = data.program.id
    reasons: dict[tuple[int, int | None, int], tuple[str, str]] = {}
    rows = []
    for pick in picks:
        kind, key = items[pick.item]
        said = reasons.get((pick.item, pick.given, pick.times))
        if said is None:
            if pick.given is None:
                said = domain.POPULAR, domain.popular_because(kind, int(counts[pick.item]))
            else:
                given_kind, given_key = items[pick.given]
                said = domain.MODEL, domain.because(
                    kind, domain.label(kind, key, names), given_kind,
                    domain.label(given_kind, given_key, names), pick.times)
            reasons[(pick.item, pick.given, pick.times)] = said
        rows.append({"program_id": program_id, "model_id": model_id,
                     "member_id": pick.member_id, "kind": kind, "item": key[:200],
                     "rank": pick.rank, "score": round(pick.score, 6), "source": said[0],
                     "reason": said[1]})
    return rows


def _row(data: TrainingData, model_id: int, member_id: int | None, kind: str, item: int,
         rank: int, score: float, source: str, reason: str) -> dict[str, Any]:
    return {"program_id": data.program.id, "model_id": model_id, "member_id": member_id,
            "kind": kind, "item": data.history.items[item][1][:200], "rank": rank,
            "score": round(score, 6), "source": source, "reason": reason}


def store(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    repository.insert_recommendations(conn, rows)


def finish(conn: Connection, program_id: int, model_id: int) -> None:
    repository.make_ready(conn, program_id, model_id)


# --------------------------------------------------------------------------- serving

def member_recommendations(conn: Connection, program: Program, member_id: int,
                           now: datetime, limit: int) -> dict[str, Any]:
    """The member's lists as the ready model stored them (popular items for a member it
    has none for), rewards checked again against the catalog as it is now. Reads one
    statement, two for a member without a list of their own."""
    rows = repository.member_rows(conn, program.id, member_id)
    if not rows:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    head = rows[0]
    found: dict[str, Any] = {"member_id": member_id, "model": None, "basis": "none",
                             **{name: [] for name in LISTS.values()}}
    if head.model_id is None:
        return found
    stored = [row for row in rows if row.kind is not None]
    found["basis"] = "member" if stored else "popular"
    if not stored:
        stored = repository.popular_rows(conn, program.id, head.model_id)
    found["model"] = {"algorithm": head.algorithm, "trained_at": head.trained_at,
                      "program_version": head.program_version}
    compiled = catalog(conn, program)
    offered = _reward_check(compiled, head, program, now)
    for row in stored:
        items = found[LISTS[row.kind]]
        if len(items) >= limit:
            continue
        entry = {"score": row.score, "reason": row.reason, "source": row.source}
        if row.kind == "reward":
            reward = offered(row)
            if reward is None:
                continue
            entry = {"reward_id": reward.id, "name": reward.name, "type": reward.type,
                     "cost_points": reward.cost_points, **entry}
        else:
            entry = {("category" if row.kind == "category" else "sku"): row.item, **entry}
        items.append(entry)
    return found


def _reward_check(compiled: CompiledProgram | None, head: Any, program: Program,
                  now: datetime) -> Any:
    """``row -> Reward | None``: the stored reward if it may still be shown."""
    if compiled is None or head.member_status != "active":
        return lambda row: None
    document = compiled.document
    holders = rewards_domain.benefit_holders(document)
    rewards = {r.id: r for r in document.rewards}
    same_version = head.program_version == program.version

    def offered(row: Any) -> Any:
        reward = rewards.get(row.item)
        stock = (domain.StockRow(row.stock, row.redeemed, row.remaining)
                 if row.stock is not None else None)
        return reward if domain.still_offered(reward, holders.get(row.item), stock, now,
                                              compiled.zone, same_version) else None
    return offered


def model_summary(conn: Connection, program: Program) -> dict[str, Any] | None:
    row = repository.ready_model(conn, program.id)
    return dict(row._mapping) if row is not None else None


def likely_members(conn: Connection, program: Program, kind: str, item: str,
                   top: int) -> list[int]:
    """Active members whose recommended ``kind`` items include ``item``, likeliest first."""
    return repository.likely_members(conn, program.id, kind, item, top)


# --------------------------------------------------------------------------- between trainings

def on_tier_changed(conn: Connection, happened: hooks.TierChanged) -> None:
    """A tier move can shut a member out of a reward on their list (one for silver
    members, now gold; one for gold, now silver): the rewards domain judges again
    those that depend on the tier, and the ones now refused leave the list."""
    compiled = catalog(conn, happened.program)
    if compiled is None:
        return
    document = compiled.document
    holders = rewards_domain.benefit_holders(document)
    depend = [r for r in document.rewards
              if rewards_domain.needs_tier(r, holders.get(r.id)) or r.eligibility.when]
    if not depend:  # the catalog has nothing a tier decides: the lists are not read
        return
    stored = set(repository.stored_rewards(conn, happened.member_id))
    judged = [r for r in depend if r.id in stored]
    if not judged:
        return
    standings = eligibility.standings(conn, happened.program, compiled, happened.member_id,
                                      judged, holders, 0, happened.at, stock=False)
    repository.drop_rewards(conn, happened.member_id, [
        r.id for r in judged if not rewards_domain.eligible(rewards_domain.refusals(
            r, holders.get(r.id), standings[r.id], happened.at, compiled.zone))])
    # A reward gone from the catalog is left to the check when the list is read.


def on_reward_redeemed(conn: Connection, happened: hooks.RewardRedeemed) -> None:
    """A redemption can reach the reward's per-member limit: then it leaves the list."""
    compiled = catalog(conn, happened.program)
    if compiled is None:
        return
    try:
        reward = compiled.document.reward(happened.reward_id)
    except KeyError:
        return
    limit = reward.limit_per_member
    if limit is None:
        return
    since = rewards_domain.period_start(limit.period, happened.at, compiled.zone)
    times = rewards_repository.standing_times(conn, happened.program.id, happened.member_id,
                                              [reward.id], since).get(reward.id, [])
    if rewards_domain.used_in_period(reward, times, happened.at, compiled.zone) >= limit.count:
        repository.drop_rewards(conn, happened.member_id, [reward.id])


# --------------------------------------------------------------------------- segment recipes

def recipe(conn: Connection, program: Program, key: str) -> Any:
    """How the segment ``key`` is filled from recommendations, if it is."""
    return repository.recipe(conn, program.id, key)


def recipes(conn: Connection, program: Program) -> list[Any]:
    return repository.recipes(conn, program.id)


def save_recipe(conn: Connection, program: Program, key: str, kind: str, item: str, top: int,
                actor: str, now: datetime) -> None:
    repository.save_recipe(conn, dict(program_id=program.id, segment_key=key, kind=kind,
                                      item=item, top=top, created_by=actor[:200],
                                      created_at=now))
