"""Servers for the template's tests and benchmarks: a command started and waited for until it answers over HTTP, and
a throwaway PostgreSQL server (Debian's binaries) in a temporary folder. Both are context managers that stop what they
started, whatever happens inside."""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path


class ServerFailed(RuntimeError):
    """The server exited, or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(process: subprocess.Popen[bytes], ready_url: str, log: Path, timeout: float) -> None:
    """Poll ``ready_url`` until it answers 200; fail as soon as the process exits or the time is up."""
    name = " ".join(map(str, process.args)) if isinstance(process.args, list) else str(process.args)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        if time.monotonic() > deadline:
            raise ServerFailed(
                f"{name} did not answer {ready_url} in {timeout:.0f}s:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):  # not listening yet, or not speaking HTTP yet
            pass
        time.sleep(0.5)


@contextmanager
def serving(
    command: Sequence[str],
    cwd: Path,
    ready_url: str,
    log: Path,
    *,
    env: dict[str, str],
    stop: signal.Signals = signal.SIGTERM,
    timeout: float = 240,
    grace: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server command in its own session (its output in ``log``) once it answers ``ready_url`` with 200.

    Afterwards ``stop`` goes to its whole process group (SIGINT is Ctrl+C in a terminal), then SIGKILL if it has not
    exited in ``grace`` seconds.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_ready(process, ready_url, log, timeout)
        yield process
    finally:
        with suppress(ProcessLookupError):  # it may have exited (or been killed) already
            os.killpg(process.pid, stop)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def postgres_bindir() -> Path | None:
    """Where PostgreSQL's server binaries are (on PATH, or Debian's /usr/lib/postgresql/<version>/bin), if anywhere."""
    found = shutil.which("initdb") or next(
        iter(sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin/initdb")), reverse=True)), None
    )
    return Path(found).resolve().parent if found else None


@dataclass(frozen=True)
class Postgres:
    """A running server: ``url`` is the SQLAlchemy URL of its user without a database (append ``/<database>``)."""

    bindir: Path
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}"

    def libpq_url(self, database: str) -> str:
        """The URL that psql and pg_dump take."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


@contextmanager
def postgres(user: str, databases: Sequence[str] = (), *, durable: bool = True) -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port, its data in a temporary folder removed afterwards; ``user`` is its
    superuser (trust authentication, loopback only) and ``databases`` are created. ``durable=False`` turns fsync off
    (for tests; a benchmark keeps the durable default). Raises LookupError when the binaries are not installed."""
    bindir = postgres_bindir()
    if bindir is None:
        raise LookupError("PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def as_owner(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        as_owner(str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1" + ("" if durable else " -c fsync=off")
        as_owner(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        try:
            for database in databases:
                createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database]
                subprocess.run(createdb, check=True, capture_output=True, timeout=120)
            yield Postgres(bindir, port, user)
        finally:
            as_owner(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
