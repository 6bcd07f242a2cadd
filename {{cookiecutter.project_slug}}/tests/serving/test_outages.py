"""Outages of the serving layer under a steady load, against a real `bentoml serve`: SQLite's write lock held by
another client, the service's own write lock held past the deadline, PostgreSQL stopped, frozen (SIGSTOP) and its
table locked, and a cold start with PostgreSQL down; and batch jobs that meet a database that is down.

Each outage checks what a client and an operator see: every request sent during it answered 503 with Retry-After
within about a second (SERVING_WRITE_TIMEOUT is 1 s here), `/readyz` 503 during it and 200 again on its own after
it, no traceback in the log, and the count that matters: acknowledged-but-lost is 0, and nothing answered with
anything but 200 is stored (the rows stored are exactly the rows answered). With OUTAGES_REPORT=<file> each
outage's timeline is appended to it as a JSON line (benchmarks/outages.py prints them as a table).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy import select

from {{ cookiecutter.package_name }}.predictions import database

from ..helpers import PACKAGE, PATHS, Postgres, Server, postgres, start_server

pytestmark = pytest.mark.slow  # real service processes, a real PostgreSQL server
CLIENTS = 4
DEADLINE_S = 1.0  # SERVING_WRITE_TIMEOUT of these services
OUTAGE_S = float(os.environ.get("OUTAGES_HOLD_S") or 4)  # benchmarks/outages.py holds each outage 65 s
FAST = {"SERVING_WRITE_TIMEOUT": str(DEADLINE_S)}


@dataclass
class Answer:
    sent: float
    took: float
    status: int  # 0: no HTTP answer (connection reset, timeout)
    ids: list[str] = field(default_factory=list)
    retry_after: str | None = None


class Traffic:
    """CLIENTS threads posting one-record requests until stopped; every answer is kept with when it was sent."""

    def __init__(self, server: Server, records: list[dict]) -> None:
        self.server, self.records = server, records
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def answered_since(self, since: float) -> int:
        return sum(1 for a in list(self.answers) if a.sent >= since and a.status == 200)

    def wait_for_answers(self, count: int, since: float = 0.0, timeout: float = 60) -> None:
        wait_until(lambda: self.answered_since(since) >= count, timeout, f"{count} answers (200)")

    def _client(self, number: int) -> None:
        sent = 0
        with httpx.Client(timeout=90) as client:
            while not self.stop.is_set():
                body = {"records": [self.records[(number * 7919 + sent) % len(self.records)]]}
                sent += 1
                started = time.monotonic()
                try:
                    response = client.post(f"{self.server.url}/predict", json=body)
                except httpx.HTTPError:
                    self.answers.append(Answer(started, time.monotonic() - started, 0))
                    time.sleep(0.05)
                    continue
                took = time.monotonic() - started
                ids = [a["id"] for a in response.json()] if response.status_code == 200 else []
                self.answers.append(
                    Answer(started, took, response.status_code, ids, response.headers.get("retry-after"))
                )
                if response.status_code != 200:
                    time.sleep(0.05)  # a client that backs off a little, as Retry-After asks


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"no {what} after {timeout}s"
        time.sleep(0.1)
    return time.monotonic() - started


def ready(server: Server) -> int:
    try:
        return httpx.get(f"{server.url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def stored_ids(db_url: str) -> list[str]:
    engine = database.connect(db_url)
    try:
        with engine.connect() as connection:
            query = select(database.scored.c.request_id, database.scored.c.row_key).where(
                database.scored.c.source == database.ONLINE
            )
            return [f"{request_id}:{key}" for request_id, key in connection.execute(query)]
    finally:
        engine.dispose()


def outage(
    name: str, server: Server, records: list[dict], inject: Callable[[], None], heal: Callable[[], None]
) -> dict:
    """Load, inject, hold OUTAGE_S, heal, recover; assert what clients and operators see; returns the timeline."""
    logged = len(server.log.read_bytes())
    earlier = set(stored_ids(server.db_url))  # a service shared by several outages
    with Traffic(server, records) as traffic:
        traffic.wait_for_answers(20)
        injected = time.monotonic()
        inject()
        try:
            noticed = wait_until(lambda: ready(server) == 503, 15, "/readyz 503 during the outage")
            time.sleep(OUTAGE_S)
        finally:
            healed = time.monotonic()
            heal()
        recovered = wait_until(lambda: ready(server) == 200, 30, "/readyz 200 after the outage")
        first_200 = wait_until(lambda: traffic.answered_since(healed) > 0, 30, "a 200 after the outage")
        traffic.wait_for_answers(20, since=healed)
    answers = traffic.answers
    # during the outage (once it was noticed, until it was healed) every request got a quick 503 with Retry-After
    during = [a for a in answers if injected + noticed + DEADLINE_S < a.sent and a.sent + a.took < healed]
    assert during, "no request was sent during the outage"
    assert {a.status for a in during} == {503}, Counter(a.status for a in during)
    assert max(a.took for a in during) < DEADLINE_S + 1.0, sorted(a.took for a in during)[-5:]
    assert all(a.retry_after for a in during)
    assert {a.status for a in answers} <= {200, 503}, Counter(a.status for a in answers)
    # and every prediction answered 200 is stored, and nothing else is
    answered = [i for a in answers for i in a.ids]
    stored = [i for i in stored_ids(server.db_url) if i not in earlier]
    lost = set(answered) - set(stored)
    unanswered = set(stored) - set(answered)
    assert not lost, f"{len(lost)} acknowledged prediction(s) lost"
    assert not unanswered, f"{len(unanswered)} prediction(s) stored although the client got no 200"
    assert len(stored) == len(set(stored))
    log = server.log.read_bytes()[logged:].decode(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    timeline = {
        "outage": name,
        "requests": len(answers),
        "by_code": dict(sorted(Counter(str(a.status) for a in answers).items())),
        "slowest_503_s": round(max(a.took for a in answers if a.status == 503), 3),
        "noticed_s": round(noticed, 2),
        "recovery_s": round(max(recovered, first_200), 2),
        "acknowledged_lost": len(lost),
        "stored_without_200": len(unanswered),
    }
    if path := os.environ.get("OUTAGES_REPORT"):
        with Path(path).open("a") as report:
            report.write(json.dumps(timeline) + "\n")
    return timeline


@pytest.fixture(scope="module")
def sqlite_service(trained_project, champion, bentoml_home, tmp_path_factory) -> Iterator[Server]:
    running = start_server(trained_project, bentoml_home, tmp_path_factory.mktemp("sqlite-outages"), env=FAST)
    yield running
    running.stop()


def test_sqlite_locked_by_another_client(sqlite_service, feature_rows) -> None:
    path = str(sqlalchemy.make_url(sqlite_service.db_url).database)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def inject() -> None:
        holder.execute("BEGIN IMMEDIATE")  # another client holds SQLite's write lock

    outage("SQLite write lock held by another client", sqlite_service, feature_rows, inject, holder.rollback)
    holder.close()


def test_the_write_lock_held_past_the_deadline_detaches_the_waiting_requests(sqlite_service, feature_rows) -> None:
    # the service's own lock (database.WriteLock): a write that waits on it stalls past every request's deadline;
    # the requests answered 503 abandon their rows, which are removed again once the late write commits
    path = Path(f"{sqlalchemy.make_url(sqlite_service.db_url).database}.write-lock")
    with path.open("a") as lock:
        outage(
            "serving.db.write-lock held (a write hung past the deadline)",
            sqlite_service,
            feature_rows,
            lambda: fcntl.flock(lock, fcntl.LOCK_EX),
            lambda: fcntl.flock(lock, fcntl.LOCK_UN),
        )
    # the write that waited on the lock committed once it was released, and its abandoned rows were removed again
    assert "abandoned write(s) that committed late" in sqlite_service.log.read_text()


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def pg_service(pg, trained_project, champion, bentoml_home, tmp_path_factory) -> Iterator[Server]:
    running = start_server(
        trained_project, bentoml_home, tmp_path_factory.mktemp("pg-outages"), db_url=pg.url, env=FAST
    )
    yield running
    running.stop()


def test_postgres_stopped(pg, pg_service, feature_rows) -> None:
    outage("PostgreSQL stopped", pg_service, feature_rows, pg.stop, pg.start)


def test_postgres_frozen(pg, pg_service, feature_rows) -> None:
    outage("PostgreSQL frozen (SIGSTOP)", pg_service, feature_rows, pg.freeze, pg.thaw)


def test_postgres_table_locked(pg, pg_service, feature_rows) -> None:
    holder = sqlalchemy.create_engine(pg.url).connect()

    def inject() -> None:
        holder.exec_driver_sql("BEGIN")
        holder.exec_driver_sql("LOCK TABLE requests IN ACCESS EXCLUSIVE MODE")

    outage("PostgreSQL table locked", pg_service, feature_rows, inject, holder.rollback)
    holder.close()


def test_a_cold_start_with_postgres_down_waits_and_says_so(
    pg, trained_project, champion, bentoml_home, tmp_path
) -> None:
    # given PostgreSQL down when the service starts
    pg.stop()
    try:
        own = start_server(trained_project, bentoml_home, tmp_path, db_url=pg.url, env=FAST, ready=(503,))
        try:
            # then it answers, not ready, and refuses predictions at once; its log says why, without tracebacks
            time.sleep(12)
            assert ready(own) == 503
            refused = httpx.post(f"{own.url}/predict", json={"records": []}, timeout=10)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            log = own.log.read_text()
            waiting = [line for line in log.splitlines() if "connecting to the serving layer" in line]
            assert waiting and len(waiting) <= 2 * 4, log[-3000:]  # one line per interval and worker, not a flood
            assert "Traceback" not in log, log[-3000:]
        finally:
            pg.start()
        # when PostgreSQL is back, it turns ready on its own and serves
        wait_until(lambda: ready(own) == 200, 30, "/readyz 200 once PostgreSQL is back")
        assert own.process.poll() is None
    finally:
        with contextlib.suppress(Exception):
            own.stop()


def batch_command(project: Path, bentoml_home: Path, url: str, *args: str) -> dict:
    env = os.environ | {
        "SERVING_DB_URL": url,
        "BENTOML_HOME": str(bentoml_home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    return {"args": [sys.executable, "-m", PACKAGE, "batch", *args], "cwd": project, "env": env, "text": True}


def batch(project: Path, bentoml_home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = batch_command(project, bentoml_home, url, *args)
    return subprocess.run(**command, capture_output=True, timeout=600, check=False)


def test_batch_waits_for_a_database_that_comes_back(pg, trained_project, champion, bentoml_home) -> None:
    # given PostgreSQL down when a batch starts
    pg.stop()
    command = batch_command(trained_project, bentoml_home, pg.url, "--input", str(PATHS.holdout), "--batch-id", "back")
    job = subprocess.Popen(**command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # when it has met the database down (a line per retry) and the database comes back
        assert job.stderr is not None
        seen: list[str] = []
        while not any("retrying in" in line for line in seen):
            line = job.stderr.readline()
            assert line, "".join(seen)[-3000:]
            seen.append(line)
    finally:
        pg.start()
    stdout, stderr = job.communicate(timeout=300)
    # then it scores the whole file, without a traceback
    assert job.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.splitlines()[-1])["written"] == len(pd.read_parquet(trained_project / PATHS.holdout))
    assert "Traceback" not in "".join(seen) + stderr


def test_batch_gives_up_in_one_line_naming_the_database_and_the_rerun(
    pg, trained_project, champion, bentoml_home
) -> None:
    # given PostgreSQL down for good
    pg.stop()
    try:
        done = batch(trained_project, bentoml_home, pg.url, "--input", str(PATHS.holdout), "--db-retry", "3")
    finally:
        pg.start()
    # then the job ends after its retries with one line: the database (no password), the error, the rerun
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the serving layer {pg.url} failed (OperationalError"), last
    rerun = shlex.split(last.split("rerun `")[1].split("`")[0])
    assert rerun[:4] == ["python", "-m", PACKAGE, "batch"]
    # and that command, run once the database is back, scores the file
    again = batch(trained_project, bentoml_home, pg.url, *rerun[4:])
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.splitlines()[-1])["rows"] == len(pd.read_parquet(trained_project / PATHS.holdout))
