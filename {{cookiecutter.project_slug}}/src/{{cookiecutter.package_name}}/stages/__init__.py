"""One module per pipeline stage, each with ``run(cfg)``; dvc.yaml calls them through ``python -m``."""
