"""Dates and times become a handful of calendar numbers, never one column per timestamp (training/calendar.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import skops.io

from {{ cookiecutter.package_name }}.training.calendar import CalendarFeatures


def test_timestamps_become_year_month_weekday_hour_and_days_since_the_first() -> None:
    frame = pd.DataFrame({"when": ["2024-03-01T10:30:00", "2024-03-04T23:00:00", None, "not a date"]})
    calendar = CalendarFeatures().fit(frame)
    out = calendar.transform(frame)
    assert list(calendar.get_feature_names_out()) == [
        "when_year",
        "when_month",
        "when_day_of_week",
        "when_hour",
        "when_days",
    ]
    np.testing.assert_allclose(out[0], [2024, 3, 4, 10, 0.0])  # a Friday, the earliest: day 0
    np.testing.assert_allclose(out[1], [2024, 3, 0, 23, 3 + 12.5 / 24])
    assert np.isnan(out[2:]).all(), "missing and unreadable values are missing (imputed after)"


def test_dates_without_times_have_no_hour_and_any_common_format_reads() -> None:
    frame = pd.DataFrame({"day": ["03/14/2024", "03/15/2024"], "iso": ["2024-03-14", "2024-03-16"]})
    calendar = CalendarFeatures().fit(frame)
    assert list(calendar.get_feature_names_out()) == [
        "day_year", "day_month", "day_day_of_week", "day_days",
        "iso_year", "iso_month", "iso_day_of_week", "iso_days",
    ]  # fmt: skip
    np.testing.assert_allclose(calendar.transform(frame)[1], [2024, 3, 4, 1, 2024, 3, 5, 2])


def test_a_value_with_an_offset_is_read_in_utc() -> None:
    calendar = CalendarFeatures().fit(pd.DataFrame({"t": ["2024-03-01T00:00:00", "2024-03-01T06:00:00"]}))
    out = calendar.transform(pd.DataFrame({"t": ["2024-03-01T02:00:00+02:00"]}))
    np.testing.assert_allclose(out[0], [2024, 3, 4, 0, 0.0])


def test_it_survives_the_format_models_are_logged_in() -> None:
    calendar = CalendarFeatures().fit(pd.DataFrame({"t": ["2024-03-01T10:00:00", "2024-05-01T11:00:00"]}))
    data = skops.io.dumps(calendar)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    probe = pd.DataFrame({"t": ["2024-06-01T12:00:00"]})
    np.testing.assert_array_equal(loaded.transform(probe), calendar.transform(probe))
