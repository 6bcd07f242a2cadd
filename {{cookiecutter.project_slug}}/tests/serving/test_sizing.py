"""From a load test to a deployment: requests and replicas for a target rate, and serving.yaml rendered with them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.core.reports import LoadTest, ServiceProfile
from {{ cookiecutter.package_name }}.serving import sizing

from ..helpers import PROJECT

MANIFEST = PROJECT / "deploy" / "k8s" / "serving.yaml"
# A load test as make profile measured one on a busy 2-core machine: 1.74 ms of CPU per request, 603 MiB
MEASURED = LoadTest(
    seconds=5,
    concurrency=8,
    workers=2,
    requests=517,
    errors=0,
    requests_per_s=103.4,
    latency_p50_ms=52.9,
    latency_p99_ms=444.6,
    cpu_ms_per_request=1.74,
    cpu_cores=0.18,
    rss_mb=602.9,
)


def test_a_low_rate_gets_two_small_replicas() -> None:
    found = sizing.recommend(MEASURED, 100)
    # 100 req/s x 1.74 ms = 174m of CPU, 249m at 70%: one replica would do, two for availability, 124m each -> 150m
    assert (found.replicas, found.min_replicas, found.cpu_request_m) == (1, 2, 150)
    assert found.replica_rps == round(0.7 * 150 / 1.74, 1)  # 60.3 req/s each at the autoscaler's target
    assert found.max_replicas == 5  # 300 req/s (3x) / 60.3
    # 603 MiB + 25% = 754 -> 768Mi, the limit twice that
    assert (found.memory_request_mi, found.memory_limit_mi) == (768, 1536)


def test_a_high_rate_adds_replicas_of_at_most_one_core_per_worker() -> None:
    found = sizing.recommend(MEASURED, 2000)
    # 2000 x 1.74 ms / 0.7 = 4971m: three replicas of two workers (2000m each), 1657m each -> 1700m
    assert (found.replicas, found.min_replicas, found.cpu_request_m) == (3, 3, 1700)
    assert found.cpu_request_m <= 1000 * MEASURED.workers
    assert found.max_replicas == 9


@pytest.mark.parametrize("rate", [0, -5, float("inf"), float("nan")])
def test_a_target_rate_that_is_not_a_positive_number_is_refused(rate: float) -> None:
    with pytest.raises(UserError, match="the target rate"):
        sizing.recommend(MEASURED, rate)


def profile(target: float) -> ServiceProfile:
    return ServiceProfile(
        model_name="my-model",
        model_version="3",
        runtime="onnxruntime",
        load_test=MEASURED,
        sizing=sizing.recommend(MEASURED, target),
    )


def test_the_manifest_takes_the_profiles_requests_and_bounds_and_nothing_else() -> None:
    text = MANIFEST.read_text()
    rendered = sizing.render(text, profile(2000), MANIFEST)
    documents = {d["kind"]: d for d in yaml.safe_load_all(rendered)}
    deployment = documents["Deployment"]["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1700m", "memory": "768Mi"}, "limits": {"memory": "1536Mi"}}
    assert deployment["replicas"] == 3
    hpa = documents["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    # every other line is as it was: the image stays pinned by its digest
    changed = [(a, b) for a, b in zip(text.splitlines(), rendered.splitlines(), strict=True) if a != b]
    assert len(changed) == 6, changed
    image = re.search(r'^ +image: ".*@sha256:[0-9a-f]{64}"$', rendered, re.MULTILINE)
    assert image is not None and image.group(0) in text
    assert "# make manifests: from reports/profile.json (my-model v3 on onnxruntime" in rendered
    # and rendering again for another rate rewrites the same lines
    again = sizing.render(rendered, profile(100), MANIFEST)
    assert sizing.render(text, profile(100), MANIFEST) == again


def test_a_manifest_without_the_line_to_rewrite_is_one_error_naming_it() -> None:
    text = MANIFEST.read_text().replace("limits: {memory:", "limits: {cpu: 1, memory:")
    with pytest.raises(UserError, match=r"has 0 limits line\(s\), not one"):
        sizing.render(text, profile(100), MANIFEST)


def test_manifests_before_make_profile_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"make profile RPS="):
        sizing.write_manifest(tmp_path / "profile.json", MANIFEST)
