"""Delivering the outbox: claim due messages, send them signed, record each attempt.

Sending happens outside any database transaction and with time-outs, so a slow or
unreachable endpoint holds up neither ingest nor other endpoints: it only keeps its
own messages waiting. A claim is a lease (``locked_until``): a worker that dies
mid-send leaves its messages to be claimed again when the lease runs out, so every
message is delivered at least once; receivers drop repeats by ``webhook-id``.

A member's messages to an endpoint go one at a time, in the order they were written:
the next is claimed only once the one before is delivered or dead. Different members
(and endpoints) go at once, up to ``concurrency`` messages per process.

``Deliverer.deliver_once`` is one pass (``patron webhooks deliver``, tests);
``DeliveryRunner`` keeps a thread doing it for ``patron serve``, claiming again as
soon as a send finishes.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter
from standardwebhooks import Webhook

import patron
from patron.clock import Clock
from patron.config import Settings
from patron.db import Database
from patron.webhooks import domain, repository
from patron.webhooks.domain import RetryPolicy

log = logging.getLogger("patron.webhooks")

WEBHOOK_FAILURES = Counter("patron_webhook_failures", "Webhook attempts that failed, by what "
                           "became of the message (retrying, dead)", ["outcome"])
WEBHOOK_DELIVERIES = Counter("patron_webhook_deliveries", "Webhook messages delivered")
USER_AGENT = f"Patron-Webhooks/{patron.__version__}"
ERROR_CHARS = 500
ANSWER_BYTES = 200
"""Of a failed answer's body, this much is kept in the log."""
READ_BYTES = 65_536
"""Of any answer's body, at most this much is read (a short body read to its end lets the
connection serve the next message; past this the connection is dropped)."""


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    webhook_id: str
    url: str
    secret: str
    payload: str
    attempts: int
    """Attempts before this one (since written or last replayed)."""
    claim: str


@dataclass(frozen=True)
class Sent:
    message: Claimed
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None and domain.is_success(self.status_code)


@dataclass
class PassResult:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def headers_for(message: Claimed, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers: the message id, the send time and the signature."""
    signature = Webhook(message.secret).sign(message.webhook_id, at, message.payload.encode())
    return {"webhook-id": message.webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature, "content-type": "application/json",
            "user-agent": USER_AGENT}


class Deliverer:
    """Claims, sends and records; safe to run in several processes at once."""

    def __init__(self, db: Database, clock: Clock, *, policy: RetryPolicy | None = None,
                 timeout: float = 10.0, concurrency: int = 8,
                 client: httpx.Client | None = None,
                 jitter: Callable[[], float] = random.random,
                 program_ids: Sequence[int] | None = None) -> None:
        self.db, self.clock, self.policy = db, clock, policy or RetryPolicy()
        self.program_ids = program_ids
        self.concurrency, self.jitter = concurrency, jitter
        self.timeout = timeout
        self.lease = timedelta(seconds=max(60.0, 6 * timeout))
        """Longer than a send can take: connect, write and the first byte of the answer
        each time out, and reading the answer stops after ``3 * timeout``."""
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout),
                                             follow_redirects=False,
                                             limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(max_workers=concurrency,
                                       thread_name_prefix="patron-webhook")

    @classmethod
    def from_settings(cls, db: Database, clock: Clock, settings: Settings,
                      program_ids: Sequence[int] | None = None) -> "Deliverer":
        policy = RetryPolicy(settings.webhook_max_attempts, settings.webhook_backoff_seconds,
                             settings.webhook_backoff_max_seconds)
        return cls(db, clock, policy=policy, timeout=settings.webhook_timeout_seconds,
                   concurrency=settings.webhook_concurrency, program_ids=program_ids)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # ----------------------------------------------------------------- the three steps

    def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due messages (at most one per member lane)."""
        now, token = self.clock.now(), secrets.token_hex(8)
        rows = self.db.transact(lambda conn: repository.claim(
            conn, now, limit, now + self.lease, token, self.program_ids))
        return [Claimed(row.id, row.endpoint_id, row.webhook_id, row.url, row.secret,
                        row.payload, row.attempts, token) for row in rows]

    def send(self, message: Claimed) -> Sent:
        """One signed POST; never raises (what went wrong is the attempt's error)."""
        at = self.clock.now()
        started = time.perf_counter()
        status, error = None, None
        try:
            with self.client.stream("POST", message.url, content=message.payload.encode(),
                                    headers=headers_for(message, at)) as response:
                status = response.status_code
                answer = _start_of(response, started + 3 * self.timeout)
                if not domain.is_success(status):
                    error = f"HTTP {status}: {answer}"
        except httpx.TimeoutException as exc:
            error = f"timed out ({type(exc).__name__})"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a send must not stop the worker
            log.exception("webhook message %s: unexpected failure", message.id)
            error = f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - started) * 1000)
        return Sent(message, at, status, latency, error[:ERROR_CHARS] if error else None)

    def record(self, sent: Sequence[Sent]) -> PassResult:
        """Each attempt in the log, and each message delivered, due again later, or dead."""
        result, now = PassResult(), self.clock.now()
        attempts, outcomes = [], []
        for one in sent:
            tried = one.message.attempts + 1
            verdict = domain.verdict(self.policy, tried, one.delivered, now, self.jitter())
            attempts.append({"message_id": one.message.id, "attempt": tried, "at": one.at,
                             "outcome": "delivered" if one.delivered else "failed",
                             "status_code": one.status_code, "latency_ms": one.latency_ms,
                             "error": one.error})
            outcomes.append({"b_id": one.message.id, "b_claim": one.message.claim,
                             "b_state": verdict.state, "b_attempts": tried,
                             "b_next": verdict.next_attempt_at,
                             "b_delivered": now if one.delivered else None,
                             "b_status": one.status_code, "b_error": one.error})
            if verdict.state == "delivered":
                result.delivered += 1
            elif verdict.state == "dead":
                result.dead += 1
            else:
                result.retrying += 1
        if sent:
            self.db.transact(lambda conn: repository.record(conn, attempts, outcomes))
        WEBHOOK_DELIVERIES.inc(result.delivered)
        if result.retrying:
            WEBHOOK_FAILURES.labels("retrying").inc(result.retrying)
        if result.dead:
            WEBHOOK_FAILURES.labels("dead").inc(result.dead)
        return result

    # ----------------------------------------------------------------- passes

    def submit(self, message: Claimed) -> Future[Sent]:
        return self.pool.submit(self.send, message)

    def deliver_once(self, limit: int | None = None) -> PassResult:
        """Claim what is due, send it all at once, record the attempts."""
        claimed = self.claim(limit or self.concurrency)
        sent = [future.result() for future in [self.submit(m) for m in claimed]]
        result = self.record(sent)
        result.claimed = len(claimed)
        return result


def _start_of(response: httpx.Response, deadline: float) -> str:
    """The first bytes of an answer's body, as text, for the log; the body is read to its
    end unless it is long or slow (an endpoint dripping bytes cannot hold a worker)."""
    taken, size = b"", 0
    for chunk in response.iter_bytes():
        if len(taken) < ANSWER_BYTES:
            taken += chunk[:ANSWER_BYTES]
        size += len(chunk)
        if size >= READ_BYTES or time.perf_counter() > deadline:
            break
    return taken[:ANSWER_BYTES].decode("utf-8", errors="replace").strip()


class DeliveryRunner:
    """A thread that keeps delivering: claims as many messages as it has free slots,
    records each as soon as it is sent, and sleeps ``idle_seconds`` when nothing is due."""

    def __init__(self, deliverer: Deliverer, idle_seconds: float = 1.0) -> None:
        self.deliverer, self.idle_seconds = deliverer, idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="patron-webhooks", daemon=True)

    def start(self) -> "DeliveryRunner":
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, record what finishes within ``timeout``; the rest is sent again
        when its lease runs out."""
        self._stop.set()
        self._thread.join(timeout)
        self.deliverer.close()

    def _run(self) -> None:
        in_flight: dict[Future[Sent], Claimed] = {}
        while not self._stop.is_set():
            try:
                self._turn(in_flight)
            except Exception:  # a database outage must not end delivery for good
                log.exception("webhook delivery failed; trying again")
                self._stop.wait(self.idle_seconds)
        done, _ = wait(in_flight, timeout=5.0)
        if done:
            try:
                self.deliverer.record([future.result() for future in done])
            except Exception:  # noqa: BLE001 - their leases run out; they go again
                log.exception("webhook delivery: could not record the last attempts")

    def _turn(self, in_flight: dict[Future[Sent], Claimed]) -> None:
        free = self.deliverer.concurrency - len(in_flight)
        if free > 0:
            for message in self.deliverer.claim(free):
                in_flight[self.deliverer.submit(message)] = message
        if not in_flight:
            self._stop.wait(self.idle_seconds)
            return
        done, _ = wait(in_flight, timeout=self.idle_seconds, return_when=FIRST_COMPLETED)
        if done:
            self.deliverer.record([future.result() for future in done])
            for future in done:
                del in_flight[future]
