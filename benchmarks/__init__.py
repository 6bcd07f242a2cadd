"""Benchmarks: scripts that measure a baked project against its peers and print markdown tables with the machine's
load. Each runs from the template's root as ``python -m benchmarks.<name> --help`` (with the template's .venv; or,
for xgboost_device, a GPU project's Python) and has a ``--smoke`` mode at tiny sizes, run by tests/test_benchmarks.py.
Scripts that must run in a project's own Python (they import its package) are in benchmarks/in_project/.

Not tests: nothing here asserts a speed. The figures go into the README and the generated project's docs.
"""
