"""Validate every answer before cookiecutter writes anything.

The answers arrive as one JSON string literal rendered with ``tojson`` (a hostile answer stays data, never
code). Each problem is reported on its own line; any problem exits 1, and cookiecutter then removes the
output folder it created for the hook.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "task": ("classification", "regression"),
    "training_runner": ("self-hosted-cpu", "self-hosted-gpu", "github-hosted"),
    "dvc_remote": ("local", "s3", "gs", "azure"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
}
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
EMAIL = re.compile(r"^[^@\s\"'<>\\]+@[^@\s\"'<>\\]+\.[A-Za-z]{2,}$")
RUNNER_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Labels every self-hosted runner gets from config.sh: they tell machines apart, never pools.
AUTOMATIC_LABELS = {"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"}
IMAGE_BY_DIGEST = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+(?::[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$"
)
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
REMOTE_PATH = re.compile(r"^[A-Za-z0-9._/~-]+$")
SQLALCHEMY_URL = re.compile(r"^(?P<dialect>[a-z][a-z0-9]*)(?:\+[a-z0-9_]+)?://(?P<rest>.*)$")
MLFLOW_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"test", "tests", "src"}
# Query parameters that carry a secret in a database or storage URL (psycopg's ?password=, a SAS signature, ...)
SECRET_PARAMETERS = {"password", "passwd", "pwd", "secret", "token", "sig", "access_key", "secret_key", "account_key"}
# Where each URL answer's secret goes instead: the answer lands in params.yaml, the README, the docs, .cruft.json
# and the first commit, in plain text.
SECRET_HOME = {
    "mlflow_tracking_uri": "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment instead",
    "mlflow_tracking_database": "give the whole URL in the MLFLOW_TRACKING_URI environment variable instead",
    "serving_db_url": "give the whole URL in the SERVING_DB_URL environment variable (a secret) instead",
    "dvc_remote_url": (
        "give the remote its credentials with `dvc remote modify --local storage <option> <value>` "
        "(.dvc/config.local, never committed) or the cloud's own login (docs/ci.md) instead"
    ),
}


def check_text(name: str, value: str, *, multiline: bool = False) -> list[str]:
    if not value.strip():
        return [f"{name}: must not be empty"]
    text = value.replace("\n", "") if multiline else value
    if CONTROL.search(text):
        return [f"{name}: {value!r} contains a control character (newline, tab, ...); use plain text"]
    return []


def check_slug(value: str) -> list[str]:
    if not SLUG.match(value) or ".." in value:
        return [
            (
                f"project_slug: {value!r} is not a valid folder and distribution name "
                "(lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit, at most 64)"
            )
        ]
    return []


def check_package(value: str) -> list[str]:
    if not value.isidentifier() or not value.isascii():
        return [
            f"package_name: {value!r} is not a valid Python identifier (letters, digits and '_', not starting with a digit)"
        ]
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return [f"package_name: {value!r} is a Python keyword"]
    if value != value.lower():
        return [f"package_name: {value!r} must be lowercase (PEP 8)"]
    if value in STDLIB:
        return [f"package_name: {value!r} would shadow the standard-library module of the same name"]
    return []


def check_choice(name: str, value: str) -> list[str]:
    if value not in CHOICES[name]:
        return [f"{name}: {value!r} is not one of {', '.join(CHOICES[name])}"]
    return []


def check_runner_labels(value: str, runner: str, name: str = "runner_labels") -> list[str]:
    labels = [label.strip() for label in value.split(",")]
    problems = [f"{name}: {label!r} is not a valid runner label" for label in labels if not RUNNER_LABEL.match(label)]
    if problems:
        return problems
    if len(set(labels)) != len(labels):
        return [f"{name}: {value!r} repeats a label"]
    if runner.startswith("self-hosted") and "self-hosted" not in labels:
        return [f"{name}: {value!r} must include 'self-hosted' for training_runner={runner}"]
    if runner == "github-hosted" and (len(labels) != 1 or labels[0] == "self-hosted"):
        return [
            f"{name}: {value!r} must be one GitHub-hosted runner image (e.g. ubuntu-24.04) for training_runner=github-hosted"
        ]
    return []


def check_runner_pools(trusted: str, untrusted: str, runner: str) -> list[str]:
    """A job runs on any runner that carries all its labels, so each pool needs a label of its own (beyond the
    ones every runner gets: self-hosted, OS, architecture), or main's jobs could land on a pull-request runner
    and the reverse."""
    if not runner.startswith("self-hosted"):
        return []
    trusted_set = {label.strip().lower() for label in trusted.split(",")} - AUTOMATIC_LABELS
    untrusted_set = {label.strip().lower() for label in untrusted.split(",")} - AUTOMATIC_LABELS
    problems = []
    if not trusted_set - untrusted_set:
        problems.append(
            f"runner_labels: {trusted!r} has no label that pr_runner_labels lacks, so main's jobs could run on a "
            "pull-request runner (add one, e.g. 'trusted')"
        )
    if not untrusted_set - trusted_set:
        problems.append(
            f"pr_runner_labels: {untrusted!r} has no label that runner_labels lacks, so pull-request jobs could run "
            "on a trusted runner (add one, e.g. 'pr')"
        )
    return problems


def check_image_digest(value: str) -> list[str]:
    if not IMAGE_BY_DIGEST.match(value):
        return [f"arc_runner_image: {value!r} must be pinned by digest: registry/name[:tag]@sha256:<64 hex digits>"]
    return []


def redacted(url: str) -> str:
    """``url`` with its password and secret query values replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{key}={'***' if key.lower() in SECRET_PARAMETERS else value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def check_url_secret(name: str, value: str) -> list[str]:
    """A password (or token) written into a URL answer: one line naming where it goes instead, the value redacted."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:  # a malformed netloc: the answer's own check reports it
        return []
    parameters = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if password is None and not parameters & SECRET_PARAMETERS:
        return []
    home = name
    if name == "mlflow_tracking_uri" and parts.scheme.split("+")[0] in MLFLOW_DB_SCHEMES:
        home = "mlflow_tracking_database"
    return [f"{name}: {redacted(value)!r} carries a password: leave it out of the answer and {SECRET_HOME[home]}"]


def check_mlflow_uri(value: str) -> list[str]:
    parts = urlsplit(value)
    scheme = parts.scheme.split("+")[0]
    if CONTROL.search(value) or " " in value:
        return [f"mlflow_tracking_uri: {value!r} contains whitespace or control characters"]
    if scheme in ("http", "https"):
        return [] if parts.hostname else [f"mlflow_tracking_uri: {value!r} has no host"]
    if scheme == "sqlite":
        return (
            []
            if value.startswith("sqlite:///") and len(value) > len("sqlite:///")
            else [
                f"mlflow_tracking_uri: {value!r} must look like sqlite:///relative/file.db or sqlite:////absolute/file.db"
            ]
        )
    if scheme in MLFLOW_DB_SCHEMES:
        return [] if parts.hostname else [f"mlflow_tracking_uri: {value!r} has no database host"]
    if scheme == "databricks":
        return []
    return [
        f"mlflow_tracking_uri: {value!r} must start with sqlite:///, http(s)://, postgresql://, mysql:// or databricks"
    ]


def check_dvc_remote(kind: str, url: str) -> list[str]:
    if kind not in CHOICES["dvc_remote"]:
        return []  # reported by check_choice
    if kind == "local":
        if "://" in url or not REMOTE_PATH.match(url):
            return [f"dvc_remote_url: {url!r} must be a plain folder path for a local remote"]
        return []
    scheme = {"s3": "s3", "gs": "gs", "azure": "azure"}[kind]
    parts = urlsplit(url)
    if parts.scheme != scheme or not parts.netloc:
        return [f"dvc_remote_url: {url!r} must look like {scheme}://bucket/path for dvc_remote={kind}"]
    if not BUCKET.match(parts.netloc) or not REMOTE_PATH.match(parts.path or "/"):
        return [f"dvc_remote_url: {url!r} has an invalid bucket or path"]
    return []


def check_serving_db_url(value: str) -> list[str]:
    match = SQLALCHEMY_URL.match(value)
    if not match or CONTROL.search(value) or " " in value:
        return [
            f"serving_db_url: {value!r} is not an SQLAlchemy URL (e.g. sqlite:///serving.db, postgresql+psycopg://host/db)"
        ]
    if match["dialect"] == "sqlite" and not value.startswith("sqlite:///"):
        return [f"serving_db_url: {value!r} must look like sqlite:///relative/file.db"]
    if match["dialect"] != "sqlite" and not urlsplit(value).hostname:
        return [f"serving_db_url: {value!r} has no database host"]
    return []


def validate(answers: dict) -> list[str]:
    """Every problem with the answers, one readable line each (empty when all is well)."""
    a = {key: str(value) for key, value in answers.items() if not key.startswith("_")}
    problems: list[str] = []
    problems += check_text("project_name", a["project_name"])
    problems += check_text("description", a["description"], multiline=True)
    problems += check_text("author_name", a["author_name"])
    problems += check_slug(a["project_slug"])
    problems += check_package(a["package_name"])
    if not EMAIL.match(a["author_email"]):
        problems.append(f"author_email: {a['author_email']!r} is not an e-mail address")
    if not GITHUB_OWNER.match(a["github_owner"]):
        problems.append(f"github_owner: {a['github_owner']!r} is not a valid GitHub user or organisation name")
    for name in CHOICES:
        problems += check_choice(name, a[name])
    problems += check_runner_labels(a["runner_labels"], a["training_runner"])
    problems += check_runner_labels(a["pr_runner_labels"], a["training_runner"], "pr_runner_labels")
    if not any(line.startswith(("runner_labels", "pr_runner_labels")) for line in problems):
        problems += check_runner_pools(a["runner_labels"], a["pr_runner_labels"], a["training_runner"])
    problems += check_image_digest(a["arc_runner_image"])
    # an answer with a password is reported without it, and not echoed by its other checks
    secrets = {
        name: check_url_secret(name, a[name]) for name in ("mlflow_tracking_uri", "serving_db_url", "dvc_remote_url")
    }
    problems += [line for lines in secrets.values() for line in lines]
    if not secrets["mlflow_tracking_uri"]:
        problems += check_mlflow_uri(a["mlflow_tracking_uri"])
    if not secrets["dvc_remote_url"]:
        problems += check_dvc_remote(a["dvc_remote"], a["dvc_remote_url"])
    if not secrets["serving_db_url"]:
        problems += check_serving_db_url(a["serving_db_url"])
    return problems


def scrub_replay(answers: dict) -> Path | None:
    """cookiecutter saved the answers in its replay file before this hook ran: take the passwords back out of it.
    Returns the file when it held one."""
    try:
        from cookiecutter.config import get_user_config  # the hook runs in cookiecutter's own interpreter

        replay_dir = Path(get_user_config()["replay_dir"])
    except Exception:  # no cookiecutter, an unreadable config: nothing to scrub here
        return None
    path = replay_dir / f"{Path(str(answers.get('_repo_dir', ''))).resolve().name}.json"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    scrubbed = text
    for name in ("mlflow_tracking_uri", "serving_db_url", "dvc_remote_url"):
        value = str(answers.get(name, ""))
        if check_url_secret(name, value):
            scrubbed = scrubbed.replace(json.dumps(value)[1:-1], json.dumps(redacted(value))[1:-1])
    if scrubbed == text:
        return None
    path.write_text(scrubbed, encoding="utf-8")
    return path


def main(answers: dict) -> int:
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        replay = scrub_replay(answers) if any("carries a password" in line for line in problems) else None
        if replay:
            print(f"The password was also taken out of cookiecutter's replay file {replay}.", file=sys.stderr)
        print("Nothing was generated: fix the answers above and run cookiecutter again.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads({{cookiecutter | tojson | tojson}})))  # noqa: F821 (cookiecutter renders this line)
