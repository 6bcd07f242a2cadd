"""deploy/arc/: one runner scale set per pool (trusted, pull request) and kind (CPU, GPU), validated offline.

The values files are Helm values of ARC's `gha-runner-scale-set` chart (0.14). The chart copies `template` into
each runner pod as it is (a PodTemplateSpec), so each `template` is validated as the Pod it becomes, strictly
(unknown fields are errors), with kubernetes-validate's bundled schemas (no cluster, no network); the keys around
it are checked against the chart's values. The plain manifests beside them (the trusted caches' claim, the
pull-request namespace's NetworkPolicy) are validated as they are.

The pool rules: a pull-request pod mounts nothing shared or persistent (emptyDir only), gets no Docker, no
service-account token, no privilege; no pod of either pool gets a container mode (Docker in a privileged sidecar)
or a privileged container; each pool's pods run only on their own node pool (a required node affinity on the
runner-pool label, a toleration of their own pool's taint and of no other, no wildcard toleration); each pool has
a label the other lacks; every image is pinned by digest; a GPU pod sees only the GPU it requested (no
NVIDIA_VISIBLE_DEVICES); the pull-request namespace cannot reach the cloud metadata addresses (169.254.169.254,
Azure's 168.63.129.16) or a private range. Negative mutations prove each check bites.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .matrix import combo_id, labels_of, workflow_combinations

K8S_VERSION = kubernetes_validate.latest_version()
POOLS = ("trusted", "pr")
KINDS = ("cpu", "gpu")
CHART_KEYS = {
    "githubConfigUrl",
    "githubConfigSecret",
    "runnerScaleSetName",
    "scaleSetLabels",
    "runnerGroup",
    "minRunners",
    "maxRunners",
    "template",
    "containerMode",
    "listenerTemplate",
    "controllerServiceAccount",
    "proxy",
    "githubServerTLS",
    "keyVault",
    "annotations",
    "labels",
}
Projects = dict[str, tuple[dict[str, str], Path]]  # combination -> (its answers, the baked project)
AUTOMATIC_LABELS = {"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"}
BY_DIGEST = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$")
NODE_POOL = {"trusted": "trusted", "pr": "pull-request"}  # the runner-pool label and taint of each pool's nodes
METADATA = ("169.254.169.254", "168.63.129.16")  # cloud metadata (AWS, GCP, Azure IMDS) and Azure's WireServer
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
SHARED_VOLUMES = {
    "persistentVolumeClaim",
    "hostPath",
    "nfs",
    "csi",
    "ephemeral",
    "iscsi",
    "cephfs",
    "glusterfs",
    "azureFile",
    "awsElasticBlockStore",
    "gcePersistentDisk",
}


def values_of(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (pool, kind): yaml.safe_load((folder / f"{pool}-{kind}-values.yaml").read_text())
        for pool in POOLS
        for kind in KINDS
    }


def validation_errors(resource: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(map(str, error.path))
        return [f"{resource['kind']} {resource['metadata'].get('name')}: {where}: {error.message}"]
    return []


def as_pod(values: dict[str, Any]) -> dict[str, Any]:
    template = values["template"]
    metadata = {"name": values["runnerScaleSetName"], **template.get("metadata", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def pool_findings(pool: str, kind: str, values: dict[str, Any]) -> list[str]:
    name = f"{pool}-{kind}"
    found = [f"{name}: {key!r} is not a value of the gha-runner-scale-set chart" for key in set(values) - CHART_KEYS]
    spec = values["template"]["spec"]
    found += [f"{name}: {error}" for error in validation_errors(as_pod(values))]
    for container in containers(spec):
        if not BY_DIGEST.match(str(container.get("image", ""))):
            found.append(f"{name}: image {container.get('image')!r} is not pinned by digest")
        if any(env.get("name") == "NVIDIA_VISIBLE_DEVICES" for env in container.get("env") or []):
            found.append(f"{name}: NVIDIA_VISIBLE_DEVICES overrides the GPUs the pod was given")
        if (container.get("securityContext") or {}).get("privileged"):
            found.append(f"{name}: a privileged container")
    if "containerMode" in values:
        found.append(
            f"{name}: a container mode ({values['containerMode'].get('type')}): Docker or the Kubernetes API in the pod"
        )
    found += node_pool_findings(name, NODE_POOL[pool], spec)
    if kind == "gpu":
        runner = spec["containers"][0]["resources"]
        if runner["limits"].get("nvidia.com/gpu") != 1 or runner["requests"].get("nvidia.com/gpu") != 1:
            found.append(f"{name}: a runner pod asks for other than one GPU")
    if pool == "pr":
        if spec.get("automountServiceAccountToken") is not False:
            found.append(f"{name}: a pull-request pod gets a service-account token")
        for volume in spec.get("volumes", []):
            shared = SHARED_VOLUMES & set(volume)
            if shared or set(volume) - {"name", "emptyDir"}:
                found.append(
                    f"{name}: volume {volume['name']!r} ({', '.join(sorted(set(volume) - {'name'}))}) "
                    "outlives the pod or is shared"
                )
        for container in containers(spec):
            context = container.get("securityContext") or {}
            if context.get("allowPrivilegeEscalation") is not False or context.get("runAsNonRoot") is not True:
                found.append(f"{name}: container {container['name']!r} may run as root or escalate")
    return found


def node_pool_findings(name: str, own: str, spec: dict[str, Any]) -> list[str]:
    """A pod of the ``own`` node pool: it must require that pool's nodes and tolerate no other pool's taint."""
    required = (
        (spec.get("affinity") or {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    terms = (required or {}).get("nodeSelectorTerms") or [{}]
    # a node qualifies if it matches any term: every term must ask for this pool
    wanted = {"key": "runner-pool", "operator": "In", "values": [own]}
    found = toleration_findings(name, own, spec.get("tolerations") or [])
    if not all(wanted in term.get("matchExpressions", []) for term in terms):
        found.append(f"{name}: does not require the {own} node pool (node affinity on runner-pool)")
    return found


def toleration_findings(name: str, own: str, tolerations: list[dict[str, Any]]) -> list[str]:
    """Its own node pool's taint tolerated, and no other's."""
    found = []
    for toleration in tolerations:
        if not toleration.get("key"):
            found.append(f"{name}: a toleration without a key tolerates every taint, the other pool's included")
        elif toleration["key"] == "runner-pool" and (
            toleration.get("operator") == "Exists" or toleration.get("value") != own
        ):
            found.append(f"{name}: tolerates another node pool's taint ({toleration})")
    if {"key": "runner-pool", "operator": "Equal", "value": own, "effect": "NoSchedule"} not in tolerations:
        found.append(f"{name}: does not tolerate its own node pool's taint runner-pool={own}")
    return found


def metadata_findings(policy: dict[str, Any]) -> list[str]:
    """Each egress rule that reaches a cloud metadata address or a private range."""
    found = []
    for rule in policy["spec"].get("egress", []):
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if not block:
                continue
            network = ipaddress.ip_network(block["cidr"])
            excepted = [ipaddress.ip_network(c) for c in block.get("except", [])]
            for address in METADATA:
                ip = ipaddress.ip_address(address)
                if ip in network and not any(ip in e for e in excepted):
                    found.append(f"NetworkPolicy {policy['metadata']['name']}: egress reaches {address}")
            if not isinstance(network, ipaddress.IPv4Network):
                continue  # the private ranges are IPv4: an IPv6 block cannot reach them
            excepted_v4 = [e for e in excepted if isinstance(e, ipaddress.IPv4Network)]
            found += [
                f"NetworkPolicy {policy['metadata']['name']}: egress reaches {private}"
                for private in map(ipaddress.IPv4Network, PRIVATE)
                if private.subnet_of(network) and not any(private.subnet_of(e) for e in excepted_v4)
            ]
    return found


def arc_findings(folder: Path) -> list[str]:
    """Everything wrong with one project's deploy/arc/."""
    values = values_of(folder)
    found = [f for (pool, kind), v in values.items() for f in pool_findings(pool, kind, v)]
    for kind in KINDS:
        trusted = {label.lower() for label in values["trusted", kind].get("scaleSetLabels", [])} - AUTOMATIC_LABELS
        untrusted = {label.lower() for label in values["pr", kind].get("scaleSetLabels", [])} - AUTOMATIC_LABELS
        if not (trusted - untrusted and untrusted - trusted):
            found.append(f"{kind}: the trusted and pull-request scale sets need a label each that the other lacks")
    for manifest in ("trusted-caches.yaml", "pr-network-policy.yaml", "pr-runtime-class.yaml"):
        for resource in yaml.safe_load_all((folder / manifest).read_text()):
            found += validation_errors(resource)
    found += metadata_findings(yaml.safe_load((folder / "pr-network-policy.yaml").read_text()))
    runtime = yaml.safe_load((folder / "pr-runtime-class.yaml").read_text())
    found += toleration_findings("runtime class gvisor", "pull-request", runtime["scheduling"].get("tolerations", []))
    if runtime["scheduling"].get("nodeSelector") != {"runner-pool": "pull-request"}:
        found.append("runtime class gvisor: not limited to the pull-request node pool")
    claim = yaml.safe_load((folder / "trusted-caches.yaml").read_text())["metadata"]["name"]
    for kind in KINDS:
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in values["trusted", kind]["template"]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        if claims != [claim]:
            found.append(f"trusted-{kind}: mounts {claims}, not the trusted caches' claim {claim!r}")
    return found


@pytest.fixture(scope="module")
def projects(rendered: Callable[..., Path]) -> Projects:
    return {combo_id(a): (a, rendered(**a).resolve()) for a in workflow_combinations()}


@pytest.mark.parametrize("combo", [combo_id(a) for a in workflow_combinations()])
def test_every_scale_set_renders_valid_pods_that_keep_the_pools_apart(combo: str, projects: Projects) -> None:
    answers, project = projects[combo]
    folder = project / "deploy" / "arc"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{pool}-{kind}-values.yaml" for pool in POOLS for kind in KINDS]
        + ["pr-network-policy.yaml", "pr-runtime-class.yaml", "trusted-caches.yaml"]
    )
    assert arc_findings(folder) == []
    values = values_of(folder)
    runner = answers["training_runner"]
    for pool in POOLS:
        for kind in KINDS:
            if runner == f"self-hosted-{kind}":
                assert set(values[pool, kind]["scaleSetLabels"]) == labels_of(answers, pool)
    # the pull-request pool sits in the namespace the NetworkPolicy covers, the trusted one elsewhere
    policy = yaml.safe_load((folder / "pr-network-policy.yaml").read_text())
    for kind in KINDS:
        assert f"--namespace {policy['metadata']['namespace']} " in (folder / f"pr-{kind}-values.yaml").read_text()
        assert (
            f"--namespace {policy['metadata']['namespace']} "
            not in (folder / f"trusted-{kind}-values.yaml").read_text()
        )
    blocked = policy["spec"]["egress"][1]["to"][0]["ipBlock"]["except"]
    assert {"169.254.0.0/16", "168.63.129.16/32", "10.0.0.0/8"} <= set(blocked)  # metadata, Azure's, private
    # the optional gVisor class for the pull-request CPU pods is offered, commented, where it applies
    assert "# runtimeClassName: gvisor" in (folder / "pr-cpu-values.yaml").read_text()


# --- negative mutations --------------------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], None]  # edits a scale set's values in place


def mutate_values(tmp_path: Path, folder: Path, pool: str, kind: str, change: Change) -> Path:
    target = tmp_path / "arc"
    target.mkdir()
    for path in folder.iterdir():
        (target / path.name).write_text(path.read_text())
    values = yaml.safe_load((folder / f"{pool}-{kind}-values.yaml").read_text())
    change(values)
    (target / f"{pool}-{kind}-values.yaml").write_text(yaml.safe_dump(values))
    return target


def add_volume(volume: dict[str, Any], mount: str) -> Change:
    def change(values: dict[str, Any]) -> None:
        spec = values["template"]["spec"]
        spec["volumes"].append(volume)
        spec["containers"][0]["volumeMounts"].append({"name": volume["name"], "mountPath": mount})

    return change


def set_first(key: str, value: object) -> Change:
    def change(values: dict[str, Any]) -> None:
        values["template"]["spec"]["containers"][0][key] = value

    return change


def add_env(name: str, value: str) -> Change:
    def change(values: dict[str, Any]) -> None:
        container = values["template"]["spec"]["containers"][0]
        container["env"] = [*(container.get("env") or []), {"name": name, "value": value}]

    return change


def rename_key(old: str, new: str) -> Change:
    def change(values: dict[str, Any]) -> None:
        values[new] = values.pop(old)

    return change


def set_labels(labels: list[str]) -> Change:
    def change(values: dict[str, Any]) -> None:
        values["scaleSetLabels"] = labels

    return change


def drop_token_guard(values: dict[str, Any]) -> None:
    del values["template"]["spec"]["automountServiceAccountToken"]


def docker(values: dict[str, Any]) -> None:
    values["containerMode"] = {"type": "dind"}


def tolerate(toleration: dict[str, str]) -> Change:
    def change(values: dict[str, Any]) -> None:
        values["template"]["spec"]["tolerations"].append(toleration)

    return change


def drop_affinity(values: dict[str, Any]) -> None:
    del values["template"]["spec"]["affinity"]


def prefer_only(values: dict[str, Any]) -> None:
    affinity = values["template"]["spec"]["affinity"]["nodeAffinity"]
    terms = affinity.pop("requiredDuringSchedulingIgnoredDuringExecution")["nodeSelectorTerms"]
    affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [{"weight": 100, "preference": terms[0]}]


@pytest.mark.parametrize(
    ("pool", "kind", "change", "caught"),
    [
        (
            "pr",
            "cpu",
            add_volume({"name": "caches", "persistentVolumeClaim": {"claimName": "x-trusted-caches"}}, "/caches"),
            "volume 'caches' (persistentVolumeClaim) outlives the pod or is shared",
        ),
        (
            "pr",
            "gpu",
            add_volume({"name": "host", "hostPath": {"path": "/var/cache"}}, "/var/cache"),
            "volume 'host' (hostPath)",
        ),
        ("pr", "cpu", drop_token_guard, "gets a service-account token"),
        ("pr", "cpu", docker, "a container mode (dind)"),
        # Docker in a trusted training pod: a privileged daemon beside main's write identities
        ("trusted", "cpu", docker, "a container mode (dind)"),
        (
            "trusted",
            "gpu",
            set_first("securityContext", {"privileged": True, "runAsNonRoot": True}),
            "a privileged container",
        ),
        # the pools on each other's nodes
        (
            "pr",
            "cpu",
            tolerate({"key": "runner-pool", "operator": "Equal", "value": "trusted", "effect": "NoSchedule"}),
            "tolerates another node pool's taint",
        ),
        ("pr", "gpu", tolerate({"operator": "Exists"}), "a toleration without a key tolerates every taint"),
        (
            "trusted",
            "cpu",
            tolerate({"key": "runner-pool", "operator": "Exists"}),
            "tolerates another node pool's taint",
        ),
        ("pr", "cpu", drop_affinity, "does not require the pull-request node pool"),
        ("trusted", "gpu", prefer_only, "does not require the trusted node pool"),
        ("trusted", "cpu", set_first("image", "ghcr.io/actions/actions-runner:latest"), "is not pinned by digest"),
        ("pr", "gpu", add_env("NVIDIA_VISIBLE_DEVICES", "all"), "NVIDIA_VISIBLE_DEVICES overrides"),
        ("pr", "cpu", set_first("resource", {"limits": {"cpu": "1"}}), "'resource' was unexpected"),
        (
            "trusted",
            "gpu",
            rename_key("scaleSetLabels", "runnerScaleSetLabels"),
            "'runnerScaleSetLabels' is not a value",
        ),
        ("pr", "cpu", set_labels(["self-hosted", "linux", "x64", "cpu"]), "need a label each that the other lacks"),
        ("pr", "cpu", set_first("securityContext", {"runAsNonRoot": True}), "may run as root or escalate"),
    ],
)
def test_each_weakening_of_the_scale_sets_is_caught(
    tmp_path: Path, projects: Projects, pool: str, kind: str, change: Change, caught: str
) -> None:
    _, project = projects["self-hosted-cpu-local"]
    folder = mutate_values(tmp_path, project / "deploy" / "arc", pool, kind, change)
    found = arc_findings(folder)
    assert any(caught in f for f in found), found


@pytest.mark.parametrize(
    ("address", "caught"),
    [("168.63.129.16/32", "egress reaches 168.63.129.16"), ("169.254.0.0/16", "egress reaches 169.254.169.254")],
)
def test_a_reachable_metadata_address_is_caught(projects: Projects, address: str, caught: str) -> None:
    _, project = projects["self-hosted-cpu-local"]
    policy = yaml.safe_load((project / "deploy" / "arc" / "pr-network-policy.yaml").read_text())
    assert metadata_findings(policy) == []
    policy["spec"]["egress"][1]["to"][0]["ipBlock"]["except"].remove(address)
    assert caught in metadata_findings(policy)[0]


def test_an_invalid_manifest_is_caught(projects: Projects) -> None:
    _, project = projects["self-hosted-cpu-local"]
    policy = yaml.safe_load((project / "deploy" / "arc" / "pr-network-policy.yaml").read_text())
    broken = copy.deepcopy(policy)
    broken["spec"]["egress"][1]["to"][0]["ipBlock"]["exept"] = broken["spec"]["egress"][1]["to"][0]["ipBlock"].pop(
        "except"
    )
    assert validation_errors(policy) == []
    assert any("'exept' was unexpected" in e for e in validation_errors(broken))
