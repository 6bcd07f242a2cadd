"""Stop the service mid-load and count what was lost: clients on keep-alive connections post until the service has
given WANTED answers, then it is signalled (``kill``: SIGKILL to every process of its tree at once, as a container
runtime does; ``term``: SIGTERM to its main process); the serving layer is then checked for every acknowledged
prediction.

    python stop_under_load.py PACKAGE PORT BODY PID MODE DB_URL WANTED CLIENTS TREE_PIDS

Prints one JSON line: answered, missing (answered but not stored), failed requests sent before and after the
signal, refused connections after it, and the seconds the service took to exit.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import signal
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from sqlalchemy import select


def exited(pid: int) -> bool:
    """Gone, or a zombie (its parent, this script's caller, reaps it later)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def main() -> None:
    package, port, body, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
    mode, db, wanted, clients = sys.argv[5], sys.argv[6], int(sys.argv[7]), int(sys.argv[8])
    tree = [int(each) for each in sys.argv[9].split(",")]  # the service's processes (Served.processes)
    database = importlib.import_module(f"{package}.predictions.database")
    answered: list[str] = []
    failed: list[tuple[float, str]] = []
    refused = [0]
    stop, lock = threading.Event(), threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            sent = time.monotonic()
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
            except ConnectionRefusedError:
                refused[0] += 1
                connection.close()
                time.sleep(0.05)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failed.append((sent, type(error).__name__))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            with lock:
                if response.status == 200:
                    answered.extend(a["id"] for a in json.loads(data))
                else:
                    failed.append((sent, str(response.status)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    while len(answered) < wanted:
        time.sleep(0.01)
    signalled = time.monotonic()
    if mode == "kill":
        for each in tree:
            with suppress(ProcessLookupError):  # gone already
                os.kill(each, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGTERM)
    while not exited(pid):
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    with database.connect(db).connect() as connection:
        query = select(database.scored.c.request_id, database.scored.c.row_key)
        stored = {f"{request}:{key}" for request, key in connection.execute(query)}
    print(
        json.dumps(
            {
                "answered": len(answered),
                "missing": len(set(answered) - stored),
                "failed_in_flight": sum(1 for sent, _ in failed if sent < signalled),
                "failed_after": sum(1 for sent, _ in failed if sent >= signalled),
                "refused_after": refused[0],
                "stopped_s": time.monotonic() - signalled,
            }
        )
    )


if __name__ == "__main__":
    main()
