"""Deployment files of a baked project, validated offline: the Kubernetes manifests (deploy/k8s/) against the Kubernetes
schemas (PyPI kubernetes-validate, strict: an unknown or misspelt field fails), and checked for what they must say:
probes on /readyz and /livez, resources, an autoscaler on the Deployment, credentials only from Secrets, and a
Spark batch job that runs the project's own command.

And what keeps them safe (issue 21, finding 5): every image by digest, never by a tag (`make image-pin` writes the
release's attested digest); everything in the project's namespace, where Pod Security `restricted` is enforced, and
every pod the manifests create, Spark's executors included, restricted; the Spark service account may touch pods
and nothing else. Negative mutations prove each check bites."""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .projects import bake, project_env

KUBERNETES = "1.33.0"  # a version the manifests must hold for; strict schemas ship with kubernetes-validate
SLUG, PACKAGE = "my-mlops-project", "my_mlops_project"
Manifests = dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> the document, with "_file": its file
BY_DIGEST = re.compile(
    r"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9._-]+(/[a-z0-9._-]+)*(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$"
)
# Pod Security Standards, `restricted` (kubernetes.io/docs/concepts/security/pod-security-standards)
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC", "hostUsers")


def restricted_findings(name: str, spec: dict[str, Any]) -> list[str]:
    """What a pod ``spec`` does that the `restricted` Pod Security Standard forbids."""
    found = []
    pod = spec.get("securityContext") or {}
    found += [f"{name}: {key}" for key in HOST_NAMESPACES if spec.get(key) and key != "hostUsers"]
    for volume in spec.get("volumes") or []:
        kind = set(volume) - {"name"}
        if kind - RESTRICTED_VOLUMES:
            found.append(f"{name}: volume {volume['name']} of type {sorted(kind)}")
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        where = f"{name}/{container['name']}"
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{where}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            found.append(f"{where}: runAsNonRoot is not true")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            found.append(f"{where}: runs as user 0")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccompProfile {seccomp!r}, not RuntimeDefault")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}: does not drop ALL capabilities")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities {capabilities['add']}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            found.append(f"{where}: a host port")
    return found


def pod_specs(manifests: Manifests) -> dict[str, dict[str, Any]]:
    """Every pod the manifests make: the workloads' templates, and the Spark executors' pod template."""
    specs: dict[str, dict[str, Any]] = {}
    for (kind, name), document in manifests.items():
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            specs[f"{kind} {name}"] = document["spec"]["template"]["spec"]
        if kind == "Pod":
            specs[f"Pod {name}"] = document["spec"]
    specs["Spark executor"] = executor_template(manifests)["spec"]
    return specs


def executor_template(manifests: Manifests) -> dict[str, Any]:
    config = manifests["ConfigMap", f"{SLUG}-batch-spark"]["data"]
    conf = dict(line.split(None, 1) for line in config["spark-defaults.conf"].splitlines())
    assert conf["spark.kubernetes.executor.podTemplateFile"] == "/opt/spark-conf/executor-pod.yaml"
    template: dict[str, Any] = yaml.safe_load(config["executor-pod.yaml"])
    return template


def namespace_findings(manifests: Manifests) -> list[str]:
    """The project's namespace enforces `restricted`, every other resource sits in it, and every pod is restricted."""
    (namespace,) = [doc for (kind, _), doc in manifests.items() if kind == "Namespace"]
    labels = namespace["metadata"].get("labels") or {}
    found = []
    if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
        found.append(f"namespace {namespace['metadata']['name']}: Pod Security `restricted` is not enforced")
    for (kind, name), document in manifests.items():
        if kind != "Namespace" and document["metadata"].get("namespace") != namespace["metadata"]["name"]:
            found.append(f"{kind} {name}: not in the namespace {namespace['metadata']['name']}")
    for name, spec in pod_specs(manifests).items():
        found += restricted_findings(name, spec)
    return found


def role_findings(manifests: Manifests) -> list[str]:
    """The Spark driver's role: pods, and nothing else (no secrets, no wildcard, no other resource)."""
    found = []
    for (kind, name), document in manifests.items():
        if kind not in ("Role", "ClusterRole"):
            continue
        for rule in document["rules"]:
            if kind == "ClusterRole" or rule.get("resources") != ["pods"] or rule.get("apiGroups") != [""]:
                found.append(f"{kind} {name}: grants {rule.get('verbs')} on {rule.get('resources')} beyond its pods")
            if "*" in rule.get("verbs", []):
                found.append(f"{kind} {name}: grants every verb")
    return found


def image_findings(manifests: Manifests, dockerfiles: dict[str, str]) -> list[str]:
    """Every image a manifest runs, and every Dockerfile's base, by digest."""
    found = []

    def walk(where: str, node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str) and not BY_DIGEST.match(value):
                    found.append(f"{where}: image {value!r} is not pinned by digest")
                walk(where, value)
        elif isinstance(node, list):
            for value in node:
                walk(where, value)

    for (kind, name), document in manifests.items():
        walk(f"{kind} {name}", without_file(document))
    conf = manifests["ConfigMap", f"{SLUG}-batch-spark"]["data"]["spark-defaults.conf"]
    images = [line.split()[1] for line in conf.splitlines() if line.split()[0].endswith("container.image")]
    found += [
        f"spark-defaults.conf: {image!r} is not pinned by digest" for image in images if not BY_DIGEST.match(image)
    ]
    for name, text in dockerfiles.items():
        arguments = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
        for base in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
            image = expanded(base, arguments)
            if not BY_DIGEST.match(image):
                found.append(f"{name}: FROM {base} is not pinned by digest")
    return found


def expanded(base: str, arguments: dict[str, str]) -> str:
    """A Dockerfile's FROM image with its ``${ARG}`` references replaced by the ARG defaults (unknown ones kept)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m[1], m[0]), base)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("k8s"), github_owner="Acme-Corp")


def load_manifests(folder: Path) -> Manifests:
    found: Manifests = {}
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"], document["metadata"]["name"]] = document | {"_file": path.name}
    return found


@pytest.fixture(scope="module")
def manifests(project: Path) -> Manifests:
    return load_manifests(project / "deploy" / "k8s")


@pytest.fixture(scope="module")
def dockerfiles(project: Path) -> dict[str, str]:
    return {p.relative_to(project).as_posix(): p.read_text() for p in sorted(project.glob("deploy/**/*Dockerfile"))}


def without_file(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in document.items() if k != "_file"})


def test_every_manifest_is_valid_for_the_kubernetes_api(manifests: Manifests) -> None:
    assert len(manifests) >= 13
    executor = executor_template(manifests) | {"metadata": {"name": "spark-executor"}}
    for (kind, name), document in [*manifests.items(), (("Pod", "spark-executor"), executor | {"_file": "spark"})]:
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
    assert container["image"] == f"ghcr.io/acme-corp/{SLUG}@sha256:{'0' * 64}"  # owner lower-cased; make image-pin
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    env = {e["name"]: e for e in container["env"]}
    assert env["SERVING_DB_URL"]["valueFrom"]["secretKeyRef"] == {"name": f"{SLUG}-serving-db", "key": "SERVING_DB_URL"}
    assert [s["secretRef"]["name"] for s in container["envFrom"]] == [
        f"{SLUG}-mlflow-serving",
        f"{SLUG}-service-tokens",
    ]
    assert not [e for e in env.values() if "PASSWORD" in e["name"] or ("URL" in e["name"] and "value" in e)]
    assert not [e for e in env.values() if "TOKEN" in e["name"]]  # the tokens come from their Secret only


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
    # one MLflow user per consumer: the service and the Spark batch job each their own
    for consumer in ("serving", "batch"):
        assert {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= secrets[
            f"{SLUG}-mlflow-{consumer}"
        ]
    job = manifests["Job", f"{SLUG}-batch"]["spec"]["template"]["spec"]["containers"][0]
    assert [s["secretRef"]["name"] for s in job["envFrom"]] == [f"{SLUG}-mlflow-batch"]


def test_the_spark_job_runs_the_projects_batch_command_on_the_cluster(manifests: Manifests) -> None:
    job = manifests["Job", f"{SLUG}-batch"]["spec"]["template"]["spec"]
    (driver,) = job["containers"]
    command = driver["command"]
    assert command[:4] == ["python", "-m", PACKAGE, "batch"]
    assert command[command.index("--engine") + 1] == "spark"
    assert command[command.index("--spark-master") + 1].startswith("k8s://")
    assert job["serviceAccountName"] == f"{SLUG}-batch"
    role = manifests["Role", f"{SLUG}-batch"]
    assert "create" in role["rules"][0]["verbs"] and role["rules"][0]["resources"] == ["pods"]
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
    assert conf["spark.kubernetes.container.image"] == f"ghcr.io/acme-corp/{SLUG}-spark@sha256:{'0' * 64}"
    assert conf["spark.kubernetes.executor.disableConfigMap"] == "true"  # so the role needs no configmaps


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


# --- what keeps the deployment safe, and the negative mutations that prove each check bites ---------------------


def test_every_image_is_pinned_by_digest(manifests: Manifests, dockerfiles: dict[str, str]) -> None:
    assert set(dockerfiles) == {"deploy/k8s/spark.Dockerfile", "deploy/tracking/Dockerfile"}
    assert image_findings(manifests, dockerfiles) == []


def test_the_compose_images_are_pinned_by_digest(compose: Path) -> None:
    services = yaml.safe_load(compose.read_text())["services"]
    assert [name for name, s in services.items() if "image" in s and not BY_DIGEST.match(s["image"])] == []


def test_a_tag_instead_of_a_digest_is_caught(manifests: Manifests, dockerfiles: dict[str, str]) -> None:
    mutated = copy.deepcopy(manifests)
    mutated["Deployment", SLUG]["spec"]["template"]["spec"]["containers"][0]["image"] = (
        f"ghcr.io/acme-corp/{SLUG}:latest"
    )
    assert any(":latest' is not pinned by digest" in f for f in image_findings(mutated, dockerfiles))
    tagged = {"Dockerfile": dockerfiles["deploy/tracking/Dockerfile"].replace("-slim@sha256:", "-slim #")}
    assert image_findings(manifests, tagged) == ["Dockerfile: FROM python:3.11-slim is not pinned by digest"]
    unset = {
        "spark.Dockerfile": re.sub(
            r"^ARG BASE=.*$", "ARG BASE", dockerfiles["deploy/k8s/spark.Dockerfile"], flags=re.MULTILINE
        )
    }
    assert image_findings(manifests, unset) == ["spark.Dockerfile: FROM ${BASE} is not pinned by digest"]


def test_everything_runs_restricted_in_the_projects_namespace(manifests: Manifests) -> None:
    assert namespace_findings(manifests) == []
    assert role_findings(manifests) == []


PodChange = Callable[[dict[str, Any]], None]  # edits a pod spec in place


def privileged(spec: dict[str, Any]) -> None:
    spec["containers"][0]["securityContext"]["privileged"] = True


def host_path(spec: dict[str, Any]) -> None:
    spec["volumes"] = [*spec.get("volumes", []), {"name": "host", "hostPath": {"path": "/"}}]


def unconfined(spec: dict[str, Any]) -> None:
    spec["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


def as_root(spec: dict[str, Any]) -> None:
    spec["securityContext"] |= {"runAsNonRoot": False, "runAsUser": 0}


def net_admin(spec: dict[str, Any]) -> None:
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        (privileged, "privileged"),
        (host_path, "volume host of type ['hostPath']"),
        (unconfined, "seccompProfile 'Unconfined'"),
        (as_root, "runAsNonRoot is not true"),
        (net_admin, "adds capabilities ['NET_ADMIN']"),
    ],
)
def test_an_unrestricted_pod_is_caught(manifests: Manifests, change: PodChange, caught: str) -> None:
    for target in ("Deployment", "Job", "executor"):
        mutated = copy.deepcopy(manifests)
        if target == "executor":
            config = mutated["ConfigMap", f"{SLUG}-batch-spark"]["data"]
            template = yaml.safe_load(config["executor-pod.yaml"])
            change(template["spec"])
            config["executor-pod.yaml"] = yaml.safe_dump(template)
        else:
            name = SLUG if target == "Deployment" else f"{SLUG}-batch"
            change(mutated[target, name]["spec"]["template"]["spec"])
        found = namespace_findings(mutated)
        assert any(caught in f for f in found), (target, found)


def test_a_namespace_without_pod_security_or_a_resource_outside_it_is_caught(manifests: Manifests) -> None:
    mutated = copy.deepcopy(manifests)
    (namespace,) = [key for key in mutated if key[0] == "Namespace"]
    del mutated[namespace]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    del mutated["Job", f"{SLUG}-batch"]["metadata"]["namespace"]
    found = namespace_findings(mutated)
    assert any("restricted` is not enforced" in f for f in found)
    assert f"Job {SLUG}-batch: not in the namespace {SLUG}" in found


def test_a_wider_spark_role_is_caught(manifests: Manifests) -> None:
    mutated = copy.deepcopy(manifests)
    mutated["Role", f"{SLUG}-batch"]["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
    assert any("on ['secrets'] beyond its pods" in f for f in role_findings(mutated))


# --- make image-pin: the digest that release.yml attested, for the version's own ref ------------------------------

GH_STUB = """#!/bin/bash
printf '%s\\n' "$@" > "$GH_ARGS"
[[ -n "$DIGEST" ]] || { echo "no attestation" >&2; exit 1; }
echo "$DIGEST"
"""


def image_pin(
    project: Path, tmp_path: Path, version: str, digest: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    gh = tmp_path / "gh"
    gh.write_text(GH_STUB)
    gh.chmod(0o755)
    env = project_env(project) | {"GH": str(gh), "GH_ARGS": str(tmp_path / "args"), "DIGEST": digest}
    env |= {"VERSION": version, "OWNER": "Acme-Corp"}
    done = subprocess.run(["make", "image-pin"], cwd=project, env=env, capture_output=True, text=True, timeout=60)
    args = (tmp_path / "args").read_text().splitlines() if (tmp_path / "args").exists() else []
    return done, args


def test_image_pin_writes_the_digest_the_releases_attestation_signs(project: Path, tmp_path: Path) -> None:
    serving = project / "deploy" / "k8s" / "serving.yaml"
    before = serving.read_text()
    try:
        # When a release tag's image is pinned
        done, args = image_pin(project, tmp_path, "v1.2.3", "ab" * 32)
        # Then gh verified it against this repository's release.yml at that tag, and the manifest names its digest
        assert done.returncode == 0, done.stdout + done.stderr
        assert args[:2] == ["attestation", "verify"] and args[2] == f"oci://ghcr.io/acme-corp/{SLUG}:v1.2.3"
        flags = dict(zip(args[3::2], args[4::2], strict=False))
        assert flags["--repo"] == f"Acme-Corp/{SLUG}"
        assert flags["--signer-workflow"] == f"Acme-Corp/{SLUG}/.github/workflows/release.yml"
        assert flags["--source-ref"] == "refs/tags/v1.2.3"
        pinned = load_manifests(serving.parent)["Deployment", SLUG]["spec"]["template"]["spec"]["containers"][0]
        assert pinned["image"] == f"ghcr.io/acme-corp/{SLUG}@sha256:{'ab' * 32}"
        # and a manual release from main is checked against main's ref
        done, args = image_pin(project, tmp_path, "main-0123456789ab", "cd" * 32)
        assert done.returncode == 0 and args[args.index("--source-ref") + 1] == "refs/heads/main"
        assert f"@sha256:{'cd' * 32}" in serving.read_text()
    finally:
        serving.write_text(before)


def test_image_pin_refuses_an_unattested_image_and_changes_nothing(project: Path, tmp_path: Path) -> None:
    serving = project / "deploy" / "k8s" / "serving.yaml"
    before = serving.read_text()
    for version, digest in (("v1.2.3", ""), ("v1.2.3", "not-a-digest"), ("dev", "ab" * 32)):
        done, _ = image_pin(project, tmp_path, version, digest)
        assert done.returncode != 0 and serving.read_text() == before, (version, digest, done.stdout)
