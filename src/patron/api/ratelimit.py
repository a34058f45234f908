"""Requests per API key: past its limit, 429 ``rate_limited`` with ``Retry-After``.

Counted with the ``limits`` library in fixed windows. ``PATRON_RATE_LIMIT_STORAGE``
says where: ``memory://`` (the default) counts in each process, right for one worker
(and SQLite); ``redis://host:port`` shares the counts between ``--workers`` so the
limit holds for the key across all of them. A key's own ``rate_limit`` overrides the
setting ``PATRON_RATE_LIMIT``. If the shared store cannot be reached, requests pass
(logged): losing the limiter must not take the API down.
"""

from __future__ import annotations

import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from patron.auth.service import Principal
from patron.errors import PatronError

log = logging.getLogger("patron")


class RateLimited(PatronError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"this API key may make {limit} requests; retry in {retry_after} s",
                         limit=limit, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


@lru_cache(maxsize=256)
def _item(text: str) -> RateLimitItem:
    return parse(text)


class KeyRateLimiter:
    def __init__(self, default: str, storage_uri: str) -> None:
        if default:
            _item(default)  # a malformed PATRON_RATE_LIMIT stops the start, not a request
        self.default = default or None
        self.storage = storage_from_string(storage_uri)
        self.local = isinstance(self.storage, MemoryStorage)
        self.limiter = FixedWindowRateLimiter(self.storage)

    def _hit(self, item: RateLimitItem, key: str) -> int | None:
        """None if the request may go on, else the seconds until it may."""
        try:
            if self.limiter.hit(item, "api_key", key):
                return None
            reset = self.limiter.get_window_stats(item, "api_key", key).reset_time
        except Exception:  # the shared store is down: serve rather than refuse
            log.warning("rate limit store unreachable; request let through", exc_info=True)
            return None
        return max(1, math.ceil(reset - time.time()))

    async def check(self, principal: Principal) -> None:
        text = principal.rate_limit or self.default
        if not text:
            return
        item, key = _item(text), f"{principal.program_slug}:{principal.key_id}"
        wait = self._hit(item, key) if self.local else await run_in_threadpool(
            self._hit, item, key)
        if wait is not None:
            raise RateLimited(text, wait)
