"""Racing threads for concurrency tests: many attempts released at the same instant."""

from __future__ import annotations

import threading
from collections import Counter

from patron.errors import PatronError


def race(count: int, attempt) -> Counter:
    """Run ``attempt(n)`` in ``count`` threads released at once; count the outcomes."""
    outcomes: Counter = Counter()
    barrier = threading.Barrier(count)
    lock = threading.Lock()

    def run(n: int) -> None:
        barrier.wait()
        try:
            attempt(n)
            result = "ok"
        except PatronError as exc:
            result = exc.code
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
