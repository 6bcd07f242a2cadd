"""Deployment files of a baked project, validated offline: the Kubernetes manifests (deploy/k8s/) against the Kubernetes
schemas (PyPI kubernetes-validate, strict: an unknown or misspelt field fails), and checked for what they must say:
probes on /readyz and /livez, resources, an autoscaler on the Deployment, credentials only from Secrets, and a
Spark batch job that runs the project's own command."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

KUBERNETES = "1.33.0"  # a version the manifests must hold for; strict schemas ship with kubernetes-validate
SLUG, PACKAGE = "my-mlops-project", "my_mlops_project"
Manifests = dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> the document, with "_file": its file


@pytest.fixture(scope="module")
def manifests(rendered: Callable[..., Path]) -> Manifests:
    project = rendered(github_owner="Acme-Corp")
    found = {}
    for path in sorted((project / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"], document["metadata"]["name"]] = document | {"_file": path.name}
    return found


def without_file(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in document.items() if k != "_file"})


def test_every_manifest_is_valid_for_the_kubernetes_api(manifests: Manifests) -> None:
    assert len(manifests) >= 12
    for (kind, name), document in manifests.items():
        try:
            kubernetes_validate.validate(without_file(document), KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{document['_file']}: {kind} {name}: {error.message} at {list(error.path)}")


def test_the_validator_catches_a_misspelt_field(manifests: Manifests) -> None:
    # guards the test above: strict validation must refuse what the API server would
    deployment = without_file(manifests["Deployment", SLUG])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_service_deployment_probes_resources_and_secrets(manifests: Manifests) -> None:
    pod = manifests["Deployment", SLUG]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/acme-corp/{SLUG}:latest"  # owner lower-cased: a valid image name
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    env = {e["name"]: e for e in container["env"]}
    assert env["SERVING_DB_URL"]["valueFrom"]["secretKeyRef"] == {"name": f"{SLUG}-serving-db", "key": "SERVING_DB_URL"}
    assert [s["secretRef"]["name"] for s in container["envFrom"]] == [f"{SLUG}-mlflow-reader"]
    assert not [e for e in env.values() if "PASSWORD" in e["name"] or ("URL" in e["name"] and "value" in e)]


def test_the_service_and_the_autoscaler_point_at_the_deployment(manifests: Manifests) -> None:
    deployment = manifests["Deployment", SLUG]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = manifests["Service", SLUG]["spec"]
    assert service["selector"].items() <= labels.items()
    ports = {p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert service["ports"][0]["targetPort"] in ports
    hpa = manifests["HorizontalPodAutoscaler", SLUG]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": SLUG}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]


def test_every_secret_the_manifests_read_is_in_the_example(manifests: Manifests) -> None:
    secrets = {name: set(doc["stringData"]) for (kind, name), doc in manifests.items() if kind == "Secret"}
    read: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                read.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            if "secretRef" in node:
                read.update((node["secretRef"]["name"], key) for key in secrets.get(node["secretRef"]["name"], {"?"}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for (kind, _), document in manifests.items():
        if kind != "Secret":
            walk(document)
    conf = manifests["ConfigMap", f"{SLUG}-batch-spark"]["data"]["spark-defaults.conf"]
    for line in conf.splitlines():
        if ".secretKeyRef." in line:
            name, key = line.split()[1].split(":")
            read.add((name, key))
    assert read and all(key in secrets.get(name, set()) for name, key in read), (read, secrets)
    assert {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= secrets[
        f"{SLUG}-mlflow-reader"
    ]


def test_the_spark_job_runs_the_projects_batch_command_on_the_cluster(manifests: Manifests) -> None:
    job = manifests["Job", f"{SLUG}-batch"]["spec"]["template"]["spec"]
    (driver,) = job["containers"]
    command = driver["command"]
    assert command[:4] == ["python", "-m", PACKAGE, "batch"]
    assert command[command.index("--engine") + 1] == "spark"
    assert command[command.index("--spark-master") + 1].startswith("k8s://")
    assert job["serviceAccountName"] == f"{SLUG}-batch"
    role = manifests["Role", f"{SLUG}-batch"]
    assert "create" in role["rules"][0]["verbs"] and "pods" in role["rules"][0]["resources"]
    binding = manifests["RoleBinding", f"{SLUG}-batch"]
    assert binding["subjects"][0]["name"] == job["serviceAccountName"]
    driver_service = manifests["Service", f"{SLUG}-batch-driver"]["spec"]
    assert (
        driver_service["selector"].items()
        <= manifests["Job", f"{SLUG}-batch"]["spec"]["template"]["metadata"]["labels"].items()
    )
    conf = dict(
        line.split(None, 1)
        for line in manifests["ConfigMap", f"{SLUG}-batch-spark"]["data"]["spark-defaults.conf"].splitlines()
    )
    assert conf["spark.driver.host"] == f"{SLUG}-batch-driver"
    assert conf["spark.kubernetes.container.image"] == f"ghcr.io/acme-corp/{SLUG}-spark:latest"


@pytest.fixture(scope="module")
def compose(rendered: Callable[..., Path]) -> Path:
    return rendered() / "deploy" / "tracking" / "compose.yaml"


def test_the_tracking_compose_file_is_valid_for_the_compose_spec(compose: Path) -> None:
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(compose)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_schema_check_refuses_a_misspelt_key(compose: Path, tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    text = compose.read_text()
    broken.write_text(text.replace("    depends_on:\n      postgres:", "    depend_on:\n      postgres:"))
    assert broken.read_text() != text
    command = ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(broken)]
    done = subprocess.run(command, check=False, capture_output=True)
    assert done.returncode != 0


def test_the_tracking_server_runs_the_projects_target_with_postgres_s3_and_no_literal_secret(compose: Path) -> None:
    services = yaml.safe_load(compose.read_text())["services"]
    mlflow = services["mlflow"]
    assert mlflow["command"][:2] == ["make", "mlflow-server"]
    env = mlflow["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    secrets = [v for k, v in env.items() if any(word in k for word in ("PASSWORD", "SECRET", "KEY_ID"))]
    assert secrets and all("${" in value for value in secrets)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")
    assert (compose.parent / "Dockerfile").exists() and (compose.parent / "initdb" / "auth-database.sql").exists()
