"""Runtime configuration, read from the environment (``PATRON_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def normalise_database_url(url: str) -> str:
    """Accept a plain file path as a SQLite database, as the README promises."""
    if "://" in url:
        return url
    return f"sqlite:///{url}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    database_url: str = "patron.db"
    jobs: Literal["inprocess", "worker"] = "inprocess"
    """Who runs the scheduled jobs: ``inprocess``, the server itself on the intervals below
    (the SQLite demo, one process); ``worker``, ``patron worker`` processes from a queue in
    PostgreSQL on the cron schedules below (the server's own runner is then off)."""
    jobs_interval_seconds: int = 60
    """How often ``patron serve`` runs the scheduled sweeps (pending release, expiry)."""
    features_interval_seconds: int = 86_400
    """How often ``patron serve`` refreshes member features, rule tags and dynamic
    segments (0: never; run ``patron features refresh`` or ``patron jobs run --features``)."""
    sweeps_cron: str = "* * * * *"
    """When ``patron worker`` queues the sweeps (cron, UTC; a sixth field for seconds; empty:
    never, ``patron jobs enqueue sweeps`` only)."""
    features_cron: str = "0 3 * * *"
    """When ``patron worker`` queues the features job (cron, UTC; empty: never)."""
    jobs_retry_attempts: int = Field(5, ge=0, le=100)
    """How many times the worker runs a failed job again before it leaves it failed."""
    jobs_retry_backoff_seconds: int = Field(10, ge=0, le=86_400)
    """The wait before a failed job's first retry; each further retry waits twice as long."""
    jobs_keep_hours: int = Field(168, ge=1)
    """How long finished jobs stay in the queue's tables for inspection before the worker
    deletes them."""
    expiry_notice_days: int = 30
    """The sweeps announce points that expire within this many days (``points.expiring_soon``
    webhooks), once per member and expiry day; 0: never."""
    smtp_url: str = ""
    """Where notifications are sent by e-mail: ``smtp://host:port`` (``smtps://`` for TLS,
    ``smtp://user:password@host:port`` to log in); empty: nothing is sent and
    notifications stay pending."""
    smtp_from: str = "Patron <patron@localhost>"
    """The From address of notification e-mails."""
    smtp_timeout_seconds: float = 10.0
    notify_interval_seconds: int = 30
    """How often ``patron serve`` sends due notifications (0: never in the server)."""
    notify_cron: str = "* * * * *"
    """When ``patron worker`` queues the notifications job (cron, UTC; empty: never)."""
    notify_max_attempts: int = 8
    """Attempts before a notification is dead."""
    notify_backoff_seconds: float = 60.0
    """Wait after the first failed attempt; doubled after each further one."""
    notify_backoff_max_seconds: float = 21_600.0
    notify_default_language: str = "en"
    """The language of notifications to members whose profile names none."""
    webhook_interval_seconds: float = 1.0
    """How long ``patron serve``'s webhook delivery waits when it finds nothing to send
    (0: no delivery in the server; run ``patron webhooks deliver``)."""
    webhook_max_attempts: int = 10
    """Attempts before a message is dead (kept, and sent again only when replayed)."""
    webhook_backoff_seconds: float = 5.0
    """The wait after a first failed attempt; it doubles with each failure (with jitter)."""
    webhook_backoff_max_seconds: float = 21_600.0
    """The longest wait between two attempts (6 hours)."""
    webhook_timeout_seconds: float = 10.0
    """How long one attempt may wait to connect, and between bytes of the answer."""
    webhook_concurrency: int = 8
    """Messages sent at once by one process (to different members or endpoints)."""
    webhook_retention_days: int = 30
    """Delivered messages (and their attempts) are removed by the sweeps after this many
    days; 0 keeps them. Pending and dead messages are kept."""
    webhook_cache_seconds: float = 5.0
    """How long a process trusts what it read of a program's subscriptions (a change made
    in the same process is seen at once; one made in another, within this long)."""
    report_cache_entries: int = 32
    """Analytics reports kept per process, each only while nothing has been committed to
    the database since it was built (``patron.analytics.cache``); 0 keeps none."""
    batch_max_events: int = 1000
    group_commit_max: int = 100
    """The most single events (``POST /events``) of one API key written together, in one
    transaction, when they arrive while another of its events is being written; 1 writes
    every event in its own transaction."""
    max_body_bytes: int = 1_048_576
    """The largest request body, but for the bulk endpoints below (413 beyond)."""
    max_bulk_body_bytes: int = 33_554_432
    """The largest body of ``POST /events/batch`` and ``POST /program/simulate``."""
    portal_dev_links: bool = False
    """Show the member portal's sign-in link on the page instead of only sending it: for the
    demo and development only, never in production (anyone could sign in as anyone)."""

    log_format: Literal["json", "text"] = "text"
    """``json``: one JSON object per log line (with the request id), for a log shipper;
    ``text``: plain lines for a terminal. Both carry the request id."""
    rate_limit: str = ""
    """Requests per API key, as ``N/second|minute|hour`` (a key's own limit overrides it);
    beyond it the answer is 429 with ``Retry-After``. Empty (the default): only keys with a
    limit of their own are limited."""
    rate_limit_storage: str = "memory://"
    """Where the counts live: ``memory://`` counts per process (one worker, SQLite);
    ``redis://127.0.0.1:6379`` shares them between ``--workers``."""

    @property
    def sqlalchemy_url(self) -> str:
        return normalise_database_url(self.database_url)


@lru_cache
def get_settings() -> Settings:
    return Settings()
