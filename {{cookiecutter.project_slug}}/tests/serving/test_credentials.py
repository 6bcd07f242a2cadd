"""Who may use /feedback and /metrics (serving/credentials.py): the ASGI guard's answers, token by token."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.serving import credentials

FEEDBACK, OLD, METRICS = "f" * 40, "o" * 40, "m" * 40


def scope(path: str, token: str | None = None, client: str = "127.0.0.1") -> dict:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return {"type": "http", "path": path, "headers": headers, "client": (client, 50000)}


def guard(feedback: str = "", metrics: str = "") -> credentials.Guard:
    return credentials.Guard(
        None,
        feedback=credentials.Tokens.from_env("FEEDBACK_TOKEN", {"FEEDBACK_TOKEN": feedback}),
        metrics=credentials.Tokens.from_env("METRICS_TOKEN", {"METRICS_TOKEN": metrics}),
    )


def test_without_a_token_feedback_is_disabled_for_everyone_and_says_how_to_enable_it() -> None:
    for token in (None, FEEDBACK):
        status, error, _ = guard().refusal(scope("/feedback", token)) or (200, "", "")
        assert status == 403 and "set FEEDBACK_TOKEN" in error
    assert guard().refusal(scope("/predict")) is None


def test_with_a_token_feedback_needs_exactly_one_of_them_and_each_sender_has_its_fingerprint() -> None:
    both = guard(feedback=f"{FEEDBACK} {OLD}")  # a rotation: the new token added before the old one is dropped
    assert both.refusal(scope("/feedback", FEEDBACK)) is None and both.refusal(scope("/feedback/", OLD)) is None
    for token in (None, "f" * 39, FEEDBACK + "x", METRICS):
        assert both.refusal(scope("/feedback", token)) == (
            401,
            "POST /feedback needs the feedback token: `Authorization: Bearer <FEEDBACK_TOKEN>`",
            "Bearer",
        )
    senders = {both.feedback.sender(f"Bearer {t}") for t in (FEEDBACK, OLD)}
    assert senders == {credentials.fingerprint(FEEDBACK), credentials.fingerprint(OLD)} and None not in senders
    assert FEEDBACK not in credentials.fingerprint(FEEDBACK)
    assert both.feedback.sender(f"Basic {FEEDBACK}") is None


def test_metrics_answer_this_machine_or_the_metrics_token() -> None:
    assert guard().refusal(scope("/metrics")) is None
    assert guard().refusal(scope("/metrics", client="::1")) is None
    assert guard().refusal(scope("/metrics", client="10.0.0.7"))[0] == 403  # type: ignore[index]
    with_token = guard(metrics=METRICS)
    assert with_token.refusal(scope("/metrics", METRICS, client="10.0.0.7")) is None
    assert with_token.refusal(scope("/metrics", client="127.0.0.1"))[0] == 401  # type: ignore[index]
    assert with_token.refusal(scope("/metrics", FEEDBACK, client="10.0.0.7"))[0] == 401  # type: ignore[index]


def test_a_short_token_stops_the_service_naming_the_variable() -> None:
    with pytest.raises(config.UserError, match=r"FEEDBACK_TOKEN: token 2 is shorter than 32"):
        credentials.Tokens.from_env("FEEDBACK_TOKEN", {"FEEDBACK_TOKEN": f"{FEEDBACK},short"})
