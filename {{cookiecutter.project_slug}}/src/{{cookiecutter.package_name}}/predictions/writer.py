"""The one background writer of the serving layer, shared by the hot path (service) and the cold path (batch).

A caller hands items to ``submit`` and gets a future that resolves once the item is committed. One thread takes
whatever has queued since its last commit (up to ``group`` items) and writes it with one call of ``write`` (one
transaction): under load, many concurrent requests share one commit (group commit), and a lone request is
written at once, without waiting for a timer.

- The service waits on the future before it answers, so an answered prediction is stored: a SIGKILL loses only
  requests that were never answered.
- A batch job submits a chunk, scores the next one while it is written (``depth`` bounds the queue, so a slow
  database slows the scoring instead of filling memory) and stops at the first failed chunk (``stop_on_error``).
- A failed write is retried for ``retry_for`` seconds (the database restarting, a lock held too long); then the
  futures of that group fail, and their callers report it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Writer(Generic[T]):
    """Commits submitted items on one background thread, many at a time; see the module's docstring."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        name: str,
        group: int = 256,
        depth: int = 0,
        retry_for: float = 0.0,
        stop_on_error: bool = False,
    ) -> None:
        self.write = write
        self.group = group
        self.retry_for = retry_for
        self.stop_on_error = stop_on_error
        self.written = 0  # items committed
        self.error: BaseException | None = None  # the first failed write (stop_on_error)
        self.commits = 0
        self.seconds: deque[float] = deque(maxlen=100_000)  # the latest commits' durations, for ``timings``
        self._queue: queue.Queue[tuple[T, Future[None]] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[None]:
        """Queue ``item``; the future resolves when it is committed (or fails with the write's error)."""
        if self.stop_on_error and self.error is not None:
            raise self.error
        future: Future[None] = Future()
        self._queue.put((item, future))
        return future

    def close(self, timeout: float = 60) -> None:
        """Commit everything submitted so far, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the serving-layer writer did not finish within %ss; some rows may be missing", timeout)

    def timings(self) -> str:
        """How long the commits took (median, 99th percentile, slowest): where a slow tail would come from."""
        if not self.seconds:
            return "no commits"
        ordered = sorted(self.seconds)
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return f"{self.commits} commit(s), p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"

    def _take(self) -> tuple[list[tuple[T, Future[None]]], bool]:
        """Block for one item, then take what else is queued (up to ``group``); True once close() was called."""
        first = self._queue.get()
        if first is None:
            return [], True
        taken = [first]
        while len(taken) < self.group:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return taken, True
            taken.append(item)
        return taken, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            taken, stopping = self._take()
            if taken:
                self._commit(taken)
        while True:  # what was submitted concurrently with close()
            try:
                rest = self._queue.get_nowait()
            except queue.Empty:
                return
            if rest is not None:
                self._commit([rest])

    def _commit(self, taken: list[tuple[T, Future[None]]]) -> None:
        if self.stop_on_error and self.error is not None:
            for _, future in taken:
                future.set_exception(self.error)
            return
        deadline = time.monotonic() + self.retry_for
        while True:
            started = time.perf_counter()
            try:
                self.write([item for item, _ in taken])
            except BaseException as error:  # also KeyboardInterrupt: the caller re-raises it from the future
                if isinstance(error, Exception) and time.monotonic() < deadline:
                    log.warning("writing %d item(s) to the serving layer failed (%s); retrying", len(taken), error)
                    time.sleep(0.5)
                    continue
                self.error = self.error or error
                for _, future in taken:
                    future.set_exception(error)
                return
            break
        self.seconds.append(time.perf_counter() - started)
        self.commits += 1
        self.written += len(taken)
        for _, future in taken:
            future.set_result(None)
