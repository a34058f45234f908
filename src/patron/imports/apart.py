"""Parsing an import's file in a process of its own.

An import of history spends about as much time parsing its file (cells to orders, orders
checked) as writing it, and both are Python: in one process they take turns on one
interpreter. Where the platform forks, ``import_events`` parses a file in a child
process, which starts as a copy of the importing one (the program, the column map and
the clock are already there: nothing is sent to it) and hands each batch back through a
pipe, ready to be written, while the importing process writes the batch before it.

A batch crosses as plain values (tuples, dicts, strings: what pickle is quick with), not
as the models they are: events are rebuilt from their fields without being checked again
(``model_construct``: the child checked them), and a batch of bulk history brings each
event's data written as JSON for the events table (``JSONText``), work the child has
time for; a batch for ingest (an import that earns) brings the same, and each purchase's
order as the earn rules read it (``flows.handlers.Made``). The records of an event cross
only where the importing process may need them for the rejects file: those of an event
the parse or the bulk history check refused. An event refused later, while it is
written, is rare, and its records are read again from the file (:class:`Reread`).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol, TypeVar

from patron.db.engine import JSONText
from patron.errors import PatronError
from patron.events.schemas import EventIn, MemberRef
from patron.flows.handlers import Made, Pending
from patron.imports.history import PURCHASE, Admitted
from patron.members.schemas import IdentityIn

FORKS = sys.platform == "linux"
"""Whether a parsing process can start as a copy of this one (on Linux; elsewhere a file
is parsed in the importing process)."""

B = TypeVar("B")

COLLECT_EVERY = 16
"""An import's processes run the collector every this many batches, not on its own."""


Span = tuple[int, int]
"""The records of one event, by the file lines of its first and last record (a plain
tuple: a named one costs a Python call each to pickle)."""


class Parsed(Protocol):
    """What crosses: one batch of ``service._Batch``."""

    rows: int
    parsed: list[tuple[Any, EventIn]]
    refused: list[tuple[Any, dict[str, Any], str | None]]
    at: datetime | None
    admitted: Any
    made: list[Made] | None


def encode(batch: Parsed) -> tuple[Any, ...]:
    """The batch as plain values (in the parsing process)."""
    rejected: dict[int, PatronError] = batch.admitted[2] if batch.admitted is not None else {}
    shapes: dict[tuple[frozenset[str], ...], int] = {}
    events: list[tuple[Any, ...]] = []
    groups: list[Any] = []
    for index, (group, event) in enumerate(batch.parsed):
        member, identity = event.member, event.member.identity
        shape = (frozenset(event.model_fields_set), frozenset(member.model_fields_set),
                 frozenset(identity.model_fields_set) if identity is not None else frozenset())
        events.append((event.id, event.type, member.id,
                       *((identity.type, identity.value, identity.channel)
                         if identity is not None else (None, None, None)),
                       event.occurred_at, event.channel, event.data,
                       shapes.setdefault(shape, len(shapes))))
        groups.append(list(map(tuple, group)) if index in rejected
                      else (group[0].line, group[-1].line))
    admitted = None
    if batch.admitted is not None:
        items, found, _, _ = batch.admitted
        # the data as the events table takes it, written here, where there is time
        admitted = ([(item.index, item.identity, item.data) for item in items], found,
                    rejected,  # ``Refused``: each crosses as its problem
                    [json.dumps(item.event.data) for item in items])
    refused = [(list(map(tuple, group)), problem, record_id)
               for group, problem, record_id in batch.refused]
    made = ([(m.purchase, str(m.data_json)) for m in batch.made] if batch.made is not None
            else None)
    return (batch.rows, batch.at, events, groups, list(shapes), refused, admitted, made)


def decode(wire: tuple[Any, ...], record: Callable[..., Any]) -> dict[str, Any]:
    """A batch's fields (``rows``, ``parsed``, ``refused``, ``at``, ``admitted``,
    ``made``) as the parsing process had them (in the importing process); ``record``
    makes a record of its fields."""
    rows, at, events, groups, shapes, refused, admitted, made = wire
    refused = [([record(*fields) for fields in group], problem, record_id)
               for group, problem, record_id in refused]
    construct_event, construct_member = EventIn.model_construct, MemberRef.model_construct
    construct_identity = IdentityIn.model_construct
    parsed: list[tuple[Any, EventIn]] = []
    for (event_id, kind, member_id, identity_type, value, identity_channel, occurred_at,
         channel, data, shape), group in zip(events, groups, strict=True):
        event_set, member_set, identity_set = shapes[shape]  # each model its own set
        identity = (construct_identity(set(identity_set), type=identity_type, value=value,
                                       channel=identity_channel)
                    if identity_type is not None else None)
        member = construct_member(set(member_set), id=member_id, identity=identity)
        if type(group) is list:
            group = [record(*fields) for fields in group]
        parsed.append((group, construct_event(set(event_set), id=event_id, type=kind, member=member,
                                              occurred_at=occurred_at, channel=channel,
                                              data=data)))
    if admitted is not None:
        items, found, rejected, data_json = admitted
        pending = [Pending(index, parsed[index][1], PURCHASE.handler, data=data,
                           identity=identity) for index, identity, data in items]
        admitted = Admitted(pending, found, rejected, list(map(JSONText, data_json)))
    if made is not None:
        made = [Made(purchase, JSONText(data_json)) for purchase, data_json in made]
    return dict(rows=rows, parsed=parsed, refused=refused, at=at, admitted=admitted,
                made=made)


class Failed(Exception):
    """What stopped the parsing process, when it could not cross as it was raised."""


def batches(produce: Callable[[], Iterable[Parsed]], build: Callable[..., B],
            record: Callable[..., Any]) -> Iterator[B]:
    """Run ``produce`` in a forked process and yield each batch it gives, in order, as
    ``build`` makes it of what :func:`decode` gives (``record``: how a record is made).
    The process is at most a batch ahead (the one it waits to hand over), so an import
    still streams its file. What ``produce`` raises is raised here, after the batches before it.
    Closing the iterator stops the process."""
    context = multiprocessing.get_context("fork")
    for stream in (sys.stdout, sys.stderr):  # nothing of this process's is left to print
        if stream is not None:
            stream.flush()
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_produce, args=(produce, sending), daemon=True,
                              name="patron-import-parse")
    process.start()
    sending.close()
    try:
        while True:
            try:
                kind, value = pickle.loads(receiving.recv_bytes())
            except EOFError:
                raise Failed("the parsing process ended without a word "
                             f"(exit code {process.exitcode})") from None
            if kind == "batch":
                yield build(**decode(value, record))
            elif kind == "error":
                raise value
            else:
                return
    finally:
        receiving.close()
        if process.is_alive():
            process.terminate()
        process.join()


def _produce(produce: Callable[[], Iterable[Parsed]], sending: Any) -> None:
    """The parsing process: every batch, then the end or what stopped it. It prints
    nothing (what it has to say crosses the pipe), and the streams it was forked with are
    the importing process's, with whatever they held: a process ending flushes them."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until the process ends
    gc.disable()  # run between batches, once one is sent and dropped
    try:
        for number, batch in enumerate(produce(), start=1):
            sending.send_bytes(pickle.dumps(("batch", encode(batch)), pickle.HIGHEST_PROTOCOL))
            del batch
            if number % COLLECT_EVERY == 0:
                gc.collect()
        sending.send_bytes(pickle.dumps(("end", None)))
    except BaseException as exc:  # noqa: BLE001 - handed to the importing process
        try:
            told = pickle.dumps(("error", exc), pickle.HIGHEST_PROTOCOL)
            pickle.loads(told)
        except Exception:  # noqa: BLE001 - an exception that cannot cross is told in words
            told = pickle.dumps(("error", Failed("".join(
                traceback.format_exception(exc)).strip())))
        sending.send_bytes(told)
    finally:
        sending.close()


class Reread:
    """A file's records again, for the few the importing process needs that the parsing
    process did not send: read forward, as the spans asked for come in the file's order."""

    def __init__(self, read: Callable[[], Iterable[Any]]) -> None:
        self._read = read
        self._records: Iterator[Any] | None = None
        self._line = 0

    def records(self, span: Span) -> list[Any]:
        first, last = span
        if self._records is None or first <= self._line:
            self._records, self._line = iter(self._read()), 0
        found: list[Any] = []
        for record in self._records:
            self._line = record.line
            if record.line >= first:
                found.append(record)
            if record.line >= last:
                break
        return found

