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


def at_once(items: list, attempt) -> list:
    """Run ``attempt(item)`` for every item in threads released at once; the results
    (each attempt returns a list) joined, in the order the attempts finished."""
    barrier = threading.Barrier(len(items))
    results: list = []
    lock = threading.Lock()

    def run(item) -> None:
        barrier.wait()
        found = attempt(item)
        with lock:
            results.extend(found)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
