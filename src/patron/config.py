"""Runtime configuration, read from the environment (``PATRON_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


def normalise_database_url(url: str) -> str:
    """Accept a plain file path as a SQLite database, as the README promises."""
    if "://" in url:
        return url
    return f"sqlite:///{url}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    database_url: str = "patron.db"
    jobs_interval_seconds: int = 60
    """How often ``patron serve`` runs the scheduled sweeps (pending release, expiry)."""
    features_interval_seconds: int = 86_400
    """How often ``patron serve`` refreshes member features, rule tags and dynamic
    segments (0: never; run ``patron features refresh`` or ``patron jobs run --features``)."""
    report_cache_entries: int = 32
    """Analytics reports kept per process, each only while nothing has been committed to
    the database since it was built (``patron.analytics.cache``); 0 keeps none."""
    batch_max_events: int = 1000
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
