"""The one background writer of the serving layer, shared by the hot path (service) and the cold path (batch).

A caller hands items to ``submit`` and gets a future that resolves once the item is committed. One thread takes
whatever has queued since its last commit (up to ``group`` items) and writes it with one call of ``write`` (one
transaction): under load, many concurrent requests share one commit (group commit), and a lone request is
written at once, without waiting for a timer.

- The service waits on the future before it answers, so an answered prediction is stored: a SIGKILL loses only
  requests that were never answered. It submits with ``shed=True``: while the database takes no writes (the last
  write failed, a write has run longer than ``stall_after``, or the first connection is not made yet) or the
  queue holds ``depth`` items, ``submit`` raises ``Unavailable`` at once instead of queueing (a 503 with
  Retry-After), and ``unavailable()`` says why (``/readyz``). While failing, the thread writes a real probe
  (``probe``) every ``probe_every`` seconds and accepts again after the first one that commits.
- A caller that stops waiting (its own deadline, a cancelled request) calls ``abandon(future)``: the item is then
  never written, or, when its transaction was already running, undone after it commits (``undo``). So an
  answer that is not 200 means the row is not in the database, even after a write that hung for minutes.
- A batch job submits a chunk, scores the next one while it is written (``depth`` bounds the queue, so a slow
  database slows the scoring instead of filling memory) and stops at the first failed chunk (``stop_on_error``),
  after retrying transient errors (``retry``) for ``retry_for`` seconds with growing pauses.
- A write that fails because of its data, not the database (``outage(error)`` is false: a refused row), is
  retried item by item: one bad item fails alone, the others commit, and the writer does not turn unavailable.
- Nothing kills the thread: every exception is contained, handed to the futures it concerns and logged once
  (one line when writes start failing, one when they work again).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
LOG_EVERY_S = 10.0  # while the database stays unreachable, one line this often


class Unavailable(Exception):
    """The serving layer takes no writes now; nothing was queued. ``retry_after``: seconds a client should wait."""

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """The write queue is full (the database is slower than the traffic); nothing was queued."""


class Abandoned(Exception):
    """The caller stopped waiting; the item was not written (or its rows were removed again)."""


@dataclass(eq=False)
class _Pending(Generic[T]):
    item: T
    future: Future[None]
    abandoned: bool = False
    settled: bool = False  # decided under the lock: abandon() no longer changes what happens to it


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
        retry: Callable[[BaseException], bool] = lambda error: isinstance(error, Exception),
        stop_on_error: bool = False,
        shed: bool = False,
        stall_after: float = float("inf"),
        prepare: Callable[[], None] | None = None,
        probe: Callable[[], None] | None = None,
        probe_every: float = 1.0,
        undo: Callable[[Sequence[T]], None] | None = None,
        describe: Callable[[BaseException], str] = lambda error: f"{type(error).__name__}: {error}",
        outage: Callable[[BaseException], bool] = lambda _: True,
    ) -> None:
        self.write = write
        self.group = group
        self.retry_for = retry_for
        self.retry = retry
        self.stop_on_error = stop_on_error
        self.shed = shed
        self.stall_after = stall_after
        self.prepare, self.probe, self.probe_every, self.undo = prepare, probe, probe_every, undo
        self.describe = describe
        self.outage = outage
        self.written = 0  # items committed
        self.refused = 0  # items refused by submit (shed) since the last failure began
        self.error: BaseException | None = None  # the first failed write (stop_on_error)
        self.commits = 0
        self.seconds: deque[float] = deque(maxlen=100_000)  # the latest commits' durations, for ``timings``
        self._lock = threading.Lock()
        self._pending: dict[Future[None], _Pending[T]] = {}
        self._ready = prepare is None
        self._failing: str | None = None  # why the last write (or probe, or preparation) failed; None: it worked
        self._failing_since = 0.0
        self._writing_since: float | None = None
        self._undo: list[T] = []  # abandoned items whose transaction committed: to remove again
        self._queue: queue.Queue[_Pending[T] | None] = queue.Queue(maxsize=depth)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[None]:
        """Queue ``item``; the future resolves when it is committed (or fails with the write's error).
        With ``shed``: raises Unavailable (Overloaded when the queue is full) instead of queueing or waiting."""
        if self.stop_on_error and self.error is not None:
            raise self.error
        pending: _Pending[T] = _Pending(item, Future())
        if not self.shed:
            self._queue.put(pending)
            return pending.future
        if (reason := self.unavailable()) is not None:
            self.refused += 1
            raise Unavailable(reason, self.probe_every)
        with self._lock:
            self._pending[pending.future] = pending
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            with self._lock:
                self._pending.pop(pending.future, None)
            self.refused += 1
            raise Overloaded(f"{self._queue.maxsize} writes are queued already", self.probe_every) from None
        return pending.future

    def unavailable(self) -> str | None:
        """Why the serving layer takes no writes now (None: it does): still connecting, the last write failed, or a
        write has been running longer than ``stall_after`` seconds."""
        if not self._ready:
            return f"not connected to the serving layer yet ({self._failing or 'connecting'})"
        if self._failing is not None:
            return f"the serving layer refused the last write ({self._failing})"
        since = self._writing_since
        if since is not None and (running := time.monotonic() - since) > self.stall_after:
            return f"a write to the serving layer has been running for {running:.0f} s"
        return None

    def abandon(self, future: Future[None]) -> bool:
        """The caller stops waiting for ``future``: True when its item will not stay in the database (never
        written, or undone after its transaction commits); False when it was already decided (read the future)."""
        with self._lock:
            pending = self._pending.get(future)
            if pending is None or pending.settled:
                return False
            pending.abandoned = True
            return True

    def close(self, timeout: float = 60) -> None:
        """Commit everything submitted so far, then stop the thread."""
        self._closing.set()
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
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

    # The thread

    def _run(self) -> None:
        if self.prepare is not None:
            self._ready = self._until_it_works(self.prepare, "connecting to the serving layer")
        stopping = False
        while not stopping:
            try:
                stopping = self._step()
            except Exception:  # a bug of ours: logged, and the thread goes on (its requests get 503 at their deadline)
                log.exception("the serving-layer writer hit an unexpected error; it goes on")
        while True:  # what was submitted concurrently with close()
            try:
                rest = self._queue.get_nowait()
            except queue.Empty:
                return
            if rest is not None:
                self._commit([rest])

    def _step(self) -> bool:
        """Take and commit one group (or, while failing, probe); True once close() was called."""
        healing = (self._failing is not None and self.probe is not None) or bool(self._undo)
        try:
            first = self._queue.get(timeout=self.probe_every if healing else None)
        except queue.Empty:
            if self._undo:
                self._undo_committed()
            elif self.probe is not None and self._attempt(self.probe):
                self._recovered()
            return False
        if first is None:
            return True
        taken = [first]
        while len(taken) < self.group:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._commit(taken)
                return True
            taken.append(item)
        self._commit(taken)
        return False

    def _until_it_works(self, call: Callable[[], None], what: str) -> bool:
        """Call ``call`` until it returns (every probe_every seconds), saying so at once and then every LOG_EVERY_S;
        False if closed first."""
        started = time.monotonic()
        logged = -math.inf
        while not self._closing.is_set():
            try:
                call()
            except Exception as error:
                self._failing = self.describe(error)
                if time.monotonic() - logged >= LOG_EVERY_S:
                    logged = time.monotonic()
                    log.warning(
                        "%s: failing for %.0f s (%s); not ready, trying every %g s",
                        what,
                        logged - started,
                        self._failing,
                        self.probe_every,
                    )
                self._closing.wait(self.probe_every)
                continue
            if self._failing is not None:
                log.warning("%s: done after %.0f s", what, time.monotonic() - started)
            self._failing = None
            return True
        return False

    def _attempt(self, call: Callable[[], None]) -> bool:
        """One call of ``call`` (a probe, the preparation): True when it worked; a failure is logged on change."""
        try:
            call()
        except Exception as error:
            self._failed(error)
            return False
        return True

    def _failed(self, error: BaseException) -> None:
        reason = self.describe(error)
        if self._failing is None:
            self._failing_since = time.monotonic()
            self.refused = 0
            refusing = "; new writes are refused until a probe commits" if self.shed else ""
            log.warning("serving layer: writes fail (%s)%s", reason, refusing)
        elif reason != self._failing and time.monotonic() - self._failing_since >= LOG_EVERY_S:
            log.warning("serving layer: writes still fail (%s)", reason)
        self._failing = reason

    def _recovered(self) -> None:
        if self._failing is not None:
            log.warning(
                "serving layer: writes work again after %.1f s (%d request(s) refused meanwhile)",
                time.monotonic() - self._failing_since,
                self.refused,
            )
        self._failing = None

    def _commit(self, taken: list[_Pending[T]]) -> None:
        with self._lock:
            live = [p for p in taken if not p.abandoned]
            dropped = [p for p in taken if p.abandoned]
            for pending in dropped:
                pending.settled = True
                self._pending.pop(pending.future, None)
            self._writing_since = time.monotonic()
        for pending in dropped:
            _settle(pending.future, Abandoned("abandoned before it was written"))
        if not live:
            self._writing_since = None
            return
        if self.stop_on_error and self.error is not None:
            self._writing_since = None
            self._settle_all(live, self.error)
            return
        error = self._write_with_retries([p.item for p in live])
        if error is not None and not self.outage(error) and len(live) > 1 and not self.stop_on_error:
            for pending in live:  # the data, not the database: each item on its own, so one bad item fails alone
                self._commit([pending])
            return
        with self._lock:
            self._writing_since = None
            for pending in live:
                pending.settled = True
                self._pending.pop(pending.future, None)
            undo = [p.item for p in live if p.abandoned and error is None]
        if error is not None:
            self.error = self.error or error
            if self.outage(error):
                self._failed(error)
            else:
                log.error("writing to the serving layer failed (%s)", self.describe(error))
            self._settle_all(live, error)
            return
        self._recovered()
        self.written += len(live) - len(undo)
        for pending in live:
            _settle(pending.future, Abandoned("undone: the caller stopped waiting") if pending.abandoned else None)
        self._undo.extend(undo)
        if self._undo:
            self._undo_committed()

    def _write_with_retries(self, items: list[T]) -> BaseException | None:
        deadline, pause = time.monotonic() + self.retry_for, 0.5
        while True:
            started = time.perf_counter()
            try:
                self.write(items)
            except BaseException as error:  # also KeyboardInterrupt: the caller re-raises it from the future
                if self.retry(error) and time.monotonic() + pause < deadline and not self._closing.is_set():
                    log.warning(
                        "writing to the serving layer failed (%s); retrying in %.1f s", self.describe(error), pause
                    )
                    time.sleep(pause)
                    pause = min(pause * 2, 8.0)
                    continue
                return error
            self.seconds.append(time.perf_counter() - started)
            self.commits += 1
            return None

    def _undo_committed(self) -> None:
        """Remove the rows of abandoned items whose transaction committed (retried until it works)."""
        if self.undo is None:
            self._undo.clear()
            return
        self._writing_since = time.monotonic()
        try:
            self.undo(self._undo)
        except Exception as error:
            self._failed(error)
            return
        finally:
            self._writing_since = None
        log.warning("serving layer: removed %d abandoned write(s) that committed late", len(self._undo))
        self._undo.clear()

    @staticmethod
    def _settle_all(pending: list[_Pending[T]], error: BaseException) -> None:
        for each in pending:
            _settle(each.future, error)


def _settle(future: Future[None], error: BaseException | None) -> None:
    """Resolve ``future`` (with ``error``, or done); a future someone cancelled stays cancelled."""
    try:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass
