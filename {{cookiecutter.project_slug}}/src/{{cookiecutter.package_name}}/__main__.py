"""`python -m {{ cookiecutter.package_name }} <command>`: parse arguments, load params.yaml, call one function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .core import config, environment
from .core.errors import ConfigError, MissingFile, UserError
from .core.metrics import TASKS
from .stages.files import PRODUCER, STAGES

environment.configure()  # telemetry off, the project's BentoML store (core/environment.py)

log = logging.getLogger("{{ cookiecutter.package_name }}")


def _with_paths(args: argparse.Namespace, cfg: config.Config) -> config.Config:
    """The config with the paths given on the command line (stages/files.py: the files each stage touches, which
    dvc.yaml hands over as --<key> options); a stage's missing input is a UserError naming the stage that makes it."""
    files = STAGES[args.command]
    given = {key: Path(getattr(args, key)) for key in files.options if getattr(args, key) is not None}
    cfg = cfg.model_copy(update={"paths": cfg.paths.model_copy(update=given)}) if given else cfg
    for key in files.reads:
        path = getattr(cfg.paths, key)
        if not path.exists():
            raise MissingFile(f"{path} (paths.{key}) not found: run `dvc repro {PRODUCER[key]}` first")
    return cfg


def _stage(name: str) -> Callable[[argparse.Namespace, config.Config], object]:
    def call(args: argparse.Namespace, cfg: config.Config) -> object:
        from importlib import import_module

        return import_module(f".stages.{name}", __package__).run(_with_paths(args, cfg))

    return call


def _validate(args: argparse.Namespace, cfg: config.Config) -> object:
    from .stages import validate

    cfg = _with_paths(args, cfg)
    return validate.init(cfg) if args.init else validate.run(cfg)


def _data(args: argparse.Namespace, cfg: config.Config) -> object:
    from .data import own_data

    return own_data.bring(args.file, args.target, task=args.task, drop=args.drop, params_file=Path(args.params))


def _ui(args: argparse.Namespace, cfg: config.Config) -> object:
    from .tracking import runs

    uri = cfg.tracking.resolved_uri
    remote = uri.startswith(("http://", "https://"))
    base = uri.rstrip("/") if remote else f"http://{args.host}:{args.port}"
    links = runs.ui_links(runs.client(uri), cfg.tracking, base)
    print("MLflow UI" + "".join(f"\n  {name}: {link}" for name, link in links.items()), flush=True)
    if remote:
        print(f"MLflow runs on a server already: open {uri}")
        return None
    command = ["mlflow", "server", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    log.info("MLflow UI on http://%s:%s (Ctrl+C stops it)", args.host, args.port)
    os.execvp(command[0], command)


def _mlflow_server(args: argparse.Namespace, cfg: config.Config) -> object:
    from .tracking import server

    server.serve(args.backend_store_uri, args.artifacts_destination, args.host, args.port, args.auth_database_uri)
    return None


def _mlflow_users(args: argparse.Namespace, cfg: config.Config) -> object:
    import json

    from .tracking import server

    admin = server.account("MLFLOW_AUTH_ADMIN", "admin")
    done = server.provision(args.url, cfg.tracking, admin, server.consumer_accounts())
    print(json.dumps(done))
    return done


def _record_manifest(args: argparse.Namespace, cfg: config.Config) -> object:
    import json

    from .tracking import registry, runs

    recorded = registry.record_manifests(runs.client(cfg.tracking.resolved_uri), cfg.tracking.model_name, args.version)
    print(json.dumps(recorded))
    return recorded


def _import_model(args: argparse.Namespace, cfg: config.Config) -> object:
    from . import serving

    stored = serving.import_champion(cfg)
    print(stored.tag)
    return stored


def _serve(args: argparse.Namespace, cfg: config.Config) -> object:
    from . import serving

    serving.import_champion(cfg)
    service = f"{__package__}.serving.service:Predictor"
    command = [sys.executable, "-m", "bentoml", "serve", service, "--host", args.host, "--port", str(args.port)]
    os.environ["SERVING_FOLLOW_CHAMPION"] = str(args.follow_champion)
    log.info("serving the champion on http://%s:%s (Ctrl+C stops it)", args.host, args.port)
    os.execv(command[0], command)


def _batch(args: argparse.Namespace, cfg: config.Config) -> object:
    import gc
    import json

    gc.disable()  # the imports allocate objects that live as long as the job: collecting while importing frees none
    try:
        from .serving import batch
    finally:
        gc.enable()
    gc.freeze()  # and the job's own collections need not walk them again (benchmarks/batch_start.py: -0.35 s CPU)

    if args.engine == "spark":
        from .serving import spark_batch

        result = spark_batch.run(
            cfg,
            args.input,
            batch_id=args.batch_id,
            key_column=args.key_column,
            master=args.spark_master,
            partitions=args.spark_partitions,
            chunk_rows=args.chunk_rows,
        )
    else:
        result = batch.run(
            cfg, args.input, batch_id=args.batch_id, key_column=args.key_column, chunk_rows=args.chunk_rows
        )
    print(json.dumps(batch.as_dict(result)))
    return result


def _predict(args: argparse.Namespace, cfg: config.Config) -> object:
    import json

    from . import serving

    answers = serving.request_predictions(
        cfg, args.url, args.input or cfg.paths.holdout, rows=args.rows, wait=args.wait
    )
    print(json.dumps(answers, indent=2))
    return answers


def _serving_stats(args: argparse.Namespace, cfg: config.Config) -> object:
    from .predictions import database, queries

    url = cfg.serving.resolved_db_url
    rows = queries.summary(database.connect(url))
    print(f"serving layer {database.redacted(url)}: {sum(r['rows'] for r in rows)} prediction row(s)")
    for row in rows:
        unit = "request" if row["source"] == database.ONLINE else "batch"
        version = f"{row['model_name']} v{row['model_version']}"
        print(f"  {row['source']:<7} {version}: {row['rows']} row(s), {row['requests']} {unit}(s)")
    return rows


def _review(args: argparse.Namespace, cfg: config.Config) -> object:
    from . import review

    return review.run(
        cfg,
        base=args.base,
        registered=args.registered,
        plots_url=args.plots_url,
        link=review.run_url(dict(os.environ)),
        summary=args.summary,
    )


def _feedback(args: argparse.Namespace, cfg: config.Config) -> object:
    import json

    from .monitoring import feedback

    counts = feedback.run(cfg, args.input)
    print(json.dumps(counts))
    return counts


def _monitor(args: argparse.Namespace, cfg: config.Config) -> object:
    from .monitoring import monitor, report

    summary = monitor.run(cfg, since=args.since or cfg.monitor.window, out=args.out)
    print(report.describe(summary))
    if os.environ.get("GITHUB_OUTPUT"):  # GitHub Actions: the decision steers the next steps (monitor.yml)
        with Path(os.environ["GITHUB_OUTPUT"]).open("a") as output:
            output.write(f"decision={summary['decision']}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(os.environ["GITHUB_STEP_SUMMARY"]).open("a") as page:
            page.write(report.markdown(summary))
    return summary


def _harvest(args: argparse.Namespace, cfg: config.Config) -> object:
    import json

    from .monitoring import harvest

    result = harvest.run(cfg, since=args.since, dvc_add=not args.no_dvc)
    print(json.dumps(result))
    return result


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}", description=__doc__)
    root.add_argument("--params", default=str(config.PARAMS_FILE), help="params file (default: %(default)s)")
    commands = root.add_subparsers(dest="command", required=True, metavar="command")
    stages = {}
    for name, text in [
        ("ingest", "load the source table into paths.raw"),
        ("validate", "check paths.raw with the Great Expectations suite"),
        ("prepare", "split into train and holdout, write the feature schema"),
        ("train", "model search as MLflow child runs; log the best model"),
        ("evaluate", "holdout metrics for the candidate and the champion"),
        ("register", "register the candidate as challenger; promote it if the gate passes"),
    ]:
        stages[name] = commands.add_parser(name, help=text)
        stages[name].set_defaults(handler=_stage(name))
        for key in STAGES[name].options:
            stages[name].add_argument(f"--{key}", metavar="PATH", help=f"default: paths.{key} in params.yaml")
    stages["validate"].add_argument("--init", action="store_true", help="draft the suite from the current data instead")
    stages["validate"].set_defaults(handler=_validate)
    data = commands.add_parser("data", help="bring your own CSV/Parquet file: copy, dvc add, params, ingest, suite")
    data.add_argument("file", help="the file to bring (copied to paths.external, data/external/ by default)")
    data.add_argument("--target", required=True, help="the column to predict")
    data.add_argument("--task", choices=tuple(TASKS), help="switch task (default: keep)")
    data.add_argument("--drop", nargs="*", help="identifier or leaking columns to leave out")
    data.set_defaults(handler=_data)
    review = commands.add_parser("review", help="write reports/review.md, the PR comment; fails if the gate fails")
    review.add_argument(
        "--base",
        default=os.environ.get("REVIEW_BASE") or None,
        help="git ref to diff params.yaml against (default: $REVIEW_BASE)",
    )
    review.add_argument(
        "--registered",
        action="store_true",
        help="report the register stage's decision (reports/registration.json) instead of a dry run",
    )
    review.add_argument(
        "--plots-url",
        default=os.environ.get("PLOTS_URL") or None,
        help="link to the uploaded plots (default: $PLOTS_URL)",
    )
    review.add_argument(
        "--summary",
        default=os.environ.get("GITHUB_STEP_SUMMARY") or None,
        help="also append the report to this file (default: $GITHUB_STEP_SUMMARY)",
    )
    review.set_defaults(handler=_review)
    ui = commands.add_parser("ui", help="MLflow UI for the project's tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(handler=_ui)
    server = commands.add_parser(
        "mlflow-server", help="the team's MLflow server: PostgreSQL, proxied artifacts, basic auth"
    )
    server.add_argument("--backend-store-uri", default=os.environ.get("MLFLOW_BACKEND_STORE_URI"), required=False)
    server.add_argument(
        "--artifacts-destination", default=os.environ.get("MLFLOW_ARTIFACTS_DESTINATION") or "mlartifacts"
    )
    server.add_argument("--auth-database-uri", default=os.environ.get("MLFLOW_AUTH_DATABASE_URI") or None)
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=5000)
    server.set_defaults(handler=_mlflow_server)
    users = commands.add_parser(
        "mlflow-users", help="create one user per consumer (writer, pr-review, ...) on a running mlflow-server"
    )
    users.add_argument("--url", default="http://127.0.0.1:5000")
    users.set_defaults(handler=_mlflow_users)
    manifest = commands.add_parser(
        "record-manifest", help="(the writer) record the sha256 manifest of a version registered before manifests"
    )
    manifest.add_argument("--version", required=True, help="the registered version's number")
    manifest.set_defaults(handler=_record_manifest)
    import_model = commands.add_parser("import-model", help="copy the registry's champion into the BentoML model store")
    import_model.set_defaults(handler=_import_model)
    serve = commands.add_parser("serve", help="serve the champion over HTTP (POST /predict) with BentoML")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument(
        "--follow-champion",
        type=float,
        default=30,
        metavar="SECONDS",
        help="check the registry this often and serve a new champion without a restart (0: never)",
    )
    serve.set_defaults(handler=_serve)
    batch = commands.add_parser("batch", help="score a CSV/Parquet file with the champion into the serving layer")
    batch.add_argument("--input", required=True, help="a .csv or .parquet file with the feature columns")
    batch.add_argument("--batch-id", help="default: derived from the file name and content (reruns resume)")
    batch.add_argument("--key-column", help="a unique column to use as row key (default: row position)")
    batch.add_argument(
        "--chunk-rows", type=int, default=config.CHUNK_ROWS, help="rows per transaction (default: %(default)s)"
    )
    batch.add_argument("--engine", choices=["in-process", "spark"], default="in-process", help="default: %(default)s")
    batch.add_argument("--spark-master", default="local[*]", help="with --engine spark (default: %(default)s)")
    batch.add_argument("--spark-partitions", type=int, help="with --engine spark (default: 2 per core)")
    batch.set_defaults(handler=_batch)
    predict = commands.add_parser("predict", help="send rows of a file to a running service; print the answers")
    predict.add_argument("--url", default="http://127.0.0.1:3000")
    predict.add_argument("--input", help="default: paths.holdout in params.yaml")
    predict.add_argument("--rows", type=int, default=3)
    predict.add_argument("--wait", type=float, default=120, help="seconds to wait for the service to be ready")
    predict.set_defaults(handler=_predict)
    stats = commands.add_parser("serving-stats", help="row counts in the serving-layer database")
    stats.set_defaults(handler=_serving_stats)
    feedback = commands.add_parser("feedback", help="store true labels for served predictions (ground truth)")
    feedback.add_argument(
        "--input", required=True, help="CSV/Parquet with `label` and `id` (or `batch_id` and `row_key`) columns"
    )
    feedback.set_defaults(handler=_feedback)
    monitor = commands.add_parser(
        "monitor", help="drift, data quality and live metrics of served data; reports/monitoring/"
    )
    monitor.add_argument("--since", help="window up to now: <n>m, <n>h or <n>d (default: monitor.window)")
    monitor.add_argument("--out", default="reports/monitoring", help="report folder (default: %(default)s)")
    monitor.set_defaults(handler=_monitor)
    harvest = commands.add_parser(
        "harvest", help="append trusted labelled served rows to paths.harvested (train only) as a new DVC version"
    )
    harvest.add_argument("--since", help="only rows served in this window (<n>m, <n>h or <n>d; default: all)")
    harvest.add_argument("--no-dvc", action="store_true", help="write the data but do not `dvc add` it")
    harvest.set_defaults(handler=_harvest)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    log.setLevel(logging.INFO)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        cfg = config.load(args.params)
        args.handler(args, cfg)
    except UserError as error:  # a missing file the user can fix is a UserError too (naming the file)
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
