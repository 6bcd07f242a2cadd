"""Acknowledged means stored, and stopping is safe: a real `bentoml serve` under load, killed or stopped.

- SIGKILL of the whole process tree (what a container runtime does when its grace period ends, or the kernel's
  OOM killer): every prediction that was answered is in the serving layer.
- SIGTERM (a supervisor, ``docker stop``, Ctrl+C on ``make serve``): the requests in flight are answered and
  stored before the workers exit; none fails.
- Malformed requests: each costs one access-log line, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }}.predictions import database

from ..helpers import Server, start_server

pytestmark = pytest.mark.slow  # each test starts its own `bentoml serve` process
CLIENTS = 8


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (BentoML's workers run in sessions of their own, so a process group or a
    session does not cover them; a container's cgroup does)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


class Load:
    """CLIENTS threads posting one-record requests, each on its own keep-alive connection, until stopped. Every
    answered prediction id is kept; every request that was sent and got no answer (reset, cut, 5xx) is a failure."""

    def __init__(self, server: Server, records: list[dict]) -> None:
        self.server, self.records = server, records
        self.answered: list[str] = []
        self.failed: list[tuple[float, str]] = []  # (when it was sent, what went wrong)
        self.refused = 0  # connections the stopped server no longer accepts: never sent, so not in flight
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def wait_for(self, answered: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < answered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.answered) >= answered, f"only {len(self.answered)} answered: {self.failed[:3]}"

    def _client(self, number: int) -> None:
        sent = 0
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                body = {"records": [self.records[(number * 7919 + sent) % len(self.records)]]}
                sent += 1
                when = time.monotonic()
                try:
                    response = client.post(f"{self.server.url}/predict", json=body)
                except httpx.ConnectError:
                    self.refused += 1
                    time.sleep(0.05)
                    continue
                except httpx.HTTPError as error:
                    self.failed.append((when, f"{type(error).__name__}: {error}"))
                    continue
                if response.status_code == 200:
                    self.answered.extend(answer["id"] for answer in response.json())
                else:
                    self.failed.append((when, f"{response.status_code}: {response.text[:300]}"))


def stored_ids(db_url: str) -> set[str]:
    with database.connect(db_url).connect() as connection:
        query = select(database.scored.c.request_id, database.scored.c.row_key)
        return {f"{request_id}:{key}" for request_id, key in connection.execute(query)}


def test_sigkill_of_the_whole_tree_loses_no_answered_prediction(
    trained_project, champion, bentoml_home, feature_rows, tmp_path
) -> None:
    # given a service under load from concurrent clients
    own = start_server(trained_project, bentoml_home, tmp_path)
    try:
        with Load(own, feature_rows) as load:
            load.wait_for(300)
            # when every process of the service is killed at once, mid-load, as a container runtime kills
            for pid in process_tree(own.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            own.process.wait(30)
    finally:
        own.stop()
    # then every prediction that was answered before the kill is in the serving layer
    answered = set(load.answered)
    missing = answered - stored_ids(own.db_url)
    assert len(answered) >= 300
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions are not stored"


def test_sigterm_answers_and_stores_every_request_in_flight(
    trained_project, champion, bentoml_home, feature_rows, tmp_path
) -> None:
    # given a service under load from concurrent clients
    own = start_server(trained_project, bentoml_home, tmp_path)
    try:
        with Load(own, feature_rows) as load:
            load.wait_for(300)
            # when it is asked to stop (SIGTERM, as from a supervisor; make serve turns Ctrl+C into one) mid-load
            signalled = time.monotonic()
            own.process.send_signal(signal.SIGTERM)
            assert own.process.wait(90) == 0, own.log.read_text()[-3000:]
    finally:
        own.stop()
    # then every request sent before the signal was answered (requests sent after it may be refused or cut: the
    # listening socket closes only once the workers have drained)
    in_flight = [error for sent, error in load.failed if sent < signalled]
    assert not in_flight, f"{len(in_flight)} request(s) in flight failed, e.g. {in_flight[:3]}"
    # and every answered prediction is stored
    answered = set(load.answered)
    assert len(answered) >= 300
    assert not answered - stored_ids(own.db_url)


def test_a_malformed_request_costs_one_log_line_and_no_traceback(server, feature_rows) -> None:
    # given a running service and its log so far
    before = server.log.read_bytes()
    record = feature_rows[0]
    number = next(k for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool))
    bad: list[dict[str, Any]] = [
        {"content": b"this is not json", "headers": {"content-type": "application/json"}},
        {"json": {"records": [record | {number: "not a number"}]}},
        {"json": {"records": [record | {"no_such_feature": 1}]}},
        {"json": {"records": []}},
    ]
    # when 40 malformed requests arrive
    with httpx.Client(timeout=60) as client:
        for i in range(40):
            assert 400 <= client.post(f"{server.url}/predict", **bad[i % len(bad)]).status_code < 500
        # (and a good one after them, so the log has caught up)
        assert client.post(f"{server.url}/predict", json={"records": [record]}).status_code == 200
    time.sleep(1)
    logged = server.log.read_bytes()[len(before) :].decode(errors="replace")
    lines = [line for line in logged.splitlines() if line.strip()]
    # then the log has no traceback, and about one line per request
    assert "Traceback" not in logged, logged[-3000:]
    assert len(lines) <= 41 + 5, "\n".join(lines[-60:])
