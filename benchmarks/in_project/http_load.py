"""A threaded HTTP load generator (stdlib only; used when wrk is not installed): each keep-alive connection posts
the bodies in turn until the deadline, after an unrecorded warm-up, optionally pausing between requests.

    python http_load.py HOST PORT PATH BODIES_JSON SECONDS CONCURRENCY WARMUP [DELAY_MS]

BODIES_JSON is a JSON list of request bodies (strings). Prints one JSON line: answered requests/s, p50 and p99 of
the 200 answers (ms), errors (non-200 answers and failed connections), requests (200 answers) and sent (all).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time


def main() -> None:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    bodies = [body.encode() for body in json.loads(sys.argv[4])]
    seconds, concurrency, warmup = float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    delay = float(sys.argv[8]) / 1000 if len(sys.argv) > 8 else 0.0
    latencies: list[float] = []
    errors, sent = [0], [0]
    lock = threading.Lock()

    def worker(deadline: float, record: bool) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        mine: list[float] = []
        bad = count = 0
        while time.perf_counter() < deadline:
            body = bodies[count % len(bodies)]
            count += 1
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                bad += 1
            if delay:
                time.sleep(delay)
        if record:
            with lock:
                latencies.extend(mine)
                errors[0] += bad
                sent[0] += count

    def run(seconds: float, record: bool) -> None:
        deadline = time.perf_counter() + seconds
        threads = [threading.Thread(target=worker, args=(deadline, record)) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run(warmup, record=False)
    started = time.perf_counter()
    run(seconds, record=True)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    result = {"rps": len(latencies) / elapsed, "p50": quantile(0.5), "p99": quantile(0.99), "errors": errors[0]}
    print(json.dumps(result | {"requests": len(latencies), "sent": sent[0]}))


if __name__ == "__main__":
    main()
