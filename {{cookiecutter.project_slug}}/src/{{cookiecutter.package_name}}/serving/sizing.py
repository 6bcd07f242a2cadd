"""From a load test (load_test.py) to a deployment: what one replica asks Kubernetes for, how many replicas serve a
target request rate, and deploy/k8s/serving.yaml rendered with those numbers (``make manifests``).

The load test's figure that does not depend on how busy the machine was is the service's CPU time per answered
request (``c``): a replica's workers are Python processes, each using at most one core, so a replica uses at most
``workers`` cores; the autoscaler adds replicas at ``CPU_UTILIZATION`` percent of the CPU request.

- **Replicas**: enough replicas of ``workers`` cores each to serve the target at that utilization; the autoscaler's
  floor is at least ``MIN_REPLICAS`` (a rollout or a node drain keeps one serving: the PodDisruptionBudget's
  minAvailable), its ceiling serves ``PEAK_FACTOR`` times the target.
- **CPU request**: each replica's share of the target's CPU (target x c / replicas) over the utilization, rounded
  up to 50m (at least 100m, at most ``workers`` cores): at the target rate every replica sits at the utilization.
- **Memory**: the service's processes' largest resident memory under load, plus ``MEMORY_HEADROOM``, rounded up to
  64Mi; the limit is twice the request (a champion swap holds two models for a moment).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..core.config import Config
from ..core.errors import UserError
from ..core.reports import LoadTest, ServiceProfile, Sizing

CPU_UTILIZATION = 70  # percent of the CPU request at which the autoscaler adds a replica
MIN_REPLICAS = 2
PEAK_FACTOR = 3.0  # the autoscaler's ceiling serves this many times the target rate
MEMORY_HEADROOM = 0.25
CPU_STEP_M, CPU_FLOOR_M, MEMORY_STEP_MI = 50, 100, 64


def check_target(target_rps: float) -> None:
    if not (0 < target_rps < math.inf):
        raise UserError(f"the target rate (RPS) must be a number of requests/s above 0, not {target_rps:g}")


def recommend(test: LoadTest, target_rps: float) -> Sizing:
    """Requests per replica and replica bounds for ``target_rps`` requests/s (the module docstring)."""
    check_target(target_rps)
    utilization = CPU_UTILIZATION / 100
    cores_m = target_rps * test.cpu_ms_per_request / utilization  # millicores the target needs at the utilization
    replicas = max(1, math.ceil(cores_m / (1000 * test.workers)))
    low = max(MIN_REPLICAS, replicas)
    cpu_m = math.ceil(cores_m / low / CPU_STEP_M) * CPU_STEP_M
    cpu_m = min(max(CPU_FLOOR_M, cpu_m), 1000 * test.workers)
    replica_rps = utilization * cpu_m / max(test.cpu_ms_per_request, 1e-6)
    memory = math.ceil(test.rss_mb * (1 + MEMORY_HEADROOM) / MEMORY_STEP_MI) * MEMORY_STEP_MI
    return Sizing(
        target_rps=target_rps,
        cpu_request_m=cpu_m,
        memory_request_mi=memory,
        memory_limit_mi=2 * memory,
        cpu_utilization=CPU_UTILIZATION,
        replica_rps=round(replica_rps, 1),
        replicas=replicas,
        min_replicas=low,
        max_replicas=max(low + 1, math.ceil(PEAK_FACTOR * target_rps / replica_rps)),
    )


def _replace(text: str, pattern: str, value: str, what: str, manifest: Path) -> str:
    """``pattern``'s one match, its middle group replaced by ``value`` (the groups around it stay as they were)."""
    found = re.findall(pattern, text, flags=re.MULTILINE)
    if len(found) != 1:
        raise UserError(
            f"{manifest} has {len(found)} {what} line(s), not one: make manifests rewrites exactly that line "
            "(restore it from the template: make update)"
        )
    return re.sub(pattern, lambda match: match.group(1) + value + match.group(3), text, flags=re.MULTILINE)


def render(text: str, profile: ServiceProfile, manifest: Path) -> str:
    """deploy/k8s/serving.yaml with the profile's requests, replicas and autoscaler bounds; nothing else changes
    (the image stays pinned by its digest)."""
    sizing, test = profile.sizing, profile.load_test
    source = (
        f"   # make manifests: from reports/profile.json ({profile.model_name} v{profile.model_version} on "
        f"{profile.runtime}, {test.cpu_ms_per_request:g} ms of CPU per request, {test.rss_mb:g} MiB under load; "
        f"{sizing.target_rps:g} req/s target)"
    )
    cpu, memory, limit = f"{sizing.cpu_request_m}m", f"{sizing.memory_request_mi}Mi", f"{sizing.memory_limit_mi}Mi"
    changes = (  # (pattern with three groups: before, the value, after; the new value; what the line is)
        (r"^(\s+resources:)(.*)()$", source, "resources"),
        (r"^(\s+requests: \{cpu: )([^,}]+)(, memory: [^}]+\})$", cpu, "requests cpu"),
        (r"^(\s+requests: \{cpu: [^,}]+, memory: )([^}]+)(\})$", memory, "requests memory"),
        (r"^(\s+limits: \{memory: )([^}]+)(\})$", limit, "limits"),
        (r"^(  replicas: )(\d+)()$", str(sizing.min_replicas), "Deployment replicas"),
        (r"^(  minReplicas: )(\d+)()$", str(sizing.min_replicas), "minReplicas"),
        (r"^(  maxReplicas: )(\d+)()$", str(sizing.max_replicas), "maxReplicas"),
        (r"^(\s+resource: \{name: cpu, target: \{type: Utilization, averageUtilization: )(\d+)(\}\})$",
         str(sizing.cpu_utilization), "averageUtilization"),
    )  # fmt: skip
    for pattern, value, what in changes:
        text = _replace(text, pattern, value, what, manifest)
    return text


def write_manifest(profile_file: Path, manifest: Path) -> str:
    """Render ``manifest`` in place from ``profile_file`` (reports/profile.json); one line saying what it wrote."""
    profile = ServiceProfile.read(profile_file)
    if profile is None:
        raise UserError(f"{profile_file} not found: run `make profile RPS=<target requests/s>` first")
    if not manifest.exists():
        raise UserError(f"{manifest} not found")
    manifest.write_text(render(manifest.read_text(), profile, manifest))
    sized = profile.sizing
    return (
        f"{manifest}: cpu {sized.cpu_request_m}m, memory {sized.memory_request_mi}Mi per replica, "
        f"{sized.min_replicas}..{sized.max_replicas} replicas (from {profile_file})"
    )


def profile_service(
    cfg: Config, target_rps: float, *, seconds: float, out: Path, concurrency: int = 8, workers: int = 2
) -> ServiceProfile:
    """``make profile``: load-test the champion's service (load_test.py), size it for ``target_rps``, save ``out``."""
    from . import load_test
    from .champion import import_champion
    from .model import planned_runtime, stored_schema

    check_target(target_rps)  # before the service starts
    stored = import_champion(cfg)
    test = load_test.run(cfg, stored_schema(stored).names, seconds=seconds, concurrency=concurrency, workers=workers)
    meta = stored.info.metadata
    profile = ServiceProfile(
        model_name=meta["registered_model"],
        model_version=str(meta["registered_version"]),
        runtime=planned_runtime(stored),
        load_test=test,
        sizing=recommend(test, target_rps),
    )
    profile.save(out)
    return profile


def describe(profile: ServiceProfile, out: Path) -> str:
    """What ``make profile`` prints."""
    test, sizing = profile.load_test, profile.sizing
    measured = (
        f"{profile.model_name} v{profile.model_version} on {profile.runtime}, {test.workers} worker(s): "
        f"{test.requests_per_s:g} req/s from {test.concurrency} clients over {test.seconds:g}s "
        f"(p50 {test.latency_p50_ms:g} ms, p99 {test.latency_p99_ms:g} ms, {test.errors} errors); "
        f"{test.cpu_ms_per_request:g} ms of CPU per request, {test.cpu_cores:g} cores, {test.rss_mb:g} MiB"
    )
    replica = (
        f"per replica: cpu {sizing.cpu_request_m}m, memory {sizing.memory_request_mi}Mi "
        f"(limit {sizing.memory_limit_mi}Mi); {sizing.replica_rps:g} req/s each at {sizing.cpu_utilization}% CPU"
    )
    replicas = (
        f"for {sizing.target_rps:g} req/s: {sizing.replicas} replica(s); autoscaler "
        f"{sizing.min_replicas}..{sizing.max_replicas}"
    )
    written = f"written to {out}: `make manifests` puts it into deploy/k8s/serving.yaml"
    return "\n".join([measured, replica, replicas, written])
