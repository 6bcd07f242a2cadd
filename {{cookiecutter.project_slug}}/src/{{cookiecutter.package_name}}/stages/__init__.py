"""stages: one module per pipeline stage, each with ``run(cfg)`` that reads its inputs, calls the parts and writes
its outputs; dvc.yaml calls them through ``python -m``, and files.py says which files each one reads and writes.
Only ``__main__`` (and the tests) import this package."""
