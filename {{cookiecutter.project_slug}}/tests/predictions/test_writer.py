"""The serving layer's writer on its own: it never dies, refuses instead of queueing while writes fail, and what a
caller abandoned is never left written. (Against real databases and a real service: tests/serving/test_outages.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from {{ cookiecutter.package_name }}.predictions import writer


class Table:
    """What the writes landed in; ``gate`` holds a write (a frozen database), ``down`` fails them (a stopped one)."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.down = False
        self.probes = 0

    def write(self, items: Sequence[str]) -> None:
        self.gate.wait()
        if self.down:
            raise ConnectionError("the database is down")
        if "bad" in items:
            raise ValueError("a refused row")
        self.rows.extend(items)

    def probe(self) -> None:
        self.probes += 1
        if self.down:
            raise ConnectionError("the database is down")

    def undo(self, items: Sequence[str]) -> None:
        for item in items:
            self.rows.remove(item)


def service_writer(table: Table, **options) -> writer.Writer[str]:
    return writer.Writer(
        table.write,
        name="test-writer",
        shed=True,
        stall_after=0.5,
        probe=table.probe,
        probe_every=0.1,
        undo=table.undo,
        outage=lambda error: isinstance(error, ConnectionError),
        **options,
    )


def wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_cancelled_future_does_not_kill_the_writer() -> None:
    table = Table()
    rows = service_writer(table)
    table.gate.clear()
    cancelled = rows.submit("a")
    assert cancelled.cancel()  # what cancelling a request's await did to the shared future
    table.gate.set()
    rows.submit("b").result(5)
    assert table.rows == ["a", "b"]
    rows.close()


def test_an_abandoned_item_is_never_written_or_removed_again() -> None:
    table = Table()
    rows = service_writer(table)
    table.gate.clear()  # a write hangs (a frozen database)
    hung = rows.submit("hung")
    wait(lambda: rows.unavailable() is not None)  # stalled past stall_after: not ready, refusing
    with pytest.raises(writer.Unavailable, match="running for"):
        rows.submit("refused")
    assert rows.abandon(hung)  # its caller answered 503
    table.gate.set()  # the write commits late
    wait(lambda: hung.done() and not table.rows and rows.unavailable() is None)
    assert table.rows == []  # removed again: a 503 means nothing stored
    rows.submit("after").result(5)
    assert table.rows == ["after"]
    rows.close()


def test_while_writes_fail_it_refuses_at_once_and_a_probe_brings_it_back() -> None:
    table = Table()
    rows = service_writer(table)
    table.down = True
    with pytest.raises(ConnectionError):
        rows.submit("lost").result(5)
    started = time.monotonic()
    with pytest.raises(writer.Unavailable, match="refused the last write"):
        rows.submit("refused")
    assert time.monotonic() - started < 0.05
    table.down = False
    wait(lambda: rows.unavailable() is None)
    assert table.probes >= 1
    rows.submit("back").result(5)
    assert table.rows == ["back"]
    rows.close()


def test_a_full_queue_sheds_instead_of_growing() -> None:
    table = Table()
    rows = service_writer(table, depth=2, group=1)
    table.gate.clear()
    taken = rows.submit("taken")  # the writer holds this one
    wait(lambda: rows._queue.qsize() == 0)
    queued = [rows.submit("q1"), rows.submit("q2")]
    with pytest.raises(writer.Overloaded):
        rows.submit("q3")
    table.gate.set()
    for future in [taken, *queued]:
        future.result(5)
    rows.close()


def test_a_bad_item_fails_alone_and_the_writer_stays_available() -> None:
    table = Table()
    rows = service_writer(table)
    table.gate.clear()
    futures: list[Future[None]] = [rows.submit("first")]
    wait(lambda: rows._writing_since is not None)
    futures += [rows.submit(item) for item in ("good", "bad", "also good")]
    table.gate.set()  # "first" commits; the other three go together, fail, and are written one by one
    futures[0].result(5)
    futures[1].result(5)
    with pytest.raises(ValueError, match="refused row"):
        futures[2].result(5)
    futures[3].result(5)
    assert table.rows == ["first", "good", "also good"] and rows.unavailable() is None
    rows.close()
