"""`python -m {{ cookiecutter.package_name }} <command>`: parse arguments, load params.yaml, call one function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from . import config

for variable, value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(variable, value)

log = logging.getLogger("{{ cookiecutter.package_name }}")


def _stage(name: str) -> Callable[[argparse.Namespace, config.Config], object]:
    def call(args: argparse.Namespace, cfg: config.Config) -> object:
        from importlib import import_module

        return import_module(f".stages.{name}", __package__).run(cfg)

    return call


def _validate(args: argparse.Namespace, cfg: config.Config) -> object:
    from .stages import validate

    return validate.init(cfg) if args.init else validate.run(cfg)


def _ui(args: argparse.Namespace, cfg: config.Config) -> object:
    uri = cfg.tracking.resolved_uri
    if uri.startswith(("http://", "https://")):
        print(f"MLflow runs on a server already: open {uri}")
        return None
    command = ["mlflow", "server", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    log.info("MLflow UI on http://%s:%s (Ctrl+C stops it)", args.host, args.port)
    os.execvp(command[0], command)
    return None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}", description=__doc__)
    root.add_argument("--params", default=str(config.PARAMS_FILE), help="params file (default: %(default)s)")
    commands = root.add_subparsers(dest="command", required=True, metavar="command")
    for name, text in [
        ("ingest", "load the source table into data/raw/dataset.parquet"),
        ("prepare", "split into train and holdout, write the feature schema"),
        ("train", "model search as MLflow child runs; log the best model"),
        ("evaluate", "holdout metrics for the candidate and the champion"),
        ("register", "register the candidate as challenger; promote it if the gate passes"),
    ]:
        commands.add_parser(name, help=text).set_defaults(handler=_stage(name))
    validate = commands.add_parser("validate", help="check data/raw with the Great Expectations suite")
    validate.add_argument("--init", action="store_true", help="draft the suite from the current data instead")
    validate.set_defaults(handler=_validate)
    ui = commands.add_parser("ui", help="MLflow UI for the project's tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(handler=_ui)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        cfg = config.load(args.params)
        args.handler(args, cfg)
    except (config.UserError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, config.ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
