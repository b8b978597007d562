"""Spread a replay's cases over one or more engines: a few workers per engine take cases from one queue, each
case's two runs stay on the engine that took it, and a case whose engine went away is retried once.

The retry: when an engine stops answering under a case (EngineLost), that attempt's ERROR stands in the history
and the worker waits for the engine to answer again (``reconnect``, which also removes what the lost attempt
left), then runs the case once more there. An engine that does not come back within ``wait_s`` takes no more
cases; its interrupted case goes back to the queue for the engines that answer, still with its one retry. With
no engine left, what remains is run anyway and fails at once, each case ERROR with the reason."""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from reprokit.case.reproduce import CaseResult
from reprokit.engine import Engine

ENGINE_WAIT_S = 120.0  # how long a lost engine gets to answer again before its cases go elsewhere

Item = TypeVar("Item")
Run = Callable[[Item, Engine, "str | None"], CaseResult]  # (case, engine, the lost attempt's error) -> result


@dataclass
class _Work(Generic[Item]):
    index: int
    item: Item
    lost: str | None = None  # the first attempt's error, once it lost its engine: the one retry is used up


def spread(items: Sequence[Item], engines: Sequence[Engine], run: Run, *, jobs: int = 1,
           wait_s: float = ENGINE_WAIT_S) -> list[CaseResult]:
    """Run every item on one of ``engines``, ``jobs`` at a time on each; results in the order of ``items``."""
    pending: deque[_Work] = deque(_Work(index, item) for index, item in enumerate(items))
    results: list[CaseResult | None] = [None] * len(items)
    gone: set[str] = set()  # endpoints that did not come back in time
    lock = threading.Lock()

    def take(engine: Engine) -> _Work | None:
        with lock:
            if engine.endpoint in gone and len(gone) < len(engines):
                return None  # leave the rest to the engines that answer
            return pending.popleft() if pending else None

    def worker(engine: Engine) -> None:
        while (work := take(engine)) is not None:
            result = run(work.item, engine, work.lost)
            if result.engine_lost and work.lost is None:
                work.lost = result.explain()
                if engine.endpoint not in gone and engine.reconnect(wait_s):
                    result = run(work.item, engine, work.lost)
                else:
                    with lock:
                        gone.add(engine.endpoint)
                        if len(gone) < len(engines):
                            pending.appendleft(work)  # another engine gives it its retry
                            continue
            results[work.index] = result

    with ThreadPoolExecutor(max_workers=max(1, jobs) * len(engines)) as pool:
        futures = [pool.submit(worker, engine) for engine in engines for _ in range(max(1, jobs))]
        try:
            for future in futures:
                future.result()  # a bug in a worker surfaces here, not as a missing result
        except (KeyboardInterrupt, SystemExit):
            with lock:
                pending.clear()
            for engine in engines:
                engine.abort()  # the process is ending: remove its containers now, so running steps end too
            raise
    return [result for result in results if result is not None]
