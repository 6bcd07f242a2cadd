"""Profiling: single-row latency and throughput timed on a real runtime, and the footprint of a fresh process."""

from __future__ import annotations

import sys

import pytest

from {{ cookiecutter.package_name }}.serving.runtime import OnnxRuntime, SklearnRuntime, columns_of
from {{ cookiecutter.package_name }}.training import onnx_export, profiling

from ..helpers import fitted


def test_a_runtime_is_timed_one_row_and_the_whole_holdout_at_a_time() -> None:
    # Given a fitted pipeline in both of serving's runtimes
    model, holdout, schema = fitted("logistic_regression", "classification")
    columns = columns_of(holdout, schema)
    onnx = OnnxRuntime(onnx_export.export(model, schema).SerializeToString(), schema)
    for runtime in (onnx, SklearnRuntime(model, schema)):
        # When it is timed
        timed = profiling.timing(runtime, columns)
        # Then one row costs less than the whole holdout does, and the percentiles are ordered
        assert 0 < timed.latency_p50_ms <= timed.latency_p99_ms
        whole_holdout_ms = len(holdout) / timed.rows_per_s * 1000
        assert timed.latency_p50_ms < whole_holdout_ms, runtime.name


def test_an_empty_holdout_cannot_be_profiled() -> None:
    model, holdout, schema = fitted("logistic_regression", "classification")
    with pytest.raises(profiling.ProfileError, match="no holdout rows"):
        profiling.timing(SklearnRuntime(model, schema), columns_of(holdout.iloc[:0], schema))


def test_the_fresh_process_reports_its_own_load_time_and_memory() -> None:
    # Given this process holding 600 MiB, and a fresh one that loads (fills) 200 MiB
    ballast = b"\x01" * (600 * 2**20)
    load = f"import {profiling.__name__} as p; p.report_footprint(lambda: b'\\x01' * (200 * 2**20))"
    # When the fresh process's footprint is read
    load_s, rss_mb = profiling.footprint(profiling.start_footprint([sys.executable, "-c", load]))
    # Then the memory is its own: what it loaded, not what the process that started it holds
    assert len(ballast) and load_s > 0
    assert 200 <= rss_mb < 600


def test_a_fresh_process_that_fails_is_one_error_with_its_last_line() -> None:
    command = [sys.executable, "-c", "raise SystemExit('model.onnx: no such file')"]
    with pytest.raises(profiling.ProfileError, match=r"did not load in a fresh process \(exit 1\): model.onnx: no"):
        profiling.footprint(profiling.start_footprint(command))
